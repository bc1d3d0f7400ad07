"""Anthropic Messages API (``POST {base}/v1/messages``).

System messages are lifted into the top-level ``system`` field, as the API requires; the key
goes in ``x-api-key`` with the pinned ``anthropic-version`` header.
"""

from __future__ import annotations

from typing import Any

from pipeline.providers._http import HttpAdapter
from pipeline.providers.base import ChatRequest, ChatResponse, Usage

ANTHROPIC_VERSION = "2023-06-01"
#: The Messages API requires max_tokens; used when the request sets none.
DEFAULT_MAX_TOKENS = 1024


class AnthropicMessagesAdapter(HttpAdapter):
    """Anthropic Messages API adapter; ``endpoint`` is e.g. ``https://api.anthropic.com``."""

    def endpoint_for(self, request: ChatRequest) -> tuple[str, dict[str, str] | None]:
        """Return ``{base}/v1/messages``."""
        return self._url("/v1/messages"), None

    def headers(self) -> dict[str, str]:
        """Return the version header and, when configured, ``x-api-key``."""
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        secret = self._secret()
        if secret:
            headers["x-api-key"] = secret
        return headers

    def build_body(self, request: ChatRequest) -> dict[str, Any]:
        """Return the Messages body, system prompt separated."""
        system = "\n\n".join(m.content for m in request.messages if m.role == "system")
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": [
                {"role": m.role, "content": m.content}
                for m in request.messages
                if m.role != "system"
            ],
        }
        if system:
            body["system"] = system
        if request.temperature is not None:
            body["temperature"] = request.temperature
        return body

    def parse_body(self, data: dict[str, Any], request: ChatRequest, attempts: int) -> ChatResponse:
        """Join the text blocks of the reply and read ``usage``."""
        blocks = data["content"]
        text = "".join(b["text"] for b in blocks if b.get("type") == "text")
        usage = data["usage"]
        prompt, completion = int(usage["input_tokens"]), int(usage["output_tokens"])
        return ChatResponse(
            text=text,
            model=str(data.get("model") or request.model),
            provider=self.name,
            usage=Usage(prompt, completion, prompt + completion),
            finish_reason=data.get("stop_reason"),
            response_id=data.get("id"),
            attempts=attempts,
        )
