"""`phi-pipeline detect` module: good and bad lines, order, exit code, no text on stderr."""

import argparse
import io
import json
import sys

import pytest

from pipeline.config import load_settings
from pipeline.detect import cli

SECRET = "Quentin Abernathy-Voss"


def run_cli(tmp_path, lines, *extra, stdin=None):
    src = tmp_path / "in.jsonl"
    out = tmp_path / "out.jsonl"
    src.write_text("".join(lines), encoding="utf-8")
    parser = argparse.ArgumentParser()
    cli.configure(parser)
    args = parser.parse_args(["--input", str(src), "--output", str(out), *extra])
    args.settings = load_settings()
    code = cli.run(args)
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    return code, rows


def test_good_lines_in_order(tmp_path, capsys):
    lines = [
        json.dumps({"id": f"d{i}", "text": f"Seen by Dr. {SECRET} on 03/1{i}/2021.", "x": 1}) + "\n"
        for i in range(7)
    ]
    code, rows = run_cli(tmp_path, lines, "--profile", "fast", "--batch-size", "3")
    assert code == 0
    assert [r["id"] for r in rows] == [f"d{i}" for i in range(7)]
    for r in rows:
        assert set(r) == {"id", "spans"}
        assert {"NAME", "DATE"} <= {s["label"] for s in r["spans"]}
        assert all(set(s) == {"start", "end", "label", "score"} for s in r["spans"])


def test_bad_lines_reported_by_number_skipped_nonzero_exit(tmp_path, capsys):
    lines = [
        json.dumps({"id": "a", "text": f"Dr. {SECRET}"}) + "\n",
        f"{{not json {SECRET}\n",
        json.dumps({"id": "b", "body": SECRET}) + "\n",
        json.dumps({"id": "c", "text": 42}) + "\n",
        json.dumps([SECRET]) + "\n",
        json.dumps({"id": "d", "text": "no phi"}) + "\n",
    ]
    code, rows = run_cli(tmp_path, lines, "--profile", "fast")
    err = capsys.readouterr().err
    assert code != 0
    assert [r["id"] for r in rows] == ["a", "d"]
    for n in (2, 3, 4, 5):
        assert f"line {n}:" in err
    assert SECRET not in err and "Abernathy" not in err


def test_config_file_overrides_thresholds(tmp_path):
    conf = tmp_path / "conf.yaml"
    conf.write_text("detection:\n  thresholds:\n    NAME: 0.99\n", encoding="utf-8")
    lines = [json.dumps({"id": "a", "text": f"Dr. {SECRET} on 03/14/2021"}) + "\n"]
    code, rows = run_cli(tmp_path, lines, "--profile", "fast", "--config", str(conf))
    assert code == 0
    assert {s["label"] for s in rows[0]["spans"]} == {"DATE"}


def test_invalid_config_is_config_error(tmp_path):
    from pipeline.errors import ConfigError

    conf = tmp_path / "conf.json"
    conf.write_text(json.dumps({"detection": {"default_threshold": 7}}), encoding="utf-8")
    with pytest.raises(ConfigError):
        run_cli(tmp_path, ["{}\n"], "--config", str(conf))


def test_stdin_stdout(monkeypatch, capsys):
    data = json.dumps({"id": 1, "text": "call 410-555-0199"}) + "\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(data))
    parser = argparse.ArgumentParser()
    cli.configure(parser)
    args = parser.parse_args(["--input", "-", "--output", "-", "--profile", "fast"])
    args.settings = load_settings()
    assert cli.run(args) == 0
    row = json.loads(capsys.readouterr().out.strip())
    assert row["id"] == 1 and row["spans"][0]["label"] == "PHONE"


def test_oversized_record_fails_alone(tmp_path, capsys):
    conf = tmp_path / "conf.yaml"
    conf.write_text("detection:\n  max_text_chars: 40\n", encoding="utf-8")
    lines = [
        json.dumps({"id": "a", "text": "call 410-555-0199"}) + "\n",
        json.dumps({"id": "b", "text": SECRET * 5}) + "\n",
    ]
    code, rows = run_cli(tmp_path, lines, "--profile", "fast", "--config", str(conf))
    err = capsys.readouterr().err
    assert code != 0 and [r["id"] for r in rows] == ["a"]
    assert "line 2:" in err and SECRET not in err
