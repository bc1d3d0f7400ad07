"""Realistic, format-preserving surrogates for every Safe Harbor category.

Every choice is drawn from :meth:`DeidContext.choose`, i.e. from a keyed hash of (scope,
category, normalised value), so the same input gets the same surrogate in every process with the
same key. Values land in ranges reserved for fiction or documentation wherever one exists:
phones 555-01xx (NANP fictional range), e-mail and URLs on example.com/.org/.net (RFC 2606),
IPv4 in 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24 (RFC 5737), IPv6 in 2001:db8::/32
(RFC 3849), SSNs with area 900-999 (never issued as SSNs) and a group outside ITIN groups.
"""

from __future__ import annotations

import re
import string
from functools import cache

from pipeline.deid.context import DeidContext, KeyedRandom, normalise
from pipeline.deid.generalise import ZIP_RE, zip3
from pipeline.deid.lexicon import name_pools, place_pools
from pipeline.deid.names import apply_case, name_surrogate
from pipeline.detect.taxonomy import Category
from pipeline.errors import DeidError

EXAMPLE_DOMAINS = ("example.com", "example.org", "example.net")
DOC_NETS_V4 = ("192.0.2", "198.51.100", "203.0.113")
_UPPER = tuple(string.ascii_uppercase)
_LOWER = tuple(string.ascii_lowercase)


# -- generic format-preserving identifiers -----------------------------------------------------
def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _luhn_fix(digits: str) -> str:
    """Replace the last digit so ``digits`` passes the Luhn check."""
    for last in "0123456789":
        if _luhn_ok(digits[:-1] + last):
            return digits[:-1] + last
    return digits  # unreachable: one of ten check digits always works


_RUN_RE = re.compile(r"\d+|[A-Z]+|[a-z]+")
# Compiled once: the module-level re functions look each pattern up in re's cache per call.
_NON_DIGIT_RE = re.compile(r"\D")
_SPACE_DASH_RE = re.compile(r"\s|-")
_DIGIT_RUN_RE = re.compile(r"\d+")
_LOCAL_PART_RE = re.compile(r"([^A-Za-z0-9]+)")


def shape_preserving(rng: KeyedRandom, text: str) -> str:
    """Same length and character classes: digit->digit, upper->upper, lower->lower, rest kept.

    No run of digits or letters comes out equal to any run of the input (a house number "3"
    never stays "3", and "22 22 1234" does not keep a "22" anywhere).
    """
    out = list(_shape_once(rng, text))
    runs = [(m.start(), m.end(), m.group()) for m in _RUN_RE.finditer(text)]
    values = {run for _, _, run in runs}
    for start, end, run in runs:
        for _ in range(16):
            if "".join(out[start:end]) not in values:
                break
            out[start:end] = _shape_once(rng, run)
    return "".join(out)


def _shape_once(rng: KeyedRandom, text: str) -> str:
    # The draws of rng.digit(nonzero) and rng.choice(_UPPER/_LOWER), spelt out (same draws in
    # the same order): this loop runs once per character of every identifier, and the extra
    # call layer was a large share of its cost.
    below = rng.below
    out = []
    for i, ch in enumerate(text):
        if ch.isdigit():
            leading = i == 0 or not text[i - 1].isdigit()
            out.append(str(1 + below(9)) if leading and ch != "0" else str(below(10)))
        elif ch.isalpha() and ch.isupper():
            out.append(_UPPER[below(len(_UPPER))])
        elif ch.isalpha():
            out.append(_LOWER[below(len(_LOWER))])
        else:
            out.append(ch)
    return "".join(out)


def identifier_surrogate(ctx: DeidContext, label: str, text: str) -> str:
    """MRN, member, account, licence, vehicle, device and other ids: same shape, new value.

    Card-like numbers (13-19 digits) that pass the Luhn check get a Luhn-valid surrogate, so a
    downstream validator treats the surrogate as the same kind of number.
    """
    digits = _NON_DIGIT_RE.sub("", text)
    luhn = 13 <= len(digits) <= 19 and digits == _SPACE_DASH_RE.sub("", text) and _luhn_ok(digits)

    def make(rng: KeyedRandom) -> str:
        value = shape_preserving(rng, text)
        if luhn:
            new_digits = _luhn_fix(_NON_DIGIT_RE.sub("", value))
            it = iter(new_digits)
            value = "".join(next(it) if c.isdigit() else c for c in value)
        return value

    return ctx.choose(label, "id", text, make, check_words=False)


