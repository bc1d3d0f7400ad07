"""A real HTTP provider on loopback, for tests and the demo (``phi-pipeline provider serve``).

It speaks the OpenAI chat-completions API (``POST /v1/chat/completions``, and the Azure form
``POST /openai/deployments/{deployment}/chat/completions``), the Anthropic Messages API
(``POST /v1/messages``) and Bedrock Converse (``POST /model/{model_id}/converse``). The reply is
deterministic, built from the last user message::

    ECHO words=<n> sha256=<first 12 hex of the message>: <the message itself>

so a test (or a person watching the demo) sees exactly what the provider received; with
``echo_text=False`` the text is left out. Token usage counts whitespace-separated words.

Every request body is recorded (in memory, ``GET /_recorded``, :meth:`recorded`, and optionally
appended to a JSONL file) so a test can assert that no PHI reached the provider. Headers are not
recorded: they carry credentials. Latency, failures (a status, optionally with ``Retry-After``)
and hangs can be injected with the constructor, the Python API or ``POST /_control``. The server
also counts requests in flight and their maximum (``GET /_stats``) to check concurrency limits.

The server only binds loopback addresses: it is not a provider to expose.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import ssl
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from pipeline.config import EventLoopChoice
from pipeline.errors import ConfigError
from pipeline.eventloop import new_event_loop
from pipeline.providers.transport import is_loopback_host

log = logging.getLogger("pipeline.providers.local_server")

Json = dict[str, Any]


def _text_of(content: object) -> str:
    """Return the text of a message content: a string or a list of text blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(b.get("text", "")) for b in content if isinstance(b, dict) and "text" in b
        )
    return ""


def echo_reply(messages: list[Any], *, echo_text: bool = True) -> tuple[str, int, int]:
    """Return the deterministic reply and (prompt words, reply words) for ``messages``.

    Args:
        messages: the request's messages (``role`` and ``content`` objects).
        echo_text: include the last user message itself in the reply.
    """
    texts = [_text_of(m.get("content")) for m in messages if isinstance(m, dict)]
    users = [
        _text_of(m.get("content"))
        for m in messages
        if isinstance(m, dict) and m.get("role") == "user"
    ]
    last = users[-1] if users else (texts[-1] if texts else "")
    digest = hashlib.sha256(last.encode()).hexdigest()[:12]
    reply = f"ECHO words={len(last.split())} sha256={digest}"
    if echo_text:
        reply += f": {last}"
    prompt_words = sum(len(t.split()) for t in texts)
    return reply, prompt_words, len(reply.split())


