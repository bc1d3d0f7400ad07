"""A small client SDK: publish prompts, await completions.

producer = PromptProducer(settings)
request_id = producer.send("Summarise: ...", tenant="clinic-a", user_id="u1")
with CompletionConsumer(settings) as consumer:
    completion = consumer.wait(request_id, timeout_s=30)
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any

from pipeline.config import Settings
from pipeline.deid.crypto import Keyring
from pipeline.deid.keys import provider_from_settings
from pipeline.errors import PipelineError
from pipeline.serde import RecordType, build_codec
from pipeline.streaming.records import open_text, utcnow


class PromptProducer:
    """Publishes ``PromptRequest`` records to ``phi.prompts.raw``."""

    def __init__(self, settings: Settings) -> None:
        from confluent_kafka import Producer

        self._settings = settings
        self._codec = build_codec(settings)
        conf: dict[str, str | bool] = dict(settings.kafka.librdkafka_config())
        conf.update({"acks": "all", "enable.idempotence": True})
        self._producer = Producer(conf)

    def send(
        self,
        prompt: str | Sequence[Mapping[str, str]],
        *,
        tenant: str,
        user_id: str = "anonymous",
        session_id: str | None = None,
        subject_id: str | None = None,
        provider: str | None = None,
        model: str | None = None,
        metadata: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> str:
        """Publish one prompt (a string or OpenAI-style messages); return its request id."""
        rid = request_id or str(uuid.uuid4())
        messages = (
            [{"role": "user", "content": prompt}]
            if isinstance(prompt, str)
            else [{"role": m["role"], "content": m["content"]} for m in prompt]
        )
        record: dict[str, Any] = {
            "request_id": rid,
            "tenant": tenant,
            "user_id": user_id,
            "session_id": session_id,
            "subject_id": subject_id,
            "messages": messages,
            "target_provider": provider,
            "model": model,
            "created_at": utcnow(),
            "metadata": dict(metadata or {}),
        }
        value = self._codec.encode(RecordType.PROMPT_REQUEST, record)
        key = (session_id or rid).encode()
        self._producer.produce(self._settings.topics.raw, key=key, value=value)
        self._producer.poll(0)
        return rid

    def flush(self, timeout_s: float = 30.0) -> None:
        """Wait until every prompt is acknowledged by the broker."""
        left = self._producer.flush(timeout_s)
        if left:
            raise PipelineError(f"{left} prompts were not acknowledged", reason="produce_timeout")


class CompletionConsumer:
    """Reads ``phi.completions``; decrypts sealed completions for holders of the keys."""

    def __init__(self, settings: Settings, *, group_id: str | None = None) -> None:
        from confluent_kafka import Consumer

        self._codec = build_codec(settings)
        try:
            self._keyring: Keyring | None = Keyring.from_provider(
                provider_from_settings(settings.keys)
            )
        except PipelineError:
            self._keyring = None  # can still read de-identified completions
        conf: dict[str, str | bool] = dict(settings.kafka.librdkafka_config())
        conf.update(
            {
                "group.id": group_id or f"phi-completions-{uuid.uuid4().hex}",
                "auto.offset.reset": "earliest",
                "enable.auto.commit": group_id is not None,
                "isolation.level": "read_committed",
            }
        )
        self._consumer = Consumer(conf)
        self._consumer.subscribe([settings.topics.completions])
        self._pending: dict[str, dict[str, Any]] = {}

    def __enter__(self) -> CompletionConsumer:
        return self

    def __exit__(
        self, et: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Leave the group."""
        self._consumer.close()

    def _decode(self, value: bytes) -> dict[str, Any]:
        record = dict(self._codec.decode(RecordType.COMPLETION, value))
        sealed = record.get("completion_encrypted")
        if sealed is not None and self._keyring is not None:
            aad = f"completion|{record['request_id']}".encode()
            record["completion"] = open_text(self._keyring, sealed, aad)
        return record

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Yield completions as they arrive (forever)."""
        while True:
            msg = self._consumer.poll(1.0)
            if msg is not None and not msg.error() and msg.value() is not None:
                yield self._decode(msg.value() or b"")

    def poll(self, timeout_s: float = 1.0) -> dict[str, Any] | None:
        """Return the next completion, or ``None`` after ``timeout_s``."""
        msg = self._consumer.poll(timeout_s)
        if msg is None or msg.error() or msg.value() is None:
            return None
        return self._decode(msg.value() or b"")

    def wait(self, request_id: str, timeout_s: float = 60.0) -> dict[str, Any]:
        """Return the completion of ``request_id`` (others read meanwhile are kept)."""
        deadline = time.monotonic() + timeout_s
        while request_id not in self._pending:
            if time.monotonic() > deadline:
                raise PipelineError("no completion in time", reason="completion_timeout")
            record = self.poll(0.5)
            if record is not None:
                self._pending[str(record["request_id"])] = record
        return self._pending.pop(request_id)
