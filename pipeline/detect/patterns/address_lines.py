"""Address lines: the grammar that joins a street line with the lines completing an address.

Once a street line is found (see :mod:`pipeline.detect.patterns.address`), :func:`compose` walks
what follows it one component at a time: a unit ("Apt. 4"), a military ``APO AE 09876`` line, a
place (city, district, state, country), a region code, a postal code (US, UK, Canadian, Dutch,
Swedish, Polish and plain 3-6 digit shapes). Each component is parsed by a short regex or a word
loop over a bounded window (never more than :data:`MAX_TAIL` characters past the street line), so
the cost does not depend on the text's length. Field labels ("E-mail:", "Tel") end an address.
"""

from __future__ import annotations

import re

from pipeline.detect.patterns.clinical import unit_follows

#: Farthest an address may run past its street line (characters).
MAX_TAIL = 200
#: Most components (unit, city, region, postal code, country) joined after a street line.
MAX_COMPONENTS = 7
# Most unit designators in one address ("Suite 697 Apt. 397").
_MAX_UNITS = 2

# A word of a street or place name, in any script: a letter, then letters, apostrophes, dots,
# dashes ("Þorsteinsgata", "O'Brien", "St.", "Saint-Denis").
WORD = r"[^\W\d_][^\W\d_'\u2019.\-]*(?:['\u2019.\-][^\W\d_]+)*\.?"
NUMBER = r"\d{1,5}[A-Za-z]?(?![\w])\.?"
_WORD_TOKEN = re.compile(WORD + ",?")
_NUM_TOKEN = re.compile(r"\d{1,5}[A-Za-z]?\.?")
_HOUSE_TOKEN = re.compile(r"\d{1,6}")
TOKEN = re.compile(r"\S+")


def street_back(text: str, low: int, end: int, *, number_last: bool = True) -> int | None:
    """Start of the street line that ends at ``end`` (read backwards, tokens only).

    With ``number_last`` the line ends in its number ("Rua do Arenque 1634", "28245 Puruntie
    82"): one to five words, and a house number before them if there is one. Otherwise it is
    number first ("12 Oak Ln"). ``text[low:end]`` is one line; tokens are whitespace-separated,
    so the cost is linear in the (bounded) window.
    """
    tokens = [(m.start(), m.group()) for m in TOKEN.finditer(text, low, end)]
    i = len(tokens) - 1
    if number_last:
        if i < 1 or _NUM_TOKEN.fullmatch(tokens[i][1]) is None:
            return None
        i -= 1
    start = None
    for _ in range(5):
        if i < 0 or _WORD_TOKEN.fullmatch(tokens[i][1]) is None:
            break
        start = tokens[i][0]
        i -= 1
    if start is None:
        return None
    house = i >= 0 and _HOUSE_TOKEN.fullmatch(tokens[i][1]) is not None
    if house and not (i >= 1 and tokens[i - 1][1].isdigit()):
        return tokens[i][0]
    return start if number_last else None


LEAD_NUMBER = re.compile(r"(?<![\w.,/:-])\d{1,6}[ \t]+\Z")

# Components after a street line.
#: What may open an address line in a list: indentation, a quote mark or a bullet ("• ", "* ",
#: "- ", or the "?" a bullet becomes when its encoding is lost). Only read after a line break.
LINE_PREFIX = "[ \t>\u2022\u00b7*?-]{0,8}"
_SEP = re.compile(r"[ \t]{0,4}(?:,[ \t]{0,4})?(?:\r?\n" + LINE_PREFIX + r"){0,2}(?:,[ \t]{0,4})?")
_UNIT = re.compile(
    r"(?:(?:apt|apartment|suite|ste|unit|flat|fl|floor|room|rm|bldg|building|box|no)\b\.?|#)"
    r"[ \t]{0,2}#?[ \t]{0,2}(?:\d[A-Za-z0-9-]{0,5}|[A-Za-z](?:-?\d{1,4})?)(?![\w])",
    re.IGNORECASE,
)
_MILITARY_LINE = re.compile(
    r"(?:APO|FPO|DPO)[ \t]{1,2}(?:AA|AE|AP)[ \t]{1,2}\d{5}(?![\w])", re.IGNORECASE
)
POSTAL = (
    r"(?:[A-Z]{1,2}\d[A-Z\d]?[ ]?\d[A-Z]{2}"  # UK: SW1A 1AA
    r"|[A-Z]\d[A-Z][ ]?\d[A-Z]\d"  # Canada: K1A 0B1
    r"|\d{4}[ ]?[A-Z]{2}(?![^\W\d_])"  # Netherlands: 1234 AB
    r"|\d{3}[ ]\d{2}(?!\d)"  # Sweden, Czechia: 114 55
    r"|\d{2,5}-\d{3,4}"  # Poland 00-950, Portugal 1000-001, Japan 100-0001, ZIP+4
    r"|\d{3,6})(?![\w-])"
)
_POSTAL = re.compile(POSTAL)
_POSTAL_NEXT = re.compile(r"[ \t,]{0,3}(?:\r?\n[ \t]{0,8})?" + POSTAL)
_REGION = re.compile(r"(?:[A-Za-z]{2,3}|\d{1,2})(?![\w])")
_WORD = re.compile(WORD + r"|\([^\W\d_][^\W\d_ .'-]{0,20}\)")
CONNECTORS = frozenset(
    (
        "de", "del", "la", "las", "los", "el", "do", "da", "dos", "das", "di", "du", "des", "le",
        "les", "von", "van", "der", "den", "am", "an", "im", "upon", "on", "sur", "y", "e", "i",
        "and", "&", "of", "the", "st", "st.", "della", "delle", "dello", "degli", "dei",
        # Czech, Slovak, Slovene place names: "Ostrov nad Ohri", "Vrh pri Dobu", "Ust nad Labem".
        "nad", "pod", "pri", "na", "ob", "u", "v",
    )
)  # fmt: skip
# Lower-case words that end an address rather than name a region ("..., and the corner").
_NOT_REGION = frozenset(("and", "or", "the", "for", "but", "to", "at", "in", "on", "is", "was"))
_CLINICAL = frozenset(
    (
        "mg", "mcg", "ml", "units", "unit", "dose", "doses", "hours", "days", "times", "cc",
        "bolus", "tabs", "tab", "puffs", "liters", "drops", "pt", "patient", "bed", "room",
        "weeks", "months", "years", "hr", "hrs", "min", "mins", "x",
    )
)  # fmt: skip


