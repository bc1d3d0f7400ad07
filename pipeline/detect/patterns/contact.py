"""Contact identifiers: phone, fax, email, URL, IP address (Safe Harbor D, E, F, N, O).

Phones: North American formats (``(201) 555-0100``, ``201-555-0100``, ``201/555/0100``,
``+1 201 555 0100``, with extensions), international ``+`` numbers, grouped numbers with a trunk
``0`` (``07700 900 123``), and, after a phone keyword ("tel", "cell#", "pager", "beeper", "x"),
any digit groups, including 4-5 digit pager numbers and extensions. A phone is a FAX when "fax" or
"f:" is right before it (or "fax" right after it).
"""

from __future__ import annotations

import re

from pipeline.detect.patterns.clinical import in_number_chain, unit_follows
from pipeline.detect.patterns.context import after, before
from pipeline.detect.patterns.engine import Handler, Hit, PatternSpec
from pipeline.detect.taxonomy import Category
from pipeline.detect.validators import ipv4_ok, ipv6_ok

_FAX_BEFORE = re.compile(r"(?:\bfax|facsimile|\bf\s?:|\bfx)[^a-z0-9]{0,6}$")
# "fax" right after a number labels it, unless another number follows ("..., fax: 201-...").
_FAX_AFTER = re.compile(r"[^a-z0-9]{0,3}(?:fax|\(fax\))\b(?![\s:#.]*[\d(+])")
# A 4-digit line number ends at a word boundary or runs straight into an extension ("x036").
_END = r"\d{4}(?:\s{0,2}(?:x|ext\.?|extension)\s{0,2}\d{1,6}\b|\b)"
_DECIMAL_SAFE = re.compile(r"\(?\d{2,4}\)?(?:\.\d{2,4})+")


def phone_label(text: str, start: int, end: int) -> Category:
    """Return FAX when fax context surrounds the number, PHONE otherwise."""
    # Every _FAX_BEFORE match holds an "f" and every _FAX_AFTER match "fax": a substring test
    # rules out most windows before the (costlier) regex search.
    lead = before(text, start, 16)
    if "f" in lead and _FAX_BEFORE.search(lead):
        return Category.FAX
    tail = after(text, end, 16)
    if "fax" in tail and _FAX_AFTER.match(tail):
        return Category.FAX
    return Category.PHONE


def _digit_count(value: str) -> int:
    return sum(map(str.isdigit, value))


_RANGE = re.compile(r"(\d+)\s?-\s?(\d+)")


def looks_like_range(value: str) -> bool:
    """Return whether ``value`` reads as an ascending numeric range ("930-1000", "15-20").

    A phone's second group is unrelated to its first; a range's upper bound is a little above
    its lower bound.
    """
    found = _RANGE.fullmatch(value)
    if found is None or found.group(2).startswith("0"):
        return False
    low, high = int(found.group(1)), int(found.group(2))
    return low < high <= 2.5 * low


def _phone_handler(score: float, min_digits: int, max_digits: int) -> Handler:
    """Build a handler accepting phone candidates with ``min_digits``-``max_digits`` digits."""

    def handle(text: str, start: int, end: int) -> Hit | None:
        n = _digit_count(text[start:end])
        if not (min_digits <= n <= max_digits) or in_number_chain(text, start, end):
            return None
        if unit_follows(text, end) or looks_like_range(text[start:end]):
            return None
        return start, end, phone_label(text, start, end), score

    return handle


# What follows a phone keyword: filler, then a number made of digit groups.
_NUMBER_AFTER = re.compile(
    r"[\s:#.=\-]{0,4}(?:(?:is|at|on|me|us|no|number|num|nr|#|de|x|ext)\.?[\s:#.=\-]{0,3}){0,3}"
    r"(\+?\s?\(?\d[\d().\- ]{2,22}\d|\d{4,6})"
)


