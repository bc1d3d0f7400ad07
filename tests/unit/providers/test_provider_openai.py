"""OpenAI-compatible adapters (OpenAI, Azure, vLLM/Ollama via base URL) against the real server."""

from __future__ import annotations

import asyncio
import hashlib

import pytest
from pydantic import SecretStr

from pipeline.config import ProviderSettings
from pipeline.errors import ProviderError
from pipeline.policy.models import Provider
from pipeline.providers import (
    AdapterConfig,
    AzureOpenAIChatAdapter,
    ChatMessage,
    ChatRequest,
    OpenAIChatAdapter,
    build_adapter,
)
from pipeline.providers.local_server import LocalProviderServer

PROMPT = "Summarise the visit of [NAME] on [DATE] in two lines"


def _complete(adapter_factory, request):
    async def go():
        adapter = adapter_factory()
        try:
            return await adapter.complete(request)
        finally:
            await adapter.aclose()

    return asyncio.run(go())


def test_provider_openai_success_with_usage(server):
    request = ChatRequest(
        model="echo-1",
        messages=(ChatMessage("system", "be brief"), ChatMessage("user", PROMPT)),
        request_id="req-42",
        max_tokens=64,
        temperature=0.0,
    )
    config = AdapterConfig(name="local", endpoint=server.openai_base_url)
    response = _complete(lambda: OpenAIChatAdapter(config), request)

    words = len(PROMPT.split())
    digest = hashlib.sha256(PROMPT.encode()).hexdigest()[:12]
    assert response.text.startswith(f"ECHO words={words} sha256={digest}: ")
    assert response.text.endswith(": " + PROMPT)
    assert response.model == "echo-1"
    assert response.provider == "local"
    assert response.finish_reason == "stop"
    assert response.attempts == 1
    # usage comes from the response: system + user words; reply words counted by the server.
    assert response.usage.prompt_tokens == 2 + words
    assert response.usage.completion_tokens == len(response.text.split())
    assert response.usage.total_tokens == 2 + words + len(response.text.split())

    [record] = server.recorded()
    assert record["api"] == "openai"
    assert record["path"] == "/v1/chat/completions"
    assert record["body"] == {
        "model": "echo-1",
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": PROMPT},
        ],
        "stream": False,
        "max_tokens": 64,
        "temperature": 0.0,
    }


def test_provider_openai_reply_is_deterministic(server):
    config = AdapterConfig(name="local", endpoint=server.openai_base_url)
    request = ChatRequest.from_prompt("echo-1", PROMPT)
    first = _complete(lambda: OpenAIChatAdapter(config), request)
    second = _complete(lambda: OpenAIChatAdapter(config), request)
    assert first.text == second.text
    assert first.response_id == second.response_id


def test_provider_openai_sends_bearer_key():
    with LocalProviderServer(api_key="sk-local-test") as guarded:
        ok = AdapterConfig(
            name="local", endpoint=guarded.openai_base_url, api_key=SecretStr("sk-local-test")
        )
        assert _complete(lambda: OpenAIChatAdapter(ok), ChatRequest.from_prompt("m", "hi")).text
        wrong = AdapterConfig(
            name="local", endpoint=guarded.openai_base_url, api_key=SecretStr("sk-wrong")
        )
        with pytest.raises(ProviderError) as info:
            _complete(lambda: OpenAIChatAdapter(wrong), ChatRequest.from_prompt("m", "hi"))
        assert info.value.reason == "auth_failed"
        # 401 is not retried.
        assert guarded.stats()["requests"] == 2


def test_provider_azure_deployment_and_api_version(server):
    config = AdapterConfig(
        name="azure",
        endpoint=server.url,
        api_key=SecretStr("azure-key"),
        api_version="2024-10-21",
    )
    response = _complete(
        lambda: AzureOpenAIChatAdapter(config), ChatRequest.from_prompt("gpt-4o-prod", PROMPT)
    )
    assert response.text.endswith(PROMPT)
    [record] = server.recorded()
    assert record["api"] == "azure_openai"
    assert record["path"] == "/openai/deployments/gpt-4o-prod/chat/completions"
    assert record["query"] == {"api-version": "2024-10-21"}
    assert "model" not in record["body"]


def test_provider_azure_key_goes_in_api_key_header():
    with LocalProviderServer(api_key="azure-secret") as guarded:
        config = AdapterConfig(
            name="azure",
            endpoint=guarded.url,
            api_key=SecretStr("azure-secret"),
            api_version="2024-10-21",
        )
        response = _complete(
            lambda: AzureOpenAIChatAdapter(config), ChatRequest.from_prompt("dep", "hello")
        )
        assert response.usage.prompt_tokens == 1


@pytest.mark.parametrize("kind", ["vllm", "ollama", "openai", "local"])
def test_provider_openai_compatible_kinds_from_policy(server, kind):
    provider = Provider(
        name=f"{kind}-1",
        kind=kind,
        endpoint=server.openai_base_url,
        models=("m",),
        region="local",
        rate_limits={"max_concurrency": 3},
    )
    settings = ProviderSettings(timeout_s=5, max_retries=1)
    adapter = build_adapter(provider, settings)
    assert isinstance(adapter, OpenAIChatAdapter)
    assert adapter.resilience.retry.max_retries == 1
    response = _complete(lambda: adapter, ChatRequest.from_prompt("m", "one two three"))
    assert response.provider == f"{kind}-1"
    assert response.usage.prompt_tokens == 3
