"""Structured identifiers: SSN, MRN, health plan, account, licence, vehicle, device and others.

Covered: SSN, MRN, health plan / MBI, account / card / IBAN / ABA, licence / DEA / NPI, vehicle
VIN / plate, device serial / UDI, biometric, photo and other IDs.

Two kinds of pattern: self-describing formats validated by check digits or format rules (SSN
ranges, Luhn, IBAN mod-97, VIN, DEA, MBI, GS1 UDI), and context-keyed codes, where a keyword
("MRN", "policy #", "serial", "VIN", "fingerprint", "ID") is the Hyperscan pattern and the
code-like token after it (see :func:`~pipeline.detect.patterns.context.code_after`) is the span.
"""

from __future__ import annotations

from collections.abc import Callable

from pipeline.detect.patterns.clinical import in_number_chain
from pipeline.detect.patterns.context import before, keyword_handler
from pipeline.detect.patterns.context import keywords as _kw
from pipeline.detect.patterns.engine import Handler, Hit, PatternSpec
from pipeline.detect.taxonomy import Category
from pipeline.detect.validators import (
    aba_ok,
    card_ok,
    dea_ok,
    iban_ok,
    mbi_ok,
    npi_ok,
    ssn_ok,
    vin_ok,
)

_SSN_WORDS = ("ssn", "social security", "soc sec", "ss#", "ss #", "seguridad social")


def _ssn(text: str, start: int, end: int) -> Hit | None:
    value = text[start:end]
    if in_number_chain(text, start, end) or not ssn_ok(value):
        return None
    cued = any(w in before(text, start, 32) for w in _SSN_WORDS)
    if " " in value:
        return (start, end, Category.SSN, 0.9) if cued else None
    return start, end, Category.SSN, 0.95 if cued else 0.8


def _card(text: str, start: int, end: int) -> Hit | None:
    if in_number_chain(text, start, end):
        return None
    value = text[start:end]
    # The longest match may have taken in a following number ("4111 ... 1111 12 Elm St"):
    # drop trailing groups until the checksum holds (at most a few tries).
    for _ in range(3):
        if card_ok(value):
            return start, start + len(value), Category.ACCOUNT, 0.9
        cut = max(value.rfind(" "), value.rfind("-"))
        if cut < 12:
            return None
        value = value[:cut]
    return None


def _iban(text: str, start: int, end: int) -> Hit | None:
    value = text[start:end]
    # The longest match may have swallowed a following upper-case word: drop groups from the
    # end until the checksum holds (at most a handful of tries).
    for _ in range(4):
        if iban_ok(value):
            return start, start + len(value), Category.ACCOUNT, 0.95
        cut = value.rfind(" ")
        if cut < 15:
            return None
        value = value[:cut]
    return None


def _simple(label: Category, score: float, check: Callable[[str], bool]) -> Handler:
    def handle(text: str, start: int, end: int) -> Hit | None:
        if in_number_chain(text, start, end) or not check(text[start:end]):
            return None
        return start, end, label, score

    return handle


def _bounded(label: Category, score: float, max_len: int) -> Handler:
    """Accept a match as is, unless it is longer than any real value of its kind."""

    def handle(text: str, start: int, end: int) -> Hit | None:
        return (start, end, label, score) if end - start <= max_len else None

    return handle


_MBI_A = "[AC-HJKMNP-RT-Y]"
_MBI_N = "[AC-HJKMNP-RT-Y0-9]"

