"""Address grammar: international street lines, and the lines that complete an address.

A street address is written in many shapes: ``12 Oak Street``, ``Puruntie 82`` (the street type
is a suffix of the name in Finnish, German, Scandinavian or Dutch), ``Via Roma 71``,
``62 Rue Gafsa``, ``Piroska u. 97.``, military ``PSC 1234, Box 5678``. Once a street line is found,
the lines that follow it and complete the address (a unit, a city, a region code, a postal code,
a country) are joined into one GEO span by
:func:`~pipeline.detect.patterns.address_lines.compose`.

Hyperscan finds the anchors (a street-type suffix or prefix followed by a number, a unit
designator, an address keyword, a military address); the handlers here read the line around the
anchor in Python.
"""

from __future__ import annotations

import re

from pipeline.detect.patterns.address_lines import (
    CONNECTORS,
    NUMBER,
    TOKEN,
    WORD,
    clinical_line,
    compose,
    ends_field,
    is_label,
    is_lower_style,
    lead_start,
    line_start,
    place,
    street_back,
    trim_period,
)
from pipeline.detect.patterns.clinical import unit_follows
from pipeline.detect.patterns.engine import Hit, PatternSpec
from pipeline.detect.taxonomy import Category

# Street types written as the END of the street name (one word: "Hauptstrasse 5", "Puruntie 82")
# or as a separate word after it ("Villacher Strasse 89", "Erzsebet ter 19.").
STREET_SUFFIXES = (
    # German, Austrian, Swiss
    "strasse", "straße", "gasse", "weg", "platz", "allee", "damm", "ufer", "graben", "steig",
    # Dutch, Flemish
    "straat", "laan", "plein", "gracht", "kade", "singel", "steeg", "dreef", "hove",
    # Swedish, Danish, Norwegian, Icelandic
    "gatan", "gata", "vägen", "gränd", "torget", "gade", "vej", "vænget", "stræde", "plads",
    "veien", "vegen", "gate", "stræti", "straeti", "braut", "vegur", "terrasse",
    # Finnish, Estonian
    "tie", "katu", "kuja", "polku", "tori", "kaari", "väylä", "rinne", "puiestee", "tänav",
    # Hungarian, Polish, Czech, Slovene, Croatian, Turkish
    "utca", "körút", "út", "útja", "tér", "ulica", "ulice", "náměstí", "cesta", "trg", "caddesi",
    "sokak",
)  # fmt: skip
# Street types written BEFORE the name ("Via Roma 71", "62 Rue Gafsa", "ul. Mila 53").
STREET_PREFIXES = (
    "via", "viale", "vicolo", "piazza", "piazzale", "corso", "largo", "strada", "rua",
    "travessa", "praça", "praca", "alameda", "rue", "chemin", "allée", "impasse", "quai",
    "avenue", "boulevard", "calle", "avenida", "avda", "paseo", "camino", "ulica", "ul.",
    "aleja", "al.", "calea", "bulevardul", "odos", "leoforos",
)  # fmt: skip
# Prefixes that are also common English or clinical words ("via PEG", "al."): these need more
# evidence than a title-case name (a house number, a following address line, a keyword).
_WEAK_PREFIXES = frozenset(("via", "largo", "corso", "strada", "al.", "place", "quai", "camino"))
_PREFIX_SET = frozenset(STREET_PREFIXES)
_WEAK_SUFFIXES = frozenset(("tie", "gate", "weg", "hove", "kade", "cesta", "tori", "steig"))

_LOWER_WORD = re.compile(r"[a-z][^\W\d]*[ \t]+")


def _skip_lower_words(text: str, start: int, end: int) -> int:
    """Drop the lower-case words a backwards read took in before the name ("is on Villa...")."""
    if is_lower_style(text[start:end]):
        return start
    while (word := _LOWER_WORD.match(text, start, end)) is not None:
        start = word.end()
    return start