def _number_at(text: str, pos: int) -> Hit | None:
    """The phone number starting (after filler) at ``pos``, or ``None``."""
    found = _NUMBER_AFTER.match(text, pos, min(len(text), pos + 48))
    if found is None:
        return None
    value = found.group(1).rstrip(" -.(")
    n_start = found.start(1)
    n_end = n_start + len(value)
    if value.count("(") != value.count(")"):
        value = value.strip("()")
        n_start = text.index(value, n_start)
        n_end = n_start + len(value)
    n = _digit_count(value)
    if not (4 <= n <= 15) or (n_end < len(text) and text[n_end].isalnum()):
        return None
    if "." in value and _DECIMAL_SAFE.fullmatch(value) is None:
        return None  # "ph 7.352", "x 2.5": a measurement
    if unit_follows(text, n_end) or looks_like_range(value):
        return None
    score = 0.85 if n >= 7 else 0.6
    return n_start, n_end, phone_label(text, n_start, n_end), score


# Between the numbers of a list: "900 100 200 / 900 100 201", "... y 956 013 060".
_LIST_SEPARATOR = re.compile(r"\s{0,2}(?:/|,|;|-|\by\b|\bor\b|\band\b|\bo\b)\s{0,2}(?=[+(\d])")


def _phone_after_keyword(text: str, start: int, end: int) -> list[Hit] | None:
    """The number after "tel", "cell#", "pager", "beeper", "x", "fax" ...

    Further numbers of a list ("Tel: 900 100 200 / 900 100 201 y 900 100 202") are returned
    too, at most four in all, each at least seven characters long.
    """
    first = _number_at(text, end)
    if first is None:
        return None
    hits = [first]
    while len(hits) < 4:
        tail = hits[-1][1]
        sep = _LIST_SEPARATOR.match(text, tail, min(len(text), tail + 8))
        nxt = _number_at(text, sep.end()) if sep else None
        if nxt is None or nxt[1] - nxt[0] < 7:
            break
        hits.append(nxt)
    return hits


_PHONE_WORDS = r"(?:office|mobile|cell|home|work|fax|desk|tel|phone|landline|pager)"
_TRAILING_WORD = re.compile(r"[\s,(\\-]*" + _PHONE_WORDS + r"$", re.IGNORECASE)


def _grouped_before_phone_word(text: str, start: int, end: int) -> Hit | None:
    """Digit groups followed by a phone word ("416 60 039 office", "... -Fax")."""
    word = _TRAILING_WORD.search(text, start, end)
    if word is None:
        return None
    end = word.start()
    value = text[start:end]
    n = _digit_count(value)
    if not (7 <= n <= 15) or in_number_chain(text, start, end) or looks_like_range(value):
        return None
    return start, end, phone_label(text, start, end), 0.7


def _parenthesized_digits(text: str, start: int, end: int) -> Hit | None:
    """Digit groups in parentheses holding a phone number's 10-11 digits ("(301 273 45166)").

    A number that long, grouped and set apart in parentheses, is a phone number however its
    groups are cut; lab values and settings are shorter. The span excludes the parentheses.
    """
    if not 10 <= _digit_count(text[start:end]) <= 11:
        return None
    return start + 1, end - 1, phone_label(text, start + 1, end - 1), 0.7


def _email(text: str, start: int, end: int) -> Hit | None:
    if end - start > 254:
        return None  # longer than any deliverable address (RFC 5321)
    local, _, domain = text[start:end].partition("@")
    if not local.strip(".") or ".." in domain or domain.startswith(("-", ".")):
        return None
    return start, end, Category.EMAIL, 0.95


_URL_TAIL = re.compile(r"[^\s<>\"'`{}|\\^\[\]]{0,2048}")


_SCHEME_OR_WWW = re.compile(r"(?:https?|s?ftp)://|www\.", re.IGNORECASE)
# Country codes that are also words or clinical shorthand ("noted.no", "malacia.Pt"): a bare
# domain ending in one needs a path or a second dot to count.
_WEAK_TLDS = frozenset(
    (
        "no", "pt", "at", "be", "in", "it", "me", "us", "is", "co", "tv", "ai", "cat", "dev",
        "app", "med", "es", "de", "ca", "ly", "eu", "nl", "ie", "gr", "si", "cy", "il", "hk",
        "sg", "ch", "se", "fi", "pl", "dk", "au", "nz", "jp", "cn", "br", "mx", "ar", "ru",
        "za", "kr", "tw", "cz", "hu", "int", "mil", "uk", "fr"
    )
)  # fmt: skip


