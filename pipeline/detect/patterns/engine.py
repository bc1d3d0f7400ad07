"""The Hyperscan engine: every pattern of the tier compiled into one multi-pattern scan.

A scan walks the UTF-8 bytes of a text (linear time, no backtracking) and reports
``(pattern, start, end)`` for every match end; per (pattern, start) only the longest end is kept,
which with ``HS_FLAG_SOM_LEFTMOST`` gives the leftmost-longest match of each pattern at each start.

Start-of-match tracking is costly for patterns that may start almost anywhere (an email's local
part, a street name). Those patterns (``max_len`` > 0) are compiled without ``SOM_LEFTMOST``
(often as a cheaper anchor expression) into the same database as the start-tracked patterns and
the keywords, so the text is scanned once; each (rare) match end is then re-scanned with a
one-pattern SOM database over the ``max_len`` bytes before it to find its leftmost start (all
such windows of one pattern are joined and scanned in one call). Both passes are linear, and the
text is still read by Hyperscan only.

Offsets are mapped back to ``str`` indices; for ASCII text (the common case) they are equal and no
map is built.
"""

from __future__ import annotations

import re
import threading
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

import hyperscan

from pipeline.detect.taxonomy import Category
from pipeline.errors import ConfigError, DetectionError

#: A validated hit: (start, end, label, score) in ``str`` offsets.
Hit = tuple[int, int, Category, float]
#: Turns a raw match ``text[start:end]`` into a hit (or several, for a keyword followed by a
#: list of values), or rejects it (``None``).
Handler = Callable[[str, int, int], Hit | list[Hit] | None]

CASELESS = hyperscan.HS_FLAG_CASELESS
_SOM = hyperscan.HS_FLAG_SOM_LEFTMOST | hyperscan.HS_FLAG_UTF8
# How a match of an expression is handled: its start tracked by Hyperscan, a keyword (the
# handler reads what follows its end), or an end confirmed in a window re-scan.
_TRACKED, _KEYWORD, _WINDOW = 0, 1, 2


@dataclass(frozen=True)
class PatternSpec:
    """One named pattern of the tier.

    Attributes:
        name: registered-style ``"<name>.vN"``; becomes :attr:`Span.recognizer`.
        regexes: Hyperscan expressions (PCRE subset: no look-around, no back-references).
        categories: every label the handler can emit (for the coverage record).
        handler: validates one raw match and returns the final span, or ``None``.
        caseless: compile with ``HS_FLAG_CASELESS``.
        max_len: 0 to track match starts in the main scan; otherwise the longest match (in
            bytes) worth reporting, and starts are recovered by re-scanning that many bytes
            before each match end (for patterns whose start tracking is expensive).
        keyword: the pattern is a keyword whose handler reads what follows it; no start is
            tracked and the handler gets ``start == end``.
        anchors: with ``max_len``, one cheap expression per regex scanned in place of the full
            one (the street type of an address, the ``@domain`` of an email); each anchor hit is
            confirmed by the full regex over a window around it.
        ahead: how far (bytes) a full match may extend past its anchor's end ("Apt 3").
        needs_digit: every full match holds a number token within a few words of the anchor
            (before it, or after it for ``ahead`` patterns); an anchor hit without one is
            dropped before the (costlier) confirming scan ("in place", "close monitoring").
    """

    name: str
    regexes: tuple[str, ...]
    categories: tuple[Category, ...]
    handler: Handler = field(repr=False, compare=False)
    caseless: bool = True
    max_len: int = 0
    keyword: bool = False
    anchors: tuple[str, ...] = ()
    ahead: int = 0
    needs_digit: bool = False


