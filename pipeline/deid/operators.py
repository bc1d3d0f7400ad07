"""Our operators as Presidio-anonymizer operators (``AnonymizerEngine.add_anonymizer``).

Presidio builds an operator per entity with no arguments and passes it the entity's text and a
params dict; per-request state (keys, scope, what the input contains, tag numbering) therefore
travels in ``params["ctx"]`` (a :class:`DeidContext`). The classes are registered by versioned
name (``"surrogate.v1"``); a behaviour change is a new version, so old profiles keep resolving.

Each operator also works on its own::

    engine = AnonymizerEngine()
    register_operators(engine)
    engine.anonymize(text, results, {"SH_NAME": OperatorConfig("surrogate.v1", {"ctx": ctx})})
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pipeline.deid.anonymizer import (
    AnonymizerEngine,
    DeanonymizeEngine,
    Operator,
    OperatorConfig,
    OperatorResult,
    OperatorType,
)
from pipeline.deid.context import DeidContext, normalise
from pipeline.deid.crypto import TOKEN_RE, Keyring, decrypt_token, encrypt_token
from pipeline.deid.dates import shift_date
from pipeline.deid.generalise import date_to_year, generalise_age, zip3
from pipeline.deid.surrogates import ZIP_RE, geo_surrogate, surrogate
from pipeline.detect.taxonomy import Category, from_presidio
from pipeline.errors import CryptoError, DeidError

Params = dict[str, Any]


def label_of(params: Params) -> str:
    """The Safe Harbor label of the entity (Presidio passes its entity type in the params)."""
    return _label_value(str(params.get("entity_type", "")))


@cache
def _label_value(entity: str) -> str:
    # Entity types are a handful of label names (never record text), asked for once per span:
    # the mapping is worked out once per name. An unknown name raises, and is not cached.
    category = from_presidio(entity)
    if category is None:
        try:
            category = Category(entity)
        except ValueError:
            raise DeidError("entity type is not a Safe Harbor label", reason="bad_label") from None
    return category.value


def context_of(params: Params) -> DeidContext:
    """The request context the engine put into the params."""
    ctx = params.get("ctx")
    if not isinstance(ctx, DeidContext):
        raise DeidError("operator params need a DeidContext under 'ctx'", reason="no_context")
    return ctx


class _Base(Operator):
    """Shared plumbing: name, type, and the context requirement."""

    name = ""
    needs_context = True
    #: Reads what the input contains (``ctx.input_words``/``input_values``): only then does the
    #: engine work those sets out for a request.
    reads_input = False

    def operator_name(self) -> str:
        """Registered, versioned name."""
        return self.name

    def operator_type(self) -> OperatorType:
        """Anonymizers unless overridden."""
        return OperatorType.Anonymize

    def validate(self, params: Params | None = None) -> None:
        """Check the params before :meth:`operate` (Presidio calls this per entity)."""
        if self.needs_context:
            context_of(params or {})


class RedactOperator(_Base):
    """Remove the value; leave a fixed marker (``"[REDACTED]"`` or ``params["replacement"]``)."""

    name = "redact.v1"
    needs_context = False

    def operate(self, text: str, params: Params | None = None) -> str:
        """Return the marker."""
        return str((params or {}).get("replacement", "[REDACTED]"))


class TagOperator(_Base):
    """Type tag ``[NAME]``; with ``numbered`` ``[NAME_1]``, one number per person per request.

    Numbers come from the context, which the engine fills in text order and in which mentions of
    one person ("John Smith", "Mr. Smith") share a group; used on its own without a prepared
    context, numbers are given in the order Presidio visits entities.
    """

    name = "tag.v1"
    needs_context = False

    def operate(self, text: str, params: Params | None = None) -> str:
        """Return the tag."""
        params = params or {}
        label = label_of(params)
        if not params.get("numbered", False):
            return f"[{label}]"
        ctx = context_of(params)
        norm = normalise(text)
        group = ctx.tag_groups.get((label, norm), norm)
        key = (label, group)
        if key not in ctx.tag_numbers:
            ctx.tag_numbers[key] = 1 + sum(1 for lab, _ in ctx.tag_numbers if lab == label)
        return f"[{label}_{ctx.tag_numbers[key]}]"


class MaskOperator(_Base):
    """Replace every letter and digit by ``char`` (default ``*``); separators stay.

    ``keep_last`` (default 0) leaves that many trailing alphanumerics, e.g. a card's last four;
    profiles with ``safe_harbor: true`` reject ``keep_last > 0``.
    """

    name = "mask.v1"
    needs_context = False

    def operate(self, text: str, params: Params | None = None) -> str:
        """Return the masked value."""
        params = params or {}
        char = str(params.get("char", "*"))[:1] or "*"
        keep = int(params.get("keep_last", 0))
        positions = [i for i, c in enumerate(text) if c.isalnum()]
        kept = set(positions[len(positions) - keep :]) if keep > 0 else set()
        return "".join(c if (not c.isalnum() or i in kept) else char for i, c in enumerate(text))


class HmacOperator(_Base):
    """Keyed HMAC-SHA256, category-prefixed and truncated: ``NAME_3fa9c2e1b0d4a7e2``.

    Linkable under one key (same value, same token), across scopes unless ``scoped`` is set;
    not reversible by enumerating SSNs or birth dates, unlike a plain hash.
    """

    name = "hmac.v1"

    def operate(self, text: str, params: Params | None = None) -> str:
        """Return the keyed hash token."""
        params = params or {}
        ctx = context_of(params)
        label = label_of(params)
        length = max(8, min(64, int(params.get("length", 16))))
        scope = ctx.scope if params.get("scoped", False) else ""
        return f"{label}_{ctx.keyring.keyed_hash(label, scope, normalise(text))[:length]}"


class SurrogateOperator(_Base):
    """Consistent, realistic, format-preserving fake value of the entity's category."""

    name = "surrogate.v1"
    reads_input = True

    def operate(self, text: str, params: Params | None = None) -> str:
        """Return the surrogate."""
        params = params or {}
        return surrogate(
            context_of(params),
            label_of(params),
            text,
            zip_mode=str(params.get("zip", "zip3")),
            keep_states=bool(params.get("keep_states", True)),
        )


