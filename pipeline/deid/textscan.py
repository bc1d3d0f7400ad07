r"""Whole-word literal search without compiling a regex per value.

Propagation and the leak gate's verbatim check look for detected values again at word
boundaries. Doing that with ``re.finditer(rf"(?<!\w){re.escape(value)}(?!\w)")`` compiles a
new pattern for every value of every record (a cache miss each time, and the pattern cache would
hold PHI). :func:`word_matches` gives exactly the same matches with ``str.find`` and a boundary
check, falling back to the regex only where case folding is not plain ASCII lowering.
"""

from __future__ import annotations

import re
from collections.abc import Iterator


def is_word_char(char: str) -> bool:
    r"""True for what ``\w`` matches in a ``str`` pattern (alphanumerics and the underscore)."""
    return char.isalnum() or char == "_"


def _regex_matches(text: str, needle: str, ignore_case: bool) -> Iterator[tuple[int, int]]:
    flags = re.IGNORECASE if ignore_case else 0
    for m in re.finditer(rf"(?<!\w){re.escape(needle)}(?!\w)", text, flags):
        yield m.start(), m.end()


def word_matches(
    text: str, needle: str, *, ignore_case: bool = False, lowered: str | None = None
) -> Iterator[tuple[int, int]]:
    r"""Yield ``(start, end)`` of each whole-word occurrence of ``needle`` in ``text``.

    The matches are those of ``re.finditer(rf"(?<!\w){re.escape(needle)}(?!\w)", text)`` (with
    ``re.IGNORECASE`` when ``ignore_case``): left to right, non-overlapping, and a rejected
    position moves the search on by one character, as the regex engine does.

    Args:
        text: where to search.
        needle: the literal value.
        ignore_case: match regardless of case.
        lowered: ``text.lower()``, when the caller already has it (searching many needles).
    """
    # Everything up to the first occurrence is worked out here, eagerly: most needles occur
    # nowhere, and then no generator is made at all.
    if not needle:
        return _regex_matches(text, needle, ignore_case)
    if ignore_case:
        if not (text.isascii() and needle.isascii()):
            # Unicode case-insensitive matching is not str.lower() (the Kelvin sign matches
            # "k"); leave those texts to the regex engine.
            return _regex_matches(text, needle, ignore_case)
        hay = lowered if lowered is not None else text.lower()
        needle = needle.lower()
    else:
        hay = text
    pos = hay.find(needle)
    if pos < 0:
        return iter(())
    return _scan(text, hay, needle, pos)


def _scan(text: str, hay: str, needle: str, pos: int) -> Iterator[tuple[int, int]]:
    """Whole-word occurrences of ``needle`` in ``hay`` (``text`` or its lower case) from ``pos``.

    ``pos`` is the first occurrence; a rejected one moves the search on by one character.
    """
    size, length = len(needle), len(text)
    while pos >= 0:
        end = pos + size
        # is_word_char, inlined (it runs twice per candidate position).
        before = text[pos - 1] if pos else ""
        after = text[end] if end < length else ""
        if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
            yield pos, end
            pos = hay.find(needle, end)
        else:
            pos = hay.find(needle, pos + 1)
