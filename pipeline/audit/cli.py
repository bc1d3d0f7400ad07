"""``phi-pipeline audit``: keygen, archive, verify, replay and trace the audit trail.

Exit codes: 0 success (``verify``: the archive is intact), 1 ``verify`` found tampering,
2 an error (bad arguments, unreadable archive, Kafka unreachable).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from pipeline.config import Settings
from pipeline.errors import AuditError, ConfigError

log = logging.getLogger("pipeline.audit.cli")


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the ``audit`` sub-commands to ``parser``."""
    sub = parser.add_subparsers(dest="audit_command", required=True, metavar="ACTION")

    keygen = sub.add_parser("keygen", help="write a new Ed25519 manifest signing key pair")
    keygen.add_argument(
        "--private",
        type=Path,
        default=None,
        help="private key PEM (default: keys.audit_signing_key_file)",
    )
    keygen.add_argument(
        "--public", type=Path, default=None, help="public key PEM (default: <private>.pub.pem)"
    )
    keygen.add_argument("--force", action="store_true", help="overwrite existing files")

    archive = sub.add_parser("archive", help="consume the audit topic into the WORM archive")
    archive.add_argument("--archive-dir", type=Path, default=None)
    archive.add_argument("--topic", default=None, help="default: topics.audit")
    archive.add_argument("--group", default=None, help="consumer group")
    archive.add_argument(
        "--instance-id",
        default=None,
        help="static group membership id (fast hand-back after a restart)",
    )
    archive.add_argument(
        "--signing-key",
        type=Path,
        default=None,
        help="private key PEM (default: keys.audit_signing_key_file)",
    )
    archive.add_argument("--max-records", type=int, default=None)
    archive.add_argument("--max-seconds", type=float, default=None)
    archive.add_argument("--max-bytes", type=int, default=None)
    archive.add_argument("--codec", choices=("null", "deflate"), default=None)
    archive.add_argument(
        "--stop-at-end",
        action="store_true",
        help="seal and exit once every partition is consumed to its end",
    )

    verify = sub.add_parser("verify", help="recompute every hash chain and manifest signature")
    verify.add_argument("archive_dir", type=Path, metavar="ARCHIVE_DIR")
    verify.add_argument(
        "--public-key",
        type=Path,
        action="append",
        default=[],
        help="trusted public key PEM (repeatable); default: the archive's keys/",
    )
    verify.add_argument(
        "--partition",
        type=int,
        action="append",
        default=None,
        help="check only this partition (repeatable)",
    )
    verify.add_argument(
        "--against-kafka",
        action="store_true",
        help="also compare each partition's end with the topic (detects removed newest segments)",
    )
    verify.add_argument("--topic", default=None, help="default: topics.audit")
    verify.add_argument(
        "--max-lag-s",
        type=float,
        default=None,
        help="allowed archiving lag (default: 2 x segment_max_seconds + 60)",
    )
    verify.add_argument("--json", action="store_true", help="print the report as JSON")

    for name, help_text in (
        ("replay", "stream audit events with a summary"),
        ("trace", "the lineage of one request across stages"),
    ):
        cmd = sub.add_parser(name, help=help_text)
        if name == "trace":
            cmd.add_argument("request_id", metavar="REQUEST_ID")
        cmd.add_argument("--source", choices=("archive", "kafka"), default="archive")
        cmd.add_argument("--archive-dir", type=Path, default=None)
        cmd.add_argument("--topic", default=None, help="default: topics.audit")
        cmd.add_argument(
            "--from",
            dest="from_ts",
            default=None,
            help="ISO 8601 time (UTC if no zone) or epoch milliseconds",
        )
        cmd.add_argument("--to", dest="to_ts", default=None)
        if name == "replay":
            cmd.add_argument("--tenant", default=None)
            cmd.add_argument("--provider", default=None)
            cmd.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
            cmd.add_argument("--follow", action="store_true", help="keep reading new events")
            cmd.add_argument("--output", type=Path, default=None, help="default: stdout")
            cmd.add_argument(
                "--summary-json",
                type=Path,
                default=None,
                help="also write the summary as JSON to this file",
            )
        else:
            cmd.add_argument("--format", choices=("table", "jsonl"), default="table")