_NUMBER_REST = re.compile(r"\d{0,4}[A-Za-z]?(?![\w])\.?")


def _attached_type_start(text: str, start: int, end: int) -> int:
    """For a compound street word ("Hauptstrasse 17"), the line starts at that word.

    A separate type word ("Villacher Strasse 89") keeps the name words before it.
    """
    words = text[start:end].split()
    name = [w for w in words if not w[:1].isdigit()]
    if len(name) < 2 or words[0].isdigit():
        return start  # "03751 Gerrit Achterberghove 137": a house number opens the line
    last = name[-1].lower().rstrip(".,")
    if last in STREET_SUFFIXES or last == "u":
        return start
    tokens = text[start:end].split()
    if len(tokens) < 2:
        return start
    return text.rindex(tokens[-2], start, end)


def _typed_street(text: str, _start: int, end: int) -> Hit | None:
    """A street-type suffix or separate type word followed by the number ("Puruntie 82").

    The keyword match ends at the number's first digit: the number is read forwards, the line
    backwards from its end.
    """
    number = _NUMBER_REST.match(text, end, min(len(text), end + 8))
    if number is None:
        return None
    end = number.end()
    found = street_back(text, line_start(text, end), end)
    if found is None:
        return None
    s_start = _skip_lower_words(text, found, end)
    s_start = _attached_type_start(text, s_start, end)
    value = text[s_start:end]
    if clinical_line(value) or unit_follows(text, end):
        return None
    number_first = value[:1].isdigit()
    words = [w for w in value.split() if not w[:1].isdigit()]
    if not words:
        return None
    name = words[-1].lower().rstrip(".,")
    weak = any(name.endswith(s) for s in _WEAK_SUFFIXES) and len(words) == 1
    title = words[0][:1].isupper()
    c_start, c_end = compose(text, s_start, end)
    evidence = number_first or c_start < s_start or c_end > end
    if not (title or evidence) or (weak and not evidence):
        return None
    return c_start, c_end, Category.GEO, 0.85 if evidence else 0.7


_TYPE_WORD = re.compile(r"[^\W\d_]+\.?\Z")
_NAME_WORD = re.compile(WORD)
_NUMBER_AFTER_NAME = re.compile(rf",?[ \t]{{0,2}}{NUMBER}")
_TYPE_GAP = re.compile(r"[ \t]{1,2}")


def _prefixed_street(text: str, _start: int, end: int) -> Hit | None:
    """A street type before the name: ``Via Roma 71``, ``62 Rue Gafsa``, ``ul. Mila 53``.

    The keyword match ends one or two characters into the name; the type word is read back
    from there, the name (title-case words and connectors) and its number forwards.
    """
    # Back to the space after the type (over a connector: "Rue de Rivoli").
    floor = max(0, end - 48)  # the anchor is short: every read back stays in this window
    name_start = end - 1
    while name_start > floor and not text[name_start - 1].isspace():
        name_start -= 1
    before = name_start
    while before > floor and text[before - 1] in " \t":
        before -= 1
    word_start = before
    while word_start > floor and not text[word_start - 1].isspace():
        word_start -= 1
    if before > word_start and text[word_start:before].lower() in CONNECTORS:
        name_start = word_start
    type_end = name_start
    while type_end > floor and text[type_end - 1] in " \t":
        type_end -= 1
    typed = _TYPE_WORD.search(text, max(0, type_end - 16), type_end)
    if typed is None or typed.group().lower() not in _PREFIX_SET:
        return None
    t_start = typed.start()
    s_start = lead_start(text, t_start)
    lead = s_start < t_start
    # A house number before the type is evidence enough for a lower-case name.
    lower_ok = lead or is_lower_style(text[t_start : min(len(text), end + 40)])
    pos = name_start
    name_end: int | None = None
    stop = min(len(text), end + 80)
    weak = typed.group().lower() in _WEAK_PREFIXES
    for _ in range(5):
        word = _NAME_WORD.match(text, pos, stop)
        if word is None or is_label(text, word):
            break
        value = word.group()
        if not (value[0].isupper() or lower_ok or value.lower() in CONNECTORS):
            break
        title = value[0].isupper() and not value.isupper()
        if name_end is None and weak and not title and value.lower() not in CONNECTORS:
            return None  # "via td", "VIA OGT": a route, unless the name is title case
        name_end = word.end()
        if value.endswith(".") and len(value) > 4:
            break  # a full stop ends the sentence
        gap = _TYPE_GAP.match(text, name_end, stop)
        if gap is None:
            break
        pos = gap.end()
    if name_end is None:
        return None
    number = _NUMBER_AFTER_NAME.match(text, name_end, stop)
    if number is None and not lead:
        return None  # "via the PEG": a type word with no number at all
    s_end = number.end() if number else name_end
    if clinical_line(text[s_start:s_end]) or unit_follows(text, s_end):
        return None
    c_start, c_end = compose(text, s_start, s_end)
    strong = lead or c_end > s_end or c_start < s_start
    if weak and not strong:
        return None
    if not (text[name_start].isupper() or strong):
        return None
    return c_start, c_end, Category.GEO, 0.85 if strong else 0.75


