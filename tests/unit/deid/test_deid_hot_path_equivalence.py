"""The hot-path shortcuts of de-identification give exactly what the plain forms give.

Each CPU shortcut (unpacked PRF blocks, keyed HMAC states, per-request memos, ASCII fast paths,
substring pre-checks, tag numbering of tagged labels only) is checked here against the plain
definition it replaced, on synthetic values only.
"""

from __future__ import annotations

import calendar
import copy
import hmac
import pickle
import re
import string
import unicodedata
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.deid import crypto, dates
from pipeline.deid.context import DeidContext, KeyedRandom, input_words, normalise
from pipeline.deid.crypto import Keyring
from pipeline.deid.engine import Deidentifier
from pipeline.deid.keys import KeyVersion, StaticKeyProvider, derive_key
from pipeline.deid.leak_gate import _CONTEXT_WORDS, LeakGate
from pipeline.deid.names import base_letter, name_surrogate
from pipeline.deid.profiles import builtin_profile
from pipeline.deid.spans import prepare_tags
from pipeline.deid.surrogates import _LOWER, _UPPER, shape_preserving, surrogate
from pipeline.deid.textscan import word_matches
from pipeline.detect.intervals import Intervals
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Span
from tests.unit.deid.conftest import RegexDetector

_WORD = re.compile(r"\w+")
# Characters that exercise the ASCII and Unicode paths: word and non-word ASCII, accents,
# the Kelvin sign (case-folds to "k"), a combining mark, digits of another script.
_CHARS = st.sampled_from([*"aAbBzZkK09_ .,-'@\n\t", "é", "É", "\u212a", "\u0301", "٣", "ß"])
_TEXT = st.text(alphabet=_CHARS, max_size=30)


class _Reference:
    """The stream as it was first written: a byte buffer sliced eight bytes per draw."""

    def __init__(self, keyring: Keyring, *parts: str) -> None:
        self.keyring, self.parts, self.counter, self.buffer = keyring, parts, 0, b""

    def below(self, n: int) -> int:
        if len(self.buffer) < 8:
            self.buffer += self.keyring.surrogate_prf(*self.parts, f"#{self.counter}")
            self.counter += 1
        chunk, self.buffer = self.buffer[:8], self.buffer[8:]
        return int.from_bytes(chunk, "big") % n


def test_keyed_random_draws_match_the_byte_buffer_stream(keyring: Keyring) -> None:
    fast = KeyedRandom(keyring, "patient:p1", "NAME", "last", "smith", "0")
    slow = _Reference(keyring, "patient:p1", "NAME", "last", "smith", "0")
    bounds = [2, 10, 26, 9, 1000, 3, 2**40, 7] * 5  # crosses several 32-byte PRF blocks
    assert [fast.below(n) for n in bounds] == [slow.below(n) for n in bounds]


def test_prfs_match_one_shot_hmac(keys: StaticKeyProvider) -> None:
    ring = Keyring.from_provider(keys)
    root = keys.hmac_key()
    parts = ("patient:p1", "NAME", "first", "jöhn", "0", "#0")
    msg = b"\x1f".join(p.encode("utf-8") for p in parts)

    def ref(purpose: str) -> bytes:
        return hmac.digest(derive_key(root, purpose), msg, "sha256")

    assert ring.surrogate_prf(*parts) == ref("phi-pipeline/surrogate.v1")
    assert ring.date_shift_prf(*parts) == ref("phi-pipeline/date-shift.v1")
    assert ring.keyed_hash(*parts) == ref("phi-pipeline/keyed-hash.v1").hex()
    assert ring.index(*parts) == ref("phi-pipeline/vault-index.v1").hex()
    # Copies of the keyed state never disturb the state: the same call twice agrees.
    assert ring.surrogate_prf(*parts) == ring.surrogate_prf(*parts)