class PatternEngine:
    """One compiled Hyperscan database over a list of :class:`PatternSpec`.

    Scratch space is per thread (Hyperscan scratch must not be shared by concurrent scans).
    """

    def __init__(self, specs: Sequence[PatternSpec]) -> None:
        """Compile ``specs`` into one database (plus one small window database per windowed regex).

        Raises:
            ConfigError: an expression does not compile for Hyperscan.
        """
        self.specs: tuple[PatternSpec, ...] = tuple(specs)
        owners: list[int] = []
        expressions: list[tuple[int, bytes, int]] = []
        kinds: list[int] = []
        self._window: dict[int, tuple[int, int, hyperscan.Database, bool]] = {}
        for index, spec in enumerate(self.specs):
            case = CASELESS if spec.caseless else 0
            if spec.anchors and len(spec.anchors) != len(spec.regexes):
                raise ConfigError(f"pattern {spec.name}: one anchor per regex is required")
            for i, regex in enumerate(spec.regexes):
                expr = len(owners)
                owners.append(index)
                raw = regex.encode("utf-8")
                kinds.append(_KEYWORD if spec.keyword else _WINDOW if spec.max_len else _TRACKED)
                if spec.keyword:
                    expressions.append((expr, raw, hyperscan.HS_FLAG_UTF8 | case))
                elif spec.max_len:
                    anchor = spec.anchors[i].encode("utf-8") if spec.anchors else raw
                    expressions.append((expr, anchor, hyperscan.HS_FLAG_UTF8 | case))
                    full = _compile(((expr, raw, _SOM | case),))
                    self._window[expr] = (spec.max_len, spec.ahead, full, spec.needs_digit)
                else:
                    expressions.append((expr, raw, _SOM | case))
        self._owner: tuple[int, ...] = tuple(owners)
        self._kind: tuple[int, ...] = tuple(kinds)
        # One database for every expression: start-tracked and start-free expressions mix in
        # one scan (a second pass over the text cost more than the start tracking it saved).
        self._db = _compile(tuple(expressions)) if expressions else None
        self._local = threading.local()

    def _scratch(self, db: hyperscan.Database) -> hyperscan.Scratch:
        """Per-thread, per-database scratch (Hyperscan scratch must not be shared)."""
        cache: dict[int, hyperscan.Scratch] | None = getattr(self._local, "scratch", None)
        if cache is None:
            cache = {}
            self._local.scratch = cache
        scratch = cache.get(id(db))
        if scratch is None:
            scratch = hyperscan.Scratch(db)
            cache[id(db)] = scratch
        return scratch

    def scan(self, text: str) -> list[tuple[int, int, int]]:
        """Return ``(spec index, start, end)`` candidates in ``str`` offsets.

        For each (expression, start) only the longest match is kept; candidates of different
        expressions of one spec may overlap.

        Raises:
            DetectionError: Hyperscan failed (the message names no text).
        """
        if not text:
            return []
        # Lone surrogates cannot be UTF-8 encoded; "replace" writes one byte per such
        # character, which keeps the byte <-> character map below exact.
        data = text.encode("utf-8", "replace")
        best: dict[tuple[int, int], int] = {}
        get = best.get
        kind = self._kind
        # Match ends of the windowed expressions that matched (a few of the dozens per text).
        pending: dict[int, list[int]] = {}
        pending_get = pending.get

        # Called once per match, in C's scan loop: the cheapest dispatch wins here.
        def on_match(expr: int, start: int, end: int, _flags: int, _ctx: object) -> None:
            k = kind[expr]
            if k == _TRACKED:
                key = (expr, start)
                if end > get(key, -1):
                    best[key] = end
            elif k == _KEYWORD:
                best[(expr, end)] = end
            else:
                ends = pending_get(expr)
                if ends is None:
                    pending[expr] = [end]
                else:
                    ends.append(end)

        try:
            if self._db is not None:
                self._db.scan(data, match_event_handler=on_match, scratch=self._scratch(self._db))
            # In expression order, as the windows were compiled (the order ``best`` fills in).
            for expr in sorted(pending):
                self._recover_starts(data, expr, pending[expr], best)
        except hyperscan.HyperscanError as exc:
            raise DetectionError(f"hyperscan scan failed: {type(exc).__name__}") from exc
        owner = self._owner
        if len(data) == len(text):
            return [(owner[expr], start, end) for (expr, start), end in best.items()]
        to_char = _offset_map(data, {o for key, end in best.items() for o in (key[1], end)})
        return [(owner[expr], to_char[start], to_char[end]) for (expr, start), end in best.items()]

    def _recover_starts(
        self, data: bytes, expr: int, ends: list[int], best: dict[tuple[int, int], int]
    ) -> None:
        """Confirm fast-pass hits of ``expr`` with the full regex, each in a bounded window.

        Without ``ahead`` a full match must end exactly at a hit's end (and start at most
        ``max_len`` before it) and its leftmost start is kept; with ``ahead`` (an anchor inside
        the match) it must overlap the hit's end and its leftmost start and longest end are
        kept. Overlapping windows are merged, and all of them are joined with NUL bytes (which
        no pattern matches) and scanned in one call: the per-call cost of a scan dwarfs
        scanning a few hundred bytes.
        """
        max_len, ahead, db, needs_digit = self._window[expr]
        # The anchor opens the match when the window reaches further ahead than back.
        number_after = ahead > max_len
        size = len(data)
        cuts: list[int] = []
        segments: list[list[int]] = []  # merged [low, high) windows in ``data``
        for end in sorted(ends) if len(ends) > 1 else ends:
            if needs_digit and not _number_token_near(data, end, after=number_after):
                continue
            low = end - max_len if end > max_len else 0
            high = end + ahead if end + ahead < size else size
            # Widen to UTF-8 character boundaries so each window is valid UTF-8.
            while low > 0 and 0x80 <= data[low] < 0xC0:
                low -= 1
            while high < size and 0x80 <= data[high] < 0xC0:
                high += 1
            cuts.append(end)
            if segments and low <= segments[-1][1]:
                if high > segments[-1][1]:
                    segments[-1][1] = high
            else:
                segments.append([low, high])
        if not cuts:
            return
        cut_set = set(cuts)
        found: dict[int, tuple[int, int]] = {}  # cut -> (start, -stop), absolute offsets

        def keep(cut: int, start: int, stop: int) -> None:
            seen = found.get(cut)
            if seen is None or (start, -stop) < seen:
                found[cut] = (start, -stop)

        def record(start: int, stop: int) -> None:
            """Keep a match (absolute offsets) for each cut it may have started before."""
            if not ahead:
                if stop in cut_set and stop - start <= max_len:
                    keep(stop, start, stop)
                return
            for j in range(bisect_right(cuts, start), bisect_right(cuts, stop)):
                cut = cuts[j]
                if cut - start <= max_len and stop - cut <= ahead:
                    keep(cut, start, stop)

        if len(segments) == 1:
            # One window (the common case): a match's offsets are shifted by its start.
            shift = segments[0][0]
            joined = data[shift : segments[0][1]]

            def on_match(_expr: int, start: int, stop: int, _flags: int, _ctx: object) -> None:
                record(start + shift, stop + shift)

        else:
            bases: list[int] = []  # offset of each segment in the joined buffer
            offset = 0
            for low, high in segments:
                bases.append(offset)
                offset += high - low + 1

            def on_match(_expr: int, start: int, stop: int, _flags: int, _ctx: object) -> None:
                i = bisect_right(bases, start) - 1
                shift = segments[i][0] - bases[i]
                record(start + shift, stop + shift)

            joined = b"\0".join([data[low:high] for low, high in segments])
        db.scan(joined, match_event_handler=on_match, scratch=self._scratch(db))
        for start, neg_stop in found.values():
            key = (expr, start)
            if -neg_stop > best.get(key, -1):
                best[key] = -neg_stop