#: Indentation, quote marks and bullets that may open a line before a unit designator.
_BULLETS = " \t>\u2022\u00b7*?-"


def unit_street(text: str, start: int, end: int) -> Hit | None:
    """A unit designator ("Apt. 864"), joined with the street line before it and what follows.

    The street line is on the same line before the unit, or the whole line above it.
    """
    line = line_start(text, start)
    stop = len(text[line:start].rstrip(" \t,")) + line
    if not text[line:stop].strip(_BULLETS) and line > 0:
        below = line  # the unit's own line holds only a bullet: the street is the line above
        line = line_start(text, line - 1)
        stop = len(text[line:below].rstrip(" \t,\r\n")) + line
    s_start = start
    found = street_back(text, line, stop)
    if found is None:
        found = street_back(text, line, stop, number_last=False)
    if found is not None and not clinical_line(text[found:stop]):
        s_start = found
    if s_start == start:
        c_start, c_end = compose(text, start, end, kind="unit")
        return c_start, c_end, Category.GEO, 0.6 if c_end == end else 0.75
    c_start, c_end = compose(text, s_start, end, kind="unit")
    return c_start, c_end, Category.GEO, 0.85


_AFTER_CUE = re.compile(
    r"[ \t]{0,3}(?:e?s[ \t]{0,3})?[:\-]?[ \t]{0,8}(?:is[ \t]{1,3})?(?:\r?\n[ \t>]{0,8})?"
    r"(?:[^\W\d_][^\W\d_.' -]{0,30}\.?(?:[ \t][^\W\d_][^\W\d_.' -]{0,30}){0,3}"
    r"[ \t]*\r?\n[ \t>]{0,8})?"
)
_TITLE = r"[A-Z\u00c0-\u00d6\u00d8-\u00de\u0100-\u017f][^\W\d_]*(?:['\u2019\-][^\W\d_]+)*\.?"
_CUED_NAME_LINE = re.compile(rf"{_TITLE}(?:[ \t]{_TITLE}){{0,3}},?[ \t]{NUMBER}")
_CUED_LINE = re.compile(rf"\d{{1,6}}[ \t]+(?:{WORD}[ \t]+){{0,4}}{WORD}(?:[ \t]+{NUMBER})?")


