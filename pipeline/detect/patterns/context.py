"""Keyword windows: what the few characters around a candidate say about it.

Context checks run in Python only on candidates the Hyperscan pass reported, and only over a
short, bounded window (tens of characters), so their cost does not depend on the text's length.
Keyword-keyed identifiers (an MRN after "MRN:", a policy number after "policy #") are found the
other way round: the keyword is a Hyperscan pattern, and :func:`code_after` reads the code-like
token that follows it.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pipeline.detect.patterns.engine import Handler, Hit
from pipeline.detect.taxonomy import Category

#: Characters of context read before a candidate.
WINDOW = 24

# Filler between a keyword and its value: separators and words such as "number", "no.", "is".
_LEAD = re.compile(
    r"[ \t:#=.\-(]{0,4}(?:(?:numbers?|num|nbr|nr|no|n[ºo°]|#|ids?|is|was|code|de|del)"
    r"(?![A-Za-z])\.?[ \t:#=.\-]{0,4}){0,3}",
    re.IGNORECASE,
)
# The value: letters, digits and inner separators ("AB-123456", "nhc-1305469", "X7/44").
_CODE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_]|[-.](?=[A-Za-z0-9])){0,29}")
# Values that are measurements, not codes: decimals ("98.9", "T100.1"), small ranges ("34-40"),
# products ("600x12", "20x2").
_NOT_A_CODE = re.compile(
    r".*\d\.\d|\d{1,3}-\d{1,3}$|\d+[x\u00d7]\d|\d+(?:fr|f|g|cc|ml|mg|cm|mm|french)$", re.IGNORECASE
)
# A necessary condition, checked first because most keyword hits fail it ("ID: Pt's WBC ..."):
# a code holds a digit, and every character before its first digit is filler or code.
_DIGIT_REACHABLE = re.compile(r"[ \t:#=.\-(A-Za-z_º°]*?\d")
# Further digit groups of a spaced number ("78 26957605 67").
_MORE = re.compile(r"(?:[ -]\d{1,10}){1,4}(?![A-Za-z0-9])")


def before(text: str, start: int, width: int = WINDOW) -> str:
    """Return the lower-cased ``width`` characters before ``start``."""
    return text[max(0, start - width) : start].lower()


def after(text: str, end: int, width: int = WINDOW) -> str:
    """Return the lower-cased ``width`` characters from ``end``."""
    return text[end : end + width].lower()


def code_after(
    text: str, end: int, *, min_digits: int = 1, min_len: int = 3, spaced: bool = False
) -> tuple[int, int] | None:
    """Return the span of the code-like token after a keyword ending at ``end``.

    Args:
        text: the whole text (only ``text[end:end+80]`` is read).
        end: where the keyword ends.
        min_digits: fewest digits the code must hold (IDs are mostly numeric; words are not).
        min_len: fewest characters of the code.
        spaced: accept further space- or dash-separated digit groups ("34 56564457 36").

    Returns:
        ``(start, end)`` of the code in ``text`` offsets, or ``None``.
    """
    if _DIGIT_REACHABLE.match(text, end, end + 80) is None:
        return None  # no digit before a character that neither filler nor code may hold
    window = text[end : end + 80]
    lead = _LEAD.match(window)
    pos = lead.end() if lead else 0
    code = _CODE.match(window, pos)
    if code is None:
        return None
    stop = code.end()
    if spaced and code.group().isdigit():
        more = _MORE.match(window, stop)
        if more is not None:
            stop = more.end()
    value = window[pos:stop]
    if len(value) < min_len or sum(map(str.isdigit, value)) < min_digits:
        return None
    if _NOT_A_CODE.match(value) is not None:
        return None
    return end + pos, end + stop


def word_before(window: str, words: re.Pattern[str]) -> bool:
    """Return whether ``words`` matches at the end of the (lower-cased) ``window``."""
    return words.search(window) is not None


def keywords(*words: str) -> str:
    """A caseless keyword alternation bounded by word boundaries.

    Words such as "number", "no.", "#" or "id" after a keyword ("policy no", "member id") are
    not part of the Hyperscan pattern: the handler's filler reads past them, and plain
    alternations keep the scan cheap.
    """
    return r"\b(?:" + "|".join(words) + r")\b"


def keyword_handler(
    label: Category,
    score: float,
    *,
    min_digits: int = 2,
    min_len: int = 3,
    spaced: bool = False,
    validator: Callable[[str], bool] | None = None,
    validated_score: float = 0.95,
    unvalidated_score: float | None = None,
    skip_if_next: tuple[str, ...] = (),
) -> Handler:
    """Build a handler that reads the code after a keyword hit.

    Args:
        label: the category of the code.
        score: score of a code accepted on context alone.
        min_digits: fewest digits in the code.
        min_len: fewest characters in the code.
        spaced: accept spaced digit groups ("28 28 46325").
        validator: a check-digit rule; a passing code scores ``validated_score``.
        validated_score: score when ``validator`` passes.
        unvalidated_score: score when ``validator`` fails (``None``: reject).
        skip_if_next: keyword continuations that mean another category ("license" + "plate").
    """

    def handle(text: str, start: int, end: int) -> Hit | None:
        if skip_if_next and after(text, end, 12).lstrip().startswith(skip_if_next):
            return None
        found = code_after(text, end, min_digits=min_digits, min_len=min_len, spaced=spaced)
        if found is None:
            return None
        c_start, c_end = found
        if validator is None:
            return c_start, c_end, label, score
        if validator(text[c_start:c_end]):
            return c_start, c_end, label, validated_score
        if unvalidated_score is None:
            return None
        return c_start, c_end, label, unvalidated_score

    return handle
