"""The stage runners: the event loop, a thread of the worker, or a child process.

Both must produce what the stage functions produce when called directly; the child builds its
runtime from the settings alone (keys, policy file, detection profile).
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
from pathlib import Path

import pytest

from pipeline.config import DetectionSettings, KeySettings, ProviderSettings, load_settings
from pipeline.deid.keys import generate_key_file
from pipeline.errors import ConfigError
from pipeline.policy import parse_policy
from pipeline.serde import RecordType
from pipeline.streaming.runtime import build_runtime
from pipeline.streaming.stage_runner import InlineRunner, ProcessRunner, ThreadRunner, run_stage
from pipeline.streaming.stages import chained_stages
from tests.unit.streaming.test_streaming_stages import NAME, ORIGIN, POLICY, SSN, prompt

ALL = ("detect", "deid", "route")


def test_both_runners_give_what_the_stages_give(tmp_path: Path) -> None:
    key_file, policy_file = tmp_path / "keys.json", tmp_path / "policy.yaml"
    generate_key_file(key_file)
    policy_file.write_text(POLICY, encoding="utf-8")
    settings = load_settings(
        keys=KeySettings(key_file=key_file),
        providers=ProviderSettings(policy_file=policy_file),
        detection=DetectionSettings(profile="fast"),
    )
    chained_settings = settings.model_copy(
        update={"streaming": settings.streaming.model_copy(update={"chain_stages": True})}
    )
    runtime = build_runtime(settings, ALL, policy=parse_policy(POLICY))
    links = chained_stages(ALL, settings.topics)
    runtime = dataclasses.replace(runtime, chained=frozenset(links))
    texts = [
        (f"Mr. {NAME} (phone 617-555-0143) asks.", "analytics"),
        (f"Mr. {NAME} SSN {SSN}.", "clinic"),
        ("   ", "analytics"),  # empty: dead-lettered by detect
    ]
    items = [(prompt(runtime, text, tenant=tenant), ORIGIN) for text, tenant in texts]
    direct = run_stage(runtime, links, "detect", items)

    def shape(results: list[list]) -> list[list[tuple[str, str]]]:
        """Topic and, for audit events, stage: surrogates and timestamps differ per run."""
        t = settings.topics
        return [
            [
                (o.topic, runtime.codec.decode(RecordType.AUDIT_EVENT, o.value)["stage"])
                if o.topic == t.audit
                else (o.topic, "")
                for o in outs
            ]
            for outs in results
        ]

    async def through(runner: InlineRunner | ThreadRunner) -> list[list]:
        try:
            await runner.warm_up()
            return await runner.run("detect", items)
        finally:
            runner.close()

    inline = asyncio.run(through(InlineRunner(runtime, links)))
    in_thread = asyncio.run(through(ThreadRunner(runtime, links)))

    async def through_child(runner: ProcessRunner) -> tuple[list[list], int]:
        """The child's results, and how many objects it froze once its runtime was built."""
        try:
            await runner.warm_up()
            loop = asyncio.get_running_loop()
            frozen = await loop.run_in_executor(runner._executor, gc.get_freeze_count)
            return await runner.run("detect", items), frozen
        finally:
            runner.close()

    in_child, child_frozen = asyncio.run(through_child(ProcessRunner(chained_settings, ALL)))
    # The child froze the heap it built (models, policy, keys), as a worker does.
    assert child_frozen > 0
    assert shape(inline) == shape(direct)
    assert shape(in_thread) == shape(direct)
    assert shape(in_child) == shape(direct)
    assert all(NAME.encode() not in o.value for outs in in_child for o in outs)
    t = settings.topics
    # Chained in the child as asked: no intermediate records crossed back.
    assert not [o for outs in in_child for o in outs if o.topic in (t.detected, t.deidentified)]


def test_an_unknown_stage_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        run_stage(None, {}, "provider", [])  # type: ignore[arg-type]
