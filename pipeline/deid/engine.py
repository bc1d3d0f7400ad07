"""The de-identification stage: detect, apply the profile's operators through Presidio, gate.

:class:`Deidentifier` is a plain object over a detector (anything with ``detect(text)``), a key
provider, a profile set and optionally a vault; it holds no per-request state, so one instance
serves every request of a worker, and two instances with the same key agree on every output.

The operators are registered on a Presidio ``AnonymizerEngine``; on the hot path the engine's
operator objects are called directly over the already-resolved spans, which is what
``anonymize`` would do with them (``via_presidio=True`` runs ``anonymize`` itself; the two are
tested equal).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline.config import DeidSettings, Settings
from pipeline.deid.anonymizer import (
    AnonymizerEngine,
    ConflictResolutionStrategy,
    Operator,
    OperatorConfig,
    OperatorType,
    RecognizerResult,
)
from pipeline.deid.context import DeidContext, Scope
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
from pipeline.deid.operators import ANONYMIZERS, TagOperator, register_operators, resolve
from pipeline.deid.profiles import OperatorSpec, Profile, TenantPolicy, builtin_profile
from pipeline.deid.spans import (
    aligned_name_words,
    extend_ages,
    prepare_tags,
    propagate,
    resolve_overlaps,
)
from pipeline.deid.vault import Vault
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Span
from pipeline.errors import DeidError, PipelineError

#: Operators whose output stands for one original in its scope, so the vault can reverse it.
_VAULTED = ("surrogate", "date_shift", "tag")


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
class _ProfilePlan:
    """A profile's per-label (operator name, params without the request context)."""

    profile: Profile
    configs: dict[str, tuple[str, dict[str, Any]]]
    tagged: frozenset[str]  # labels whose numbered tags need prepare_tags
    reads_input: bool  # some operator reads ctx.input_words / input_values


