"""Anthropic Messages adapter against the real loopback server's /v1/messages."""

from __future__ import annotations

import asyncio

from pydantic import SecretStr

from pipeline.providers import AnthropicMessagesAdapter, ChatMessage, ChatRequest
from pipeline.providers.base import AdapterConfig
from pipeline.providers.local_server import LocalProviderServer


def _run(config, request, sleep=None):
    async def go():
        kwargs = {"sleep": sleep} if sleep else {}
        adapter = AnthropicMessagesAdapter(config, **kwargs)
        try:
            return await adapter.complete(request)
        finally:
            await adapter.aclose()

    return asyncio.run(go())


def test_provider_anthropic_success_and_body_shape():
    with LocalProviderServer(api_key="ant-key") as server:
        config = AdapterConfig(name="claude", endpoint=server.url, api_key=SecretStr("ant-key"))
        request = ChatRequest(
            model="claude-test",
            messages=(
                ChatMessage("system", "answer briefly"),
                ChatMessage("user", "list three fruits"),
            ),
        )
        response = _run(config, request)
        assert response.text.endswith(": list three fruits")
        assert response.finish_reason == "end_turn"
        # input = system (2 words) + user (3 words), output counted by the server.
        assert response.usage.prompt_tokens == 5
        assert response.usage.completion_tokens == len(response.text.split())
        assert response.usage.total_tokens == 5 + len(response.text.split())
        [record] = server.recorded()
        assert record["path"] == "/v1/messages"
        assert record["body"] == {
            "model": "claude-test",
            "max_tokens": 1024,
            "system": "answer briefly",
            "messages": [{"role": "user", "content": "list three fruits"}],
        }


def test_provider_anthropic_retries_429(server, sleeps):
    server.fail_next(1, 429, retry_after="1")
    config = AdapterConfig(name="claude", endpoint=server.url, max_retries=2, backoff_max_s=5)
    response = _run(config, ChatRequest.from_prompt("c", "hello"), sleep=sleeps)
    assert response.attempts == 2
    assert sleeps.delays == [1.0]