def _bare_domain_ok(text: str, start: int, stop: int) -> bool:
    """Return whether a host without scheme or ``www.`` is convincing enough to be a URL."""
    host, slash, _path = text[start:stop].partition("/")
    labels = host.split(".")
    if any(label.isdigit() for label in labels) or len(labels[0]) < 2:
        return False
    if labels[-1].lower() not in _WEAK_TLDS:
        return True
    return bool(slash) or (len(labels) >= 3 and len(labels[-2]) <= 3)


def _url(text: str, start: int, end: int) -> Hit | None:
    """Extend a scheme, ``www.`` or known-TLD host match over the rest of the URL."""
    if end - start > 255 or (start > 0 and (text[start - 1] in "@." or text[start - 1].isalnum())):
        return None  # the domain of an email address, or part of a longer token
    tail = _URL_TAIL.match(text, end)
    stop = tail.end() if tail else end
    while stop > end and text[stop - 1] in ".,;:!?)'\"":
        stop -= 1
    if stop < len(text) and text[stop] == "@":
        return None
    if stop - start <= len("http://") and text[start:stop].endswith("//"):
        return None
    if not _SCHEME_OR_WWW.match(text, start, start + 8) and not _bare_domain_ok(text, start, stop):
        return None
    return start, stop, Category.URL, 0.9


def _ipv4(text: str, start: int, end: int) -> Hit | None:
    if in_number_chain(text, start, end) or not ipv4_ok(text[start:end]):
        return None
    return start, end, Category.IP, 0.85


def _ipv6(text: str, start: int, end: int) -> Hit | None:
    value = text[start:end]
    if len(value) < 6 or (start > 0 and (text[start - 1].isalnum() or text[start - 1] == ":")):
        return None
    while value and not ipv6_ok(value):
        # The leftmost-longest candidate may have swallowed a trailing ":" or group.
        cut = value.rfind(":")
        if cut <= 0:
            return None
        value = value[:cut]
    if len(value) < 6 or value.count(":") < 2:
        return None
    return start, start + len(value), Category.IP, 0.85


_STRONG_TLD = r"(?:com|org|net|edu|gov|info|biz|io|health)"
_WEAK_TLD = "(?:" + "|".join(sorted(_WEAK_TLDS)) + ")"
_TLD = f"(?:{_STRONG_TLD[3:-1]}|{_WEAK_TLD[3:-1]})"

