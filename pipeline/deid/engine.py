"""The de-identification stage: detect, apply the profile's operators through Presidio, gate.

:class:`Deidentifier` is a plain object over a detector (anything with ``detect(text)``), a key
provider, a profile set and optionally a vault; it holds no per-request state, so one instance
serves every request of a worker, and two instances with the same key agree on every output.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import (
    ConflictResolutionStrategy,
    OperatorConfig,
    RecognizerResult,
)

from pipeline.config import DeidSettings, Settings
from pipeline.deid.context import DeidContext, Scope, normalise
from pipeline.deid.crypto import Keyring
from pipeline.deid.dates import scope_offset
from pipeline.deid.keys import KeyProvider, provider_from_settings
from pipeline.deid.leak_gate import (
    LeakGate,
    LeakReport,
    Original,
    Residual,
    SpanDetector,
    spans_of,
)
from pipeline.deid.names import KEEP_WORDS
from pipeline.deid.operators import register_operators, resolve
from pipeline.deid.profiles import OperatorSpec, Profile, TenantPolicy, builtin_profile
from pipeline.deid.vault import Vault
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Span
from pipeline.errors import DeidError, PipelineError

#: Operators whose output stands for one original in its scope, so the vault can reverse it.
_VAULTED = ("surrogate", "date_shift", "tag")
_AGE_TAIL = re.compile(r"^(?:-|\s)?(?:years?[- ]old|y/?o|yrs?(?: old)?)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Replacement:
    """What was done to one span, without the original: label, operator, offsets in and out."""

    label: str
    operator: str
    source_start: int
    source_end: int
    start: int
    end: int

    def to_json(self) -> dict[str, object]:
        """The CLI's span object: output offsets, label, operator."""
        return {
            "start": self.start,
            "end": self.end,
            "label": self.label,
            "operator": self.operator,
        }


@dataclass(frozen=True)
class DeidResult:
    """The outcome of one request. ``repr`` omits the text (it may be quarantined PHI)."""

    text: str
    spans: tuple[Span, ...]
    replacements: tuple[Replacement, ...]
    leak_gate: LeakReport
    scope: str
    profile: str

    def __repr__(self) -> str:
        return (
            f"DeidResult(profile={self.profile!r}, replacements={len(self.replacements)}, "
            f"leak_gate={self.leak_gate.status!r}, reason={self.leak_gate.reason!r})"
        )


def resolve_overlaps(spans: Iterable[Span], length: int) -> list[Span]:
    """Return non-overlapping spans in text order.

    Same-label spans that overlap or touch are merged; between labels, the longer span wins (then
    the higher score), because replacing the larger region never leaves part of an identifier.
    """
    valid = sorted(
        (s for s in spans if 0 <= s.start < s.end <= length),
        key=lambda s: (s.start, -(s.end - s.start)),
    )
    out: list[Span] = []
    for span in valid:
        if (
            out
            and span.start <= out[-1].end
            and (span.label == out[-1].label or span.start < out[-1].end)
        ):
            prev = out[-1]
            if span.label == prev.label:
                out[-1] = Span(
                    prev.start,
                    max(prev.end, span.end),
                    prev.label,
                    max(prev.score, span.score),
                    prev.recognizer,
                )
                continue
            keep_prev = (prev.end - prev.start, prev.score) >= (span.end - span.start, span.score)
            winner = prev if keep_prev else span
            out[-1] = Span(
                prev.start, max(prev.end, span.end), winner.label, winner.score, winner.recognizer
            )
            continue
        out.append(span)
    return out


def _extend_ages(text: str, spans: list[Span]) -> list[Span]:
    """Let an AGE_OVER_89 span swallow a following "-year-old"/"yo" so "90 or older" reads well."""
    out = []
    for i, span in enumerate(spans):
        if span.label == Category.AGE_OVER_89:
            limit = spans[i + 1].start if i + 1 < len(spans) else len(text)
            m = _AGE_TAIL.match(text[span.end : limit])
            if m:
                span = Span(span.start, span.end + m.end(), span.label, span.score, span.recognizer)
        out.append(span)
    return out


