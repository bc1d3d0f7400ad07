"""Transport security for provider calls: HTTPS with TLS >= 1.2, plain HTTP only on loopback.

Prompts (even de-identified ones) and API keys travel over these connections, so an endpoint
that is not HTTPS is refused at configuration time, before any request is built. The single
exception is a loopback host (127.0.0.0/8, ::1, ``localhost``): the local provider server used
by tests and the demo, or a model served on the same machine, never leaves the host.
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl

import aiohttp
import httpx

from pipeline.errors import ConfigError

_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain"})


def is_loopback_host(host: str) -> bool:
    """Return whether ``host`` is a loopback name or address (127.0.0.0/8, ::1, localhost)."""
    host = host.strip("[]").lower()
    if host in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(url: str) -> httpx.URL:
    """Validate a provider endpoint and return it parsed.

    Args:
        url: the provider base URL.

    Returns:
        The parsed URL.

    Raises:
        ConfigError: the URL is malformed, has credentials in it, or is not HTTPS on a
            non-loopback host (reason ``insecure_endpoint``).
    """
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError) as exc:
        raise ConfigError("provider endpoint is not a valid URL", reason="bad_endpoint") from exc
    if not parsed.host:
        raise ConfigError("provider endpoint has no host", reason="bad_endpoint")
    if parsed.userinfo:
        # Credentials belong in settings (SecretStr), never in a URL that gets logged.
        raise ConfigError("provider endpoint must not embed credentials", reason="bad_endpoint")
    if parsed.scheme == "https":
        return parsed
    if parsed.scheme == "http" and is_loopback_host(parsed.host):
        return parsed
    raise ConfigError(
        f"provider endpoint must be https (http only on loopback): {parsed.scheme}://{parsed.host}",
        reason="insecure_endpoint",
    )


def tls_context(ca_file: str | None = None) -> ssl.SSLContext:
    """Return a client TLS context: certificate and host verification on, TLS 1.2 minimum.

    Args:
        ca_file: an extra CA bundle to trust instead of the system store (private CAs, tests).
    """
    context = ssl.create_default_context(cafile=ca_file)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


class HttpSession:
    """An aiohttp client session for one provider endpoint, with the checks above applied.

    aiohttp (already a dependency of Faust's web server) costs about a quarter of httpx's CPU
    per request on loopback, and a provider call is made for every prompt. A session belongs
    to one event loop, so one is opened lazily per running loop.

    Args:
        endpoint: the provider base URL (checked here).
        timeout_s: the whole-request timeout.
        ca_file: an extra CA bundle to trust instead of the system store.

    Raises:
        ConfigError: the endpoint is not acceptable.
    """

    def __init__(self, endpoint: str, timeout_s: float, ca_file: str | None = None) -> None:
        check_endpoint(endpoint)
        self._tls = tls_context(ca_file)
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def session(self) -> aiohttp.ClientSession:
        """Return the session of the running loop (opened on first use)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._loop is not loop or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(ssl=self._tls),
                timeout=self._timeout,
                # Proxies from the environment could route a request off the checked path.
                trust_env=False,
            )
            self._loop = loop
        return self._session

    async def aclose(self) -> None:
        """Close the session of the running loop, if one is open."""
        if self._session is not None and not self._session.closed:
            await self._session.close()
        self._session = None
