"""The Deidentifier: profiles end to end, consistency, chat turns, vault, leak gate, hygiene."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.config import DeidSettings
from pipeline.deid.engine import Deidentifier
from pipeline.deid.keys import KeyVersion, StaticKeyProvider
from pipeline.deid.leak_gate import LeakGate
from pipeline.deid.profiles import TenantPolicy
from pipeline.deid.vault import InMemoryVaultStore, Vault
from pipeline.detect.taxonomy import Category
from pipeline.detect.types import Span
from pipeline.errors import DeidError

ROOT = Path(__file__).resolve().parents[3]
NOTE = (
    "John Smith (MRN 12345678) was seen 03/04/2021 by Dr. Smith. SSN 123-45-6789, "
    "phone (617) 555-1234, email john.smith@mgh.org, lives in Springfield 02139."
)
PHI = [
    "John",
    "Smith",
    "12345678",
    "03/04/2021",
    "123-45-6789",
    "(617) 555-1234",
    "mgh.org",
    "Springfield",
    "02139",
]


def test_safe_harbor_removes_everything_and_passes_gate(keys, detector):
    deid = Deidentifier(detector, keys)
    result = deid.deidentify(NOTE, scope="patient:p1")
    assert result.profile == "safe_harbor"
    for value in PHI:
        assert value not in result.text
    assert "seen 2021 by Dr. " in result.text
    assert "021." in result.text  # ZIP3 kept (021 is not restricted)
    assert result.leak_gate.status == "pass"
    for rep in result.replacements:
        assert 0 <= rep.start <= rep.end <= len(result.text)
    assert {r.label for r in result.replacements} >= {
        "NAME",
        "MRN",
        "DATE",
        "SSN",
        "PHONE",
        "EMAIL",
        "GEO",
    }


def test_redact_profile_only_tags(keys, detector):
    out = Deidentifier(detector, keys).deidentify(NOTE, scope="patient:p1", profile="redact").text
    assert out.startswith("[NAME] ([MRN]) was seen [DATE] by [NAME].")


def test_numbered_tags_link_mentions_of_one_person(keys, detector):
    text = "John Smith met Jane Doe. Later Mr. Smith called Jane Doe."
    deid = Deidentifier(detector, keys)
    out = deid.deidentify(text, scope="request:r1", overrides={"NAME": "tag"}).text
    assert out == "[NAME_1] met [NAME_2]. Later [NAME_1] called [NAME_2]."


def test_two_engines_same_key_agree_other_key_or_scope_diverge(keys, other_keys, detector):
    a = Deidentifier(detector, keys).deidentify(NOTE, scope="patient:p1", profile="pseudonymize")
    b = Deidentifier(detector, keys).deidentify(NOTE, scope="patient:p1", profile="pseudonymize")
    c = Deidentifier(detector, other_keys).deidentify(
        NOTE, scope="patient:p1", profile="pseudonymize"
    )
    d = Deidentifier(detector, keys).deidentify(NOTE, scope="patient:p2", profile="pseudonymize")
    assert a.text == b.text
    assert a.text != c.text and a.text != d.text


def test_two_processes_agree(keys, detector):
    script = f"""