def test_prfs_without_openssl_hmac_object_are_the_same(
    keys: StaticKeyProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = Keyring.from_provider(keys)
    monkeypatch.setattr(crypto, "_openssl_hmac_new", None)
    fallback = Keyring.from_provider(keys)
    assert fallback.surrogate_prf("a", "b") == fast.surrogate_prf("a", "b")
    assert fallback.keyed_hash("x") == fast.keyed_hash("x")


def test_keyring_repr_and_equality_ignore_the_hmac_states(keys: StaticKeyProvider) -> None:
    one, two = Keyring.from_provider(keys), Keyring.from_provider(keys)
    assert one == two
    assert "state" not in repr(one)


@settings(max_examples=300, deadline=None)
@given(_TEXT)
def test_input_words_match_the_regex_definition(text: str) -> None:
    assert input_words(text) == frozenset(normalise(w) for w in _WORD.findall(text))


@settings(max_examples=400, deadline=None)
@given(_TEXT, st.text(alphabet=_CHARS, max_size=4), st.booleans())
def test_word_matches_match_the_regex(text: str, needle: str, ignore_case: bool) -> None:
    flags = re.IGNORECASE if ignore_case else 0
    pattern = rf"(?<!\w){re.escape(needle)}(?!\w)"
    expected = [(m.start(), m.end()) for m in re.finditer(pattern, text, flags)]
    assert list(word_matches(text, needle, ignore_case=ignore_case)) == expected
    lowered = text.lower()
    got = list(word_matches(text, needle, ignore_case=ignore_case, lowered=lowered))
    assert got == expected


def _base_letter_nfkd(word: str) -> str:
    decomposed = unicodedata.normalize("NFKD", word[:1])
    letter = "".join(c for c in decomposed if not unicodedata.combining(c)).upper()
    return letter if letter.isascii() and letter.isalpha() else "X"


@pytest.mark.parametrize("first", ["", *(chr(i) for i in range(128)), "É", "ñ", "\u212a"])
def test_base_letter_fast_path_matches_nfkd(first: str) -> None:
    assert base_letter(first + "ones") == _base_letter_nfkd(first + "ones")


def _shape_reference(rng: KeyedRandom, text: str) -> str:
    def once(value: str) -> str:
        out = []
        for i, ch in enumerate(value):
            if ch.isdigit():
                leading = i == 0 or not value[i - 1].isdigit()
                out.append(rng.digit(nonzero=leading and ch != "0"))
            elif ch.isalpha() and ch.isupper():
                out.append(rng.choice(_UPPER))
            elif ch.isalpha():
                out.append(rng.choice(_LOWER))
            else:
                out.append(ch)
        return "".join(out)

    run_re = re.compile(r"\d+|[A-Z]+|[a-z]+")
    out = list(once(text))
    runs = {m.group() for m in run_re.finditer(text)}
    for run in run_re.finditer(text):
        for _ in range(16):
            if "".join(out[run.start() : run.end()]) not in runs:
                break
            out[run.start() : run.end()] = once(run.group())
    return "".join(out)


@pytest.mark.parametrize("value", ["MRN-0048213", "22 22 1234", "3", "Ab9-x٣Z", "0000"])
def test_shape_preserving_matches_the_per_call_draws(keyring: Keyring, value: str) -> None:
    parts = ("patient:p1", "MRN", "id", value.lower(), "0")
    expected = _shape_reference(KeyedRandom(keyring, *parts), value)
    assert shape_preserving(KeyedRandom(keyring, *parts), value) == expected


class _NoMemo(dict[tuple[str, ...], str]):
    """A memo that never remembers: every surrogate is worked out afresh."""

    def __setitem__(self, key: tuple[str, ...], value: str) -> None:
        return None


# Synthetic mentions, repeated the way propagation repeats them, in the engine's visiting order.
_MENTIONS = [
    (Category.NAME, "Maria Alvarez"),
    (Category.NAME, "Ms. Alvarez"),
    (Category.NAME, "ALVAREZ"),
    (Category.NAME, "M. Alvarez"),
    (Category.NAME, "Maria"),
    (Category.GEO, "12 Maple Avenue, Springfield, IL 62704"),
    (Category.PHONE, "(555) 010-4477"),
    (Category.MRN, "MRN-0048213"),
    (Category.NAME, "Maria Alvarez"),
    (Category.GEO, "12 Maple Avenue, Springfield, IL 62704"),
    (Category.MRN, "MRN-0048213"),
    (Category.NAME, "Alvarez"),
]


def test_memoised_surrogates_equal_fresh_ones(make_ctx: Callable[..., DeidContext]) -> None:
    text = " ; ".join(v for _, v in _MENTIONS)
    values = [v for _, v in _MENTIONS]
    memo_ctx = make_ctx(text, values)
    fresh_ctx = make_ctx(text, values)
    fresh_ctx.memo = _NoMemo()
    for label, value in reversed(_MENTIONS):
        assert surrogate(memo_ctx, label.value, value) == surrogate(fresh_ctx, label.value, value)
    assert memo_ctx.assigned == fresh_ctx.assigned
    assert name_surrogate(memo_ctx, "Maria Alvarez") == name_surrogate(fresh_ctx, "Maria Alvarez")


def test_tag_numbers_of_a_label_need_only_its_own_spans(
    make_ctx: Callable[..., DeidContext],
) -> None:
    text = "John Smith, MRN 123456, Mr. Smith, 555-0100, Jane Doe, MRN 654321, Smith, 555-0199"
    spans: list[Span] = []
    for label, value in [
        (Category.NAME, "John Smith"),
        (Category.MRN, "MRN 123456"),
        (Category.NAME, "Mr. Smith"),
        (Category.PHONE, "555-0100"),
        (Category.NAME, "Jane Doe"),
        (Category.MRN, "MRN 654321"),
        (Category.NAME, "Smith"),
        (Category.PHONE, "555-0199"),
    ]:
        start = text.index(value, spans[-1].end if spans else 0)
        spans.append(Span(start, start + len(value), label, 0.9, "hand.v1"))
    everything = make_ctx(text)
    prepare_tags(everything, text, spans)
    for kept in ({Category.NAME}, {Category.MRN, Category.PHONE}, set(Category)):
        ctx = make_ctx(text)
        prepare_tags(ctx, text, [s for s in spans if s.label in kept])
        expected = {k: v for k, v in everything.tag_numbers.items() if k[0] in kept}
        assert ctx.tag_numbers == expected
    # "Mr. Smith" and "Smith" joined John Smith's group: two people, two numbers.
    assert sorted(n for (label, _), n in everything.tag_numbers.items() if label == "NAME") == [
        1,
        2,
    ]


def _is_ours_reference(output: str, start: int, end: int, ours: Intervals) -> bool:
    covered = [False] * (end - start)
    for a, b in ours.touching(start, end):
        for i in range(max(a, start), min(b, end)):
            covered[i - start] = True
    outside = "".join(" " if c else output[start + i] for i, c in enumerate(covered))
    return all(w.casefold().rstrip(".") in _CONTEXT_WORDS for w in _WORD.findall(outside))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 24), st.integers(1, 6)), max_size=5),
    st.integers(0, 24),
    st.integers(1, 12),
)
def test_is_ours_matches_the_per_character_blanking(
    ranges: list[tuple[int, int]], start: int, size: int
) -> None:
    output = "Dr. Ann Lee or older y/o 90 years old Mr. X"
    ours = Intervals((a, a + n) for a, n in ranges)
    end = min(start + size, len(output))
    assert LeakGate._is_ours(output, start, end, ours) == _is_ours_reference(
        output, start, end, ours
    )


