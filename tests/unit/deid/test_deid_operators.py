"""Table tests of each operator, standalone through Presidio's engines."""

from __future__ import annotations

import hashlib

import pytest
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

from pipeline.deid.context import DeidContext
from pipeline.deid.crypto import Keyring, decrypt_token, encrypt_token
from pipeline.deid.keys import KeyVersion, StaticKeyProvider
from pipeline.deid.operators import (
    ANONYMIZERS,
    LATEST,
    MaskOperator,
    RedactOperator,
    decrypt_all,
    register_operators,
    resolve,
)
from pipeline.detect.taxonomy import Category
from pipeline.errors import CryptoError, DeidError


@pytest.fixture(scope="module")
def engine() -> AnonymizerEngine:
    return register_operators(AnonymizerEngine())


def run(engine, text, value, label, operator, ctx, **params):
    start = text.index(value)
    result = engine.anonymize(
        text,
        [RecognizerResult(label.value, start, start + len(value), 0.9)],
        {label.value: OperatorConfig(operator, {"ctx": ctx, **params})},
    )
    return result.text


def test_every_operator_is_registered_by_versioned_name(engine):
    names = set(engine.operators_factory.get_anonymizers())
    for cls in ANONYMIZERS:
        assert cls.name in names
        assert cls.name.rsplit(".v", 1)[1].isdigit()
    assert resolve("surrogate") == "surrogate.v1" == LATEST["surrogate"]
    with pytest.raises(DeidError):
        resolve("nope")


@pytest.mark.parametrize(
    ("value", "label", "expected"),
    [
        ("John Smith", Category.NAME, "Patient [NAME] seen."),
        ("123-45-6789", Category.SSN, "Patient [SSN] seen."),
        ("03/04/2021", Category.DATE, "Patient [DATE] seen."),
    ],
)
def test_tag_plain(engine, make_ctx, value, label, expected):
    text = f"Patient {value} seen."
    assert run(engine, text, value, label, "tag.v1", make_ctx(text)) == expected


def test_tag_numbered_same_value_same_number(engine, make_ctx):
    text = "John Smith met Jane Doe; John Smith left."
    ctx = make_ctx(text)
    results = [
        RecognizerResult("NAME", 0, 10, 0.9),
        RecognizerResult("NAME", 15, 23, 0.9),
        RecognizerResult("NAME", 25, 35, 0.9),
    ]
    out = engine.anonymize(
        text, results, {"NAME": OperatorConfig("tag.v1", {"ctx": ctx, "numbered": True})}
    ).text
    first, second, third = (
        out.split(" met ")[0],
        out.split(" met ")[1].split(";")[0],
        out.split("; ")[1],
    )
    assert first.startswith("[NAME_") and second.startswith("[NAME_")
    assert first != second
    assert third.startswith(first)


def test_redact_and_mask(engine, make_ctx):
    text = "Card 4111 1111 1111 1111 on file"
    ctx = make_ctx(text)
    assert (
        run(engine, text, "4111 1111 1111 1111", Category.ACCOUNT, "redact.v1", ctx)
        == "Card [REDACTED] on file"
    )
    assert (
        run(engine, text, "4111 1111 1111 1111", Category.ACCOUNT, "mask.v1", ctx)
        == "Card **** **** **** **** on file"
    )
    assert MaskOperator().operate("4111-1111", {"keep_last": 4, "char": "#"}) == "####-1111"
    assert RedactOperator().operate("x", {"replacement": ""}) == ""


@pytest.mark.parametrize("label", [Category.SSN, Category.DATE, Category.NAME])
def test_hmac_prefixed_truncated_keyed(engine, make_ctx, keys, other_keys, label):
    value = "123-45-6789"
    text = f"id {value}"
    out = run(engine, text, value, label, "hmac.v1", make_ctx(text))
    token = out[3:]
    prefix, digest = token.split("_", 1)
    assert prefix == label.value
    assert len(digest) == 16 and int(digest, 16) >= 0
    # Linkable: the same value under the same key, even in another scope, gives the same token.
    assert run(engine, text, value, label, "hmac.v1", make_ctx(text, scope="patient:other")) == out
    # Not the enumerable plain hash, and a different key gives a different token.
    assert hashlib.sha256(value.encode()).hexdigest()[:16] != digest
    ctx2 = DeidContext.build(Keyring.from_provider(other_keys), "patient:p1", text, [])
    assert run(engine, text, value, label, "hmac.v1", ctx2) != out
    scoped = run(engine, text, value, label, "hmac.v1", make_ctx(text), scoped=True)
    assert scoped != out


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("03/04/2021", "2021"),
        ("March 4th, 1999", "1999"),
        ("3/4/21", "2021"),
        ("March 4th", "[DATE]"),
        ("2021-03-04T10:00", "2021"),
        ("12 de diciembre de 2016", "2016"),
    ],
)
def test_generalise_dates_to_year(engine, make_ctx, value, expected):
    text = f"on {value}."
    assert (
        run(engine, text, value, Category.DATE, "generalise.v1", make_ctx(text))
        == f"on {expected}."
    )