import json, sys
sys.path.insert(0, {str(ROOT)!r})
from pipeline.deid.engine import Deidentifier
from pipeline.deid.keys import KeyVersion, StaticKeyProvider
from pipeline.detect.types import Span
from pipeline.detect.taxonomy import Category
spans = [Span(s, e, Category(l), 0.9, "x") for s, e, l in json.loads(sys.argv[2])]
keys = StaticKeyProvider([KeyVersion("k1", bytes(range(32)), bytes(range(32, 64)))])
deid = Deidentifier(None, keys)
print(deid.deidentify(sys.argv[1], scope="patient:p1", profile="pseudonymize", spans=spans).text)
"""
    spans = detector.detect(NOTE)
    arg = json.dumps([[s.start, s.end, s.label.value] for s in spans])
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHI_")}
    proc = subprocess.run(
        [sys.executable, "-c", script, NOTE, arg],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=True,
    )
    here = Deidentifier(None, keys).deidentify(
        NOTE, scope="patient:p1", profile="pseudonymize", spans=spans
    )
    assert proc.stdout.strip() == here.text


def test_same_person_across_requests_in_one_scope(keys, detector):
    deid = Deidentifier(detector, keys)
    first = deid.deidentify("Patient John Smith admitted.", scope="patient:p7").text
    second = deid.deidentify("Spoke with Mr. Smith today.", scope="patient:p7").text
    surname = first.split()[2]
    assert second == f"Spoke with Mr. {surname} today."


def test_surrogates_never_equal_real_values_in_input(keys):
    # The pool's surrogate for "Smith" in this scope is first computed, then planted in the input:
    # the engine must then pick another one.
    deid = Deidentifier(None, keys)
    text = "Smith saw the patient."
    spans = [Span(0, 5, Category.NAME, 0.9, "t")]
    planted = deid.deidentify(text, scope="patient:p1", spans=spans).text.split()[0]
    text2 = f"Smith saw {planted}."
    out = deid.deidentify(text2, scope="patient:p1", spans=spans).text
    assert out.split()[0] not in {"Smith", planted}


def test_date_shift_consistent_within_scope(keys, detector):
    deid = Deidentifier(
        detector, keys, settings=DeidSettings(date_shift_min_days=10, date_shift_max_days=20)
    )
    a = deid.deidentify("Seen 03/04/2021.", scope="patient:p1", profile="pseudonymize").text
    b = deid.deidentify("Follow-up 03/04/2021.", scope="patient:p1", profile="pseudonymize").text
    assert a.split()[-1] == b.split()[-1] != "03/04/2021."
    day = int(re.search(r"/(\d\d)/", a).group(1))
    month = int(a.split()[-1][:2])
    assert (month, day) != (3, 4)


def test_chat_turns_consistent(keys, detector):
    deid = Deidentifier(detector, keys)
    messages = [
        {"role": "user", "content": "My patient John Smith has a rash."},
        {"role": "assistant", "content": "How long has it lasted?"},
        {"role": "user", "content": "Mr. Smith says since 03/04/2021."},
    ]
    results = deid.deidentify_messages(messages, scope="session:s1")
    surname = results[0].text.split()[3].rstrip(".")
    assert results[2].text.startswith(f"Mr. {surname} says since 2021")
    assert results[1].text == "How long has it lasted?"
    tagged = deid.deidentify_messages(messages, scope="session:s1", overrides={"NAME": "tag"})
    assert "[NAME_1]" in tagged[0].text and tagged[2].text.startswith("[NAME_1] says")
    for r in tagged:
        for rep in r.replacements:
            assert r.text[rep.start : rep.end].startswith("[") or rep.label == "DATE"


def test_vault_round_trip_and_scope_isolation(keys, detector):
    store = InMemoryVaultStore()
    deid = Deidentifier(detector, keys)
    vault = Vault(store, deid.keyring, ttl_seconds=60)
    deid = Deidentifier(detector, keys, vault=vault)
    text = "John Smith called from (617) 555-1234 on 03/04/2021."
    result = deid.deidentify(text, scope="patient:p1", profile="pseudonymize")
    assert len(store) >= 3
    surname = result.text.split()[1]
    completion = f"Advise Mr. {surname} to call back. {result.text}"
    back = deid.reidentify(completion, scope="patient:p1")
    assert back == f"Advise Mr. Smith to call back. {text}"
    # Another scope's vault entries are never used: its text comes back untouched.
    assert deid.reidentify(completion, scope="patient:p2") == completion
    # Safe Harbor is not reversible: nothing is written.
    before = len(store)
    deid.deidentify("Jane Doe", scope="patient:p3")
    assert len(store) == before


def test_vault_ttl_and_tenant_permission(keys, detector):
    now = [1000.0]
    store = InMemoryVaultStore()
    ring_holder = Deidentifier(None, keys)
    vault = Vault(store, ring_holder.keyring, ttl_seconds=10, clock=lambda: now[0])
    tenants = {
        "ok": TenantPolicy(profile="pseudonymize", allow_reidentification=True),
        "no": TenantPolicy(),
    }
    deid = Deidentifier(detector, keys, vault=vault, tenants=tenants)
    r = deid.deidentify("John Smith", scope="patient:p1", tenant="ok")
    assert deid.reidentify(r.text, scope="patient:p1", tenant="ok") == "John Smith"
    with pytest.raises(DeidError):
        deid.reidentify(r.text, scope="patient:p1", tenant="no")
    now[0] += 11
    assert deid.reidentify(r.text, scope="patient:p1", tenant="ok") == r.text
    assert vault.expire() >= 1 and len(store) == 0
    deid.deidentify("Jane Doe", scope="patient:p9", tenant="no", profile="pseudonymize")
    assert len(store) == 0


def test_tenant_overrides_applied_and_validated(keys, detector):
    from pipeline.deid.profiles import OperatorSpec

    tenants = {"t": TenantPolicy(overrides={Category.SSN: OperatorSpec(operator="redact")})}
    deid = Deidentifier(detector, keys, tenants=tenants)
    assert "[REDACTED]" in deid.deidentify("SSN 123-45-6789", scope="request:1", tenant="t").text
    with pytest.raises(Exception, match="Safe Harbor"):
        deid.deidentify("x", scope="request:1", overrides={"DATE": "date_shift"})


def test_leak_gate_fails_closed_on_residual(keys, detector):
    deid = Deidentifier(detector, keys, repair_rounds=0)
    # Give the engine a partial detection: the gate's own scan finds the SSN left behind.
    spans = [s for s in detector.detect(NOTE) if s.label != Category.SSN]
    result = deid.deidentify(NOTE, scope="patient:p1", spans=spans)
    assert result.leak_gate.status == "fail" and result.leak_gate.reason == "residual_phi"
    assert any(r.label == "SSN" for r in result.leak_gate.residual)
    assert "123-45-6789" not in repr(result) and "123-45-6789" not in repr(result.leak_gate)


def test_leak_gate_verbatim_check_without_propagation(keys):
    text = "Springfield clinic. Back to Springfield."
    spans = [Span(0, 11, Category.GEO, 0.9, "t")]
    no_prop = Deidentifier(None, keys, propagate=False, leak_gate=LeakGate(None), repair_rounds=0)
    assert no_prop.deidentify(text, scope="request:1", spans=spans).leak_gate.reason in {
        "detector_unavailable",
        "original_in_output",
    }
    gate_only_verbatim = no_prop.deidentify(text, scope="request:1", spans=spans).leak_gate
    assert any(r.check == "verbatim" for r in gate_only_verbatim.residual)
    with_prop = Deidentifier(None, keys).deidentify(text, scope="request:1", spans=spans)
    assert "Springfield" not in with_prop.text


def test_gate_accepts_our_own_surrogates(keys):
    class CapitalPairs:
        """Flags any two capitalised words: it will 'find' our surrogate names too."""

        def detect(self, text):
            return [
                Span(m.start(), m.end(), Category.NAME, 0.6, "caps.v1")
                for m in re.finditer(r"\b[A-Z][a-z]+ [A-Z][a-z]+\b", text)
            ]

    det = CapitalPairs()
    result = Deidentifier(det, keys).deidentify("seen by John Smith today", scope="request:1")
    assert result.leak_gate.status == "pass"
    assert "John" not in result.text


def test_no_phi_in_logs(keys, detector, caplog):
    caplog.set_level(logging.DEBUG)
    deid = Deidentifier(detector, keys)
    result = deid.deidentify(NOTE, scope="patient:p1")
    logging.getLogger("test").info("result %r %r", result, deid)
    for value in PHI:
        assert value not in caplog.text
    assert "John" not in repr(result)


def test_missing_detector_fails_closed(keys):
    with pytest.raises(DeidError):
        Deidentifier(None, keys).deidentify("John Smith", scope="request:1")


def test_two_key_versions_keep_outputs_apart():
    a = StaticKeyProvider([KeyVersion("a", b"\x05" * 32, b"\x06" * 32)])
    b = StaticKeyProvider([KeyVersion("b", b"\x07" * 32, b"\x06" * 32)])
    spans = [Span(0, 10, Category.NAME, 0.9, "t")]
    ta = Deidentifier(None, a).deidentify("John Smith", scope="request:1", spans=spans).text
    tb = Deidentifier(None, b).deidentify("John Smith", scope="request:1", spans=spans).text
    assert ta != tb


def test_numbered_tags_vaulted_only_for_request_scopes(keys, detector):
    store = InMemoryVaultStore()
    vault = Vault(store, Deidentifier(None, keys).keyring, ttl_seconds=60)
    deid = Deidentifier(detector, keys, vault=vault)
    overrides = {"NAME": "tag"}
    r = deid.deidentify(
        "John Smith called.", scope="request:r1", profile="pseudonymize", overrides=overrides
    )
    assert r.text == "[NAME_1] called."
    assert (
        deid.reidentify("Tell [NAME_1] to rest.", scope="request:r1") == "Tell John Smith to rest."
    )
    deid.deidentify(
        "Jane Doe called.", scope="patient:p1", profile="pseudonymize", overrides=overrides
    )
    assert deid.reidentify("Tell [NAME_1] to rest.", scope="patient:p1") == "Tell [NAME_1] to rest."


def test_leak_gate_repair_replaces_what_the_rescan_found(keys, detector):
    deid = Deidentifier(detector, keys)  # one repair round by default
    spans = [s for s in detector.detect(NOTE) if s.label not in (Category.SSN, Category.PHONE)]
    result = deid.deidentify(NOTE, scope="patient:p1", spans=spans)
    assert result.leak_gate.status == "pass"
    assert "123-45-6789" not in result.text and "(617) 555-1234" not in result.text
    assert {"SSN", "PHONE"} <= {r.label for r in result.replacements}


def test_leak_gate_repair_handles_several_findings_and_failures_stay(keys):
    class Capitalised:
        def detect(self, text):
            return [
                Span(m.start(), m.end(), Category.NAME, 0.9, "c")
                for m in re.finditer(r"\b(?:Zeta|Omega)\b", text)
            ]

    class Broken:
        def detect(self, text):
            raise RuntimeError("detector down")

    fixed = Deidentifier(Capitalised(), keys).deidentify(
        "Zeta came. Omega left.", scope="request:1", spans=[]
    )
    assert fixed.leak_gate.passed and "Zeta" not in fixed.text and "Omega" not in fixed.text
    down = Deidentifier(Broken(), keys).deidentify("Zeta came.", scope="request:1", spans=[])
    assert not down.leak_gate.passed and down.leak_gate.reason.startswith("detector_failed")


@pytest.mark.timeout(90)  # was about 30 s of quadratic overlap checks before they bisected
def test_a_dense_long_prompt_is_deidentified_in_near_linear_time(keys):
    from pipeline.config import load_settings
    from pipeline.detect.detector import Detector

    detector = Detector.from_settings(load_settings(), profile="fast")
    text = "Call 410-555-0199 Dr. Ann Lee 3/4/19 at 12 Oak St; " * 2000  # 100 kB, ~8,000 values
    result = Deidentifier(detector, keys).deidentify(text, scope="patient:p1")
    assert result.leak_gate.passed
    assert len(result.replacements) >= 8000
    for value in ("410-555-0199", "Ann Lee", "3/4/19", "12 Oak St"):
        assert value not in result.text