def _fill_digits(template: str, digits: str) -> str:
    """Put ``digits`` into the digit positions of ``template`` (format kept)."""
    it = iter(digits)
    return "".join(next(it, "0") if c.isdigit() else c for c in template)


# -- phone, SSN, IP ----------------------------------------------------------------------------
def phone_surrogate(ctx: DeidContext, label: str, text: str) -> str:
    """A NANP number in the fictional 555-0100..0199 range, in the original's format.

    Numbers laid out otherwise get new digits in their own layout, none of their groups equal
    to a group of the original.
    """
    digits = _NON_DIGIT_RE.sub("", text)

    runs = set(_DIGIT_RUN_RE.findall(text)) - {"1", "555"}

    def make(rng: KeyedRandom) -> str:
        value = _phone_once(rng)
        for _ in range(16):
            # No digit group of the original survives, the fixed 555/01 digits aside.
            new_runs = set(_DIGIT_RUN_RE.findall(value)) - {"1", "555"}
            if not new_runs & runs:
                break
            value = _phone_once(rng)
        return value

    # Only a NANP-shaped number (3-3-4 groups, optionally a leading 1, or one run) gets the
    # fictional 555-01xx form; another layout (French 01.84.17.61.18) would carry the fixed
    # "01" into one of its groups, so it gets new digits in its own layout instead.
    groups = [len(g) for g in _DIGIT_RUN_RE.findall(text)]
    nanp = groups in ([3, 3, 4], [1, 3, 3, 4], [10], [11], [3, 7], [7], [3, 4])

    def _phone_once(rng: KeyedRandom) -> str:
        line = "01" + rng.digit() + rng.digit()
        if not nanp:
            return shape_preserving(rng, text)
        if len(digits) in (10, 11) and (len(digits) == 10 or digits[0] == "1"):
            # Area code: a plausible NPA (2-9, not N11), drawn, since it is geographic.
            while True:
                npa = rng.digit(nonzero=True) + rng.digit() + rng.digit()
                if npa[0] != "1" and npa[1:] != "11":
                    break
            new = ("1" if len(digits) == 11 else "") + npa + "555" + line
            return _fill_digits(text, new)
        if len(digits) == 7:
            return _fill_digits(text, "555" + line)
        return shape_preserving(rng, text)

    return ctx.choose(label, "phone", text, make, check_words=False)


def ssn_surrogate(ctx: DeidContext, text: str) -> str:
    """An SSN with area 900-999 (never issued) and group 01-49 (not an ITIN group)."""
    digits = _NON_DIGIT_RE.sub("", text)
    if len(digits) != 9:
        return identifier_surrogate(ctx, Category.SSN.value, text)

    runs = set(_DIGIT_RUN_RE.findall(text)) | {digits[:3], digits[3:5], digits[5:]}

    def make(rng: KeyedRandom) -> str:
        for _ in range(16):
            area = str(900 + rng.below(100))
            group = f"{1 + rng.below(49):02d}"
            serial = f"{1 + rng.below(9999):04d}"
            # No part of the original (area, group, serial) survives into the surrogate.
            if not {area, group, serial} & runs:
                break
        return _fill_digits(text, area + group + serial)

    return ctx.choose(Category.SSN.value, "ssn", text, make, check_words=False)


def ip_surrogate(ctx: DeidContext, text: str) -> str:
    """IPv4 in the RFC 5737 documentation nets, IPv6 in 2001:db8::/32."""
    if ":" in text:

        def make6(rng: KeyedRandom) -> str:
            groups = [f"{rng.below(0x10000):x}" for _ in range(6)]
            if "::" in text:
                return "2001:db8::" + ":".join(groups[:2])
            return "2001:db8:" + ":".join(groups)

        return ctx.choose(Category.IP.value, "ip6", text, make6, check_words=False)

    # No octet of the original may reappear (a kept "11" or "192" reads as part of it kept).
    octets = set(text.strip().split("."))
    nets = [n for n in DOC_NETS_V4 if not octets & set(n.split("."))] or list(DOC_NETS_V4)

    def make4(rng: KeyedRandom) -> str:
        net = rng.choice(nets)
        last = str(1 + rng.below(254))
        for _ in range(16):
            if last not in octets:
                break
            last = str(1 + rng.below(254))
        return f"{net}.{last}"

    return ctx.choose(Category.IP.value, "ip4", text, make4, check_words=False)