class LocalProviderServer:
    """The loopback provider server, run in a background thread or inside a running loop.

    Args:
        host: a loopback address to bind.
        port: the port (0 picks a free one; read :attr:`port` after start).
        latency_ms: delay before every reply.
        record_file: JSONL file to append every recorded request to.
        api_key: when set, requests must carry it (``Authorization: Bearer``, ``api-key`` or
            ``x-api-key``) or get a 401.
        echo_text: include the prompt text in replies.
        ssl_context: serve HTTPS with this server context (to test TLS enforcement).
        event_loop: the loop :meth:`start` runs the server on in its thread (``auto``: uvloop
            when installed; see ``pipeline/eventloop.py``). :meth:`start_async` serves on
            whatever loop runs it.

    Raises:
        ConfigError: ``host`` is not a loopback address.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency_ms: int = 0,
        record_file: Path | None = None,
        api_key: str | None = None,
        echo_text: bool = True,
        ssl_context: ssl.SSLContext | None = None,
        event_loop: EventLoopChoice = "auto",
    ) -> None:
        if not is_loopback_host(host):
            raise ConfigError("the local provider server binds loopback only", reason="bad_host")
        self.host = host
        self.port = port
        self.record_file = record_file
        self.echo_text = echo_text
        self._ssl_context = ssl_context
        self._event_loop = event_loop
        self._api_key = api_key
        self._lock = threading.Lock()
        self._latency_ms = latency_ms
        self._failures: deque[tuple[int, str | None]] = deque()
        self._hangs: deque[float] = deque()
        self._recorded: list[Json] = []
        self._requests = 0
        self._in_flight = 0
        self._max_in_flight = 0
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def __repr__(self) -> str:
        return f"LocalProviderServer(url={self.url!r})"

    # -- addresses ------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """``http(s)://host:port`` (Anthropic, Azure and Bedrock base URL)."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        scheme = "https" if self._ssl_context is not None else "http"
        return f"{scheme}://{host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        """``http://host:port/v1`` (OpenAI-compatible base URL)."""
        return self.url + "/v1"

    # -- control (thread-safe) --------------------------------------------------------------

    def set_latency(self, latency_ms: int) -> None:
        """Delay every following reply by ``latency_ms``."""
        with self._lock:
            self._latency_ms = max(0, latency_ms)

    def fail_next(self, count: int, status: int = 500, retry_after: str | None = None) -> None:
        """Answer the next ``count`` requests with ``status`` (and ``Retry-After`` if given)."""
        with self._lock:
            self._failures.extend([(status, retry_after)] * count)

    def hang_next(self, count: int, seconds: float = 60.0) -> None:
        """Hold the next ``count`` requests for ``seconds`` (or until the server stops)."""
        with self._lock:
            self._hangs.extend([seconds] * count)

    def reset(self) -> None:
        """Clear injected faults, latency, records and counters."""
        with self._lock:
            self._failures.clear()
            self._hangs.clear()
            self._latency_ms = 0
            self._recorded.clear()
            self._requests = 0
            self._max_in_flight = self._in_flight

    def recorded(self) -> list[Json]:
        """Return a copy of the recorded requests: seq, api, path, query and body."""
        with self._lock:
            return [dict(r) for r in self._recorded]

    def stats(self) -> dict[str, int]:
        """Return ``requests``, ``in_flight`` and ``max_in_flight``."""
        with self._lock:
            return {
                "requests": self._requests,
                "in_flight": self._in_flight,
                "max_in_flight": self._max_in_flight,
            }

    # -- lifecycle ----------------------------------------------------------------------------

    def build_app(self) -> web.Application:
        """Return the aiohttp application (routes bound to this server's state)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self._api(self._openai_reply, "openai"))
        app.router.add_post(
            "/openai/deployments/{deployment}/chat/completions",
            self._api(self._openai_reply, "azure_openai"),
        )
        app.router.add_post("/v1/messages", self._api(self._anthropic_reply, "anthropic"))
        app.router.add_post(
            "/model/{model_id}/converse", self._api(self._converse_reply, "bedrock")
        )
        app.router.add_get("/_recorded", self._get_recorded)
        app.router.add_delete("/_recorded", self._delete_recorded)
        app.router.add_get("/_stats", self._get_stats)
        app.router.add_post("/_control", self._post_control)
        app.router.add_get("/health", self._health)
        return app

    async def start_async(self) -> None:
        """Start serving on the current event loop."""
        self._stopping = asyncio.Event()
        self._runner = web.AppRunner(self.build_app(), access_log=None, shutdown_timeout=5.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, ssl_context=self._ssl_context)
        await site.start()
        if self.port == 0:
            # Port 0 asked the OS for a free port; read back which one it gave.
            self.port = int(self._runner.addresses[0][1])
        log.info("local provider server listening on %s", self.url)

    async def stop_async(self) -> None:
        """Release hanging requests and stop serving."""
        if self._stopping is not None:
            self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start(self) -> LocalProviderServer:
        """Start serving in a background thread with its own event loop; return ``self``."""
        started = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = new_event_loop(self._event_loop)
            self._loop = loop
            try:
                loop.run_until_complete(self.start_async())
            except BaseException as exc:  # surfaced to the starting thread below
                errors.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            loop.run_forever()
            loop.close()

        self._thread = threading.Thread(target=run, name="local-provider-server", daemon=True)
        self._thread.start()
        started.wait(timeout=30)
        if errors:
            raise ConfigError(
                f"local provider server failed to start: {type(errors[0]).__name__}",
                reason="server_start_failed",
            ) from errors[0]
        return self

    def stop(self) -> None:
        """Stop the background server started by :meth:`start`."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self.stop_async(), loop)
        with contextlib.suppress(Exception):
            future.result(timeout=15)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=15)
        self._loop = self._thread = None

    def __enter__(self) -> LocalProviderServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- request handling ------------------------------------------------------------------

    def _api(
        self, reply: Callable[[Json, web.Request], Json], api: str
    ) -> Callable[[web.Request], Any]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await self._handle(request, reply, api)

        return handler

    def _authorised(self, request: web.Request) -> bool:
        if self._api_key is None:
            return True
        offered = {
            request.headers.get("Authorization", "").removeprefix("Bearer "),
            request.headers.get("api-key", ""),
            request.headers.get("x-api-key", ""),
        }
        return self._api_key in offered

    def _record(self, request: web.Request, api: str, body: object) -> None:
        with self._lock:
            entry: Json = {
                "seq": len(self._recorded),
                "api": api,
                "path": request.path,
                "query": dict(request.query),
                "body": body,
            }
            self._recorded.append(entry)
            if self.record_file is not None:
                with self.record_file.open("a", encoding="utf-8") as handle:
                    handle.write(json.dumps(entry, sort_keys=True) + "\n")

    async def _handle(
        self, request: web.Request, reply: Callable[[Json, web.Request], Json], api: str
    ) -> web.StreamResponse:
        raw = await request.read()
        try:
            body: object = json.loads(raw)
        except ValueError:
            body = {"_unparsed_bytes": len(raw)}
        with self._lock:
            self._requests += 1
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
            latency_ms = self._latency_ms
            failure = self._failures.popleft() if self._failures else None
            hang = self._hangs.popleft() if self._hangs else None
        try:
            self._record(request, api, body)
            if not self._authorised(request):
                return _error(api, 401, "invalid api key")
            if latency_ms:
                await asyncio.sleep(latency_ms / 1000)
            if hang is not None and self._stopping is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), hang)
            if failure is not None:
                status, retry_after = failure
                response = _error(api, status, "injected failure")
                if retry_after is not None:
                    response.headers["Retry-After"] = retry_after
                return response
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                return _error(api, 400, "body must be a JSON object with a messages list")
            return web.json_response(reply(body, request))
        finally:
            with self._lock:
                self._in_flight -= 1

    def _openai_reply(self, body: Json, request: web.Request) -> Json:
        text, prompt_words, reply_words = echo_reply(body["messages"], echo_text=self.echo_text)
        model = body.get("model") or request.match_info.get("deployment", "echo")
        return {
            "id": "chatcmpl-" + _body_digest(body),
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "stop",
                }
            ],
            "usage": {
                "prompt_tokens": prompt_words,
                "completion_tokens": reply_words,
                "total_tokens": prompt_words + reply_words,
            },
        }

    def _anthropic_reply(self, body: Json, request: web.Request) -> Json:
        messages = list(body["messages"])
        if isinstance(body.get("system"), str):
            messages.insert(0, {"role": "system", "content": body["system"]})
        text, prompt_words, reply_words = echo_reply(messages, echo_text=self.echo_text)
        return {
            "id": "msg_" + _body_digest(body),
            "type": "message",
            "role": "assistant",
            "model": body.get("model", "echo"),
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": prompt_words, "output_tokens": reply_words},
        }

    def _converse_reply(self, body: Json, request: web.Request) -> Json:
        messages = list(body["messages"])
        for block in body.get("system") or []:
            messages.insert(0, {"role": "system", "content": [block]})
        text, prompt_words, reply_words = echo_reply(messages, echo_text=self.echo_text)
        return {
            "output": {"message": {"role": "assistant", "content": [{"text": text}]}},
            "stopReason": "end_turn",
            "usage": {
                "inputTokens": prompt_words,
                "outputTokens": reply_words,
                "totalTokens": prompt_words + reply_words,
            },
            "metrics": {"latencyMs": 0},
        }

    async def _get_recorded(self, request: web.Request) -> web.Response:
        return web.json_response(self.recorded())

    async def _delete_recorded(self, request: web.Request) -> web.Response:
        with self._lock:
            self._recorded.clear()
        return web.json_response({"cleared": True})

    async def _get_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def _post_control(self, request: web.Request) -> web.Response:
        try:
            control = await request.json()
            if not isinstance(control, dict):
                raise TypeError("control body must be an object")
            if control.get("reset"):
                self.reset()
            if "latency_ms" in control:
                self.set_latency(int(control["latency_ms"]))
            if "fail" in control:
                fail = control["fail"]
                retry_after = fail.get("retry_after")
                self.fail_next(
                    int(fail.get("count", 1)),
                    int(fail.get("status", 500)),
                    None if retry_after is None else str(retry_after),
                )
            if "hang" in control:
                hang = control["hang"]
                self.hang_next(int(hang.get("count", 1)), float(hang.get("seconds", 60.0)))
        except (ValueError, TypeError, AttributeError):
            return web.json_response({"error": "invalid control body"}, status=400)
        return web.json_response({"ok": True, **self.stats()})


def _body_digest(body: Json) -> str:
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(canonical).hexdigest()[:24]


def _error(api: str, status: int, message: str) -> web.Response:
    if api == "anthropic":
        kind = "rate_limit_error" if status == 429 else "api_error"
        return web.json_response(
            {"type": "error", "error": {"type": kind, "message": message}}, status=status
        )
    if api == "bedrock":
        return web.json_response({"message": message}, status=status)
    return web.json_response(
        {"error": {"message": message, "type": "server_error", "code": status}}, status=status
    )