def run(args: argparse.Namespace) -> int:
    """Run the chosen ``audit`` action."""
    settings: Settings = args.settings
    action = args.audit_command
    if action == "keygen":
        return _keygen(args, settings)
    if action == "archive":
        return _archive(args, settings)
    if action == "verify":
        return _verify(args, settings)
    return _replay_or_trace(args, settings)


def _keygen(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.audit.signing import generate_keypair

    private = args.private or settings.keys.audit_signing_key_file
    if private is None:
        raise ConfigError("pass --private or set keys.audit_signing_key_file", reason="missing_key")
    public = args.public or private.with_name(private.stem + ".pub.pem")
    kid = generate_keypair(private, public, overwrite=args.force)
    print(f"key_id={kid} private={private} public={public}")
    return 0


def _storage(path: Path | None, settings: Settings) -> Any:
    from pipeline.audit.storage import LocalDirectoryStorage

    return LocalDirectoryStorage(path or settings.audit.archive_dir)


def consumer_config(settings: Settings) -> dict[str, str]:
    """Return librdkafka bootstrap/security settings, falling back to the ``kafka up`` daemon."""
    kafka = settings.kafka
    if kafka.bootstrap_servers is None:
        from pipeline.kafka import running_daemon

        daemon = running_daemon(kafka)
        if daemon is not None:
            kafka = kafka.model_copy(update={"bootstrap_servers": daemon.bootstrap_servers})
    return kafka.librdkafka_config()


def _decoder(settings: Settings) -> Any:
    from pipeline.serde import RecordType, build_codec

    codec = build_codec(settings)
    return codec, lambda data: codec.decode(RecordType.AUDIT_EVENT, data)


def _archive(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.audit.archiver import ArchiverConfig, AuditArchiver, load_audit_schema_json
    from pipeline.audit.consumer import run_archiver
    from pipeline.audit.signing import load_signer

    key_file = args.signing_key or settings.keys.audit_signing_key_file
    if key_file is None:
        raise ConfigError(
            "pass --signing-key or set keys.audit_signing_key_file "
            "(create one with: phi-pipeline audit keygen)",
            reason="missing_key",
        )
    topic = args.topic or settings.topics.audit
    config = ArchiverConfig(
        topic=topic,
        max_records=args.max_records or settings.audit.segment_max_records,
        max_seconds=args.max_seconds or settings.audit.segment_max_seconds,
        max_bytes=args.max_bytes or settings.audit.segment_max_bytes,
        codec=args.codec or settings.audit.codec,
    )
    codec, decode = _decoder(settings)
    archiver = AuditArchiver(
        _storage(args.archive_dir, settings),
        load_signer(key_file),
        decode,
        load_audit_schema_json(codec.schemas.directory),
        config,
    )
    stats = run_archiver(
        archiver,
        consumer_config(settings),
        topic,
        group=args.group or settings.audit.consumer_group,
        instance_id=args.instance_id or settings.audit.instance_id,
        stop_at_end=args.stop_at_end,
    )
    print(
        json.dumps(
            {
                "consumed": stats.consumed,
                "sealed_segments": stats.sealed,
                "undecodable": archiver.counters.undecodable,
                "duplicates_skipped": archiver.counters.duplicates_skipped,
            }
        )
    )
    return 0


def _verify(args: argparse.Namespace, settings: Settings) -> int:
    from pipeline.audit.signing import key_id, load_public_key
    from pipeline.audit.storage import LocalDirectoryStorage
    from pipeline.audit.verify import archive_public_keys, verify_archive

    if not args.archive_dir.is_dir():
        raise AuditError(
            f"archive directory {args.archive_dir} does not exist", reason="missing_archive"
        )
    storage = LocalDirectoryStorage(args.archive_dir)
    if args.public_key:
        keys = {}
        for path in args.public_key:
            try:
                key = load_public_key(Path(path).read_bytes())
            except OSError as exc:
                raise ConfigError(f"cannot read public key {path}") from exc
            keys[key_id(key)] = key
        pinned = True
    else:
        keys, pinned = archive_public_keys(storage), False
    wanted = set(args.partition) if args.partition else None
    report = verify_archive(storage, keys, partitions=wanted)
    if args.against_kafka:
        from pipeline.audit.verify_kafka import check_against_topic

        lag_s = (
            args.max_lag_s
            if args.max_lag_s is not None
            else 2 * settings.audit.segment_max_seconds + 60
        )
        report.findings.extend(
            check_against_topic(
                report,
                consumer_config(settings),
                args.topic or settings.topics.audit,
                max_lag_ms=int(lag_s * 1000),
                partitions=wanted,
            )
        )
    if args.json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "segments": report.segments,
                    "records": report.records,
                    "keys": sorted(keys),
                    "keys_pinned": pinned,
                    "partitions": {
                        p: {
                            "segments": s.segments,
                            "records": s.records,
                            "last_offset": s.last_offset,
                            "tail_hash": s.tail_hash,
                        }
                        for p, s in report.partitions.items()
                    },
                    "findings": [f.__dict__ for f in report.findings],
                },
                indent=2,
            )
        )
    else:
        for finding in report.findings:
            print(finding)
        for p, s in sorted(report.partitions.items()):
            print(
                f"partition {p}: segments={s.segments} records={s.records} "
                f"last_offset={s.last_offset} tail_hash={s.tail_hash}"
            )
        source = "pinned" if pinned else "stored in the archive (pin them with --public-key)"
        status = "INTACT" if report.ok else f"TAMPERED ({len(report.findings)} findings)"
        print(
            f"{status}: {report.segments} segments, {report.records} records, "
            f"keys {sorted(keys)} {source}"
        )
    return 0 if report.ok else 1