def _after_number(text: str, pos: int) -> bool:
    """Whether another digit group ends right before ``pos`` ("4111 1111 12 Elm St")."""
    return pos >= 2 and text[pos - 1] in " \t" and text[pos - 2].isdigit()


def lead_start(text: str, start: int) -> int:
    """Extend ``start`` over one or two house-number groups right before it ("9554 62 Rue ...").

    A longer chain of digit groups ("4111 1111 1111 12 Elm St") is some other number: then
    nothing is taken.
    """
    pos = start
    for _ in range(2):
        lead = LEAD_NUMBER.search(text, max(0, pos - 10), pos)
        if lead is None:
            break
        pos = lead.start()
    if pos < start and _after_number(text, pos):
        return start
    return pos


def is_lower_style(value: str) -> bool:
    """Whether an address is written in lower case throughout ("0605 main st apt. 9")."""
    return value == value.lower()


# Field labels that follow an address on the same line ("28001 Madrid E-mail: ...").
_LABELS = frozenset(
    (
        "email", "e-mail", "mail", "tel", "tel.", "tfno", "tfno.", "tlf", "tlf.", "telf", "fax",
        "phone", "mobile", "cp", "nhc", "web", "url", "attn", "c/o", "correo",
    )
)  # fmt: skip
_COLON = re.compile(r"[ \t]{0,2}:")
_BLANK = re.compile(r"[ \t]{1,2}")
#: Longest word read by a look-ahead (labels, place words): keeps every read bounded.
_WORD_WINDOW = 64
# A label of up to three words before its colon ("Correo electrónico:", "Phone number:").
_LABEL_TAIL = re.compile(r"(?:[ \t]{1,2}[^\W\d_A-Z][^\W\d_]*){0,2}[ \t]{0,2}:")


def is_label(text: str, word: re.Match[str]) -> bool:
    """Whether a word is a field label ("E-mail", "Phone:") rather than part of a place."""
    value = word.group()
    if value.lower() in _LABELS:
        return True
    tail = _LABEL_TAIL.match(text, word.end(), word.end() + _WORD_WINDOW)
    return not value.endswith(".") and tail is not None


def place(text: str, pos: int, stop: int, lower_ok: bool) -> int | None:
    """A city, district, state or country name of one to five words starting at ``pos``."""
    end = None
    i = pos
    for n in range(5):
        word = _WORD.match(text, i, stop)
        if word is None or is_label(text, word):
            break
        value = word.group()
        low = value.lower()
        if word.end() < len(text) and text[word.end()].isdigit():
            break  # "NW1 6XE": a postal code, not a place word
        if n == 0 and not (value[0].isupper() or value[0] == "(" or lower_ok):
            return None
        if low in _CLINICAL:
            return None
        if not (value[0].isupper() or value[0] == "(" or lower_ok or low in CONNECTORS):
            break
        if low not in CONNECTORS or (
            len(value) == 1 and value.isupper() and ends_field(text, word.end())
        ):
            end = word.end()  # "Kobenhavn V": a capital letter ending the field is no connector
        i = word.end()
        if value.endswith(".") and len(value) > 4:
            break  # "... Poland. It serves": a full stop ends the place
        gap = _BLANK.match(text, i, stop)
        if gap is None:
            break
        i = gap.end()
    return end


# After "Suite 215 Springfield Australia", a lower-case word: the sentence goes on.
_SENTENCE_GOES_ON = re.compile(r"[ \t][a-z]")
_FIELD_END = re.compile(r"[ \t]{0,8}(?:[,\r\n]|\Z|[.?!;:)\"'](?![^\W_]))")


