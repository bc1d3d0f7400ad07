"""No PHI in the audit archive: canary scans over segments, manifests, logs and CLI output.

The stages that produce audit events are tested end to end elsewhere; here the archive side is
proven: the archiver adds nothing that could carry text, drops undecodable bytes instead of
storing them, logs no content, and the scanner itself finds a planted canary (positive control).
"""

from __future__ import annotations

import logging
from pathlib import Path

from pipeline.audit.__main__ import main
from pipeline.audit.canary import scan_archive, scan_values
from pipeline.audit.storage import LocalDirectoryStorage

CANARIES = ["Zebediah Quartermaine", "078-05-1120", "MRN 4471902", "zeb.q@example.org"]


def test_clean_archive_has_no_canary_and_a_planted_one_is_found(
    new_archiver, fast_encode, event_factory, archive_dir: Path, caplog, capsys
) -> None:
    caplog.set_level(logging.DEBUG)
    archiver = new_archiver(max_records=20)
    values = [fast_encode(event_factory(i)) for i in range(60)]
    # Producers that misbehave: raw text on the topic that is not an audit record at all.
    values[10] = b"Patient Zebediah Quartermaine SSN 078-05-1120"
    for offset, value in enumerate(values):
        archiver.append(0, offset, 0, value)
    archiver.seal()
    storage = LocalDirectoryStorage(archive_dir)
    assert scan_archive(storage, CANARIES) == []
    assert scan_values(values, CANARIES) != []  # the topic scan sees the bad value ...
    assert [h.index for h in scan_values(values, CANARIES)] == [10, 10]
    for canary in CANARIES:  # ... but it never reached the archive or the logs
        assert canary.lower() not in caplog.text.lower()

    main(["replay", "--archive-dir", str(archive_dir)])
    main(["verify", str(archive_dir)])
    captured = capsys.readouterr()
    for canary in CANARIES:
        assert canary.lower() not in (captured.out + captured.err).lower()

    # Positive control: a writer that wrongly puts text in ``detail`` is caught, with location.
    leaky = new_archiver(max_records=20)
    leaky.append(1, 0, 0, fast_encode(event_factory(0, detail={"note": "zeb.q@example.org"})))
    leaky.seal()
    hits = scan_archive(storage, CANARIES)
    assert {(h.index, h.field, h.canary) for h in hits if h.field} == {(0, "event.detail.note", 3)}
    assert all(h.where.startswith("p00001/") for h in hits)
