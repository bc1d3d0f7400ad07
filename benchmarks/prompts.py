"""Deterministic synthetic clinical prompts with synthetic PHI, for benchmarks and the demo.

Every prompt is built from a seed alone (``random.Random(seed)``), so two runs and two machines
send the same text. All identifiers are invented: names from short fixed lists, SSNs of random
digits, phone numbers in the 555-01xx fiction range, ``example.org`` e-mail addresses. Each
prompt also lists its *canaries*: the structured identifiers it carries (SSN, phone, e-mail, MRN,
full name), which must never reach a provider for a tenant that only gets de-identified text.

    >>> p = make_prompt(7)
    >>> 300 <= len(p.text) <= 1500
    True
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

FIRST = (
    "Maria", "James", "Aisha", "Robert", "Elena", "Daniel", "Priya", "Thomas", "Grace",
    "Michael", "Sofia", "William", "Hannah", "Carlos", "Linda", "Samuel", "Fatima", "George",
)  # fmt: skip
LAST = (
    "Alvarez", "Whitfield", "Okafor", "Lindqvist", "Brennan", "Castellano", "Nakamura",
    "Harrington", "Delacroix", "Petrovic", "Gallagher", "Moreau", "Abernathy", "Kowalski",
)  # fmt: skip
STREETS = ("Maple Avenue", "Oak Street", "Cedar Lane", "Birch Road", "Willow Court", "Elm Drive")
CITIES = (
    ("Springfield", "IL", "62704"),
    ("Madison", "WI", "53703"),
    ("Albany", "NY", "12207"),
    ("Columbus", "OH", "43215"),
    ("Portland", "OR", "97205"),
)
CONDITIONS = (
    "type 2 diabetes mellitus with HbA1c of 8.4%",
    "community-acquired pneumonia of the right lower lobe",
    "hypertension, poorly controlled on lisinopril 20 mg daily",
    "acute exacerbation of COPD requiring nebulised bronchodilators",
    "new-onset atrial fibrillation with rapid ventricular response",
    "chronic kidney disease stage 3b with an eGFR of 38",
    "left ankle fracture after a fall on ice, treated with a cast",
)
TASKS = (
    "Summarise this note for the discharge letter in plain language.",
    "Draft a referral letter to cardiology based on the note below.",
    "List the follow-up actions from this note as bullet points.",
    "Rewrite this note as a short handover for the night team.",
    "Extract the medication changes from the note below.",
)
FILLER = (
    "Vitals were stable overnight with no fever.",
    "Labs showed a mild leukocytosis that is trending down.",
    "The patient tolerated a regular diet and ambulated in the hallway.",
    "Medication reconciliation was completed with the pharmacist.",
    "No known drug allergies were reported at admission.",
    "Physical therapy recommends a walker for the first two weeks.",
    "Blood glucose readings ranged from 140 to 210 mg/dL.",
    "The family was updated at the bedside and agrees with the plan.",
    "Chest X-ray showed improving consolidation compared with the prior film.",
    "Pain is controlled with oral acetaminophen as needed.",
)


@dataclass(frozen=True, slots=True)
class SyntheticPrompt:
    """One synthetic prompt and the identifiers it carries.

    Attributes:
        seed: the seed it was built from.
        text: the prompt.
        canaries: identifiers that must not reach a provider without a BAA.
    """

    seed: int
    text: str
    canaries: tuple[str, ...]

    def __repr__(self) -> str:
        # The text is synthetic, but a repr never prints prompt text by habit.
        return f"SyntheticPrompt(seed={self.seed}, chars={len(self.text)})"


def _ssn(rng: random.Random) -> str:
    # Random digits in a valid SSN shape (area 100-665, group and serial non-zero): detectors
    # rightly ignore never-issued 9xx areas, so a canary there would test nothing.
    return f"{rng.randint(100, 665):03d}-{rng.randint(10, 99)}-{rng.randint(1000, 9999)}"


def _phone(rng: random.Random) -> str:
    return f"({rng.randint(201, 989)}) 555-01{rng.randint(0, 99):02d}"


def make_prompt(seed: int, *, min_chars: int = 300, max_chars: int = 1500) -> SyntheticPrompt:
    """Build the prompt of ``seed``: a task line and a clinical note with synthetic PHI.

    The note grows by filler sentences until it reaches a length drawn from
    ``[min_chars, max_chars]``, so lengths spread over the range.
    """
    rng = random.Random(seed)
    first, last = rng.choice(FIRST), rng.choice(LAST)
    doctor = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
    city, state, zip_code = rng.choice(CITIES)
    street = f"{rng.randint(10, 9899)} {rng.choice(STREETS)}"
    admitted = date(2024, 1, 1) + timedelta(days=rng.randint(0, 600))
    born = date(1940, 1, 1) + timedelta(days=rng.randint(0, 20000))
    mrn = f"{rng.randint(10_000_000, 99_999_999)}"
    ssn = _ssn(rng)
    phone = _phone(rng)
    email = f"{first.lower()}.{last.lower()}{rng.randint(1, 99)}@example.org"
    head = (
        f"{rng.choice(TASKS)}\n\n"
        f"Patient: {first} {last}, DOB {born:%m/%d/%Y}, MRN {mrn}, SSN {ssn}. "
        f"Address: {street}, {city}, {state} {zip_code}. Phone {phone}, e-mail {email}. "
        f"Admitted on {admitted:%B %d, %Y} by Dr. {doctor} with {rng.choice(CONDITIONS)}. "
    )
    target = rng.randint(min_chars, max_chars)
    body = [head]
    length = len(head)
    tail = f"Follow-up with Dr. {doctor}; call {first} {last} at {phone} if results change."
    while length + len(tail) < target:
        sentence = rng.choice(FILLER) + " "
        if length + len(sentence) + len(tail) > max_chars:
            break
        body.append(sentence)
        length += len(sentence)
    body.append(tail)
    text = "".join(body)
    return SyntheticPrompt(seed, text, (f"{first} {last}", mrn, ssn, phone, email))


def make_prompts(count: int, *, start: int = 0) -> list[SyntheticPrompt]:
    """Return ``count`` prompts for seeds ``start .. start + count - 1``."""
    return [make_prompt(seed) for seed in range(start, start + count)]