def test_ascii_tables_cover_every_ascii_character() -> None:
    text = "".join(chr(i) for i in range(128)) + string.ascii_letters
    assert input_words(text) == frozenset(w.lower() for w in _WORD.findall(text))


def test_calendar_names_are_the_calendar_modules() -> None:
    names = dates._calendar_names()
    assert list(names.month_name) == list(calendar.month_name)
    assert list(names.month_abbr) == list(calendar.month_abbr)
    assert list(names.day_name) == list(calendar.day_name)
    assert list(names.day_abbr) == list(calendar.day_abbr)
    assert dates.shift_date("Tue, Mar 4 2025", 1) == "Wed, Mar 5 2025"
    assert dates.shift_date("March 4th", 28) == "April 1st"


def test_each_profile_object_gets_its_own_operator_plan(
    keys: StaticKeyProvider, detector: RegexDetector
) -> None:
    deid = Deidentifier(detector, keys)
    text = "John Smith called from (555) 010-4477 about MRN 0048213."
    surrogated = deid.deidentify(text, scope="patient:p1", profile="safe_harbor")
    redacted = deid.deidentify(
        text, scope="patient:p1", profile="safe_harbor", overrides={"NAME": "redact"}
    )
    tagged = deid.deidentify(text, scope="patient:p1", profile="redact")
    numbered_profile = builtin_profile("redact").model_copy(update={"numbered_tags": True})
    numbered = deid.deidentify(text, scope="patient:p1", profile=numbered_profile)
    assert "[REDACTED]" in redacted.text and "[REDACTED]" not in surrogated.text
    assert tagged.text == "[NAME] called from [PHONE] about [MRN]."
    assert numbered.text == "[NAME_1] called from [PHONE_1] about [MRN_1]."
    # The same request again, after other profiles were planned, gives the same output; the
    # Presidio route (which builds its configs from the same plan) agrees too.
    again = deid.deidentify(text, scope="patient:p1", profile="safe_harbor")
    assert again.text == surrogated.text
    # Only surrogate and generalise read the input's words; a tags-only profile skips them.
    assert deid._plan(builtin_profile("safe_harbor")).reads_input
    assert not deid._plan(builtin_profile("redact")).reads_input
    via = Deidentifier(detector, keys, via_presidio=True)
    for prof in ("safe_harbor", "redact", numbered_profile):
        direct = deid.deidentify(text, scope="patient:p1", profile=prof)
        assert via.deidentify(text, scope="patient:p1", profile=prof).text == direct.text


def test_keyring_still_pickles_and_copies(keys: StaticKeyProvider) -> None:
    ring = Keyring.from_provider(keys)
    for clone in (pickle.loads(pickle.dumps(ring)), copy.deepcopy(ring), copy.copy(ring)):
        assert clone == ring
        assert clone.surrogate_prf("a", "b") == ring.surrogate_prf("a", "b")
        assert clone.index("x") == ring.index("x")


@settings(max_examples=300, deadline=None)
@given(_TEXT, st.lists(_TEXT, max_size=3), _TEXT)
def test_is_real_matches_the_regex_definition(text: str, values: list[str], cand: str) -> None:
    ring = Keyring.from_provider(StaticKeyProvider([KeyVersion("k", bytes(32), bytes(32))]))
    ctx = DeidContext.build(ring, "patient:p1", text, values)
    norm = normalise(cand)
    words = _WORD.findall(norm)
    expected = norm in ctx.input_values or (
        bool(words) and any(w in ctx.input_words for w in words if len(w) > 1)
    )
    assert ctx.is_real(cand) == expected