def _cued_address(text: str, _start: int, end: int) -> Hit | None:
    """After an address keyword ("address:", "lives at"): a numbered line, then its components.

    One line holding a name ("Billing address: Ann Lee", then "12 ...") may sit between.
    """
    lead = _AFTER_CUE.match(text, end, min(len(text), end + 80))
    pos = lead.end() if lead else end
    found = _CUED_LINE.match(text, pos, min(len(text), pos + 80))
    if found is None:
        # "lives on Elm Grove 50": title-case words, then the number.
        named = _CUED_NAME_LINE.match(text, pos, min(len(text), pos + 80))
        if named is None or clinical_line(named.group()) or unit_follows(text, named.end()):
            return None
        c_start, c_end = compose(text, named.start(), named.end())
        return c_start, c_end, Category.GEO, 0.7
    if clinical_line(found.group()) or unit_follows(text, found.end()):
        return None
    words = found.group().split()
    if words[1][:1].isdigit():
        return None
    l_end = found.end()
    if not is_lower_style(found.group()):
        # Keep the words up to the last title-case word or number ("12 Oak Ln with son").
        keep = len(words)
        while keep > 2 and not (words[keep - 1][:1].isupper() or words[keep - 1][:1].isdigit()):
            keep -= 1
        if not (words[keep - 1][:1].isupper() or words[keep - 1][:1].isdigit()):
            return None
        l_end = found.start() + len(" ".join(words[:keep]))
        if text[found.start() : l_end] != " ".join(words[:keep]):
            l_end = found.end()  # tabs or double spaces: keep the whole line
    c_start, c_end = compose(text, found.start(), l_end)
    return c_start, c_end, Category.GEO, 0.8


def _military(text: str, start: int, end: int) -> Hit | None:
    """``PSC 1234, Box 5678`` / ``Unit 1234 Box 5678``, with its ``APO AE 09876`` line."""
    while end < len(text) and end - start < 48 and text[end].isalpha():
        end += 1  # the ASCII expression stops at a ship name's first accent ("USNS Sekerková")
    c_start, c_end = compose(text, start, end)
    ship = not text[start:end].lower().startswith(("psc", "cmr", "unit"))
    if ship and c_end == end:
        return None  # a ship's name needs its FPO line
    return c_start, c_end, Category.GEO, 0.85 if c_end > end else 0.7


_INTERSECTION = re.compile(
    r"(?P<a>(?:[^\s,;:?!]+[ \t]+){0,5}?[^\s,;:?!]+)[ \t]+(?:and|&)[ \t]+"
    r"(?P<b>[^\W_][\w.'\-]*(?:[ \t]+[^\W_][\w.'\-]*){0,3})"
)
_CORNER = re.compile(r"(?:the[ \t]{1,2})?corner[ \t]{1,2}of[ \t]{1,2}\Z", re.IGNORECASE)


_LINE_NUMBER_END = re.compile(r"(?<![\w.])(\d{1,5}[A-Za-z]?)[ \t]{0,3}\r?\Z")
_POSTAL_DIGITS = re.compile(r"\d{3}")
_LETTER = re.compile(r"[^\W\d_]")


def _numbered_line(text: str, _start: int, end: int) -> Hit | None:
    """A street line without a street type, "<house> <name> <number>", above its address lines.

    ``30102 Kaevu 94`` alone could be anything; followed by lines that hold a place and a postal
    code ("Nicosia", ", NI", "61089") it is the first line of an address. The keyword match
    ends after the line break; the line is read back from there.
    """
    cut = text.rfind("\n", max(0, end - 90), end)
    low = line_start(text, cut)
    number = _LINE_NUMBER_END.search(text, max(low, cut - 12), cut)
    if number is None:
        return None
    s_end = number.end(1)
    found = street_back(text, low, s_end)
    if found is None or not text[found].isdigit() or clinical_line(text[found:s_end]):
        return None
    c_start, c_end = compose(text, found, s_end)
    tail = text[s_end:c_end]
    if _POSTAL_DIGITS.search(tail) is None or _LETTER.search(tail) is None:
        return None  # the lines below must hold a place and a postal code
    return c_start, c_end, Category.GEO, 0.8