# -- e-mail and URL ----------------------------------------------------------------------------
def _word_like(ctx: DeidContext, rng: KeyedRandom, template: str, first: bool) -> str:
    pools = name_pools()
    for _ in range(16):
        word = rng.choice(pools.first if first else pools.last)
        if len(template) == 1 or normalise(word) not in ctx.input_words:
            break  # never a word of the input ("teresa.garcia@" must not keep "teresa")
    if len(template) == 1:
        word = word[0]
    return apply_case(template, word)


def email_surrogate(ctx: DeidContext, text: str) -> str:
    """``local@domain`` -> name-like local part (separators and digit runs kept) @ example.*."""
    local, _, _domain = text.rpartition("@")
    local = local or text

    parts = _LOCAL_PART_RE.split(local)

    def make(rng: KeyedRandom) -> str:
        out, words = [], 0
        for part in parts:
            if part.isalpha():
                out.append(_word_like(ctx, rng, part, first=words == 0).lower())
                words += 1
            elif part.isalnum():
                out.append(shape_preserving(rng, part).lower())
            else:
                out.append(part)
        return "".join(out) + "@" + rng.choice(EXAMPLE_DOMAINS)

    return ctx.choose(Category.EMAIL.value, "email", text, make, check_words=False)


_URL_RE = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)?(?P<host>[^/?#\s]*)(?P<rest>.*)$")


def url_surrogate(ctx: DeidContext, text: str) -> str:
    """Scheme kept, host -> an example domain (``www.`` kept), path same shape, new value."""
    match = _URL_RE.match(text)
    scheme = match["scheme"] or "" if match else ""
    host = match["host"] if match else text
    rest = match["rest"] if match else ""

    def make(rng: KeyedRandom) -> str:
        www = "www." if host.lower().startswith("www.") else ""
        port = re.search(r":\d+$", host)
        new_host = www + rng.choice(EXAMPLE_DOMAINS) + (port.group() if port else "")
        return scheme + new_host + shape_preserving(rng, rest)

    return ctx.choose(Category.URL.value, "url", text, make, check_words=False)


# -- geography ---------------------------------------------------------------------------------
_GEO_TOKEN_RE = re.compile(r"\d+(?:-\d{4})?|[^\W\d_]+(?:['\u2019.][^\W\d_]+)*\.?")


_STATE_CODE_RE = re.compile(r"\b[A-Z]{2}\b")


@cache
def _state_patterns() -> tuple[tuple[str | None, re.Pattern[str]], ...]:
    """(lower-cased ASCII name, whole-word pattern) of every State, longest first; built once."""
    states = sorted(place_pools().states, key=len, reverse=True)
    return tuple(
        (
            state.lower() if state.isascii() else None,
            re.compile(rf"\b{re.escape(state)}\b", flags=re.IGNORECASE),
        )
        for state in states
    )


def _state_spans(text: str) -> list[tuple[int, int]]:
    pools = place_pools()
    found: list[tuple[int, int]] = []
    # An ASCII text can only match a State whose lower-cased name it contains; other texts
    # try every pattern (Unicode case-insensitive matching is wider than str.lower()).
    lowered = text.lower() if text.isascii() else None
    for state, pattern in _state_patterns():
        if lowered is not None and state is not None and state not in lowered:
            continue
        for m in pattern.finditer(text):
            if not any(a < m.end() and m.start() < b for a, b in found):
                found.append((m.start(), m.end()))
    for m in _STATE_CODE_RE.finditer(text):
        if m.group() in pools.state_codes and not any(
            a < m.end() and m.start() < b for a, b in found
        ):
            found.append((m.start(), m.end()))
    return found


def _new_number(ctx: DeidContext, token: str) -> str:
    """New digits for a house or unit number, unlike any other number of the input if possible.

    (A new "250" for house "125" beside "Suite 250" would read as the suite kept verbatim.)
    Short numbers in number-dense text may have no such candidate; then any new digits do.
    """

    def make(rng: KeyedRandom) -> str:
        return shape_preserving(rng, token)

    try:
        return ctx.choose("GEO", "number", token, make)
    except DeidError:
        return ctx.choose("GEO", "number", token, make, check_words=False)


def _zip3_unlike_input(ctx: DeidContext, token: str) -> str:
    """The ZIP3 form, or ``000`` when those three digits are another number of the input.

    A ZIP3 is what Safe Harbor lets us keep; but three digits that also stand elsewhere in the
    input (an apartment "116" beside ZIP 11600) would read as that value kept verbatim, so
    the stricter ``000`` is used instead, as for the restricted areas.
    """
    short = zip3(token)
    return "000" if short in ctx.input_words else short


def geo_surrogate(
    ctx: DeidContext, text: str, *, zip_mode: str = "zip3", keep_states: bool = True
) -> str:
    """Street addresses, cities, counties, facilities: new place words, same layout.

    Place-kind words (Street, County, Hospital, Apt) stay; States stay when ``keep_states``
    (Safe Harbor removes only subdivisions smaller than a State); ZIP codes follow ``zip_mode``
    (``"zip3"``: the Safe Harbor rule, ``"surrogate"``: a new five-digit code); other numbers
    (house, apartment) get new digits; every other word a fictional place word that occurs
    nowhere in the input.
    """
    pools = place_pools()
    if zip_mode == "zip3" and ZIP_RE.fullmatch(text.strip()):
        return _zip3_unlike_input(ctx, text)
    protected = _state_spans(text) if keep_states else []
    zips = [(m.start(), m.end()) for m in ZIP_RE.finditer(text)]
    out: list[str] = []
    last = 0
    after_words = False  # a ZIP follows the place words; a leading 5-digit number is a house
    for match in _GEO_TOKEN_RE.finditer(text):
        token = match.group()
        out.append(text[last : match.start()])
        last = match.end()
        pos = (match.start(), match.end())
        if protected and any(a <= pos[0] and pos[1] <= b for a, b in protected):
            out.append(token)
        elif token[0].isdigit():
            if pos in zips and zip_mode == "zip3" and after_words:
                out.append(_zip3_unlike_input(ctx, token))
            else:
                out.append(_new_number(ctx, token))
        elif token.casefold() in pools.generic or token.casefold().rstrip(".") in pools.generic:
            after_words = True
            out.append(token)
        else:
            after_words = True
            word = token.rstrip(".")
            new = ctx.choose(
                "GEO", "place", word, lambda r: r.choice(pools.words), fallback=pools.words
            )
            out.append(apply_case(word, new) + token[len(word) :])
    out.append(text[last:])
    result = "".join(out)
    return result if result != text or not any(c.isalnum() for c in text) else "[LOCATION]"


# -- dispatch ----------------------------------------------------------------------------------
def surrogate(
    ctx: DeidContext, label: str, text: str, *, zip_mode: str = "zip3", keep_states: bool = True
) -> str:
    """Return the surrogate of ``text`` detected as ``label`` (a Safe Harbor label)."""
    # A value repeated in one request (propagation adds every mention) gets the surrogate its
    # first mention got; memoising it is exact (see DeidContext.choose) and skips the draws.
    key = ("surrogate", label, text, zip_mode, "1" if keep_states else "")
    found = ctx.memo.get(key)
    if found is None:
        found = ctx.memo[key] = _surrogate(ctx, label, text, zip_mode, keep_states)
    return found


def _surrogate(ctx: DeidContext, label: str, text: str, zip_mode: str, keep_states: bool) -> str:
    if label == Category.NAME:
        return name_surrogate(ctx, text)
    if label == Category.GEO:
        return geo_surrogate(ctx, text, zip_mode=zip_mode, keep_states=keep_states)
    if label in (Category.PHONE, Category.FAX):
        return phone_surrogate(ctx, label, text)
    if label == Category.EMAIL:
        return email_surrogate(ctx, text)
    if label == Category.URL:
        return url_surrogate(ctx, text)
    if label == Category.IP:
        return ip_surrogate(ctx, text)
    if label == Category.SSN:
        return ssn_surrogate(ctx, text)
    if label in (Category.BIOMETRIC, Category.PHOTO, Category.DATE, Category.AGE_OVER_89):
        # No meaningful fake exists (or another operator owns it): a type tag, never the value.
        return f"[{label}]"
    return identifier_surrogate(ctx, label, text)
