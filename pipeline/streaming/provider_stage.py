"""Stage ``provider``: write-ahead audit, the provider call, the completion.

The ``provider_call_started`` audit event is produced with ``acks=all`` and its delivery awaited
*before* the HTTP call, on a producer of its own: a crash mid-call still leaves the record an
auditor looks for. Completions of requests that carried raw PHI are written encrypted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.errors import ConfigError, PipelineError, PolicyError
from pipeline.providers.base import ChatMessage, ChatRequest, ChatResponse, ProviderAdapter
from pipeline.serde import RecordType
from pipeline.streaming.ledger import CompletionLedger
from pipeline.streaming.records import (
    Origin,
    Out,
    audit_event,
    open_messages,
    open_ref,
    seal_text,
)
from pipeline.streaming.runtime import Runtime
from pipeline.streaming.stages import Record, _dlq, ident

#: Sends audit records and returns once the broker acknowledged all of them (acks=all).
WriteAhead = Callable[[Sequence[Out]], Awaitable[None]]


def _call_fields(rec: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "api_provider": rec["provider"],
        "model": rec["model"],
        "policy_decision": rec["policy_decision"],
        "policy_reason": rec["policy_reason"],
        "policy_version": rec["policy_version"],
        "baa_reference_id": rec.get("baa_reference_id"),
        "data_residency_region": rec.get("data_residency_region"),
        "phi_present": rec.get("phi_present"),
        "phi_categories": dict(rec.get("phi_categories") or {}),
        "detector_version": rec.get("detector_version"),
    }


def _reidentifies(rt: Runtime, rec: Mapping[str, Any]) -> bool:
    """Whether the request's completion is to be re-identified (its tenant says so)."""
    tenant = rt.policy.tenant(str(rec["tenant"]))
    return bool(tenant and tenant.deidentification.reidentify_completions and rec.get("vault_ref"))


def reidentify(rt: Runtime, rec: Mapping[str, Any], text: str) -> str | None:
    """Map the scope's surrogates in ``text`` back to the originals, if the tenant may.

    Returns ``None`` when the request is not re-identified.
    """
    if not _reidentifies(rt, rec):
        return None
    ref = rec["vault_ref"]
    if rt.vault is None:
        raise ConfigError("a re-identifying tenant needs the vault", reason="vault_unavailable")
    scope = open_ref(rt.keyring, str(rec["request_id"]), str(ref))
    refresh = getattr(rt.vault.store, "refresh", None)
    if refresh is not None:
        refresh()  # entries the deid stage (maybe another worker) wrote since
    return rt.vault.reidentify(text, scope)


def _completion(
    rt: Runtime,
    rec: Mapping[str, Any],
    response: ChatResponse | None,
    text: str | None,
    reidentified: bool,
    error: str | None,
    latency_ms: int,
) -> Out:
    rid = str(rec["request_id"])
    sealed = (rec["raw_allowed"] or reidentified) and text is not None
    record = {
        **ident(rec),
        "status": "ok" if text is not None and error is None else "error",
        "completion": None if sealed else text,
        "completion_encrypted": (
            seal_text(rt.keyring, text, f"completion|{rid}".encode())
            if sealed and text is not None
            else None
        ),
        "reidentified": reidentified,
        "provider": rec["provider"],
        "model": response.model if response is not None else rec["model"],
        "usage": (
            {
                "input_tokens": response.usage.prompt_tokens,
                "output_tokens": response.usage.completion_tokens,
            }
            if response is not None
            else None
        ),
        "latency_ms": latency_ms,
        "finish_reason": response.finish_reason if response is not None else None,
        "error_reason": error,
        "created_at": rt.clock(),
    }
    return Out(
        rt.settings.topics.completions, rid.encode(), rt.codec.encode(RecordType.COMPLETION, record)
    )


@dataclass
class _Call:
    """A provider request that passed its checks: what the call and its records need."""

    rec: Record
    origin: Origin
    adapter: ProviderAdapter
    messages: list[dict[str, str]]
    fields: dict[str, Any]
    started: Out


