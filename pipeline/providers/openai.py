"""OpenAI-compatible chat completions: OpenAI, Azure OpenAI, vLLM, Ollama, the local server.

All of them speak ``POST {base}/chat/completions`` with the same body and response, except for
how the URL and credential are formed:

- OpenAI, vLLM, Ollama (``http://127.0.0.1:11434/v1``), the local server: ``endpoint`` is the
  base URL including ``/v1``; the key, if any, goes in ``Authorization: Bearer``.
- Azure OpenAI: ``endpoint`` is the resource URL; the request's model is the *deployment* name,
  the path is ``/openai/deployments/{deployment}/chat/completions?api-version=...`` and the key
  goes in the ``api-key`` header.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from pipeline.errors import ConfigError
from pipeline.providers._http import HttpAdapter
from pipeline.providers.base import ChatRequest, ChatResponse, Usage


def _usage(data: dict[str, Any]) -> Usage:
    usage = data["usage"]
    prompt, completion = int(usage["prompt_tokens"]), int(usage["completion_tokens"])
    return Usage(prompt, completion, int(usage.get("total_tokens", prompt + completion)))


class OpenAIChatAdapter(HttpAdapter):
    """OpenAI chat completions (and vLLM, Ollama, the local server, via their base URL)."""

    def endpoint_for(self, request: ChatRequest) -> tuple[str, dict[str, str] | None]:
        """Return ``{base}/chat/completions``."""
        return self._url("/chat/completions"), None

    def headers(self) -> dict[str, str]:
        """Return the bearer credential header when a key is configured."""
        secret = self._secret()
        return {"Authorization": f"Bearer {secret}"} if secret else {}

    def build_body(self, request: ChatRequest) -> dict[str, Any]:
        """Return the chat-completions body (non-streaming)."""
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [{"role": m.role, "content": m.content} for m in request.messages],
            "stream": False,
        }
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.temperature is not None:
            body["temperature"] = request.temperature
        return body

    def parse_body(self, data: dict[str, Any], request: ChatRequest, attempts: int) -> ChatResponse:
        """Return the first choice's message and the reported usage."""
        choice = data["choices"][0]
        content = choice["message"]["content"]
        if not isinstance(content, str):
            raise TypeError("message.content is not a string")
        return ChatResponse(
            text=content,
            model=str(data.get("model") or request.model),
            provider=self.name,
            usage=_usage(data),
            finish_reason=choice.get("finish_reason"),
            response_id=data.get("id"),
            attempts=attempts,
        )


class AzureOpenAIChatAdapter(OpenAIChatAdapter):
    """Azure OpenAI: deployments in the path, ``api-version`` query parameter, ``api-key``."""

    def endpoint_for(self, request: ChatRequest) -> tuple[str, dict[str, str] | None]:
        """Return the deployment's chat-completions URL and the ``api-version`` parameter.

        Raises:
            ConfigError: no ``api_version`` is configured.
        """
        if not self.config.api_version:
            raise ConfigError(
                f"provider {self.name}: azure_openai needs api_version", reason="bad_provider"
            )
        deployment = quote(request.model, safe="")
        url = self._url(f"/openai/deployments/{deployment}/chat/completions")
        return url, {"api-version": self.config.api_version}

    def headers(self) -> dict[str, str]:
        """Return the ``api-key`` header when a key is configured."""
        secret = self._secret()
        return {"api-key": secret} if secret else {}

    def build_body(self, request: ChatRequest) -> dict[str, Any]:
        """Return the body; Azure takes the deployment from the path, not ``model``."""
        body = super().build_body(request)
        del body["model"]
        return body