_NAME_AFTER_TYPE = re.compile(r"\.?[ \t]{1,2}(?:[A-Z][a-z]|\d)")
_NUMBER_BEFORE_TYPE = re.compile(r"(?<![\w.])(\d{1,5}[A-Za-z]?\.?)[ \t](?:St|st|street|Street)\Z")


_STREET_TOKEN = re.compile(r"\S+")


def _name_back(text: str, low: int, end: int) -> int | None:
    """Start of the street name (and house number) that ends right before ``end``.

    Read back over at most four words: title-case words and connectors, or in a lower-case
    text any words up to a house number ("74678 midtvollen"), which it then needs.
    """
    tokens = list(_STREET_TOKEN.finditer(text, low, end))[-6:]
    lower = is_lower_style(text[low:end])
    start = None
    for words, tok in enumerate(reversed(tokens)):
        value = tok.group()
        if value.isdigit() and len(value) <= 6:
            return tok.start() if words else None  # the house number opens the line
        if words >= 4 or _NAME_WORD.fullmatch(value.rstrip(",")) is None:
            break
        if not (value[0].isupper() or value.lower() in CONNECTORS or lower):
            break
        start = tok.start()
    if start is None or lower:
        return None  # lower-case text: only a house number marks where the name starts
    while text[start : start + 4].lower().split(" ")[0] in CONNECTORS:
        nxt = text.find(" ", start, end)
        if nxt < 0:
            return None
        start = nxt + 1
    return start


def _number_then_type(text: str, _start: int, end: int) -> Hit | None:
    """A street written "<name> <number> St." ("Dalmatinova 68 St.", "Hoge Wei 32 street").

    The keyword match ends after the type word; the number and the name (and a house number
    before it) are read backwards. The type word itself is left out. A title-case name or a
    house number before it is required ("prbc 2 st" is a dose, not a street).
    """
    number = _NUMBER_BEFORE_TYPE.search(text, max(0, end - 16), end)
    if number is None or _NAME_AFTER_TYPE.match(text, end) is not None:
        return None  # "4 St. Louis": a saint's name; "2 Street 4": a count, not an address
    s_end = number.end(1)
    found = _name_back(text, line_start(text, s_end), number.start(1))
    if found is None:
        return None
    value = text[found:s_end]
    if clinical_line(value) or unit_follows(text, s_end):
        return None
    c_start, c_end = compose(text, found, s_end)
    return c_start, c_end, Category.GEO, 0.75


def _intersection(text: str, _start: int, end: int) -> Hit | None:
    """``the corner of Oak Street and 5th Avenue``: both street names, as one span."""
    found = _INTERSECTION.match(text, end, min(len(text), end + 120))
    if found is None:
        return None
    lower_ok = is_lower_style(found.group())
    first = found.group("a").split()
    if not any(w[:1].isupper() or w[:1].isdigit() for w in first) and not lower_ok:
        return None
    if clinical_line(found.group("a")):
        return None
    stop = found.start("b")
    for word in TOKEN.finditer(text, found.start("b"), found.end("b")):
        value = word.group()
        if not (value[:1].isupper() or value[:1].isdigit() or lower_ok):
            break
        stop = word.end()
    if stop == found.start("b"):
        return None
    corner = _CORNER.search(text, max(0, end - 20), end)
    c_start = corner.start() if corner else end
    return c_start, trim_period(text, c_start, stop), Category.GEO, 0.75


def _labelled_place(text: str, _start: int, end: int) -> Hit | None:
    """The place after a form label ("City: Springfield", "Localidad: Tolosa, Gipuzkoa")."""
    gap = _LABEL_GAP.match(text, end, min(len(text), end + 8))
    pos = gap.end() if gap else end
    place_end = place(text, pos, min(len(text), pos + 80), lower_ok=False)
    if place_end is None or not ends_field(text, place_end):
        return None
    c_start, c_end = compose(text, pos, place_end, kind="place")
    return c_start, c_end, Category.GEO, 0.75