def _prepare(
    rt: Runtime, value: bytes, origin: Origin, ledger: CompletionLedger
) -> _Call | list[Out]:
    """Decode and check one provider request; its records instead when there is no call.

    A request that already has a completion (a replay after a crash) produces nothing.
    """
    rec: Record | None = None
    try:
        rec = rt.codec.decode(RecordType.PROVIDER_REQUEST, value)
        rid = str(rec["request_id"])
        if ledger.seen(rid):
            return []
        ledger.add(rid)  # claimed now: a duplicate later in the same batch is skipped
        provider = rt.policy.provider(rec["provider"])
        adapter = rt.adapters.get(rec["provider"])
        if provider is None or adapter is None:
            raise PolicyError(
                "request names a provider this worker has not", reason="unknown_provider"
            )
        if rec["raw_allowed"] and not provider.baa.valid_on(rt.clock().date()):
            raise PolicyError("raw text for a provider without a BAA", reason="baa_not_in_force")
        messages = open_messages(rt.keyring, rid, "provider", rec["messages"])
    except Exception as exc:
        return _dlq(rt, "provider", origin, exc, rec)
    fields = _call_fields(rec)
    started = audit_event(
        rt.codec,
        rt.settings.topics.audit,
        "provider_call_started",
        rec,
        deterministic=False,
        **fields,
    )
    return _Call(rec, origin, adapter, messages, fields, started)


async def _call(rt: Runtime, call: _Call) -> list[Out]:
    """Make the call (its write-ahead record is acknowledged); return completion and audit."""
    rec = call.rec
    rid = str(rec["request_id"])
    request = ChatRequest(
        model=str(rec["model"]),
        messages=tuple(ChatMessage(m["role"], m["content"]) for m in call.messages),  # type: ignore[arg-type]
        request_id=rid,
    )
    started = time.monotonic()
    response: ChatResponse | None = None
    error: str | None = None
    try:
        response = await call.adapter.complete(request)
    except PipelineError as exc:
        error = exc.reason
    except Exception:  # an adapter bug must not kill the stage; the request is answered
        error = "unexpected_error"
    latency_ms = int((time.monotonic() - started) * 1000)
    text = response.text if response is not None else None
    reidentified = False
    if text is not None and _reidentifies(rt, rec):
        try:
            # Off the event loop: it may catch up with the vault topic first.
            restored = await asyncio.get_running_loop().run_in_executor(
                None, reidentify, rt, rec, text
            )
        except Exception as exc:
            # Never fall back to an answer the tenant did not ask for: report the failure.
            text = None
            error = exc.reason if isinstance(exc, PipelineError) else "reidentification_failed"
        else:
            if restored is not None:
                text, reidentified = restored, True
    return [
        _completion(rt, rec, response, text, reidentified, error, latency_ms),
        audit_event(
            rt.codec,
            rt.settings.topics.audit,
            "provider_call_finished",
            rec,
            deterministic=False,
            response_status="ok" if error is None else f"error:{error}",
            latency_ms=latency_ms,
            input_token_count=response.usage.prompt_tokens if response else None,
            output_token_count=response.usage.completion_tokens if response else None,
            detail={"attempts": str(response.attempts if response else 0)},
            **call.fields,
        ),
    ]


async def call_provider_batch(
    rt: Runtime,
    items: Sequence[tuple[bytes, Origin]],
    ledger: CompletionLedger,
    write_ahead: WriteAhead,
) -> list[list[Out]]:
    """Handle a batch of provider requests; return the records to produce, one list each.

    The ``provider_call_started`` records of the whole batch are written ahead together, and
    no call starts before the broker acknowledged them all. If they are not acknowledged,
    every request of the batch is dead-lettered unanswered and nothing is called (each may be
    replayed from the DLQ once the audit topic is healthy). The calls then run concurrently;
    each adapter enforces its provider's concurrency limit.
    """
    prepared = [_prepare(rt, value, origin, ledger) for value, origin in items]
    calls = [p for p in prepared if isinstance(p, _Call)]
    if not calls:
        return [p for p in prepared if not isinstance(p, _Call)]
    try:
        await write_ahead([c.started for c in calls])
    except Exception as exc:
        for c in calls:
            ledger.forget(str(c.rec["request_id"]))
        return [
            _dlq(rt, "provider", p.origin, exc, p.rec) if isinstance(p, _Call) else p
            for p in prepared
        ]
    answers = iter(await asyncio.gather(*(_call(rt, c) for c in calls)))
    return [next(answers) if isinstance(p, _Call) else p for p in prepared]