class DateShiftOperator(_Base):
    """Shift a date by the scope's offset, in its own format (see :mod:`pipeline.deid.dates`)."""

    name = "date_shift.v1"

    def operate(self, text: str, params: Params | None = None) -> str:
        """Return the shifted date (``[DATE]`` if it cannot be read)."""
        params = params or {}
        ctx = context_of(params)
        if ctx.date_shift_days == 0:
            raise DeidError("date shift offset not set for this request", reason="no_offset")
        return shift_date(text, ctx.date_shift_days, order=str(params.get("order", ctx.date_order)))


class GeneraliseOperator(_Base):
    """Safe Harbor generalisation: DATE -> year, AGE_OVER_89 -> "90 or older", ZIP -> ZIP3/000.

    A GEO value that is not a bare ZIP code is surrogated with ZIP codes inside it generalised.
    Other categories have no generalisation and get a type tag.
    """

    name = "generalise.v1"
    reads_input = True  # a GEO value that is not a bare ZIP gets a surrogate

    def operate(self, text: str, params: Params | None = None) -> str:
        """Return the generalised value."""
        params = params or {}
        label = label_of(params)
        if label == Category.DATE:
            return date_to_year(text)
        if label == Category.AGE_OVER_89:
            return generalise_age(text, form=str(params.get("age_form", "90_or_older")))
        if label == Category.GEO:
            if ZIP_RE.fullmatch(text.strip()):
                return zip3(text)
            return geo_surrogate(
                context_of(params),
                text,
                zip_mode="zip3",
                keep_states=bool(params.get("keep_states", True)),
            )
        return f"[{label}]"

    def validate(self, params: Params | None = None) -> None:
        """Only GEO needs the context (for its surrogate part)."""
        params = params or {}
        if label_of(params) == Category.GEO:
            context_of(params)


