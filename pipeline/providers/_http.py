"""Shared machinery of the HTTP adapters: one attempt, error classification, resilience.

Error messages name the provider, the HTTP status and a reason code, never the request or
response body (a provider error body can quote the prompt) and never a header (credentials).
"""

from __future__ import annotations

import abc
import asyncio
import json
import logging
import random
import ssl
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from pipeline.errors import ProviderError
from pipeline.providers.base import AdapterConfig, ChatRequest, ChatResponse
from pipeline.providers.resilience import (
    CircuitBreaker,
    Resilience,
    RetryableError,
    parse_retry_after,
)
from pipeline.providers.transport import HttpSession, check_endpoint

log = logging.getLogger("pipeline.providers")


def _caused_by_tls(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _tls_failure(exc: aiohttp.ClientError, url: str) -> bool:
    """Whether a failed request is a TLS handshake failure (not worth retrying).

    Besides an ``SSLError`` (bad certificate, no common protocol), a connection the peer resets
    while an HTTPS connection is being set up counts: it is how a server that only speaks TLS
    below 1.2 answers our TLS 1.2+ client hello, and retrying cannot change that.
    """
    if isinstance(exc, aiohttp.ClientSSLError) or _caused_by_tls(exc):
        return True
    return (
        isinstance(exc, aiohttp.ClientConnectorError)
        and isinstance(exc.os_error, ConnectionResetError)
        and url.startswith("https://")
    )


class HttpAdapter(abc.ABC):
    """Base of the JSON-over-HTTPS adapters; subclasses build and parse the API's bodies.

    Args:
        config: endpoint, credential and resilience settings.
        breaker: a circuit breaker to use (a fresh one from ``config`` by default).
        sleep: backoff sleep (injectable for tests).
        rng: jitter randomness.
    """

    def __init__(
        self,
        config: AdapterConfig,
        *,
        breaker: CircuitBreaker | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.config = config
        self.base_url = check_endpoint(config.endpoint)
        self._http = HttpSession(config.endpoint, config.timeout_s, config.ca_file)
        self.resilience = Resilience.for_adapter(config, breaker=breaker, sleep=sleep, rng=rng)

    @property
    def name(self) -> str:
        """The policy name of the provider."""
        return self.config.name

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.config.name!r}, endpoint={self.base_url!s})"

    def _url(self, path: str) -> str:
        return str(self.base_url).rstrip("/") + path

    def _secret(self) -> str | None:
        return self.config.api_key.get_secret_value() if self.config.api_key else None

    async def complete(self, request: ChatRequest) -> ChatResponse:
        """Send ``request`` with retries and return the parsed completion.

        Raises:
            ProviderError: see :meth:`pipeline.providers.base.ProviderAdapter.complete`.
        """
        url, params = self.endpoint_for(request)
        body = self.build_body(request)
        headers = self.headers()
        if request.request_id:
            headers["X-Request-ID"] = request.request_id

        async def attempt() -> dict[str, Any]:
            return await self._post_json(url, body, headers, params)

        data, attempts = await self.resilience.call(attempt)
        try:
            return self.parse_body(data, request, attempts)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise ProviderError(
                f"provider {self.name}: response does not match the API schema",
                reason="bad_response",
            ) from exc

    async def aclose(self) -> None:
        """Close the HTTP client."""
        await self._http.aclose()

    async def _post_json(
        self,
        url: str,
        body: Mapping[str, Any],
        headers: Mapping[str, str],
        params: Mapping[str, str] | None,
    ) -> dict[str, Any]:
        name = self.name
        try:
            # Redirects could move a request to an unchecked (non-HTTPS) URL.
            async with self._http.session().post(
                url, json=body, headers=headers, params=params, allow_redirects=False
            ) as response:
                status = response.status
                retry_header = response.headers.get("retry-after")
                raw = await response.read() if 200 <= status < 300 else b""
        except TimeoutError as exc:
            raise RetryableError(f"provider {name}: timed out", reason="timeout") from exc
        except aiohttp.ClientError as exc:
            if _tls_failure(exc, url):
                # A failed handshake (old TLS, bad certificate) will not fix itself on retry.
                raise ProviderError(f"provider {name}: TLS failure", reason="tls_error") from exc
            raise RetryableError(
                f"provider {name}: connection failed ({type(exc).__name__})",
                reason="connection_error",
            ) from exc
        if status == 429 or status >= 500:
            retry_after = parse_retry_after(retry_header)
            reason = "rate_limited" if status == 429 else "http_5xx"
            raise RetryableError(
                f"provider {name}: HTTP {status}", reason=reason, retry_after_s=retry_after
            )
        if status in (401, 403):
            raise ProviderError(f"provider {name}: HTTP {status}", reason="auth_failed")
        if not 200 <= status < 300:
            raise ProviderError(f"provider {name}: HTTP {status}", reason="http_4xx")
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise ProviderError(
                f"provider {name}: response is not JSON", reason="bad_response"
            ) from exc
        if not isinstance(data, dict):
            raise ProviderError(
                f"provider {name}: response is not a JSON object", reason="bad_response"
            )
        return data

    # -- implemented by each API ------------------------------------------------------------

    @abc.abstractmethod
    def endpoint_for(self, request: ChatRequest) -> tuple[str, dict[str, str] | None]:
        """Return the URL and query parameters for ``request``."""

    @abc.abstractmethod
    def headers(self) -> dict[str, str]:
        """Return the request headers, credentials included."""

    @abc.abstractmethod
    def build_body(self, request: ChatRequest) -> dict[str, Any]:
        """Return the JSON body for ``request``."""

    @abc.abstractmethod
    def parse_body(self, data: dict[str, Any], request: ChatRequest, attempts: int) -> ChatResponse:
        """Return the completion from a successful response body."""
