"""The loopback provider server itself: control endpoint, records, errors, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from pipeline.errors import ConfigError
from pipeline.providers.local_server import LocalProviderServer, echo_reply

ROOT = Path(__file__).resolve().parents[3]
BODY = {"model": "echo-1", "messages": [{"role": "user", "content": "alpha beta gamma"}]}


def test_provider_server_binds_loopback_only():
    with pytest.raises(ConfigError) as info:
        LocalProviderServer("0.0.0.0")
    assert info.value.reason == "bad_host"


def test_provider_server_ipv6_loopback():
    try:
        server = LocalProviderServer("::1").start()
    except ConfigError:
        pytest.skip("no IPv6 loopback here")
    try:
        reply = httpx.post(server.openai_base_url + "/chat/completions", json=BODY, timeout=10)
        assert reply.status_code == 200
        assert server.url.startswith("http://[::1]:")
    finally:
        server.stop()


def test_provider_server_control_endpoint(server):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        control = client.post(
            "/_control", json={"fail": {"count": 2, "status": 429, "retry_after": 7}}
        )
        assert control.status_code == 200
        first = client.post("/v1/chat/completions", json=BODY)
        assert (first.status_code, first.headers["retry-after"]) == (429, "7")
        assert first.json()["error"]["code"] == 429
        assert client.post("/v1/chat/completions", json=BODY).status_code == 429
        assert client.post("/v1/chat/completions", json=BODY).status_code == 200

        client.post("/_control", json={"fail": {"count": 1, "status": 503}})
        assert client.post("/v1/messages", json=BODY).json()["type"] == "error"

        stats = client.get("/_stats").json()
        assert stats["requests"] == 4
        assert stats["in_flight"] == 0

        recorded = client.get("/_recorded").json()
        assert [r["seq"] for r in recorded] == [0, 1, 2, 3]
        assert all(r["body"] == BODY for r in recorded)
        assert client.delete("/_recorded").status_code == 200
        assert client.get("/_recorded").json() == []

        client.post("/_control", json={"reset": True, "latency_ms": 1})
        assert client.post("/v1/chat/completions", json=BODY).status_code == 200
        assert client.post("/_control", json=["not", "an", "object"]).status_code == 400
        assert client.post("/_control", json={"fail": {"count": "x"}}).status_code == 400
        assert client.get("/health").json() == {"status": "ok"}


def test_provider_server_hang_is_released_on_stop():
    server = LocalProviderServer().start()
    server.hang_next(1, seconds=120)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(server.openai_base_url + "/chat/completions", json=BODY, timeout=0.3)
    server.stop()  # returns although a handler was still hanging
    assert server.stats()["requests"] == 1


def test_provider_server_bad_bodies_recorded_and_rejected(server):
    with httpx.Client(base_url=server.url, timeout=10) as client:
        bad = client.post("/v1/chat/completions", content=b"\xff not json")
        assert bad.status_code == 400
        no_messages = client.post("/v1/chat/completions", json={"model": "m"})
        assert no_messages.status_code == 400
    assert [r["body"] for r in server.recorded()] == [{"_unparsed_bytes": 10}, {"model": "m"}]


def test_provider_server_record_file(tmp_path):
    record = tmp_path / "requests.jsonl"
    with LocalProviderServer(record_file=record) as server:
        for word in ("one", "two"):
            body = {"model": "m", "messages": [{"role": "user", "content": word}]}
            httpx.post(server.openai_base_url + "/chat/completions", json=body, timeout=10)
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [line["body"]["messages"][0]["content"] for line in lines] == ["one", "two"]


def test_provider_server_echo_without_text():
    with LocalProviderServer(echo_text=False) as server:
        reply = httpx.post(server.openai_base_url + "/chat/completions", json=BODY, timeout=10)
    text = reply.json()["choices"][0]["message"]["content"]
    assert text.startswith("ECHO words=3 sha256=")
    assert "alpha" not in text


def test_provider_echo_reply_uses_last_user_message():
    messages = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "first"},
        {"role": "assistant", "content": "answer"},
        {"role": "user", "content": [{"type": "text", "text": "second one"}]},
    ]
    text, prompt_words, reply_words = echo_reply(messages)
    assert text.startswith("ECHO words=2 ")
    assert text.endswith(": second one")
    assert prompt_words == 5
    assert reply_words == len(text.split())


def test_provider_cli_serve_subprocess(tmp_path):
    record = tmp_path / "cli.jsonl"
    script = (
        "import argparse, sys\n"
        "from pipeline.providers import cli\n"
        "parser = argparse.ArgumentParser()\n"
        "cli.configure(parser)\n"
        "args = parser.parse_args(sys.argv[1:])\n"
        "sys.exit(cli.run(args))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", script, "serve", "--port", "0", "--record", str(record)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("provider server: http://127.0.0.1:"), process.stderr.read()
        base = line.split(": ", 1)[1].strip()
        reply = httpx.post(base + "/chat/completions", json=BODY, timeout=10)
        assert reply.json()["usage"]["prompt_tokens"] == 3
    finally:
        process.terminate()
        process.wait(timeout=20)
    assert json.loads(record.read_text())["body"] == BODY


def test_provider_cli_rejects_non_loopback():
    import argparse

    from pipeline.providers import cli

    parser = argparse.ArgumentParser()
    cli.configure(parser)
    args = parser.parse_args(["serve", "--host", "0.0.0.0", "--port", "0"])
    with pytest.raises(ConfigError):
        cli.run(args)
