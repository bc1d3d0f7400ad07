"""Provider calls: async adapters with retries, concurrency limits and a circuit breaker.

Public API: :class:`ChatRequest` / :class:`ChatResponse` / :class:`Usage`, the adapters
(:class:`OpenAIChatAdapter`, :class:`AzureOpenAIChatAdapter`, :class:`AnthropicMessagesAdapter`,
and ``pipeline.providers.bedrock.BedrockConverseAdapter`` with the ``bedrock`` extra),
:func:`build_adapter` from a policy entry, and the loopback :class:`LocalProviderServer`
(imported from ``pipeline.providers.local_server``; it pulls in aiohttp).
"""

from pipeline.providers.anthropic import AnthropicMessagesAdapter
from pipeline.providers.base import (
    AdapterConfig,
    ChatMessage,
    ChatRequest,
    ChatResponse,
    ProviderAdapter,
    Usage,
)
from pipeline.providers.openai import AzureOpenAIChatAdapter, OpenAIChatAdapter
from pipeline.providers.registry import adapter_config, build_adapter, build_adapters
from pipeline.providers.resilience import CircuitBreaker, Resilience, RetryPolicy

__all__ = [
    "AdapterConfig",
    "AnthropicMessagesAdapter",
    "AzureOpenAIChatAdapter",
    "ChatMessage",
    "ChatRequest",
    "ChatResponse",
    "CircuitBreaker",
    "OpenAIChatAdapter",
    "ProviderAdapter",
    "Resilience",
    "RetryPolicy",
    "Usage",
    "adapter_config",
    "build_adapter",
    "build_adapters",
]