def propagate(text: str, spans: Sequence[Span], *, min_chars: int = 4) -> list[Span]:
    """Add a span for every other verbatim occurrence of a detected value.

    Detection often finds an identifier once and misses its repetition ("MADRID" in the header
    and again in the history). Every detected value of ``min_chars`` or more, and each word of a
    detected name written capitalised as it was, is searched again at word boundaries; the
    leak gate would otherwise quarantine the record for the missed repetition.
    """
    taken = [(s.start, s.end) for s in spans]
    needles: dict[str, tuple[Category, bool]] = {}
    for span in spans:
        value = text[span.start : span.end].strip()
        if len(value) >= min_chars and any(c.isalnum() for c in value):
            needles.setdefault(value, (span.label, False))
        if span.label == Category.NAME:
            for word in re.findall(r"[^\W\d_]{4,}", value):
                if word[0].isupper() and word.casefold() not in KEEP_WORDS:
                    needles.setdefault(word, (span.label, True))
                    needles.setdefault(word.upper(), (span.label, True))
    added: list[Span] = []
    for needle in sorted(needles, key=len, reverse=True):
        label, case_sensitive = needles[needle]
        flags = 0 if case_sensitive else re.IGNORECASE
        for m in re.finditer(rf"(?<!\w){re.escape(needle)}(?!\w)", text, flags):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            taken.append((m.start(), m.end()))
            added.append(Span(m.start(), m.end(), label, 0.5, "deid_propagate.v1"))
    return [*spans, *added]


def _to_source(res: Residual, replacements: Sequence[Replacement], length: int) -> Span:
    """Map a residual finding (output offsets) back to an input span.

    Text outside our replacements was copied, so an output offset maps back by the length
    change of the replacements before it; a finding touching a replacement takes in that
    replacement's whole source span.
    """

    def back(pos: int) -> int:
        delta = 0
        for r in replacements:
            if r.end <= pos:
                delta += (r.end - r.start) - (r.source_end - r.source_start)
            elif r.start < pos:
                return r.source_end  # inside a replacement: its source end
        return pos - delta

    start, end = back(res.start), back(res.end)
    for r in replacements:
        if r.start < res.end and res.start < r.end:
            start, end = min(start, r.source_start), max(end, r.source_end)
    start = max(0, min(start, length))
    end = max(start + 1, min(end, length))
    return Span(start, end, Category(res.label), 0.5, "deid_leak_repair.v1")


def _aligned_name_words(surrogate: str, original: str) -> list[tuple[str, str]]:
    """Pairs (surrogate word, original word) of a name surrogate, when the layout matches."""

    def words(value: str) -> list[str]:
        found = re.findall(r"[^\W\d_]+(?:['\u2019][^\W\d_]+)*", value)
        return [w for w in found if len(w) > 1 and normalise(w) not in KEEP_WORDS]

    new, old = words(surrogate), words(original)
    if len(new) != len(old) or len(new) < 2:
        return []
    return [(n, o) for n, o in zip(new, old, strict=True) if n != o]


def _name_words(value: str) -> frozenset[str]:
    words = re.findall(r"[^\W\d_]+", normalise(value))
    return frozenset(w for w in words if len(w) > 1 and w not in KEEP_WORDS)