SPECS: tuple[PatternSpec, ...] = (
    PatternSpec(
        "phone_nanp_pattern.v1",
        (
            rf"(?:\+?1[\s.-]{{0,2}})?\(\d{{3}}\)[\s.-]{{0,2}}\d{{3}}[\s.-]{{0,2}}{_END}",
            rf"(?:\+?1[\s.-]{{1,2}})?\b\d{{3}}[\s./-]{{1,2}}\d{{3}}[\s./-]{{1,2}}{_END}",
            rf"(?:\+?1[\s.-]{{1,2}})?\b\d{{3}}-{_END}",
        ),
        (Category.PHONE, Category.FAX),
        _phone_handler(0.8, 7, 17),
        max_len=48,
    ),
    PatternSpec(
        "phone_intl_pattern.v1",
        (
            r"\+\d{1,3}(?:[\s.-]{0,2}\(0?\d{0,4}\))?(?:[\s.-]{0,2}\d{1,5}){2,6}"
            r"(?:x\d{1,6})?\b",
            r"\(0\d{0,4}\)\s{0,2}\d{2,5}(?:[\s.-]\d{2,5}){1,3}\b",
            r"\b0\d{1,4}(?:[\s.-]\d{2,5}){2,4}\b",
            r"\b0\d{2,4}[\s.-]\d{6,8}\b",  # trunk 0, area code, one subscriber group
        ),
        (Category.PHONE, Category.FAX),
        _phone_handler(0.75, 8, 15),
        max_len=48,
    ),
    PatternSpec(
        "phone_context.v1",
        (
            r"\b(?:tel|tel[eé]fono|telephone|phone|cell|cellular|mobile|m[oó]vil|tfno|tlfno|tlf|"
            r"telf|pager|beeper|bpr|pgr|pg|fax|facsimile|contact|call|ext|x|reached\s{1,2}at|desk|office|"
            r"landline|answering\s{1,2}at|text|sms|whatsapp|dial)\b",
            r"\b(?:ph|home|work|h|w|c|m|f)\s?[:#]",
            # "my number is 699 956 915", "her phone number: ..."
            r"\b(?:my|your|his|her|their|our)\s{1,2}(?:(?:phone|mobile|cell|contact)\s{1,2})?"
            r"(?:number|no\.)",
        ),
        (Category.PHONE, Category.FAX),
        _phone_after_keyword,
        keyword=True,
    ),
    PatternSpec(
        "phone_grouped_pattern.v1",
        (
            rf"\b\d{{2,4}}(?:[ .-]\d{{2,6}}){{1,4}}[\s,(\\-]{{1,3}}{_PHONE_WORDS}\b",
            rf"\b\d{{7,15}}[\s,(\\-]{{1,3}}{_PHONE_WORDS}\b",
            rf"\(\d{{2,4}}\)\s?\d{{2,4}}(?:[ .-]\d{{2,6}}){{1,3}}[\s,(\\-]{{1,3}}{_PHONE_WORDS}\b",
        ),
        (Category.PHONE, Category.FAX),
        _grouped_before_phone_word,
        max_len=64,
    ),
    PatternSpec(
        "phone_parenthesized_pattern.v1",
        (r"\(\d{2,6}(?:[ -]\d{2,6}){1,3}\)",),
        (Category.PHONE, Category.FAX),
        _parenthesized_digits,
        max_len=32,
        # The last group and the closing parenthesis: a far cheaper scan than the whole run
        # from the (frequent) opening parenthesis, and every match ends with it.
        anchors=(r"[ -]\d{2,6}\)",),
    ),
    PatternSpec(
        "email_pattern.v1",
        (r"\b[a-z0-9à-öø-ÿ._%+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,24}\b",),
        (Category.EMAIL,),
        _email,
        max_len=200,
        anchors=(r"@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,24}\b",),
    ),
    PatternSpec(
        "url_pattern.v1",
        (
            r"\b(?:https?|s?ftp)://[a-z0-9]",
            r"\bwww\.[a-z0-9-]{1,63}\.[a-z]",
            rf"\b[a-z0-9-]+(?:\.[a-z0-9-]+)*\.{_TLD}\b",
        ),
        (Category.URL,),
        _url,
        max_len=160,
        anchors=(
            r"\b(?:https?|s?ftp)://[a-z0-9]",
            r"\bwww\.[a-z0-9-]{1,63}\.[a-z]",
            # Anchors of bare domains: a strong TLD, or a weak one (a word in many languages)
            # followed by a path or preceded by a short second level ("example.co.uk").
            rf"\.{_STRONG_TLD}\b|\.{_WEAK_TLD}/|\.[a-z]{{2,3}}\.{_WEAK_TLD}\b",
        ),
    ),
    PatternSpec(
        "ipv4_pattern.v1",
        (r"\b\d{1,3}(?:\.\d{1,3}){3}\b",),
        (Category.IP,),
        _ipv4,
        max_len=48,
    ),
    PatternSpec(
        "ipv6_pattern.v1",
        (r"(?:\b[0-9a-f]{1,4}|::)(?::[0-9a-f]{0,4}){2,7}(?::\d{1,3}(?:\.\d{1,3}){3})?",),
        (Category.IP,),
        _ipv6,
    ),
)