class EncryptOperator(_Base):
    """Reversible: an ``[ENC:gcm|siv:<key id>:<label>:<data>]`` token (AES-256-GCM or AES-SIV).

    ``deterministic: true`` selects AES-SIV, so equal values give equal tokens (joins survive).
    The token is bound (AAD) to its label and key id; decrypt with :class:`DecryptOperator`.
    """

    name = "encrypt.v1"

    def operate(self, text: str, params: Params | None = None) -> str:
        """Return the encryption token."""
        params = params or {}
        ctx = context_of(params)
        return encrypt_token(
            ctx.keyring,
            label_of(params),
            text,
            deterministic=bool(params.get("deterministic", False)),
        )


class DecryptOperator(_Base):
    """Deanonymizer for :class:`EncryptOperator` tokens (``DeanonymizeEngine.add_deanonymizer``).

    Params: ``keyring`` (a :class:`Keyring`; older key ids are resolved through its provider).
    """

    name = "decrypt.v1"
    needs_context = False

    def operator_type(self) -> OperatorType:
        """A deanonymizer."""
        return OperatorType.Deanonymize

    def validate(self, params: Params | None = None) -> None:
        """Require a keyring."""
        if not isinstance((params or {}).get("keyring"), Keyring):
            raise CryptoError("decrypt needs a Keyring under 'keyring'", reason="no_keyring")

    def operate(self, text: str, params: Params | None = None) -> str:
        """Return the plaintext of one token."""
        params = params or {}
        return decrypt_token(params["keyring"], text)


#: short name -> versioned name of the current version.
LATEST: dict[str, str] = {
    "redact": RedactOperator.name,
    "tag": TagOperator.name,
    "mask": MaskOperator.name,
    "hmac": HmacOperator.name,
    "surrogate": SurrogateOperator.name,
    "date_shift": DateShiftOperator.name,
    "generalise": GeneraliseOperator.name,
    "encrypt": EncryptOperator.name,
}

ANONYMIZERS: tuple[type[_Base], ...] = (
    RedactOperator,
    TagOperator,
    MaskOperator,
    HmacOperator,
    SurrogateOperator,
    DateShiftOperator,
    GeneraliseOperator,
    EncryptOperator,
)
DEANONYMIZERS: tuple[type[_Base], ...] = (DecryptOperator,)


def resolve(name: str) -> str:
    """Return the versioned operator name for ``name`` (``"surrogate"`` or ``"surrogate.v1"``)."""
    if name in LATEST:
        return LATEST[name]
    if name in {cls.name for cls in ANONYMIZERS}:
        return name
    raise DeidError(f"unknown operator {name!r}", reason="unknown_operator")


def register_operators(engine: AnonymizerEngine) -> AnonymizerEngine:
    """Add every anonymizer of ours to a Presidio ``AnonymizerEngine``; return it."""
    for cls in ANONYMIZERS:
        engine.add_anonymizer(cls)
    return engine


def register_deanonymizers(engine: DeanonymizeEngine) -> DeanonymizeEngine:
    """Add our deanonymizers to a Presidio ``DeanonymizeEngine``; return it."""
    for cls in DEANONYMIZERS:
        engine.add_deanonymizer(cls)
    return engine


def decrypt_all(text: str, keyring: Keyring) -> str:
    """Decrypt every ``[ENC:...]`` token in ``text`` through Presidio's ``DeanonymizeEngine``."""
    entities = [
        OperatorResult(
            start=m.start(),
            end=m.end(),
            entity_type=m["label"],
            text=m.group(),
            operator="encrypt.v1",
        )
        for m in TOKEN_RE.finditer(text)
    ]
    if not entities:
        return text
    engine = register_deanonymizers(DeanonymizeEngine())
    config = {"DEFAULT": OperatorConfig(DecryptOperator.name, {"keyring": keyring})}
    return str(engine.deanonymize(text, entities, config).text)