#: Profiles whose plans one Deidentifier keeps (built-in ones, tenants', a few overrides).
_MAX_PLANS = 64


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
        via_presidio: bool = False,
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
            via_presidio: run every request through ``AnonymizerEngine.anonymize``; by default
                the same registered operator objects are called directly, with the same result
                (Presidio's per-entity wrapping was a third of the stage's CPU).
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
        self._via_presidio = via_presidio
        self._plans: dict[int, _ProfilePlan] = {}
        # The operator objects the engine would create, built once: ours hold no state (the
        # per-request state travels in params["ctx"]), so one instance serves every call.
        factory = self._engine.operators_factory
        self._operators: dict[str, Operator] = {
            cls.name: factory.create_operator_class(cls.name, OperatorType.Anonymize)
            for cls in ANONYMIZERS
        }

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
        chosen = extend_ages(text, chosen)
        output, replacements, originals = self._apply(text, chosen, prof, scope_key)
        gate = self._gate.check(output, [(r.start, r.end) for r in replacements], originals)
        for _ in range(self._repair_rounds):
            if gate.passed or not gate.residual:
                break
            # Repair: what the re-scan found is mapped back to the input and replaced too, then
            # the gate runs again. Only more text is replaced; a second failure stays a failure.
            extra = [_to_source(res, replacements, len(text)) for res in gate.residual]
            repaired = resolve_overlaps([*chosen, *extra], len(text))
            if self._propagate:
                # A repaired span can be a value detection never saw ("George" of a "George
                # Abernathy" whose first name was missed); its other mentions must go too, or
                # the verbatim check finds them next to the surrogate and the record fails.
                repaired = resolve_overlaps(propagate(text, repaired), len(text))
            chosen = extend_ages(text, repaired)
            output, replacements, originals = self._apply(text, chosen, prof, scope_key)
            gate = self._gate.check(output, [(r.start, r.end) for r in replacements], originals)
        if gate.passed and self._may_vault(prof, tenant):
            self._remember(scope_key, output, replacements, originals)
        return DeidResult(output, tuple(chosen), replacements, gate, scope_key, prof.name)

    def _apply(
        self, text: str, chosen: list[Span], prof: Profile, scope_key: str
    ) -> tuple[str, tuple[Replacement, ...], list[Original]]:
        """Run the profile's operators over ``chosen`` (directly, or through Presidio)."""
        offset = scope_offset(
            self._keyring,
            scope_key,
            self._settings.date_shift_min_days,
            self._settings.date_shift_max_days,
        )
        plan = self._plan(prof)
        if plan.reads_input:
            ctx = DeidContext.build(
                self._keyring,
                scope_key,
                text,
                (text[s.start : s.end] for s in chosen),
                date_order=prof.date_order,
                date_shift_days=offset,
            )
        else:
            # No operator of this profile looks at the input's words or values (tags, masks,
            # hashes, shifted dates): skip working them out.
            ctx = DeidContext(
                self._keyring, scope_key, date_order=prof.date_order, date_shift_days=offset
            )
        if plan.tagged:
            prepare_tags(ctx, text, [s for s in chosen if s.label.value in plan.tagged])
        try:
            direct = (
                None
                if self._via_presidio
                else self._operate_direct(text, chosen, plan.configs, ctx)
            )
            if direct is not None:
                output, replacements = direct
            else:
                configs = {
                    label: (name, {**base, "ctx": ctx})
                    for label, (name, base) in plan.configs.items()
                }
                output, replacements = self._operate_presidio(text, chosen, configs)
        except PipelineError:
            raise
        except Exception as exc:  # Presidio raises its own errors; never let their text out.
            raise DeidError(f"anonymizer failed ({type(exc).__name__})") from exc
        originals = [
            Original(r.label, text[r.source_start : r.source_end], r.operator) for r in replacements
        ]
        return output, replacements, originals

    def _plan(self, prof: Profile) -> _ProfilePlan:
        """The profile's operator configs, worked out once per profile object, not per request.

        Keyed by identity (a :class:`Profile` holds dicts, so it is not hashable); the entry
        keeps its profile alive, so the id cannot be reused while the entry stands.
        """
        plan = self._plans.get(id(prof))
        if plan is None or plan.profile is not prof:
            configs = {
                label.value: (
                    resolve(spec.operator),
                    {**spec.params, "numbered": prof.numbered_tags},
                )
                for label, spec in prof.categories.items()
            }
            # Only the numbered tag operator reads the tag numbers, and a label's numbers
            # depend only on its own spans: only the labels this profile tags are numbered
            # (most surrogate profiles tag none of the spans a prompt has).
            tagged = frozenset(
                label
                for label, (name, _) in configs.items()
                if prof.numbered_tags and name == TagOperator.name
            )
            reads_input = any(
                (op := self._operators.get(name)) is None or getattr(op, "reads_input", True)
                for name, _ in configs.values()
            )
            plan = _ProfilePlan(prof, configs, tagged, reads_input)
            if len(self._plans) >= _MAX_PLANS:  # per-call override profiles: stay bounded
                self._plans.clear()
            self._plans[id(prof)] = plan
        return plan

    def _operate_presidio(
        self, text: str, chosen: list[Span], configs: Mapping[str, tuple[str, dict[str, Any]]]
    ) -> tuple[str, tuple[Replacement, ...]]:
        """Apply the operators through Presidio's ``AnonymizerEngine.anonymize``."""
        operators = {label: OperatorConfig(name, prm) for label, (name, prm) in configs.items()}
        results = [RecognizerResult(s.label.value, s.start, s.end, s.score) for s in chosen]
        engine_result = self._engine.anonymize(
            text,
            results,
            operators,
            conflict_resolution=ConflictResolutionStrategy.MERGE_SIMILAR_OR_CONTAINED,
            merge_entities_with_spaces=False,
        )
        items = sorted(engine_result.items, key=lambda i: i.start)
        if len(items) != len(chosen):
            raise DeidError("anonymizer changed the span set", reason="span_mismatch")
        replacements = tuple(
            Replacement(s.label.value, str(i.operator), s.start, s.end, i.start, i.end)
            for s, i in zip(chosen, items, strict=True)
        )
        return str(engine_result.text), replacements

    def _operate_direct(
        self,
        text: str,
        chosen: list[Span],
        configs: Mapping[str, tuple[str, dict[str, Any]]],
        ctx: DeidContext,
    ) -> tuple[str, tuple[Replacement, ...]] | None:
        """Apply the operators the engine has registered, without Presidio's per-entity wrapping.

        ``chosen`` is already what Presidio would operate on (sorted, non-overlapping, so its
        conflict resolution changes nothing), so this does exactly what ``anonymize`` does with
        it: the same operator objects, each given a copy of its config's params plus ``ctx``
        and ``entity_type``, ``validate`` then ``operate``, visited from the last span to the first
        (the order matters: surrogates claimed first win a clash). ``None`` when some span has
        no configured operator of ours; the caller then goes through Presidio itself.
        """
        plan = []
        for span in chosen:
            label = span.label.value  # an enum property: read once per span
            config = configs.get(label)
            operator = self._operators.get(config[0]) if config is not None else None
            if config is None or operator is None:
                return None
            plan.append((span, label, config[0], config[1], operator))
        new_values: list[str] = [""] * len(plan)
        for i in range(len(plan) - 1, -1, -1):
            span, label, _name, base, operator = plan[i]
            params = base.copy()
            params["ctx"] = ctx
            params["entity_type"] = label
            operator.validate(params=params)
            new_values[i] = operator.operate(params=params, text=text[span.start : span.end])
        pieces: list[str] = []
        replacements: list[Replacement] = []
        last = out_len = 0
        for (span, label, name, _base, _operator), new in zip(plan, new_values, strict=True):
            copied = text[last : span.start]
            pieces.append(copied)
            pieces.append(new)
            start = out_len + len(copied)
            out_len = start + len(new)
            replacements.append(Replacement(label, name, span.start, span.end, start, out_len))
            last = span.end
        pieces.append(text[last:])
        return "".join(pieces), tuple(replacements)

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
                    for sur_word, orig_word in aligned_name_words(new, orig.value):
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
