"""The hot-path shortcuts give exactly what the slow forms gave.

* the direct operator loop equals Presidio's ``AnonymizerEngine.anonymize`` path;
* the ``str.find`` word search equals the per-value regex it replaced;
* the ASCII fast paths of ``normalise`` and the input word set equal the Unicode forms;
* State detection with precompiled patterns equals the per-call regexes;
* importing the de-identification engine does not import presidio-analyzer.
"""

from __future__ import annotations

import re
import subprocess
import sys
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.prompts import make_prompts
from pipeline.config import load_settings
from pipeline.deid.context import WORD_RE, input_words, normalise
from pipeline.deid.engine import Deidentifier
from pipeline.deid.lexicon import place_pools
from pipeline.deid.surrogates import _state_spans
from pipeline.deid.textscan import word_matches
from pipeline.detect.detector import Detector
from pipeline.detect.types import Span

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def fast_detector() -> Detector:
    return Detector.from_settings(load_settings(), profile="fast")


@pytest.fixture(scope="module")
def prompts(fast_detector: Detector) -> list[tuple[str, list[Span]]]:
    return [(p.text, fast_detector.detect(p.text)) for p in make_prompts(30, start=100)]


OVERRIDES: dict[str, Any] = {
    "MRN": {"operator": "hmac", "params": {"scoped": True}},
    "SSN": {"operator": "mask"},
    "EMAIL": {"operator": "encrypt", "params": {"deterministic": True}},
    "PHONE": {"operator": "tag"},
}


@pytest.mark.parametrize(
    ("profile", "overrides"),
    [
        ("safe_harbor", None),
        ("pseudonymize", None),
        ("redact", None),
        ("pseudonymize", OVERRIDES),
    ],
)
def test_direct_operator_loop_equals_presidio_engine(
    keys, fast_detector, prompts, profile, overrides
):
    direct = Deidentifier(fast_detector, keys)
    presidio = Deidentifier(fast_detector, keys, via_presidio=True)
    for i, (text, spans) in enumerate(prompts):
        scope = f"patient:p{i % 7}"
        a = direct.deidentify(text, scope=scope, spans=spans, profile=profile, overrides=overrides)
        b = presidio.deidentify(
            text, scope=scope, spans=spans, profile=profile, overrides=overrides
        )
        assert a.text == b.text
        assert a.replacements == b.replacements
        assert a.spans == b.spans
        assert a.leak_gate == b.leak_gate
        assert a.replacements  # the prompts carry PHI: something was replaced


def test_direct_operator_loop_equals_presidio_engine_on_chat_turns(keys, detector):
    turns = [
        {"role": "user", "content": "John Smith, MRN 1234567, called (617) 555-1234."},
        {"role": "assistant", "content": "Noted for Mr. Smith."},
        {"role": "user", "content": "Jane Doe too, seen 03/04/2021 in Springfield 02139."},
    ]
    for profile in ("safe_harbor", "pseudonymize"):
        a = Deidentifier(detector, keys).deidentify_messages(turns, scope="s:1", profile=profile)
        b = Deidentifier(detector, keys, via_presidio=True).deidentify_messages(
            turns, scope="s:1", profile=profile
        )
        assert [r.text for r in a] == [r.text for r in b]
        assert [r.replacements for r in a] == [r.replacements for r in b]


def _regex_words(text: str, needle: str, ignore_case: bool) -> list[tuple[int, int]]:
    flags = re.IGNORECASE if ignore_case else 0
    pattern = rf"(?<!\w){re.escape(needle)}(?!\w)"
    return [(m.start(), m.end()) for m in re.finditer(pattern, text, flags)]


# Letters that trip case folding or word boundaries: Kelvin sign, long s, dotted I, accents,
# digits, the underscore, punctuation and spaces.
_ALPHABET = "aAbBkKsS\u212a\u017f\u0130i\u00e9\u00c9e\u0301 _-.'1"


@settings(max_examples=400, deadline=None)
@given(
    text=st.text(alphabet=_ALPHABET, max_size=40),
    needle=st.text(alphabet=_ALPHABET, min_size=1, max_size=5),
    ignore_case=st.booleans(),
)
def test_word_matches_equals_regex(text: str, needle: str, ignore_case: bool) -> None:
    got = list(word_matches(text, needle, ignore_case=ignore_case))
    assert got == _regex_words(text, needle, ignore_case)


@pytest.mark.parametrize(
    ("text", "needle", "ignore_case"),
    [
        ("Smith met SMITH and smith; Smithson no, _Smith no, Smith_ no, Smith.", "Smith", False),
        ("Smith met SMITH and smith; Smithson no, _Smith no, Smith.", "smith", True),
        ("aaaa", "aa", False),  # non-overlapping, left to right
        ("a-a-a", "a-a", True),
        ("\u212aate met kate", "kate", True),  # Kelvin sign: the regex fallback
    ],
)
def test_word_matches_table(text: str, needle: str, ignore_case: bool) -> None:
    assert list(word_matches(text, needle, ignore_case=ignore_case)) == _regex_words(
        text, needle, ignore_case
    )


def _slow_normalise(value: str) -> str:
    decomposed = unicodedata.normalize("NFKD", value)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().split())


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_ALPHABET + "\u00bd\ufb01\u00df\t\n", max_size=30))
def test_normalise_and_input_words_equal_the_unicode_forms(text: str) -> None:
    assert normalise(text) == _slow_normalise(text)
    assert input_words(text) == frozenset(_slow_normalise(w) for w in WORD_RE.findall(text))


def _slow_state_spans(text: str) -> list[tuple[int, int]]:
    pools = place_pools()
    found: list[tuple[int, int]] = []
    for state in sorted(pools.states, key=len, reverse=True):
        for m in re.finditer(rf"\b{re.escape(state)}\b", text, flags=re.IGNORECASE):
            if not any(a < m.end() and m.start() < b for a, b in found):
                found.append((m.start(), m.end()))
    for m in re.finditer(r"\b[A-Z]{2}\b", text):
        if m.group() in pools.state_codes and not any(
            a < m.end() and m.start() < b for a, b in found
        ):
            found.append((m.start(), m.end()))
    return found


@pytest.mark.parametrize(
    "text",
    [
        "12 Oak Street, Springfield, IL 62704",
        "West Virginia and virginia, NEW YORK, New Yorker, Kansas, Arkansas",
        "\u212aansas City, MO 64101",  # Kelvin sign: no ASCII prefilter
        "Rua São Paulo 5, Oregon",
        "no state here",
    ],
)
def test_state_spans_equal_per_call_regexes(text: str) -> None:
    assert _state_spans(text) == _slow_state_spans(text)


def test_engine_import_does_not_load_presidio_analyzer() -> None:
    code = (
        "import sys\n"
        "import pipeline.deid.engine\n"
        "heavy = [m for m in ('presidio_analyzer', 'spacy', 'transformers') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "from presidio_analyzer.llm_utils.azure_auth_helper import get_azure_credential\n"
        "print('ok')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "ok"
