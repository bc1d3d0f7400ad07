"""The two wire framings of an Avro body, and reading the header back.

* **Single-object encoding** (Avro spec, "Single-object encoding"): ``C3 01`` then the 8-byte
  little-endian CRC-64-AVRO fingerprint of the writer schema's Parsing Canonical Form, then the
  body. Self-describing without any service: used when no Schema Registry is configured.
* **Confluent wire format**: ``00`` then the 4-byte big-endian Schema Registry id, then the
  body. Used when a registry is configured, so Confluent tooling can read the topics.

The first byte tells them apart (``C3`` vs ``00``), so a reader accepts both.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from pipeline.errors import BadFramingError, TruncatedRecordError

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"
SINGLE_OBJECT_HEADER_LEN = len(SINGLE_OBJECT_MAGIC) + 8
CONFLUENT_HEADER_LEN = len(CONFLUENT_MAGIC) + 4


class Framing(Enum):
    """Which framing a record uses."""

    SINGLE_OBJECT = "single_object"
    CONFLUENT = "confluent"


@dataclass(frozen=True, slots=True)
class Header:
    """A parsed framing header (never the body, so it is safe to log).

    Attributes:
        framing: which framing the bytes use.
        fingerprint: the 8-byte schema fingerprint (single-object framing), else ``b""``.
        schema_id: the registry schema id (Confluent framing), else ``-1``.
        body_offset: where the Avro body starts.
    """

    framing: Framing
    fingerprint: bytes = b""
    schema_id: int = -1
    body_offset: int = 0


def frame_single_object(fingerprint: bytes, body: bytes) -> bytes:
    """Return ``body`` in single-object framing.

    Args:
        fingerprint: the writer schema's 8-byte little-endian CRC-64-AVRO fingerprint.
        body: the Avro binary encoding of the record.

    Raises:
        BadFramingError: the fingerprint is not 8 bytes.
    """
    if len(fingerprint) != 8:
        raise BadFramingError("a single-object fingerprint must be 8 bytes")
    return SINGLE_OBJECT_MAGIC + fingerprint + body


def frame_confluent(schema_id: int, body: bytes) -> bytes:
    """Return ``body`` in the Confluent wire format.

    Args:
        schema_id: the id the Schema Registry gave the writer schema (0 to 2**31 - 1).
        body: the Avro binary encoding of the record.

    Raises:
        BadFramingError: the id does not fit the 4-byte signed field.
    """
    if not 0 <= schema_id < 2**31:
        raise BadFramingError("a Confluent schema id must fit in 31 bits")
    return CONFLUENT_MAGIC + schema_id.to_bytes(4, "big") + body


def read_header(data: bytes) -> Header:
    """Parse the framing header of ``data``, dispatching on the first byte.

    Args:
        data: a whole Kafka message value.

    Raises:
        TruncatedRecordError: the bytes end inside the header (including empty input).
        BadFramingError: the first bytes match neither framing.
    """
    if not data:
        raise TruncatedRecordError("empty record: no framing header")
    first = data[:1]
    if first == CONFLUENT_MAGIC:
        if len(data) < CONFLUENT_HEADER_LEN:
            raise TruncatedRecordError("record ends inside the Confluent header")
        schema_id = int.from_bytes(data[1:CONFLUENT_HEADER_LEN], "big")
        return Header(Framing.CONFLUENT, schema_id=schema_id, body_offset=CONFLUENT_HEADER_LEN)
    if first == SINGLE_OBJECT_MAGIC[:1]:
        if len(data) < 2:
            raise TruncatedRecordError("record ends inside the single-object magic")
        if data[1:2] != SINGLE_OBJECT_MAGIC[1:]:
            raise BadFramingError("second magic byte is not the single-object marker")
        if len(data) < SINGLE_OBJECT_HEADER_LEN:
            raise TruncatedRecordError("record ends inside the single-object fingerprint")
        return Header(
            Framing.SINGLE_OBJECT,
            fingerprint=bytes(data[2:SINGLE_OBJECT_HEADER_LEN]),
            body_offset=SINGLE_OBJECT_HEADER_LEN,
        )
    raise BadFramingError(f"unknown magic byte 0x{data[0]:02x}")