def _replay_or_trace(args: argparse.Namespace, settings: Settings) -> int:
    from tqdm import tqdm

    from pipeline.audit.replay import EventWriter, ReplaySummary, item_row, replay
    from pipeline.audit.sources import (
        EventFilter,
        SourceStats,
        iter_archive,
        iter_kafka,
        parse_time,
    )
    from pipeline.audit.trace import lineage, render_table

    tracing = args.audit_command == "trace"
    flt = EventFilter(
        from_ms=parse_time(args.from_ts) if args.from_ts else None,
        to_ms=parse_time(args.to_ts) if args.to_ts else None,
        tenant=None if tracing else args.tenant,
        provider=None if tracing else args.provider,
        request_id=args.request_id if tracing else None,
    )
    follow = bool(getattr(args, "follow", False))
    stats = SourceStats()
    if args.source == "kafka":
        _, decode = _decoder(settings)
        items = iter_kafka(
            consumer_config(settings),
            args.topic or settings.topics.audit,
            flt,
            decode,
            follow=follow,
            stats=stats,
        )
    else:
        storage = _storage(args.archive_dir, settings)
        if not storage.root.is_dir():
            raise AuditError(
                f"archive directory {storage.root} does not exist", reason="missing_archive"
            )
        items = iter_archive(storage, flt, stats, follow=follow)
    if tracing:
        found = lineage(items)
        if args.format == "jsonl":
            for item in found:
                print(json.dumps(item_row(item), separators=(",", ":")))
        else:
            print(render_table(found))
        print(f"{len(found)} events for the request", file=sys.stderr)
        return 0 if found else 1
    summary = ReplaySummary()
    out = open(args.output, "w", newline="", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        writer = EventWriter(out, args.format)
        # The bar counts scanned records; it is hidden when stderr is not a terminal.
        with tqdm(desc="replay", unit="ev", file=sys.stderr, disable=None) as bar:
            last = 0
            for _ in replay(items, writer, summary):
                bar.total = stats.expected_total
                bar.update(stats.scanned - last)
                last = stats.scanned
            bar.update(stats.scanned - last)
    finally:
        if out is not sys.stdout:
            out.close()
        else:
            out.flush()
    summary.undecodable = stats.undecodable
    print(summary.render(), file=sys.stderr)
    if args.summary_json:
        args.summary_json.write_text(json.dumps(summary.as_dict(), indent=2) + "\n")
    return 0