def ends_field(text: str, pos: int) -> bool:
    """Whether a component ending at ``pos`` ends a field (line, comma, sentence, text)."""
    if _FIELD_END.match(text, pos) is not None:
        return True
    gap = _BLANK.match(text, pos)
    nxt = gap.end() if gap else pos
    word = _WORD.match(text, nxt, nxt + _WORD_WINDOW)
    if word is not None and is_label(text, word):
        return True
    if _POSTAL.match(text, nxt) is not None:
        return True
    region = _REGION.match(text, nxt)
    return (
        region is not None
        and not region.group().islower()
        and _COLON.match(text, region.end()) is None
    )


def compose(text: str, start: int, end: int, *, kind: str = "street") -> tuple[int, int]:
    """Extend a street line ``text[start:end]`` over the address lines that complete it.

    Backwards: a house number written before the line ("28245 Puruntie 82"). Forwards, each
    separated by spaces, a comma or at most two line breaks: unit designators, military
    ``APO AE 12345`` lines, place names (city, state, country), region codes and postal codes.
    A place name on the same line needs a comma, or a unit or postal code before it.

    Args:
        text: the whole text (only ``MAX_TAIL`` characters after ``end`` are read).
        start: where the street line (or unit, or PO box) starts.
        end: where it ends.
        kind: ``"street"``, or ``"unit"`` when the span so far ends with a unit designator.

    Returns:
        The extended ``(start, end)``.
    """
    start = lead_start(text, start)
    lower_ok = is_lower_style(text[start:end])
    stop = min(len(text), end + MAX_TAIL)
    previous = kind
    units = 1 if kind == "unit" else 0
    for _ in range(MAX_COMPONENTS):
        sep = _SEP.match(text, end, stop)
        if sep is None:
            break
        gap = sep.group()
        pos = sep.end()
        new_field = "," in gap or "\n" in gap
        if not gap and previous != "postal":
            break
        found = _UNIT.match(text, pos, stop)
        if found is not None and not unit_follows(text, found.end()):
            units += 1
            if units > _MAX_UNITS:
                break  # "Apt 1, Apt 1, ...": no address has more units than this
            end, previous = found.end(), "unit"
            continue
        found = _MILITARY_LINE.match(text, pos, stop)
        if found is not None:
            end = found.end()
            break  # "APO AE 09876" ends a military address
        found = _POSTAL.match(text, pos, stop)
        if (
            found is not None
            and (
                new_field
                or previous in ("place", "region", "unit")
                or place(text, found.end() + 1, stop, lower_ok) is not None
            )
            and not unit_follows(text, found.end())
        ):
            end, previous = found.end(), "postal"
            continue
        found = _REGION.match(text, pos, stop)
        if found is not None and _COLON.match(text, found.end()) is not None:
            break  # "CP:", "Tel:": a label starts the next field
        if found is not None and previous in ("place", "street") and new_field:
            value = found.group()
            postal_next = _POSTAL_NEXT.match(text, found.end(), min(stop, found.end() + 16))
            lower = value.islower()
            shaped = value.isupper() or value.isdigit() or (lower and lower_ok) or postal_next
            if shaped and value not in _NOT_REGION and (not value.isdigit() or postal_next):
                end, previous = found.end(), "region"
                continue
        if new_field or previous in ("unit", "postal"):
            place_end = place(text, pos, stop, lower_ok)
            if place_end is not None and (
                ends_field(text, place_end)
                or (
                    (not new_field or (previous == "place" and "\n" not in gap))
                    and _SENTENCE_GOES_ON.match(text, place_end)
                )
            ):
                end, previous = place_end, "place"
                continue
        if previous == "place" and not new_field:
            found = _REGION.match(text, pos, stop)
            if (
                found is not None
                and found.group() not in _NOT_REGION
                and ends_field(text, found.end())
            ):
                end, previous = found.end(), "region"
                continue
        break
    return start, trim_period(text, start, end)


def trim_period(text: str, start: int, end: int) -> int:
    """Drop a sentence's full stop from the end ("... Tampere."), keeping "St." and "19."."""
    if end - start < 2 or text[end - 1] != ".":
        return end
    words = text[start : end - 1].split()
    word = words[-1] if words else ""
    if word.isdigit():
        # Hungarian house numbers carry a dot ("Kossuth u. 12."); elsewhere it ends a sentence.
        hungarian = any(w.lower() in ("u.", "utca", "tér", "út", "körút") for w in words)
        return end if hungarian else end - 1
    return end if len(word) <= 3 else end - 1


def clinical_line(value: str) -> bool:
    """Whether a candidate street line holds a dose, count or clinical word."""
    return any(w.strip(".,").lower() in _CLINICAL for w in value.split())


def line_start(text: str, pos: int, width: int = 80) -> int:
    """Start of the line holding ``pos`` (at most ``width`` characters back)."""
    low = max(0, pos - width)
    cut = text.rfind("\n", low, pos)
    return low if cut < 0 else cut + 1
