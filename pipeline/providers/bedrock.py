"""AWS Bedrock Converse adapter (optional extra ``phi-pipeline[bedrock]``).

boto3 is imported when an adapter is built, not at import time, so the pipeline runs without it;
building one without boto3 raises :class:`ConfigError`. Credentials come from boto3's default
chain (environment, profile, instance role), never from the policy. botocore's own retries are
turned off so that :class:`~pipeline.providers.resilience.Resilience` applies the same retry,
concurrency and circuit-breaker behaviour as every other provider.

TLS: botocore verifies certificates with the interpreter's default context, which on Python
3.10+ already refuses anything below TLS 1.2; the endpoint itself (when overridden) goes through
:func:`~pipeline.providers.transport.check_endpoint` like every other provider.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import Any

from pipeline.errors import ConfigError, ProviderError
from pipeline.providers.base import AdapterConfig, ChatRequest, ChatResponse, Usage
from pipeline.providers.resilience import (
    CircuitBreaker,
    Resilience,
    RetryableError,
)
from pipeline.providers.transport import check_endpoint

_THROTTLING = frozenset(
    {"ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException"}
)
_AUTH = frozenset({"AccessDeniedException", "UnrecognizedClientException", "ExpiredTokenException"})


class BedrockConverseAdapter:
    """Bedrock ``Converse`` (``bedrock-runtime``), run in a worker thread per call.

    Args:
        config: ``region`` is required; ``endpoint`` may be empty (the AWS endpoint of the
            region) or an override (a VPC endpoint, or a loopback test server).
        breaker: a circuit breaker to use.
        sleep: backoff sleep (injectable for tests).
        rng: jitter randomness.

    Raises:
        ConfigError: boto3 is not installed, no region is configured, or the endpoint is not
            acceptable.
    """

    def __init__(
        self,
        config: AdapterConfig,
        *,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        try:
            import boto3
            import botocore.config
            import botocore.exceptions
        except ImportError as exc:
            raise ConfigError(
                "the bedrock provider needs boto3: pip install 'phi-pipeline[bedrock]'",
                reason="missing_extra",
            ) from exc
        if not config.region:
            raise ConfigError(
                f"provider {config.name}: bedrock needs a region", reason="bad_provider"
            )
        endpoint_url = None
        if config.endpoint:
            endpoint_url = str(check_endpoint(config.endpoint))
        self.config = config
        self._botocore_exceptions = botocore.exceptions
        client_config = botocore.config.Config(
            region_name=config.region,
            connect_timeout=config.timeout_s,
            read_timeout=config.timeout_s,
            retries={"total_max_attempts": 1, "mode": "standard"},
            max_pool_connections=config.max_concurrency,
        )
        self._client: Any = boto3.session.Session().client(
            "bedrock-runtime",
            endpoint_url=endpoint_url,
            config=client_config,
            verify=config.ca_file or True,
        )
        self.resilience = Resilience.for_adapter(config, breaker=breaker, sleep=sleep, rng=rng)

    @property
    def name(self) -> str:
        """The policy name of the provider."""
        return self.config.name

    def __repr__(self) -> str:
        return f"BedrockConverseAdapter(name={self.config.name!r}, region={self.config.region!r})"

    @staticmethod
    def build_kwargs(request: ChatRequest) -> dict[str, Any]:
        """Return the ``converse`` keyword arguments for ``request``."""
        kwargs: dict[str, Any] = {
            "modelId": request.model,
            "messages": [
                {"role": m.role, "content": [{"text": m.content}]}
                for m in request.messages
                if m.role != "system"
            ],
        }
        system = [{"text": m.content} for m in request.messages if m.role == "system"]
        if system:
            kwargs["system"] = system
        inference: dict[str, Any] = {}
        if request.max_tokens is not None:
            inference["maxTokens"] = request.max_tokens
        if request.temperature is not None:
            inference["temperature"] = request.temperature
        if inference:
            kwargs["inferenceConfig"] = inference
        return kwargs

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Call ``Converse`` with retries and return the completion.

        Raises:
            ProviderError: see :meth:`pipeline.providers.base.ProviderAdapter.complete`.
        """
        kwargs = self.build_kwargs(request)

        async def attempt() -> dict[str, Any]:
            return await asyncio.to_thread(self._converse, kwargs)

        data, attempts = await self.resilience.call(attempt)
        try:
            blocks = data["output"]["message"]["content"]
            usage = data["usage"]
            prompt, completion = int(usage["inputTokens"]), int(usage["outputTokens"])
            return ChatResponse(
                text="".join(b["text"] for b in blocks if "text" in b),
                model=request.model,
                provider=self.name,
                usage=Usage(prompt, completion, int(usage.get("totalTokens", prompt + completion))),
                finish_reason=data.get("stopReason"),
                response_id=data.get("ResponseMetadata", {}).get("RequestId"),
                attempts=attempts,
            )
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ProviderError(
                f"provider {self.name}: response does not match the API schema",
                reason="bad_response",
            ) from exc

    def _converse(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        errors = self._botocore_exceptions
        name = self.name
        try:
            result: dict[str, Any] = self._client.converse(**kwargs)
        except errors.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
            if code in _THROTTLING or status == 429:
                raise RetryableError(f"provider {name}: throttled", reason="rate_limited") from exc
            if status >= 500:
                raise RetryableError(f"provider {name}: HTTP {status}", reason="http_5xx") from exc
            if code in _AUTH or status in (401, 403):
                raise ProviderError(
                    f"provider {name}: HTTP {status}", reason="auth_failed"
                ) from exc
            raise ProviderError(f"provider {name}: HTTP {status}", reason="http_4xx") from exc
        except (errors.ReadTimeoutError, errors.ConnectTimeoutError) as exc:
            raise RetryableError(f"provider {name}: timed out", reason="timeout") from exc
        except errors.EndpointConnectionError as exc:
            raise RetryableError(
                f"provider {name}: connection failed", reason="connection_error"
            ) from exc
        except errors.NoCredentialsError as exc:
            raise ProviderError(
                f"provider {name}: no AWS credentials", reason="auth_failed"
            ) from exc
        return result

    async def aclose(self) -> None:
        """Close the boto3 client's connection pool."""
        close = getattr(self._client, "close", None)
        if close is not None:
            await asyncio.to_thread(close)
