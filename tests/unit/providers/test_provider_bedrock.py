"""Bedrock Converse adapter: boto3 against the real loopback server's Converse route."""

from __future__ import annotations

import asyncio
import sys

import pytest

from pipeline.errors import ConfigError, ProviderError
from pipeline.providers import AdapterConfig, ChatMessage, ChatRequest


def test_provider_bedrock_without_boto3_is_a_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "boto3", None)  # makes "import boto3" raise ImportError
    from pipeline.providers.bedrock import BedrockConverseAdapter

    with pytest.raises(ConfigError) as info:
        BedrockConverseAdapter(AdapterConfig(name="b", endpoint="", region="us-east-1"))
    assert info.value.reason == "missing_extra"


@pytest.fixture
def aws_env(monkeypatch):
    pytest.importorskip("boto3")
    # Synthetic credentials: the loopback server does not check signatures.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLESYNTHETIC")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "synthetic-secret")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)


def _run(config, request, sleep=None):
    from pipeline.providers.bedrock import BedrockConverseAdapter

    async def go():
        kwargs = {"sleep": sleep} if sleep else {}
        adapter = BedrockConverseAdapter(config, **kwargs)
        try:
            return await adapter.complete(request)
        finally:
            await adapter.aclose()

    return asyncio.run(go())


def test_provider_bedrock_converse(aws_env, server):
    config = AdapterConfig(name="bedrock", endpoint=server.url, region="us-east-1")
    request = ChatRequest(
        model="anthropic.claude-test",
        messages=(ChatMessage("system", "be brief"), ChatMessage("user", "name two colours")),
        max_tokens=50,
    )
    response = _run(config, request)
    assert response.text.endswith(": name two colours")
    assert response.usage.prompt_tokens == 5
    assert response.usage.total_tokens == 5 + response.usage.completion_tokens
    assert response.finish_reason == "end_turn"
    [record] = server.recorded()
    assert record["path"] == "/model/anthropic.claude-test/converse"
    assert record["body"] == {
        "messages": [{"role": "user", "content": [{"text": "name two colours"}]}],
        "system": [{"text": "be brief"}],
        "inferenceConfig": {"maxTokens": 50},
    }


def test_provider_bedrock_throttling_retried(aws_env, server, sleeps):
    server.fail_next(1, 429)
    server.fail_next(1, 503)
    config = AdapterConfig(name="bedrock", endpoint=server.url, region="us-east-1", max_retries=2)
    response = _run(config, ChatRequest.from_prompt("m", "hello"), sleep=sleeps)
    assert response.attempts == 3
    assert len(sleeps.delays) == 2
    # botocore's own retries are off: exactly our three attempts reached the server.
    assert server.stats()["requests"] == 3


def test_provider_bedrock_errors_exhaust(aws_env, server, sleeps):
    server.fail_next(5, 500)
    config = AdapterConfig(name="bedrock", endpoint=server.url, region="us-east-1", max_retries=1)
    with pytest.raises(ProviderError) as info:
        _run(config, ChatRequest.from_prompt("m", "hello"), sleep=sleeps)
    assert info.value.reason == "http_5xx"
    assert server.stats()["requests"] == 2


def test_provider_bedrock_needs_region_and_secure_endpoint(aws_env):
    from pipeline.providers.bedrock import BedrockConverseAdapter

    with pytest.raises(ConfigError):
        BedrockConverseAdapter(AdapterConfig(name="b", endpoint=""))
    with pytest.raises(ConfigError) as info:
        BedrockConverseAdapter(
            AdapterConfig(name="b", endpoint="http://bedrock.example.com", region="us-east-1")
        )
    assert info.value.reason == "insecure_endpoint"