SPECS: tuple[PatternSpec, ...] = (
    PatternSpec(
        "ssn_pattern.v1",
        (r"\b\d{3}-\d{2}-\d{4}\b", r"\b\d{3} \d{2} \d{4}\b"),
        (Category.SSN,),
        _ssn,
        max_len=16,
    ),
    PatternSpec(
        "ssn_context.v1",
        (_kw("ssn", r"ss\s?#", r"soc(?:ial)?\.?\s{1,2}sec(?:urity)?\.?"),),
        (Category.SSN,),
        keyword_handler(
            Category.SSN, 0.0, min_digits=9, spaced=True, validator=ssn_ok, validated_score=0.95
        ),
        keyword=True,
    ),
    PatternSpec(
        "card_pattern.v1",
        (r"\b\d{4}(?:[ -]?\d{2,4}){2,4}\b",),
        (Category.ACCOUNT,),
        _card,
        max_len=32,
    ),
    PatternSpec(
        "iban_pattern.v1",
        (r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?\b",),
        (Category.ACCOUNT,),
        _iban,
        caseless=False,
        max_len=96,
    ),
    PatternSpec(
        "account_context.v1",
        (
            _kw(
                r"account",
                r"acct\.?",
                r"bank\s{1,2}account",
                "checking",
                "savings",
                r"(?:credit|debit)\s{1,2}card",
                r"card",
                "iban",
                r"cuenta",
                "billing",
            ),
        ),
        (Category.ACCOUNT,),
        keyword_handler(Category.ACCOUNT, 0.75, min_digits=4, min_len=4, spaced=True),
        keyword=True,
    ),
    PatternSpec(
        "aba_context.v1",
        (_kw(r"routing", "aba", "rtn"),),
        (Category.ACCOUNT,),
        keyword_handler(
            Category.ACCOUNT, 0.0, min_digits=9, validator=aba_ok, unvalidated_score=0.6
        ),
        keyword=True,
    ),
    PatternSpec(
        "mbi_pattern.v1",
        (rf"\b[1-9]{_MBI_A}{_MBI_N}\d-?{_MBI_A}{_MBI_N}\d-?{_MBI_A}{{2}}\d{{2}}\b",),
        (Category.HEALTH_PLAN,),
        _simple(Category.HEALTH_PLAN, 0.85, mbi_ok),
        caseless=False,
        max_len=96,
    ),
    PatternSpec(
        "health_plan_context.v1",
        (
            _kw(
                r"member",
                r"subscriber",
                r"policy",
                r"insurance",
                r"health\s{1,2}plan",
                r"medicaid",
                r"medicare",
                "mbi",
                r"beneficiary",
                r"group" + r"\s{1,2}(?:number|no\.?|#)",
                "nass",
                "naf",
                "cip",
                "cipa",
                r"tarjeta\s{1,2}sanitaria",
                r"n[uú]mero\s{1,2}de\s{1,2}(?:la\s{1,2})?seguridad\s{1,2}social",
            ),
        ),
        (Category.HEALTH_PLAN,),
        keyword_handler(
            Category.HEALTH_PLAN,
            0.8,
            min_digits=3,
            spaced=True,
            validator=mbi_ok,
            validated_score=0.95,
            unvalidated_score=0.8,
        ),
        keyword=True,
    ),
    PatternSpec(
        "mrn_context.v1",
        (
            _kw(
                "mrn",
                r"medical\s{1,2}record",
                r"med\.?\s{1,2}rec\.?",
                r"record" + r"\s{1,2}(?:number|no\.?|#)",
                r"chart" + r"\s{1,2}(?:number|no\.?|#)",
                r"unit" + r"\s{1,2}(?:number|no\.?)",
                r"hospital" + r"\s{1,2}(?:number|no\.?|#)",
                r"(?:patient|pt)\.?\s{1,2}(?:id|number|no\.?|#)",
                "nhc",
                r"historia\s{1,2}cl[ií]nica",
                r"n[uú]mero\s{1,2}de\s{1,2}historia",
            ),
        ),
        (Category.MRN,),
        keyword_handler(Category.MRN, 0.85, min_digits=3, min_len=3, spaced=True),
        keyword=True,
    ),
    PatternSpec(
        "license_context.v1",
        (
            _kw(
                r"licen[cs]e",
                r"lic\.?\s?#",
                r"driver'?s?\s{1,2}licen[cs]e",
                r"passport",
                r"certificate",
                r"n[ºo°]\.?\s?col(?:egiado)?",
                r"colegiado",
                r"state\s{1,2}license",
                r"board\s{1,2}certification",
            ),
            r"\bDL\s?[#:]",
        ),
        (Category.LICENSE,),
        keyword_handler(Category.LICENSE, 0.8, min_digits=3, spaced=True, skip_if_next=("plate",)),
        keyword=True,
    ),
    PatternSpec(
        "dea_context.v1",
        (_kw(r"dea"),),
        (Category.LICENSE,),
        keyword_handler(
            Category.LICENSE, 0.0, min_digits=7, validator=dea_ok, unvalidated_score=0.7
        ),
        keyword=True,
    ),
    PatternSpec(
        "dea_pattern.v1",
        (r"\b[ABCDEFGHJKLMPRSTUX][A-Z9]\d{7}\b",),
        (Category.LICENSE,),
        _simple(Category.LICENSE, 0.75, dea_ok),
        caseless=False,
        max_len=96,
    ),
    PatternSpec(
        "npi_context.v1",
        (_kw(r"npi"),),
        (Category.LICENSE,),
        keyword_handler(
            Category.LICENSE, 0.0, min_digits=10, validator=npi_ok, unvalidated_score=0.6
        ),
        keyword=True,
    ),
    PatternSpec(
        "vin_pattern.v1",
        (r"\b[A-HJ-NPR-Z0-9]{17}\b",),
        (Category.VEHICLE,),
        _simple(Category.VEHICLE, 0.9, vin_ok),
        caseless=False,
        max_len=96,
    ),
    PatternSpec(
        "vehicle_context.v1",
        (
            _kw(
                "vin",
                r"vehicle\s{1,2}(?:id|identification)",
                r"(?:license|licence|number|registration)\s{1,2}plate",
                "plate",
                r"tag\s{1,2}(?:number|no\.?|#)",
                r"registration",
                r"matr[ií]cula",
            ),
        ),
        (Category.VEHICLE,),
        keyword_handler(
            Category.VEHICLE,
            0.8,
            min_digits=1,
            min_len=4,
            spaced=True,
            validator=vin_ok,
            unvalidated_score=0.8,
        ),
        keyword=True,
    ),
    PatternSpec(
        "device_context.v1",
        (
            _kw(
                "serial",
                "s/n",
                r"sn\s?#",
                "udi",
                r"device\s{1,2}(?:id|identifier|serial)",
                r"implant\s{1,2}(?:id|serial)",
                r"lot" + r"\s{1,2}(?:number|no\.?|#)",
                r"n[uú]mero\s{1,2}de\s{1,2}serie",
            ),
        ),
        (Category.DEVICE,),
        keyword_handler(Category.DEVICE, 0.8, min_digits=2, min_len=4),
        keyword=True,
    ),
    PatternSpec(
        "udi_pattern.v1",
        (r"\(01\)\d{14}(?:\(\d{2,4}\)[a-z0-9.-]+)*",),
        (Category.DEVICE,),
        _bounded(Category.DEVICE, 0.9, 120),
        max_len=96,
    ),
    PatternSpec(
        "biometric_context.v1",
        (
            _kw(
                r"finger\s?prints?",
                r"thumb\s?prints?",
                r"palm\s?prints?",
                r"voice\s?prints?",
                r"retina(?:l)?(?:\s{1,2}scan)?",
                r"iris(?:\s{1,2}scan)?",
                r"face\s?(?:print|template|id)",
                "biometrics?",
                r"dna\s{1,2}(?:profile|sample)",
                r"huella(?:\s{1,2}dactilar)?",
            ),
        ),
        (Category.BIOMETRIC,),
        keyword_handler(Category.BIOMETRIC, 0.75, min_digits=1, min_len=3),
        keyword=True,
    ),
    PatternSpec(
        "photo_context.v1",
        (
            _kw(
                "photo(?:graph)?s?",
                "images?",
                "pictures?",
                "headshot",
                "selfie",
                "portrait",
                "mugshot",
                "foto(?:graf[ií]a)?",
                "imagen",
            ),
        ),
        (Category.PHOTO,),
        keyword_handler(Category.PHOTO, 0.55, min_digits=2, min_len=4),
        keyword=True,
    ),
    PatternSpec(
        "photo_file_pattern.v1",
        (r"\b[a-z0-9_-]+\.(?:jpe?g|png|gif|bmp|tiff?|heic|webp)\b",),
        (Category.PHOTO,),
        _bounded(Category.PHOTO, 0.7, 128),
        max_len=128,
        anchors=(r"\.(?:jpe?g|png|gif|bmp|tiff?|heic|webp)\b",),
    ),
    PatternSpec(
        "other_id_context.v1",
        (
            _kw(
                "id",
                "identifier",
                r"identification",
                r"ref(?:erence)?\.?",
                r"(?:case|claim|encounter|visit|accession|specimen|order|requisition)"
                r"\s{1,2}(?:number|no\.?|#|id)",
                "claim",
                "accession",
                "episodio",
                "ticket",
                r"confirmation",
                r"employee",
                "badge",
            ),
        ),
        (Category.OTHER_ID,),
        keyword_handler(Category.OTHER_ID, 0.7, min_digits=2, min_len=3),
        keyword=True,
    ),
    PatternSpec(
        "other_id_hash.v1",
        (r"#",),
        (Category.OTHER_ID,),
        keyword_handler(Category.OTHER_ID, 0.45, min_digits=2, min_len=4),
        keyword=True,
    ),
)