_LABEL_GAP = re.compile(r"[ \t]{0,3}(?:[:=][ \t]{0,3})?")


def _alternation(words: tuple[str, ...]) -> str:
    return "|".join(re.escape(w).replace("\\ ", " ") for w in sorted(words, key=len, reverse=True))


SPECS: tuple[PatternSpec, ...] = (
    PatternSpec(
        "street_intl_suffix_pattern.v1",
        (
            # The type ends a word or is a word; the number follows. The handler reads back.
            # The anchor ends at the number's first digit (a short tail keeps the scan cheap).
            rf"(?:{_alternation(STREET_SUFFIXES)})\s{{1,2}}\d",
            r"\bu\.\s{0,2}\d",  # Hungarian "utca" abbreviated: "Kiraly u. 15."
        ),
        (Category.GEO,),
        _typed_street,
        keyword=True,
    ),
    PatternSpec(
        "street_intl_prefix_pattern.v1",
        # The name is title case: "via the PEG", "VIA OGT" never reach Python. (A non-ASCII
        # class here would make the whole scan several times slower.)
        (
            rf"(?i:\b(?:{_alternation(STREET_PREFIXES)}))\s"
            r"(?:[A-Z][a-z]|(?:de|del|da|do|di|du|des|la|le|dos|das|della|delle)\s[A-Z][a-z])",
            # After a house number the name may be lower case ("26 rue des Lilas").
            rf"\d\s(?i:(?:{_alternation(STREET_PREFIXES)}))\s[a-z]",
        ),
        (Category.GEO,),
        _prefixed_street,
        caseless=False,
        keyword=True,
    ),
    PatternSpec(
        "address_keyword.v1",
        (
            r"\b(?:(?:mailing|billing|home|street|postal|shipping|new)\s{1,2})?addresse?s?\b",
            r"\b(?:lives?|living|resides?|residing|located)\s{1,2}(?:at|on)\b",
            r"\b(?:domicilio|direcci[oó]n|adresse|indirizzo|endere[cç]o)\b",
        ),
        (Category.GEO,),
        _cued_address,
        keyword=True,
    ),
    PatternSpec(
        "street_numbered_line.v1",
        # "<house> <name> <number>" ending a line; the handler checks the lines below it.
        (r"\d[ \t]{1,3}[^\s\d][^\n]{0,60}[ \t]\d{1,5}[A-Za-z]?[ \t]{0,3}\r?\n",),
        (Category.GEO,),
        _numbered_line,
        caseless=False,
        keyword=True,
    ),
    PatternSpec(
        "street_number_type_pattern.v1",
        # "Dalmatinova 68 St.": the handler reads the line back from the type word.
        (r"[^\s\d][ \t]\d{1,5}[A-Za-z]?\.?[ \t](?:St|st|street|Street)\b",),
        (Category.GEO,),
        _number_then_type,
        caseless=False,
        keyword=True,
    ),
    PatternSpec(
        "street_intersection_keyword.v1",
        (r"\bcorner\s{1,2}of\s",),
        (Category.GEO,),
        _intersection,
        keyword=True,
    ),
    PatternSpec(
        "place_label.v1",
        (
            r"\b(?:city|town|village|localidad(?:\s{0,2}/\s{0,2}provincia)?|municipio|"
            r"poblaci[oó]n|ciudad|ville|stadt|comune|cidade)\s{0,2}[:=]",
        ),
        (Category.GEO,),
        _labelled_place,
        keyword=True,
    ),
    PatternSpec(
        "military_address_pattern.v1",
        (
            r"\b(?:psc|cmr|unit)\s{1,2}\d{3,5},?\s{1,2}box\s{1,2}\d{1,5}\b",
            r"\b(?:USNS|USNV|USS|USCGC)\s{1,2}[A-Z][a-z]+\b",  # a ship, then its FPO line
        ),
        (Category.GEO,),
        _military,
        max_len=48,
    ),
)
