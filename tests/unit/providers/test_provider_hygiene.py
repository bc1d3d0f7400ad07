"""Credentials and prompt text never reach logs, exception messages or reprs."""

from __future__ import annotations

import asyncio
import logging

import pytest
from pydantic import SecretStr

from pipeline.config import ProviderSettings
from pipeline.errors import ProviderError, safe_reason
from pipeline.policy.models import Provider
from pipeline.providers import (
    AdapterConfig,
    AnthropicMessagesAdapter,
    AzureOpenAIChatAdapter,
    ChatRequest,
    OpenAIChatAdapter,
    build_adapter,
)
from pipeline.providers.local_server import LocalProviderServer

API_KEY = "sk-SYNTHETIC-KEY-7c1d9e0f2b"
# Synthetic PHI: a made-up patient. It must reach the provider (that is what the request is
# for) but nothing else.
PHI = "Patient Jonathan Q. Fakename, SSN 078-05-1120, MRN 99887766"


def _exception_text(exc: BaseException) -> str:
    parts = []
    seen: BaseException | None = exc
    while seen is not None:
        parts += [str(seen), repr(seen)]
        seen = seen.__cause__ or seen.__context__
    return "\n".join(parts)


@pytest.mark.parametrize(
    "adapter_class", [OpenAIChatAdapter, AzureOpenAIChatAdapter, AnthropicMessagesAdapter]
)
def test_provider_key_and_prompt_never_in_logs_or_errors(caplog, sleeps, adapter_class):
    caplog.set_level(logging.DEBUG)  # the HTTP client's (aiohttp) debug logs included
    request = ChatRequest.from_prompt("m", PHI, request_id="req-hygiene")
    failures: list[BaseException] = []
    reprs: list[str] = []

    def config_for(server):
        endpoint = server.openai_base_url if adapter_class is OpenAIChatAdapter else server.url
        return AdapterConfig(
            name="p",
            endpoint=endpoint,
            api_key=SecretStr(API_KEY),
            api_version="2024-10-21",
            max_retries=1,
        )

    async def exercise(server):
        adapter = adapter_class(config_for(server), sleep=sleeps)
        reprs.extend([repr(adapter), repr(adapter.config)])
        try:
            for _ in range(10):  # bounded: 4 injected failures, then success
                try:
                    await adapter.complete(request)
                except ProviderError as exc:
                    failures.append(exc)
                    continue
                return
        finally:
            await adapter.aclose()

    with LocalProviderServer() as server:
        # 401, 500 x2 (retried, exhausted), 429 x2 (exhausted), 400, then a success.
        for status, count in ((401, 1), (500, 2), (429, 2), (400, 1)):
            server.fail_next(count, status, retry_after="0")
        asyncio.run(exercise(server))
        # The prompt did reach the provider: the test would prove nothing otherwise.
        assert any(PHI in str(r["body"]) for r in server.recorded())
    with LocalProviderServer(api_key="a-different-key") as guarded:

        async def rejected():
            adapter = adapter_class(config_for(guarded), sleep=sleeps)
            try:
                await adapter.complete(request)
            except ProviderError as exc:
                failures.append(exc)
            finally:
                await adapter.aclose()

        asyncio.run(rejected())

    assert [f.reason for f in failures] == [
        "auth_failed",
        "http_5xx",
        "rate_limited",
        "http_4xx",
        "auth_failed",
    ]
    texts = [caplog.text, repr(request), *reprs]
    texts += [_exception_text(f) for f in failures] + [safe_reason(f) for f in failures]
    for text in texts:
        assert API_KEY not in text
        assert "078-05-1120" not in text
        assert "Fakename" not in text


def test_provider_response_repr_has_no_text(server):
    config = AdapterConfig(name="p", endpoint=server.openai_base_url)

    async def go():
        adapter = OpenAIChatAdapter(config)
        try:
            return await adapter.complete(ChatRequest.from_prompt("m", PHI))
        finally:
            await adapter.aclose()

    response = asyncio.run(go())
    assert PHI in response.text  # the echo server returned it...
    assert "Fakename" not in repr(response)  # ...but the repr does not show it


def test_provider_settings_key_not_in_repr():
    settings = ProviderSettings(api_keys={"p": SecretStr(API_KEY)})
    provider = Provider(
        name="p", kind="openai", endpoint="https://api.example.test/v1", models=("m",), region="x"
    )
    adapter = build_adapter(provider, settings)
    assert API_KEY not in repr(settings)
    assert API_KEY not in repr(adapter)
    assert API_KEY not in repr(adapter.config)  # type: ignore[attr-defined]
    assert adapter.config.api_key.get_secret_value() == API_KEY  # type: ignore[attr-defined]