def _number_token_near(data: bytes, end: int, *, after: bool) -> bool:
    """Return whether a token starting with a digit lies within a few words of ``end``.

    After ``end``: one of the first 8 whitespace-separated tokens of the next 96 bytes; before
    it: one of the last 5 tokens of the 80 bytes before, read reversed (a token that starts with
    a digit ends with one once reversed). One anchored regex match either way.
    """
    if after:
        return _DIGIT_TOKEN_AHEAD.match(data, end, end + 96) is not None
    return _DIGIT_TOKEN_BEHIND.match(data[max(0, end - 80) : end][::-1]) is not None


_DIGIT_TOKEN_AHEAD = re.compile(rb"\s*(?:\S+\s+){0,7}[0-9]")
_DIGIT_TOKEN_BEHIND = re.compile(rb"\s*(?:\S+\s+){0,4}\S*[0-9](?:\s|\Z)")


# Every byte value except UTF-8 continuation bytes (0x80-0xBF): deleting them from a slice
# leaves only its continuation bytes, whose count is the slice's bytes-minus-characters.
_NOT_CONTINUATION = bytes(b for b in range(256) if not 0x80 <= b < 0xC0)


def _offset_map(data: bytes, offsets: set[int]) -> dict[int, int]:
    """Map byte offsets (on character boundaries) of UTF-8 ``data`` to character offsets.

    A character offset is the byte offset less the continuation bytes before it; the sorted
    offsets are walked once, so the cost is linear in ``len(data)``.
    """
    result: dict[int, int] = {}
    previous = 0
    continuation = 0
    for offset in sorted(offsets):
        continuation += len(data[previous:offset].translate(None, _NOT_CONTINUATION))
        previous = offset
        result[offset] = offset - continuation
    return result


@lru_cache(maxsize=256)
def _compile(expressions: tuple[tuple[int, bytes, int], ...]) -> hyperscan.Database:
    """Compile ``(id, expression, flags)`` triples (cached per process: compiling is slow)."""
    db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        db.compile(
            expressions=[e for _, e, _ in expressions],
            ids=[i for i, _, _ in expressions],
            elements=len(expressions),
            flags=[f for _, _, f in expressions],
        )
    except hyperscan.HyperscanError as exc:
        raise ConfigError(f"pattern tier: hyperscan compile failed: {exc}") from exc
    return db
