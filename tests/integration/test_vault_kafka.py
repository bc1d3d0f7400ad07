"""The re-identification vault on a compacted topic of a real Kafka broker."""

from __future__ import annotations

import json

import pytest

from pipeline.deid.crypto import Keyring
from pipeline.deid.keys import KeyVersion, StaticKeyProvider
from pipeline.deid.vault import Vault
from pipeline.deid.vault_kafka import KafkaVaultStore, ensure_vault_topic

pytestmark = pytest.mark.timeout(180)

KEYS = StaticKeyProvider([KeyVersion("k1", bytes(range(32)), bytes(range(32, 64)))])


@pytest.fixture
def compacted(topic_factory):
    return topic_factory(partitions=2, prefix="vault", config={"cleanup.policy": "compact"})


def make_vault(bootstrap: str, topic: str, clock=None) -> tuple[Vault, KafkaVaultStore]:
    store = KafkaVaultStore({"bootstrap.servers": bootstrap}, topic)
    store.load(timeout=30)
    kwargs = {"clock": clock} if clock else {}
    return Vault(store, Keyring.from_provider(KEYS), ttl_seconds=3600, **kwargs), store


def test_round_trip_through_the_topic_and_a_second_worker(kafka_bootstrap, compacted, consume_all):
    vault, store = make_vault(kafka_bootstrap, compacted)
    vault.remember("patient:1", "Mark Jones", "John Smith", "NAME")
    vault.remember("patient:1", "(555) 555-0142", "(617) 555-1234", "PHONE")
    vault.remember("patient:2", "Ann Lee", "Jane Doe", "NAME")
    store.close()

    # What is on the topic: keyed hashes and ciphertext, no PHI and no surrogate in clear.
    messages = consume_all(compacted, 3, timeout=20)
    assert len(messages) == 3
    for msg in messages:
        raw = msg.key() + msg.value()
        # (Only secrets that cannot occur by chance in hex: "617" could, in a random blob.)
        for secret in (b"John", b"Smith", b"Mark Jones", b"(617) 555-1234", b"Jane", b"patient:1"):
            assert secret not in raw
        doc = json.loads(msg.value())
        assert set(doc) == {"v", "scope", "sur", "kid", "exp", "blob"}

    # A second worker loads the topic on start and re-identifies, scope by scope.
    vault2, store2 = make_vault(kafka_bootstrap, compacted)
    assert len(store2) == 3
    text = "Call Mark Jones at (555) 555-0142; Ann Lee is unrelated."
    assert (
        vault2.reidentify(text, "patient:1")
        == "Call John Smith at (617) 555-1234; Ann Lee is unrelated."
    )
    assert (
        vault2.reidentify(text, "patient:2")
        == "Call Mark Jones at (555) 555-0142; Jane Doe is unrelated."
    )
    assert vault2.reidentify(text, "patient:3") == text


def test_expiry_writes_tombstones_and_refresh_applies_them(kafka_bootstrap, compacted, consume_all):
    now = [1_000.0]
    vault, _store = make_vault(kafka_bootstrap, compacted, clock=lambda: now[0])
    vault.remember("patient:1", "Mark Jones", "John Smith", "NAME")
    reader_vault, reader = make_vault(kafka_bootstrap, compacted, clock=lambda: now[0])
    assert reader_vault.reidentify("Mark Jones", "patient:1") == "John Smith"

    now[0] += 3601
    assert vault.expire() == 1
    messages = consume_all(compacted, 2, timeout=20)
    assert [m.value() is None for m in messages] == [False, True]
    assert reader.refresh(timeout=20) == 0
    assert reader_vault.reidentify("Mark Jones", "patient:1") == "Mark Jones"
    # A fresh load after the tombstone sees nothing either.
    _, fresh = make_vault(kafka_bootstrap, compacted)
    assert len(fresh) == 0


def test_missing_topic_fails_closed(kafka_bootstrap):
    from pipeline.errors import DeidError

    store = KafkaVaultStore({"bootstrap.servers": kafka_bootstrap}, "vault-does-not-exist-xyz")
    with pytest.raises(DeidError):
        store.load(timeout=5)


def test_ensure_vault_topic_is_idempotent(kafka_bootstrap, topic_factory):
    name = topic_factory(prefix="vault-ensure")  # created (and cleaned up) by the fixture
    ensure_vault_topic({"bootstrap.servers": kafka_bootstrap}, name)
    ensure_vault_topic({"bootstrap.servers": kafka_bootstrap}, name)
