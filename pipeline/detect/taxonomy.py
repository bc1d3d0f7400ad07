"""The HIPAA Safe Harbor taxonomy (45 CFR 164.514(b)(2)(i)(A)-(R)) and Presidio's entity names.

Labels match ``../shared/corpora`` and ``../shared/eval/score.py``. ``AGE_OVER_89`` is the age
part of category C, kept as its own label because its default operator differs from dates'.
"""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    """One Safe Harbor label."""

    NAME = "NAME"
    GEO = "GEO"
    DATE = "DATE"
    AGE_OVER_89 = "AGE_OVER_89"
    PHONE = "PHONE"
    FAX = "FAX"
    EMAIL = "EMAIL"
    SSN = "SSN"
    MRN = "MRN"
    HEALTH_PLAN = "HEALTH_PLAN"
    ACCOUNT = "ACCOUNT"
    LICENSE = "LICENSE"
    VEHICLE = "VEHICLE"
    DEVICE = "DEVICE"
    URL = "URL"
    IP = "IP"
    BIOMETRIC = "BIOMETRIC"
    PHOTO = "PHOTO"
    OTHER_ID = "OTHER_ID"


#: Safe Harbor letter (A-R) of each label.
SAFE_HARBOR_LETTER: dict[Category, str] = {
    Category.NAME: "A",
    Category.GEO: "B",
    Category.DATE: "C",
    Category.AGE_OVER_89: "C",
    Category.PHONE: "D",
    Category.FAX: "E",
    Category.EMAIL: "F",
    Category.SSN: "G",
    Category.MRN: "H",
    Category.HEALTH_PLAN: "I",
    Category.ACCOUNT: "J",
    Category.LICENSE: "K",
    Category.VEHICLE: "L",
    Category.DEVICE: "M",
    Category.URL: "N",
    Category.IP: "O",
    Category.BIOMETRIC: "P",
    Category.PHOTO: "Q",
    Category.OTHER_ID: "R",
}

#: Presidio analyzer entity names (predefined recognizers) mapped to Safe Harbor labels.
#: Entities with no Safe Harbor meaning (NRP, ORGANIZATION, MEDICAL_LICENSE is K) are absent or
#: mapped deliberately; an unmapped entity is ignored by :func:`from_presidio`.
PRESIDIO_TO_SAFE_HARBOR: dict[str, Category] = {
    "PERSON": Category.NAME,
    "LOCATION": Category.GEO,
    "GPE": Category.GEO,
    "DATE_TIME": Category.DATE,
    "PHONE_NUMBER": Category.PHONE,
    "EMAIL_ADDRESS": Category.EMAIL,
    "US_SSN": Category.SSN,
    "US_ITIN": Category.SSN,
    "US_BANK_NUMBER": Category.ACCOUNT,
    "CREDIT_CARD": Category.ACCOUNT,
    "IBAN_CODE": Category.ACCOUNT,
    "CRYPTO": Category.ACCOUNT,
    "US_DRIVER_LICENSE": Category.LICENSE,
    "US_PASSPORT": Category.LICENSE,
    "MEDICAL_LICENSE": Category.LICENSE,
    "URL": Category.URL,
    "IP_ADDRESS": Category.IP,
    "UK_NHS": Category.MRN,
}

#: Our labels as Presidio entity names (for recognizers running inside an AnalyzerEngine).
SAFE_HARBOR_TO_PRESIDIO: dict[Category, str] = {c: f"SH_{c.value}" for c in Category}


def from_presidio(entity_type: str) -> Category | None:
    """Map a Presidio entity name (stock or ours, ``SH_*``) to a Safe Harbor label."""
    if entity_type.startswith("SH_"):
        try:
            return Category(entity_type[3:])
        except ValueError:
            return None
    return PRESIDIO_TO_SAFE_HARBOR.get(entity_type)