def prepare_tags(ctx: DeidContext, text: str, spans: Sequence[Span]) -> None:
    """Group mentions of one person and number tags in text order.

    A name mention whose words are a subset of a longer mention's ("Smith" in "John Smith")
    joins that mention's group, so both get ``[NAME_1]``.
    """
    groups: list[tuple[str, frozenset[str]]] = []
    names = [s for s in spans if s.label == Category.NAME]
    for span in sorted(names, key=lambda s: (-len(_name_words(text[s.start : s.end])), s.start)):
        value = text[span.start : span.end]
        words = _name_words(value)
        key = next((g for g, gw in groups if words and words <= gw), None)
        if key is None:
            key = " ".join(sorted(words)) or normalise(value)
            groups.append((key, words))
        ctx.tag_groups[(Category.NAME.value, normalise(value))] = key
    for span in spans:
        label = span.label.value
        norm = normalise(text[span.start : span.end])
        group = ctx.tag_groups.get((label, norm), norm)
        if (label, group) not in ctx.tag_numbers:
            ctx.tag_numbers[(label, group)] = 1 + sum(
                1 for lab, _ in ctx.tag_numbers if lab == label
            )


class Deidentifier:
    """De-identify text under a profile; consistent per scope; optionally vaulted; gated."""

    def __init__(
        self,
        detector: SpanDetector | None,
        keys: KeyProvider,
        *,
        settings: DeidSettings | None = None,
        vault: Vault | None = None,
        tenants: Mapping[str, TenantPolicy] | None = None,
        leak_gate: LeakGate | None = None,
        propagate: bool = True,
        repair_rounds: int = 1,
    ) -> None:
        """Build the engine (Presidio ``AnonymizerEngine`` with our operators registered).

        Args:
            detector: finds PHI (and re-scans the output in the leak gate).
            keys: the key provider.
            settings: profile name and date-shift range.
            vault: where reversible mappings go, for tenants allowed to re-identify.
            tenants: per-tenant profile, overrides and re-identification permission.
            leak_gate: a configured gate (default: one over ``detector``).
            propagate: also replace other verbatim occurrences of detected values.
            repair_rounds: how often the gate's findings are replaced and the gate re-run
                before the record fails (0: fail on the first finding).
        """
        self._propagate = propagate
        self._repair_rounds = repair_rounds
        self._detector = detector
        self._keyring = Keyring.from_provider(keys)
        self._settings = settings or DeidSettings()
        self._vault = vault
        self._tenants = dict(tenants or {})
        self._gate = leak_gate if leak_gate is not None else LeakGate(detector)
        self._engine = register_operators(AnonymizerEngine())

    def __repr__(self) -> str:
        return f"Deidentifier(profile={self._settings.profile!r}, key_id={self._keyring.key_id!r})"

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        detector: SpanDetector | None,
        vault: Vault | None = None,
        **kwargs: Any,
    ) -> Deidentifier:
        """Build from the frozen settings (keys from ``settings.keys``)."""
        return cls(
            detector,
            provider_from_settings(settings.keys),
            settings=settings.deid,
            vault=vault,
            **kwargs,
        )

    @property
    def keyring(self) -> Keyring:
        """The purpose keys in use (for :class:`Vault` and decryption)."""
        return self._keyring

    def profile(
        self,
        profile: str | Profile | None = None,
        overrides: Mapping[str, Any] | None = None,
        tenant: str | None = None,
    ) -> Profile:
        """Resolve the effective profile: tenant's choice, then tenant and call overrides."""
        policy = self._tenants.get(tenant) if tenant is not None else None
        base: str | Profile = profile or (policy.profile if policy else self._settings.profile)
        prof = builtin_profile(base) if isinstance(base, str) else base
        if policy and policy.overrides:
            prof = prof.with_overrides({k.value: v for k, v in policy.overrides.items()})
        return prof.with_overrides(overrides or {})

    def _may_vault(self, prof: Profile, tenant: str | None) -> bool:
        if self._vault is None or not prof.reversible:
            return False
        if tenant is None:
            return True
        policy = self._tenants.get(tenant)
        return policy is not None and policy.allow_reidentification

    def deidentify(
        self,
        text: str,
        *,
        scope: str | Scope,
        profile: str | Profile | None = None,
        overrides: Mapping[str, OperatorSpec | str | Mapping[str, Any]] | None = None,
        tenant: str | None = None,
        spans: Sequence[Span] | None = None,
    ) -> DeidResult:
        """De-identify one text.

        Args:
            text: the raw text (PHI inside).
            scope: patient/session/request scope (``Scope`` or ``"patient:ID"`` etc.).
            profile: a built-in profile name or a :class:`Profile`; the tenant's or the
                settings' profile when ``None``.
            overrides: per-label operator overrides (validated against Safe Harbor when the
                profile claims it).
            tenant: applies the tenant's profile, overrides and vault permission.
            spans: detections to use instead of running the detector (already detected).

        Raises:
            DeidError: no detector and no spans, or an operator failed (fail closed).
        """
        prof = self.profile(profile, overrides, tenant)
        scope_key = Scope.parse(scope).key()
        if spans is None:
            if self._detector is None:
                raise DeidError("no detector configured and no spans given", reason="no_detector")
            spans = spans_of(self._detector.detect(text))
        chosen = resolve_overlaps(spans, len(text))
        if self._propagate:
            chosen = resolve_overlaps(propagate(text, chosen), len(text))
        chosen = _extend_ages(text, chosen)
        output, replacements, originals = self._apply(text, chosen, prof, scope_key)
        gate = self._gate.check(output, [(r.start, r.end) for r in replacements], originals)
        for _ in range(self._repair_rounds):
            if gate.passed or not gate.residual:
                break
            # Repair: what the re-scan found is mapped back to the input and replaced too, then
            # the gate runs again. Only more text is replaced; a second failure stays a failure.
            extra = [_to_source(res, replacements, len(text)) for res in gate.residual]
            chosen = _extend_ages(text, resolve_overlaps([*chosen, *extra], len(text)))
            output, replacements, originals = self._apply(text, chosen, prof, scope_key)
            gate = self._gate.check(output, [(r.start, r.end) for r in replacements], originals)
        if gate.passed and self._may_vault(prof, tenant):
            self._remember(scope_key, output, replacements, originals)
        return DeidResult(output, tuple(chosen), replacements, gate, scope_key, prof.name)

    def _apply(
        self, text: str, chosen: list[Span], prof: Profile, scope_key: str
    ) -> tuple[str, tuple[Replacement, ...], list[Original]]:
        """Run the profile's operators over ``chosen`` through Presidio."""
        ctx = DeidContext.build(
            self._keyring,
            scope_key,
            text,
            (text[s.start : s.end] for s in chosen),
            date_order=prof.date_order,
            date_shift_days=scope_offset(
                self._keyring,
                scope_key,
                self._settings.date_shift_min_days,
                self._settings.date_shift_max_days,
            ),
        )
        prepare_tags(ctx, text, chosen)
        operators = {
            label.value: OperatorConfig(
                resolve(spec.operator), {**spec.params, "numbered": prof.numbered_tags, "ctx": ctx}
            )
            for label, spec in prof.categories.items()
        }
        results = [RecognizerResult(s.label.value, s.start, s.end, s.score) for s in chosen]
        try:
            engine_result = self._engine.anonymize(
                text,
                results,
                operators,
                conflict_resolution=ConflictResolutionStrategy.MERGE_SIMILAR_OR_CONTAINED,
                merge_entities_with_spaces=False,
            )
        except PipelineError:
            raise
        except Exception as exc:  # Presidio raises its own errors; never let their text out.
            raise DeidError(f"anonymizer failed ({type(exc).__name__})") from exc
        items = sorted(engine_result.items, key=lambda i: i.start)
        if len(items) != len(chosen):
            raise DeidError("anonymizer changed the span set", reason="span_mismatch")
        replacements = tuple(
            Replacement(s.label.value, str(i.operator), s.start, s.end, i.start, i.end)
            for s, i in zip(chosen, items, strict=True)
        )
        originals = [
            Original(r.label, text[r.source_start : r.source_end], r.operator) for r in replacements
        ]
        return str(engine_result.text), replacements, originals

    def _remember(
        self,
        scope_key: str,
        output: str,
        replacements: Sequence[Replacement],
        originals: Sequence[Original],
    ) -> None:
        if self._vault is None:
            return
        for r, orig in zip(replacements, originals, strict=True):
            new = output[r.start : r.end]
            kind = r.operator.split(".")[0]
            # Tag numbers are per request: under a patient/session scope "[NAME_1]" of one
            # request is not "[NAME_1]" of the next, so only request scopes vault tags.
            if kind == "tag" and not scope_key.startswith("request:"):
                continue
            if kind in _VAULTED and new != orig.value:
                self._vault.remember(scope_key, new, orig.value, r.label)
                if r.label == Category.NAME:
                    # "Mr. Jones" in a completion must map back too: vault each name word.
                    for sur_word, orig_word in _aligned_name_words(new, orig.value):
                        self._vault.remember(scope_key, sur_word, orig_word, r.label)

    def deidentify_messages(
        self,
        messages: Sequence[Mapping[str, Any]],
        *,
        scope: str | Scope,
        profile: str | Profile | None = None,
        overrides: Mapping[str, Any] | None = None,
        tenant: str | None = None,
    ) -> list[DeidResult]:
        """De-identify every string ``content`` of a chat request under one scope.

        Consistency across turns needs no state: each turn is de-identified with the same scope,
        so "John Smith" in turn 1 and "Mr. Smith" in turn 3 get the same surrogate. Numbered tags
        are made consistent across turns by numbering the whole conversation at once.
        """
        contents = [str(m.get("content") or "") for m in messages]
        prof = self.profile(profile, overrides, tenant)
        if prof.numbered_tags and any(s.operator == "tag" for s in prof.categories.values()):
            return self._messages_joined(contents, scope, prof, tenant)
        return [self.deidentify(c, scope=scope, profile=prof, tenant=tenant) for c in contents]

    def _messages_joined(
        self, contents: list[str], scope: str | Scope, prof: Profile, tenant: str | None
    ) -> list[DeidResult]:
        # Tag numbers are per request; de-identify the turns as one text (joined by a separator
        # no detector spans) and split the output, so [NAME_1] means one person in every turn.
        sep = "\n\u2063\n"
        joined = sep.join(contents)
        whole = self.deidentify(joined, scope=scope, profile=prof, tenant=tenant)
        parts = whole.text.split(sep)
        if len(parts) != len(contents):
            raise DeidError("turn separator did not survive de-identification", reason="turn_split")
        out: list[DeidResult] = []
        src_off = out_off = 0
        for content, part in zip(contents, parts, strict=True):
            reps = tuple(
                Replacement(
                    r.label,
                    r.operator,
                    r.source_start - src_off,
                    r.source_end - src_off,
                    r.start - out_off,
                    r.end - out_off,
                )
                for r in whole.replacements
                if out_off <= r.start and r.end <= out_off + len(part)
            )
            spans = tuple(
                Span(s.start - src_off, s.end - src_off, s.label, s.score, s.recognizer)
                for s in whole.spans
                if src_off <= s.start and s.end <= src_off + len(content)
            )
            out.append(DeidResult(part, spans, reps, whole.leak_gate, whole.scope, whole.profile))
            src_off += len(content) + len(sep)
            out_off += len(part) + len(sep)
        return out

    def reidentify(self, text: str, *, scope: str | Scope, tenant: str | None = None) -> str:
        """Re-identify a completion for an authorised consumer, from this scope's vault entries.

        Raises:
            DeidError: no vault is configured, or the tenant may not re-identify.
        """
        if self._vault is None:
            raise DeidError("no vault configured", reason="no_vault")
        if tenant is not None:
            policy = self._tenants.get(tenant)
            if policy is None or not policy.allow_reidentification:
                raise DeidError("tenant may not re-identify", reason="reidentification_denied")
        return self._vault.reidentify(text, Scope.parse(scope).key())
