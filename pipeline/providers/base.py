"""Provider adapter protocol and its message types.

Requests and responses are frozen dataclasses whose text fields are excluded from ``repr``: a
request or response that ends up in a log line or a traceback shows its shape (model, counts,
ids), never the prompt or completion.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from pydantic import SecretStr

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """One chat message; ``content`` never appears in ``repr``."""

    role: Role
    content: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A provider-neutral chat completion request.

    Attributes:
        model: model name (Azure: deployment name; Bedrock: model id).
        messages: the conversation, system messages included.
        request_id: correlation id, sent as ``X-Request-ID`` where the API allows it.
        max_tokens: completion token limit (Anthropic requires one; default 1024 there).
        temperature: sampling temperature, provider default when ``None``.
    """

    model: str
    messages: tuple[ChatMessage, ...] = field(repr=False)
    request_id: str = ""
    max_tokens: int | None = None
    temperature: float | None = None

    @classmethod
    def from_prompt(
        cls, model: str, prompt: str, *, system: str | None = None, request_id: str = ""
    ) -> ChatRequest:
        """Build a single-turn request from a prompt (and an optional system message)."""
        messages: list[ChatMessage] = []
        if system:
            messages.append(ChatMessage("system", system))
        messages.append(ChatMessage("user", prompt))
        return cls(model=model, messages=tuple(messages), request_id=request_id)


@dataclass(frozen=True, slots=True)
class Usage:
    """Token usage as reported by the provider (not estimated)."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


@dataclass(frozen=True, slots=True)
class ChatResponse:
    """A provider-neutral completion; ``text`` never appears in ``repr``.

    Attributes:
        text: the completion text.
        model: the model that answered, as the provider reports it.
        provider: the policy name of the provider.
        usage: token usage from the response.
        finish_reason: the provider's stop/finish reason, if given.
        response_id: the provider's id of the completion, if given.
        attempts: how many HTTP attempts the call took (1 = no retry).
    """

    text: str = field(repr=False)
    model: str
    provider: str
    usage: Usage
    finish_reason: str | None = None
    response_id: str | None = None
    attempts: int = 1


@dataclass(frozen=True, slots=True)
class AdapterConfig:
    """How to reach one provider: built from the policy entry plus settings.

    Attributes:
        name: the policy name of the provider.
        endpoint: base URL (checked by :func:`pipeline.providers.transport.check_endpoint`).
        api_key: credential, never logged (``SecretStr`` and excluded from ``repr``).
        timeout_s: per-attempt timeout.
        max_retries: retries after the first attempt on 429/5xx/timeouts.
        backoff_base_s: first backoff ceiling; doubles each retry.
        backoff_max_s: largest backoff; a longer ``Retry-After`` makes the call fail instead.
        max_concurrency: calls in flight at once to this provider.
        requests_per_minute: attempts per minute to this provider (paced), unlimited if ``None``.
        api_version: Azure OpenAI ``api-version``.
        region: Bedrock region.
        breaker_failures: consecutive failed attempts that open the circuit breaker.
        breaker_reset_s: how long the breaker stays open before a half-open probe.
        ca_file: extra CA bundle (private CAs, test servers); system trust store otherwise.
    """

    name: str
    endpoint: str
    api_key: SecretStr | None = field(default=None, repr=False)
    timeout_s: float = 30.0
    max_retries: int = 3
    backoff_base_s: float = 0.2
    backoff_max_s: float = 10.0
    max_concurrency: int = 8
    requests_per_minute: int | None = None
    api_version: str | None = None
    region: str | None = None
    breaker_failures: int = 5
    breaker_reset_s: float = 30.0
    ca_file: str | None = None


@runtime_checkable
class ProviderAdapter(Protocol):
    """What every provider adapter does."""

    @property
    def name(self) -> str:
        """The policy name of the provider."""
        ...

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Send ``request`` and return the completion.

        Raises:
            ProviderError: the call failed after its retries, the circuit is open, or the
                response was malformed; ``reason`` says which, the message never holds text.
        """
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...
