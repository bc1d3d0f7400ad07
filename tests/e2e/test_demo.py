"""``phi-pipeline demo`` end to end, on the session's broker: every bundled prompt answered.

The demo starts its own worker and provider server; here it reuses the test session's broker
(``KAFKA_BOOTSTRAP_SERVERS``) instead of starting one. It once counted a prompt twice when its
first send timed out while the worker was still creating the topics.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources

from tests.e2e.harness import REPO


def test_the_demo_answers_every_bundled_prompt(kafka_bootstrap: str) -> None:
    prompts = json.loads(
        resources.files("pipeline").joinpath("data/demo_prompts.json").read_text("utf-8")
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHI_")}
    env["KAFKA_BOOTSTRAP_SERVERS"] = kafka_bootstrap
    done = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "demo", "--timeout", "120"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    assert out.count("completion: status=") == len(prompts)
    assert out.count("request ") >= len(prompts)
    # The garbage record the demo also sends is dead-lettered, not lost.
    readable = out.split("Records that were not even readable")[1]
    assert "stage=detect reason=" in readable
    assert "audit trail:" in out and "provider_call_finished" in out
