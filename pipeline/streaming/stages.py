"""The pure stages: bytes in, encoded records out, failures as data.

Each stage takes the :class:`~pipeline.streaming.runtime.Runtime` and a record's value and
:class:`~pipeline.streaming.records.Origin`, and returns the records to produce (including its
audit events and, on failure, a dead letter). No stage touches Kafka; the Faust agents in
:mod:`pipeline.streaming.app` only decode offsets, call these and send what they return.

Fail closed: any exception inside detection or de-identification turns into a dead letter; the
record never reaches ``phi.prompts.deidentified``, a provider topic or ``phi.completions``.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

from pipeline.config import TopicSettings
from pipeline.deid.context import Scope
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Detection, Span
from pipeline.errors import InvalidInputError, PipelineError, PolicyError, StreamingError
from pipeline.policy import Action, Decision, DetectionSummary, RequestMeta, decide
from pipeline.serde import RecordType
from pipeline.streaming.records import (
    Origin,
    Out,
    audit_event,
    dead_letter,
    open_messages,
    open_text,
    seal_messages,
    seal_ref,
    seal_text,
)
from pipeline.streaming.runtime import Runtime

Record = dict[str, Any]

IDENT_FIELDS = ("request_id", "tenant", "user_id", "session_id")


def ident(record: Mapping[str, Any]) -> dict[str, Any]:
    """Return the identity fields of a record (safe to log and audit)."""
    return {k: record.get(k) for k in IDENT_FIELDS}


def partition_key(record: Mapping[str, Any]) -> bytes:
    """Key prompt-carrying topics by session (a conversation stays ordered), else request."""
    return str(record.get("session_id") or record["request_id"]).encode()


def input_hmac(rt: Runtime, messages: Sequence[Mapping[str, Any]]) -> str:
    """Keyed HMAC-SHA256 of the canonical input: recomputable by an auditor holding the key."""
    canonical = json.dumps(
        [[str(m["role"]), str(m["content"])] for m in messages],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return rt.keyring.keyed_hash("audit-input.v1", canonical)


def _dlq(rt: Runtime, stage: str, origin: Origin, exc: BaseException, rec: Any) -> list[Out]:
    who = ident(rec) if isinstance(rec, Mapping) else None
    t = rt.settings.topics
    return dead_letter(rt.codec, t.dlq, t.audit, stage, origin, exc, who)


# --------------------------------------------------------------------------------- detect ----
def validate_prompt(rt: Runtime, request: Mapping[str, Any]) -> None:
    """Reject what no later stage can handle safely; the reason code says which rule.

    Raises:
        InvalidInputError: no messages, too many, empty or oversized content.
        PolicyError: unknown tenant or provider (quarantined, never guessed).
    """
    limits = rt.settings.streaming
    messages = request["messages"]
    if not messages:
        raise InvalidInputError("prompt has no messages", reason="empty_prompt")
    if len(messages) > limits.max_messages:
        raise InvalidInputError("prompt has too many messages", reason="too_many_messages")
    total = sum(len(m["content"]) for m in messages)
    if total == 0 or not any(m["content"].strip() for m in messages):
        raise InvalidInputError("prompt has no text", reason="empty_prompt")
    if total > limits.max_prompt_chars:
        raise InvalidInputError(
            f"prompt has {total} characters, limit {limits.max_prompt_chars}",
            reason="prompt_too_large",
        )
    if rt.policy.tenant(request["tenant"]) is None:
        raise PolicyError("request names an unknown tenant", reason="unknown_tenant")
    provider = request.get("target_provider")
    if provider is not None and rt.policy.provider(provider) is None:
        raise PolicyError("request names an unknown provider", reason="unknown_provider")


def _reject(rt: Runtime, origin: Origin, exc: BaseException, req: Record | None) -> list[Out]:
    """Dead-letter a prompt the detect stage refuses, and answer its client if it is readable.

    An unknown tenant or provider is also parked in the quarantine topic (metadata only): it
    is quarantined, never guessed. The client gets a terminal completion with the reason, so
    it does not wait for an answer that will never come.
    """
    outs = _dlq(rt, "detect", origin, exc, req)
    if req is None:
        return outs
    reason = exc.reason if isinstance(exc, PipelineError) else "unexpected_error"
    if isinstance(exc, PolicyError):
        record = {
            **ident(req),
            "messages": [],
            "reason_code": reason,
            "policy_decision": "quarantine",
            "policy_version": rt.policy.version,
            "target_provider": req.get("target_provider"),
            "model": req.get("model"),
            "phi_present": False,
            "phi_categories": {},
            "detector_version": None,
            "created_at": req["created_at"],
            "quarantined_at": rt.clock(),
        }
        outs.append(
            Out(
                rt.settings.topics.quarantine,
                partition_key(req),
                rt.codec.encode(RecordType.QUARANTINED_PROMPT, record),
            )
        )
        outs.append(_terminal_completion(rt, req, "quarantined", reason, None))
    else:
        outs.append(_terminal_completion(rt, req, "error", reason, None))
    return outs


def _coverage_records(detections: Sequence[Detection]) -> list[Record]:
    hits: dict[tuple[Category, str], int] = {}
    ran: dict[tuple[Category, str], bool] = {}
    for det in detections:
        for category, entries in det.coverage.entries.items():
            for e in entries:
                hits[(category, e.detector)] = hits.get((category, e.detector), 0) + e.hits
                ran[(category, e.detector)] = ran.get((category, e.detector), False) or e.ran
    out = []
    for category in Category:
        mine = [(d, h) for (c, d), h in sorted(hits.items()) if c is category]
        out.append(
            {
                "category": category.value,
                "detectors": [
                    {"detector": d, "ran": ran[(category, d)], "hits": h} for d, h in mine
                ],
                "hits": sum(h for _, h in mine),
            }
        )
    return out


def _detected_outputs(
    rt: Runtime, req: Mapping[str, Any], detections: Sequence[Detection]
) -> list[Out]:
    now = rt.clock()
    rid = str(req["request_id"])
    spans = [
        {
            "message_index": i,
            "start": s.start,
            "end": s.end,
            "label": s.label.value,
            "score": float(s.score),
            "recognizer": s.recognizer,
        }
        for i, det in enumerate(detections)
        for s in det.spans
    ]
    counts = Counter(s["label"] for s in spans)
    subject = req.get("subject_id")
    version = detections[0].detector_version if detections else "none"
    t = rt.settings.topics
    scope_hash = rt.keyring.keyed_hash("scope.v1", _scope(req).key())
    audit = audit_event(
        rt.codec,
        t.audit,
        "detect",
        req,
        phi_present=bool(spans),
        phi_categories=dict(counts),
        input_hmac=input_hmac(rt, req["messages"]),
        hmac_key_id=rt.keyring.key_id,
        detector_version=version,
        api_provider=req.get("target_provider"),
        model=req.get("model"),
        detail={"messages": str(len(req["messages"]))},
    )
    if t.detected in rt.chained:
        # The deid stage runs in this worker: it takes the record in memory (text and subject
        # in clear, nothing sealed, encoded or written), exactly what it would have opened.
        handoff = {
            **ident(req),
            "subject": subject,
            "messages": [{"role": m["role"], "content": m["content"]} for m in req["messages"]],
            "spans": spans,
            "detector_version": version,
            "target_provider": req.get("target_provider"),
            "model": req.get("model"),
            "scope_hash": scope_hash,
            "created_at": req["created_at"],
        }
        return [Out(t.detected, partition_key(req), b"", handoff=handoff), audit]
    record = {
        **ident(req),
        "subject": seal_text(rt.keyring, subject, f"subject|{rid}".encode()) if subject else None,
        "scope_hash": scope_hash,
        "messages": seal_messages(rt.keyring, rid, "detected", req["messages"]),
        "spans": spans,
        "coverage": _coverage_records(detections),
        "detector_version": version,
        "phi_present": bool(spans),
        "target_provider": req.get("target_provider"),
        "model": req.get("model"),
        "created_at": req["created_at"],
        "detected_at": now,
    }
    return [
        Out(t.detected, partition_key(req), rt.codec.encode(RecordType.DETECTED_PROMPT, record)),
        audit,
    ]


def _scope(req: Mapping[str, Any]) -> Scope:
    return Scope(
        patient_id=req.get("subject_id"),
        session_id=req.get("session_id"),
        request_id=str(req["request_id"]),
    )


def detect_batch(rt: Runtime, items: Sequence[tuple[bytes, Origin]]) -> list[list[Out]]:
    """Stage ``detect``: decode and validate each prompt, detect PHI in one batched call.

    Returns one list of outgoing records per input, in input order. A batch-level detection
    failure is retried record by record, so one bad record cannot dead-letter its neighbours.
    """
    detector = rt.require_detector()
    results: list[list[Out]] = [[] for _ in items]
    good: list[tuple[int, Record]] = []
    for i, (value, origin) in enumerate(items):
        req: Record | None = None
        try:
            req = rt.codec.decode(RecordType.PROMPT_REQUEST, value)
            validate_prompt(rt, req)
            good.append((i, req))
        except Exception as exc:
            results[i] = _reject(rt, origin, exc, req)
    texts = [str(m["content"]) for _, req in good for m in req["messages"]]
    try:
        flat: list[Detection] | None = detector.detect_full_batch(texts)
    except Exception:
        flat = None  # isolate the failing record below
    pos = 0
    for i, req in good:
        n = len(req["messages"])
        try:
            if flat is not None:
                detections = flat[pos : pos + n]
            else:
                detections = detector.detect_full_batch(
                    [str(m["content"]) for m in req["messages"]]
                )
            results[i] = _detected_outputs(rt, req, detections)
        except Exception as exc:
            results[i] = _dlq(rt, "detect", items[i][1], exc, req)
        pos += n
    return results


# ---------------------------------------------------------------------------- decisions ------
def _decide(rt: Runtime, rec: Mapping[str, Any], counts: Mapping[str, int]) -> Decision:
    meta = RequestMeta(
        request_id=str(rec["request_id"]),
        tenant=str(rec["tenant"]),
        provider=rec.get("target_provider"),
        model=rec.get("model"),
    )
    return decide(meta, DetectionSummary.from_counts(counts), rt.policy, rt.clock())


def _decision_fields(rt: Runtime, decision: Decision) -> dict[str, Any]:
    provider = rt.policy.provider(decision.provider) if decision.provider else None
    return {
        "policy_decision": decision.action.value,
        "policy_reason": decision.reason,
        "policy_version": decision.policy_version,
        "api_provider": decision.provider,
        "model": decision.model,
        "baa_reference_id": provider.baa.reference if provider else None,
        "data_residency_region": provider.region if provider else None,
    }


def _decision_audit(
    rt: Runtime,
    stage: str,
    rec: Mapping[str, Any],
    counts: Mapping[str, int],
    decision: Decision,
    detail: Mapping[str, str],
) -> Out:
    """The audit event of a stage that acted on a policy decision (counts, never text)."""
    return audit_event(
        rt.codec,
        rt.settings.topics.audit,
        stage,
        rec,
        phi_present=any(counts.values()),
        phi_categories=dict(counts),
        detector_version=rec.get("detector_version"),
        detail=dict(detail),
        **_decision_fields(rt, decision),
    )


def _terminal_completion(
    rt: Runtime, rec: Mapping[str, Any], status: str, reason: str, decision: Decision | None
) -> Out:
    """A completion that ends a request without a provider call (blocked or quarantined)."""
    record = {
        **ident(rec),
        "status": status,
        "completion": None,
        "completion_encrypted": None,
        "reidentified": False,
        "provider": decision.provider if decision else None,
        "model": decision.model if decision else None,
        "usage": None,
        "latency_ms": None,
        "finish_reason": None,
        "error_reason": reason,
        "created_at": rt.clock(),
    }
    key = str(rec["request_id"]).encode()
    return Out(rt.settings.topics.completions, key, rt.codec.encode(RecordType.COMPLETION, record))


def _quarantine(
    rt: Runtime,
    rec: Mapping[str, Any],
    messages: Sequence[Mapping[str, Any]],
    counts: Mapping[str, int],
    decision: Decision,
    reason: str,
    stage: str,
) -> list[Out]:
    """Park a prompt in the quarantine topic, answer it with a completion, audit it.

    ``messages`` must be de-identified text or empty: the quarantine topic never carries PHI
    (a prompt blocked before de-identification is parked as metadata only).
    """
    status = "blocked" if decision.action is Action.BLOCK else "quarantined"
    record = {
        **ident(rec),
        "messages": [{"role": m["role"], "content": m["content"]} for m in messages],
        "reason_code": reason,
        "policy_decision": decision.action.value if reason == decision.reason else "quarantine",
        "policy_version": decision.policy_version,
        "target_provider": rec.get("target_provider"),
        "model": rec.get("model"),
        "phi_present": any(counts.values()),
        "phi_categories": dict(counts),
        "detector_version": rec.get("detector_version"),
        "created_at": rec["created_at"],
        "quarantined_at": rt.clock(),
    }
    t = rt.settings.topics
    fields = _decision_fields(rt, decision)
    fields["policy_reason"] = reason
    return [
        Out(
            t.quarantine, partition_key(rec), rt.codec.encode(RecordType.QUARANTINED_PROMPT, record)
        ),
        _terminal_completion(rt, rec, status, reason, decision),
        audit_event(
            rt.codec,
            t.audit,
            stage,
            rec,
            phi_present=any(counts.values()),
            phi_categories=dict(counts),
            response_status=status,
            detector_version=rec.get("detector_version"),
            **fields,
        ),
    ]


def _provider_request(
    rt: Runtime,
    rec: Mapping[str, Any],
    messages: Sequence[Mapping[str, Any]],
    counts: Mapping[str, int],
    decision: Decision,
    *,
    raw: bool,
) -> Out:
    provider_name = decision.provider
    if provider_name is None or decision.model is None:
        raise PolicyError("decision has no provider or model", reason="no_eligible_provider")
    provider = rt.policy.provider(provider_name)
    if provider is None:
        raise PolicyError("decision names an unknown provider", reason="unknown_provider")
    if raw and not provider.baa.valid_on(rt.clock().date()):
        # Defence in depth: the policy engine never routes raw text without a BAA in force.
        raise PolicyError("raw text for a provider without a BAA", reason="baa_not_in_force")
    rid = str(rec["request_id"])
    record = {
        **ident(rec),
        "provider": provider_name,
        "model": decision.model,
        "messages": seal_messages(rt.keyring, rid, "provider", messages),
        "policy_decision": decision.action.value,
        "policy_reason": decision.reason,
        "policy_version": decision.policy_version,
        "baa_reference_id": provider.baa.reference,
        "data_residency_region": provider.region,
        "raw_allowed": raw,
        "phi_present": any(counts.values()),
        "phi_categories": dict(counts),
        "detector_version": rec.get("detector_version"),
        "vault_ref": rec.get("vault_ref"),
        "created_at": rec["created_at"],
        "routed_at": rt.clock(),
    }
    return Out(
        rt.provider_topic(provider_name),
        partition_key(rec),
        rt.codec.encode(
            RecordType.PROVIDER_REQUEST, record, topic=rt.provider_topic(provider_name)
        ),
    )


# ----------------------------------------------------------------------------------- deid ----
def _spans_by_message(rec: Mapping[str, Any], n: int) -> list[list[Span]]:
    out: list[list[Span]] = [[] for _ in range(n)]
    for s in rec["spans"]:
        out[int(s["message_index"])].append(
            Span(
                int(s["start"]),
                int(s["end"]),
                Category(s["label"]),
                float(s["score"]),
                str(s["recognizer"]),
            )
        )
    return out


def deid_record(rt: Runtime, value: bytes, origin: Origin) -> list[Out]:
    """Stage ``deid``: decide by policy, then block, pass raw to a BAA provider, or de-identify.

    De-identified text is re-scanned by the leak gate; residual PHI quarantines the prompt.
    """
    rec: Record | None = None
    try:
        rec = rt.codec.decode(RecordType.DETECTED_PROMPT, value)
        rid = str(rec["request_id"])
        messages = open_messages(rt.keyring, rid, "detected", rec["messages"])
        subject = (
            open_text(rt.keyring, rec["subject"], f"subject|{rid}".encode())
            if rec.get("subject")
            else None
        )
        return _deid(rt, rec, messages, subject)
    except Exception as exc:
        return _dlq(rt, "deid", origin, exc, rec)


def deid_handoff(rt: Runtime, rec: Record, origin: Origin) -> list[Out]:
    """Stage ``deid`` chained after ``detect``: the same, on the record handed over in memory."""
    try:
        return _deid(rt, rec, rec["messages"], rec["subject"])
    except Exception as exc:
        return _dlq(rt, "deid", origin, exc, rec)


def _deid(
    rt: Runtime, rec: Record, messages: list[dict[str, str]], subject: str | None
) -> list[Out]:
    counts = dict(Counter(str(s["label"]) for s in rec["spans"]))
    decision = _decide(rt, rec, counts)
    if decision.action in (Action.BLOCK, Action.QUARANTINE):
        return _quarantine(rt, rec, [], counts, decision, decision.reason, "deid")
    if decision.action is Action.ALLOW_RAW:
        return [
            _provider_request(rt, rec, messages, counts, decision, raw=True),
            _decision_audit(rt, "deid", rec, counts, decision, {"deid": "skipped_raw_allowed"}),
        ]
    return _deidentify(rt, rec, messages, subject, counts, decision)


def _deidentify(
    rt: Runtime,
    rec: Record,
    messages: list[dict[str, str]],
    subject: str | None,
    counts: dict[str, int],
    decision: Decision,
) -> list[Out]:
    deid = rt.require_deidentifier()
    rid = str(rec["request_id"])
    scope = Scope(patient_id=subject, session_id=rec.get("session_id"), request_id=rid)
    per_message = _spans_by_message(rec, len(messages))
    results = [
        deid.deidentify(m["content"], scope=scope, tenant=str(rec["tenant"]), spans=spans)
        for m, spans in zip(messages, per_message, strict=True)
    ]
    failed = [r for r in results if not r.leak_gate.passed]
    if failed:
        return _quarantine(rt, rec, [], counts, decision, "leak_gate_failed", "deid")
    # The leak gate's repair round can find identifiers detection missed. A category the
    # decision did not know about is counted and the policy asked again (an SSN found only
    # now must still block), so audit and routing never under-report what was in the prompt.
    found = Counter(r.label for res in results for r in res.replacements)
    unseen = {label: n for label, n in found.items() if label not in counts}
    if unseen:
        counts = {**counts, **unseen}
        decision = _decide(rt, rec, counts)
        if decision.action in (Action.BLOCK, Action.QUARANTINE):
            return _quarantine(rt, rec, [], counts, decision, decision.reason, "deid")
    residual = sum(len(r.leak_gate.residual) for r in results)
    tenant = rt.policy.tenant(str(rec["tenant"]))
    reidentify = tenant is not None and tenant.deidentification.reidentify_completions
    # The scope travels sealed, so the provider stage can re-identify the completion from the
    # vault without the topic ever carrying a patient id in clear.
    vault_ref = seal_ref(rt.keyring, rid, scope.key()) if reidentify and rt.vault else None
    now = rt.clock()
    record = {
        **ident(rec),
        "messages": [
            {"role": m["role"], "content": r.text} for m, r in zip(messages, results, strict=True)
        ],
        "categories": counts,
        "phi_present": bool(counts),
        "deid_profile": results[0].profile if results else rt.settings.deid.profile,
        "leak_gate": {
            "passed": True,
            "residual_spans": residual,
            "detector_version": rec["detector_version"],
        },
        "scope_hash": rec.get("scope_hash"),
        "vault_ref": vault_ref,
        "detector_version": rec["detector_version"],
        "target_provider": rec.get("target_provider"),
        "model": rec.get("model"),
        "created_at": rec["created_at"],
        "deidentified_at": now,
    }
    t = rt.settings.topics
    return [
        Out(t.deidentified, partition_key(rec), b"", handoff=record)
        if t.deidentified in rt.chained
        else Out(
            t.deidentified,
            partition_key(rec),
            rt.codec.encode(RecordType.DEIDENTIFIED_PROMPT, record),
        ),
        _decision_audit(
            rt,
            "deid",
            rec,
            counts,
            decision,
            {
                "deid_profile": str(record["deid_profile"]),
                "replacements": str(sum(len(r.replacements) for r in results)),
                "leak_gate": "pass",
            },
        ),
    ]


# ---------------------------------------------------------------------------------- route ----
def route_record(rt: Runtime, value: bytes, origin: Origin) -> list[Out]:
    """Stage ``route``: pick the provider for a de-identified prompt and hand it over."""
    rec: Record | None = None
    try:
        rec = rt.codec.decode(RecordType.DEIDENTIFIED_PROMPT, value)
        return _route(rt, rec)
    except Exception as exc:
        return _dlq(rt, "route", origin, exc, rec)


def route_handoff(rt: Runtime, rec: Record, origin: Origin) -> list[Out]:
    """Stage ``route`` chained after ``deid``: the same, on the record handed over in memory."""
    try:
        return _route(rt, rec)
    except Exception as exc:
        return _dlq(rt, "route", origin, exc, rec)


def _route(rt: Runtime, rec: Record) -> list[Out]:
    counts = {k: int(v) for k, v in rec["categories"].items()}
    decision = _decide(rt, rec, counts)
    if decision.action in (Action.BLOCK, Action.QUARANTINE):
        return _quarantine(rt, rec, rec["messages"], counts, decision, decision.reason, "route")
    out = _provider_request(rt, rec, rec["messages"], counts, decision, raw=False)
    return [out, _decision_audit(rt, "route", rec, counts, decision, {"topic": out.topic})]


# ------------------------------------------------------------------------------ chaining ----
#: A per-record stage taking its record in memory from the stage before it in the worker.
HandoffStage = Callable[[Runtime, Record, Origin], list[Out]]


def chained_stages(stages: Collection[str], topics: TopicSettings) -> dict[str, HandoffStage]:
    """The stages of ``stages`` that take their input in memory when chaining is on.

    Returns, by the topic a stage would read, the stage function: ``deid`` when ``detect``
    runs in the same worker, ``route`` when ``deid`` does. The provider stage is never
    chained (its own topics isolate a slow provider from the rest of the flow). The runtime's
    ``chained`` must hold the same topics, so the stage before hands its record over instead
    of encoding it.
    """
    chained: dict[str, HandoffStage] = {}
    if "detect" in stages and "deid" in stages:
        chained[topics.detected] = deid_handoff
    if "deid" in stages and "route" in stages:
        chained[topics.deidentified] = route_handoff
    return chained


def chain_runtime(rt: Runtime, stages: Collection[str]) -> dict[str, HandoffStage]:
    """Chain ``stages`` in ``rt`` as its settings ask; return what :func:`follow_chain` needs.

    Sets ``rt.chained`` from the same mapping, so the two can never disagree.
    """
    s = rt.settings
    chained = chained_stages(stages, s.topics) if s.streaming.chain_stages else {}
    rt.chained = frozenset(chained)
    return chained


def follow_chain(
    rt: Runtime, outs: Sequence[Out], chained: Mapping[str, HandoffStage], origin: Origin
) -> list[Out]:
    """Hand each record bound for a chained stage's topic to that stage, in memory.

    The chained stage sees the record it would have read from the topic (text in clear, as it
    would have decrypted it) and behaves as when it runs apart: fail closed, dead letters,
    audit. Its dead letters name ``origin``, the record this worker consumed, which is the one
    a replay starts from.

    Raises:
        StreamingError: a record for a chained topic came without its in-memory form, or a
            record in memory has no chained stage to take it (``rt.chained`` and ``chained``
            disagree); nothing of the batch may be produced then.
    """
    result: list[Out] = []
    handed: list[tuple[HandoffStage, Any]] = []
    for out in outs:
        stage = chained.get(out.topic)
        if stage is None:
            if out.handoff is not None:
                raise StreamingError("an in-memory record has no stage", reason="chain_mismatch")
            result.append(out)
        elif out.handoff is None:
            raise StreamingError("a chained record came encoded", reason="chain_mismatch")
        else:
            handed.append((stage, out.handoff))
    # A stage's own records first, then the next stage's: the audit trail keeps flow order.
    for stage, record in handed:
        result.extend(follow_chain(rt, stage(rt, record, origin), chained, origin))
    return result
