"""``phi-pipeline deid``: the JSONL contract and its error handling."""

from __future__ import annotations

import argparse
import base64
import io
import json
import logging

import pytest
from pydantic import SecretStr

from pipeline.config import KeySettings, load_settings
from pipeline.deid import cli

SYNTHETIC = "John Smith, SSN 123-45-6789, seen 03/04/2021 at (617) 555-1234."


@pytest.fixture
def settings():
    keys = KeySettings(
        hmac_key=SecretStr(base64.b64encode(bytes(range(32))).decode()),
        encryption_key=SecretStr(base64.b64encode(bytes(range(32, 64))).decode()),
    )
    return load_settings(keys=keys)


def parse(argv, settings):
    parser = argparse.ArgumentParser()
    cli.configure(parser)
    args = parser.parse_args(argv)
    args.settings = settings
    return args


def test_file_to_file_with_bad_lines(tmp_path, settings, caplog):
    src = tmp_path / "in.jsonl"
    lines = [
        json.dumps({"id": "a", "text": SYNTHETIC}),
        "{not json 999-88-7777",
        json.dumps({"id": "b", "note": "Jane Doe 999-88-7777"}),
        "",
        json.dumps({"id": "c", "text": "No identifiers here.", "scope": "patient:42"}),
    ]
    src.write_text("\n".join(lines) + "\n")
    dst = tmp_path / "out.jsonl"
    caplog.set_level(logging.INFO)
    rc = cli.run(
        parse(["--input", str(src), "--output", str(dst), "--detector-profile", "fast"], settings)
    )
    assert rc == 1
    out = [json.loads(x) for x in dst.read_text().splitlines()]
    assert [o["id"] for o in out] == ["a", "c"]
    first = out[0]
    assert set(first) >= {"id", "text", "spans", "leak_gate"}
    assert first["leak_gate"] == "pass"
    assert "123-45-6789" not in first["text"] and "John" not in first["text"]
    assert all({"start", "end", "label", "operator"} <= set(s) for s in first["spans"])
    assert out[1]["text"] == "No identifiers here."
    assert "line 2" in caplog.text and "line 3" in caplog.text
    assert "999-88-7777" not in caplog.text and "Jane" not in caplog.text


def test_stdin_stdout_and_profile(settings, monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"id": 1, "text": SYNTHETIC}) + "\n"))
    rc = cli.run(
        parse(
            ["--input", "-", "--output", "-", "--profile", "redact", "--detector-profile", "fast"],
            settings,
        )
    )
    assert rc == 0
    out = json.loads(capsys.readouterr().out.strip())
    assert "[SSN]" in out["text"] and out["leak_gate"] == "pass"


def test_same_key_same_output_across_runs(tmp_path, settings):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"id": "a", "text": SYNTHETIC, "scope": "patient:1"}) + "\n")
    outs = []
    for i in range(2):
        dst = tmp_path / f"out{i}.jsonl"
        assert (
            cli.run(
                parse(
                    ["--input", str(src), "--output", str(dst), "--detector-profile", "fast"],
                    settings,
                )
            )
            == 0
        )
        outs.append(dst.read_text())
    assert outs[0] == outs[1]