@pytest.mark.parametrize(
    ("value", "form", "expected"),
    [
        ("92", "90_or_older", "90 or older"),
        ("103 years old", "90_or_older", "90 or older"),
        ("ninety-two", "90_or_older", "90 or older"),
        ("95", "over_89", "over 89"),
        ("89", "90_or_older", "89"),
        ("very old", "90_or_older", "90 or older"),
    ],
)
def test_generalise_ages(engine, make_ctx, value, form, expected):
    text = f"age {value}"
    out = run(
        engine, text, value, Category.AGE_OVER_89, "generalise.v1", make_ctx(text), age_form=form
    )
    assert out == f"age {expected}"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("02139", "021"),
        ("02139-4307", "021"),
        ("03601", "000"),  # 036 is a restricted ZIP3
        ("89301", "000"),  # 893
        ("10210", "000"),  # 102
        ("90210", "902"),
    ],
)
def test_generalise_zip(engine, make_ctx, value, expected):
    text = f"ZIP {value}"
    assert (
        run(engine, text, value, Category.GEO, "generalise.v1", make_ctx(text)) == f"ZIP {expected}"
    )


def test_restricted_zip3_list_has_source_and_all_17_prefixes():
    from pipeline.deid.lexicon import restricted_zip3

    data = restricted_zip3()
    assert data.census_year == 2000
    assert "HHS" in data.source or "Health and Human Services" in data.source
    expected = "036 059 063 102 203 556 692 790 821 823 830 831 878 879 884 890 893"
    assert data.prefixes == frozenset(expected.split(" "))


@pytest.mark.parametrize("deterministic", [False, True])
def test_encrypt_decrypt_round_trip(engine, make_ctx, keyring, deterministic):
    text = "SSN 123-45-6789 and SSN 123-45-6789"
    ctx = make_ctx(text)
    results = [RecognizerResult("SSN", 4, 15, 0.9), RecognizerResult("SSN", 24, 35, 0.9)]
    out = engine.anonymize(
        text,
        results,
        {"SSN": OperatorConfig("encrypt.v1", {"ctx": ctx, "deterministic": deterministic})},
    ).text
    assert "123-45-6789" not in out
    tokens = out.replace("SSN ", "").split(" and ")
    assert (tokens[0] == tokens[1]) is deterministic
    assert decrypt_all(out, keyring) == text


def test_decrypt_rejects_tampering_and_resolves_old_key_ids(keys):
    old = KeyVersion("old", bytes(range(32)), bytes(range(32, 64)))
    new = KeyVersion("new", bytes(range(2, 34)), bytes(range(34, 66)))
    ring_old = Keyring.from_provider(StaticKeyProvider([old]))
    token = encrypt_token(ring_old, "NAME", "John Smith", deterministic=False)
    rotated = Keyring.from_provider(StaticKeyProvider([new, old], current="new"))
    assert decrypt_token(rotated, token) == "John Smith"
    with pytest.raises(CryptoError):
        decrypt_token(rotated, token.replace(":NAME:", ":SSN_:"))
    with pytest.raises(CryptoError):
        decrypt_token(Keyring.from_provider(StaticKeyProvider([new])), token)


def test_operator_without_context_fails_closed(engine):
    text = "John Smith"
    with pytest.raises(DeidError):
        engine.anonymize(
            text,
            [RecognizerResult("NAME", 0, 10, 0.9)],
            {"NAME": OperatorConfig("surrogate.v1", {})},
        )


def test_operator_accepts_presidio_entity_names(engine, make_ctx):
    text = "Call (617) 555-1234"
    ctx = make_ctx(text)
    out = engine.anonymize(
        text,
        [RecognizerResult("PHONE_NUMBER", 5, 19, 0.9)],
        {"PHONE_NUMBER": OperatorConfig("surrogate.v1", {"ctx": ctx})},
    ).text
    assert out.startswith("Call (") and "555-01" in out
