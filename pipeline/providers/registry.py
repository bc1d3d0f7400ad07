"""Build provider adapters from policy entries and settings.

The policy says *what* a provider is (kind, endpoint, limits); settings hold the credentials
(``providers.api_keys[<provider name>]``) and call behaviour (timeouts, retries, backoff).
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.config import ProviderSettings
from pipeline.errors import ConfigError
from pipeline.policy.models import Policy, Provider, ProviderKind
from pipeline.providers.anthropic import AnthropicMessagesAdapter
from pipeline.providers.base import AdapterConfig, ProviderAdapter
from pipeline.providers.openai import AzureOpenAIChatAdapter, OpenAIChatAdapter

_OPENAI_COMPATIBLE = frozenset(
    {ProviderKind.OPENAI, ProviderKind.VLLM, ProviderKind.OLLAMA, ProviderKind.LOCAL}
)


def adapter_config(provider: Provider, settings: ProviderSettings) -> AdapterConfig:
    """Return the adapter configuration for one policy provider."""
    return AdapterConfig(
        name=provider.name,
        endpoint=provider.endpoint,
        api_key=settings.api_keys.get(provider.name),
        timeout_s=settings.timeout_s,
        max_retries=settings.max_retries,
        backoff_base_s=settings.backoff_base_s,
        backoff_max_s=settings.backoff_max_s,
        max_concurrency=provider.rate_limits.max_concurrency,
        requests_per_minute=provider.rate_limits.requests_per_minute,
        api_version=provider.api_version,
        region=provider.region,
    )


def build_adapter(provider: Provider, settings: ProviderSettings) -> ProviderAdapter:
    """Return the adapter for ``provider``.

    Raises:
        ConfigError: the endpoint is not acceptable (not HTTPS off loopback), or the kind
            needs an optional extra that is not installed (bedrock -> boto3).
    """
    config = adapter_config(provider, settings)
    if provider.kind in _OPENAI_COMPATIBLE:
        return OpenAIChatAdapter(config)
    if provider.kind is ProviderKind.AZURE_OPENAI:
        return AzureOpenAIChatAdapter(config)
    if provider.kind is ProviderKind.ANTHROPIC:
        return AnthropicMessagesAdapter(config)
    if provider.kind is ProviderKind.BEDROCK:
        # Imported here: boto3 is an optional extra.
        from pipeline.providers.bedrock import BedrockConverseAdapter

        return BedrockConverseAdapter(config)
    raise ConfigError(f"provider {provider.name}: unsupported kind", reason="bad_provider")


def build_adapters(
    policy: Policy, settings: ProviderSettings, only: Mapping[str, object] | None = None
) -> dict[str, ProviderAdapter]:
    """Return an adapter per policy provider (or per name in ``only``), keyed by name.

    Raises:
        ConfigError: as :func:`build_adapter`; ``only`` names a provider not in the policy.
    """
    names = list(only) if only is not None else [p.name for p in policy.providers]
    adapters: dict[str, ProviderAdapter] = {}
    for name in names:
        provider = policy.provider(name)
        if provider is None:
            raise ConfigError(f"provider {name} is not in the policy", reason="unknown_provider")
        adapters[name] = build_adapter(provider, settings)
    return adapters
