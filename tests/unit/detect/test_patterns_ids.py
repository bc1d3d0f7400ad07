"""Structured and context-keyed identifiers: positives next to near misses (synthetic values)."""

from __future__ import annotations

import pytest

from pipeline.detect.taxonomy import Category
from tests.support.pattern_tier import found, tier

POSITIVES = [
    ("SSN 123-45-6789 on file", "123-45-6789", Category.SSN),
    ("social security number 123 45 6789", "123 45 6789", Category.SSN),
    ("ssn: 123456789", "123456789", Category.SSN),
    ("MRN: 00123456", "00123456", Category.MRN),
    ("medical record number A-7654321", "A-7654321", Category.MRN),
    ("NHC: 2906854.", "2906854", Category.MRN),
    ("Member ID: XJH123456789", "XJH123456789", Category.HEALTH_PLAN),
    ("policy # 55 12345678 90.", "55 12345678 90", Category.HEALTH_PLAN),
    ("MBI 1EG4-TE5-MK73 active", "1EG4-TE5-MK73", Category.HEALTH_PLAN),
    ("card 4111 1111 1111 1111 expired", "4111 1111 1111 1111", Category.ACCOUNT),
    ("IBAN GB82 WEST 1234 5698 7654 32 please", "GB82 WEST 1234 5698 7654 32", Category.ACCOUNT),
    ("acct # 00098765432", "00098765432", Category.ACCOUNT),
    ("routing 011000015", "011000015", Category.ACCOUNT),
    ("license number D1234-56789", "D1234-56789", Category.LICENSE),
    ("DEA AB1234563 on the script", "AB1234563", Category.LICENSE),
    ("prescriber AB1234563", "AB1234563", Category.LICENSE),
    ("NPI 1234567893", "1234567893", Category.LICENSE),
    ("NºCol: 28 28 12345.", "28 28 12345", Category.LICENSE),
    ("VIN 1HGCM82633A004352", "1HGCM82633A004352", Category.VEHICLE),
    ("car 1HGCM82633A004352 towed", "1HGCM82633A004352", Category.VEHICLE),
    ("license plate 7ABC123", "7ABC123", Category.VEHICLE),
    ("pacemaker serial number PJN123456", "PJN123456", Category.DEVICE),
    ("S/N: 88-44X-1203", "88-44X-1203", Category.DEVICE),
    ("UDI (01)00844588003288(17)141120(10)7654321D", "(01)00844588003288(17)141120(10)7654321D",
     Category.DEVICE),
    ("fingerprint id FP-20931", "FP-20931", Category.BIOMETRIC),
    ("voiceprint VP77120 enrolled", "VP77120", Category.BIOMETRIC),
    ("photo IMG_2041 attached", "IMG_2041", Category.PHOTO),
    ("see face_2041.jpg", "face_2041.jpg", Category.PHOTO),
    ("claim number CLM-448812", "CLM-448812", Category.OTHER_ID),
    ("Episodio: 4767839.", "4767839", Category.OTHER_ID),
    ("per policy #rg17, done", "rg17", Category.OTHER_ID),
]  # fmt: skip


@pytest.mark.parametrize(("text", "value", "label"), POSITIVES)
def test_identifier_positive(text: str, value: str, label: Category) -> None:
    assert value in found(text, label)


NEGATIVES = [
    ("SSN 000-12-3456", Category.SSN),  # invalid area
    ("call 912-34-5678", Category.SSN),  # area 9xx
    ("Ref 123 45 6789 mm", Category.SSN),  # spaced needs SSN context
    ("ref 4111 1111 1111 1112", Category.ACCOUNT),  # Luhn fails and no card/account context
    ("IBAN GB82 WEST 1234 5698 7654 33", Category.ACCOUNT),  # mod-97 fails
    ("vent A/C 600x12, 40%", Category.ACCOUNT),
    ("1HGCM82623A004352", Category.VEHICLE),  # check digit fails, no context
    ("AB1234564 signed", Category.LICENSE),  # DEA check digit fails
    ("ID: 98.9 po", Category.OTHER_ID),  # temperature in the ID (infectious disease) section
    ("ID consult recs", Category.OTHER_ID),
    ("foley #20fr placed", Category.OTHER_ID),
    ("PA # 35/18, CVP 8", Category.OTHER_ID),
    ("problem #2: sepsis", Category.OTHER_ID),
    ("MRN pending", Category.MRN),
    ("license expired", Category.LICENSE),
    ("image quality poor", Category.PHOTO),
]


@pytest.mark.parametrize(("text", "label"), NEGATIVES)
def test_identifier_negative(text: str, label: Category) -> None:
    assert found(text, label) == set()


def test_license_plate_is_vehicle_not_license() -> None:
    text = "license plate 7ABC123"
    assert found(text, Category.LICENSE) == set()


def test_validated_scores_higher_than_context_only() -> None:
    valid = [s for s in tier().find("NPI 1234567893") if s.label is Category.LICENSE]
    invalid = [s for s in tier().find("NPI 1234567890") if s.label is Category.LICENSE]
    assert valid and invalid and valid[0].score > invalid[0].score


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Employee ID nº 4471-22 on file.", "4471-22"),
        ("Badge id: AB-12345 issued.", "AB-12345"),
    ],
)
def test_keyword_code_after_filler_is_found(text: str, value: str) -> None:
    assert value in found(text, Category.OTHER_ID)


@pytest.mark.parametrize(
    "text",
    [
        "ID: Pt's WBC 12.3 today, afebrile.",  # a section header, then prose
        "ID: afebrile, cultures pending since 10am.",
    ],
)
def test_keyword_without_reachable_code_is_not_flagged(text: str) -> None:
    assert found(text, Category.OTHER_ID) == set()
