"""What the stages need, built once per worker from the settings.

The :class:`Runtime` is the dependency bundle the pure stage functions take; the Faust app and
the tests build one with :func:`build_runtime`. Heavy objects (spaCy, Presidio) load here, never
at import time.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from pipeline.config import Settings
from pipeline.deid.crypto import Keyring
from pipeline.deid.keys import provider_from_settings
from pipeline.errors import ConfigError
from pipeline.policy import Policy, load_policy
from pipeline.serde import AvroCodec, build_codec
from pipeline.streaming.records import utcnow

if TYPE_CHECKING:
    from pipeline.deid.engine import Deidentifier
    from pipeline.deid.vault import Vault
    from pipeline.detect.detector import Detector
    from pipeline.providers.base import ProviderAdapter

#: Stages a worker can run, in flow order.
STAGES: tuple[str, ...] = ("detect", "deid", "route", "provider")


@dataclass
class Runtime:
    """Dependencies of the stage functions (one per worker process).

    Attributes:
        settings: the frozen settings.
        codec: Avro codec for every topic.
        keyring: keys for topic encryption, keyed hashes and de-identification.
        policy: the validated routing policy.
        detector: the PHI detector (stages ``detect`` and ``deid``'s leak gate).
        deidentifier: the de-identification engine (stage ``deid``).
        vault: the re-identification vault, when some tenant re-identifies completions
            (written by ``deid``, read by ``provider``).
        adapters: provider adapters by policy name (stage ``provider``).
        clock: the time source (tests pin it).
        chained: topics whose records stay in memory, handed to a chained stage of this
            worker instead of being written (set by the app when stages are chained).
    """

    settings: Settings
    codec: AvroCodec
    keyring: Keyring
    policy: Policy
    detector: Detector | None = None
    deidentifier: Deidentifier | None = None
    vault: Vault | None = None
    adapters: Mapping[str, ProviderAdapter] = field(default_factory=dict)
    clock: Callable[[], datetime] = utcnow
    chained: frozenset[str] = frozenset()

    def require_detector(self) -> Detector:
        """Return the detector or fail: a stage that needs it must never run without it."""
        if self.detector is None:
            raise ConfigError("this worker was built without a detector", reason="no_detector")
        return self.detector

    def require_deidentifier(self) -> Deidentifier:
        """Return the de-identification engine or fail."""
        if self.deidentifier is None:
            raise ConfigError("this worker was built without a deidentifier", reason="no_deid")
        return self.deidentifier

    def provider_topic(self, provider: str) -> str:
        """Return the topic of provider requests for ``provider``."""
        return f"{self.settings.topics.provider_prefix}{provider}"


def load_configured_policy(settings: Settings) -> Policy:
    """Load the policy file named in the settings."""
    path = settings.providers.policy_file
    if path is None:
        raise ConfigError(
            "providers.policy_file is not set (PHI_PROVIDERS__POLICY_FILE)", reason="no_policy"
        )
    return load_policy(path)


def reidentifying_tenants(policy: Policy) -> list[str]:
    """Names of the tenants whose completions are re-identified."""
    return [t.name for t in policy.tenants if t.deidentification.reidentify_completions]


def build_vault(settings: Settings, keyring: Keyring) -> Vault:
    """The vault on its compacted Kafka topic, loaded into memory."""
    from pipeline.deid.vault import Vault
    from pipeline.deid.vault_kafka import KafkaVaultStore
    from pipeline.kafka.admin import TopicSpec, ensure_topics

    t = settings.topics
    compacted = {"cleanup.policy": "compact", "min.cleanable.dirty.ratio": "0.1"}
    # ensure_topics waits until the topic has a leader, so the load below can read it.
    ensure_topics(settings.kafka, [TopicSpec(t.vault, 1, t.replication_factor, compacted)])
    store = KafkaVaultStore(settings.kafka.librdkafka_config(), t.vault)
    store.load()
    return Vault(store, keyring, ttl_seconds=settings.deid.vault_ttl_seconds)


def build_runtime(
    settings: Settings,
    stages: Collection[str] = STAGES,
    *,
    policy: Policy | None = None,
    detector: Detector | None = None,
) -> Runtime:
    """Build what ``stages`` need, and nothing more (a provider-only worker loads no model).

    Raises:
        ConfigError: a stage name is unknown, or keys, policy or models are missing.
    """
    unknown = set(stages) - set(STAGES)
    if unknown:
        raise ConfigError(f"unknown stages: {', '.join(sorted(unknown))}", reason="bad_stages")
    policy = policy or load_configured_policy(settings)
    keyring = Keyring.from_provider(provider_from_settings(settings.keys))
    codec = build_codec(settings)
    runtime = Runtime(settings=settings, codec=codec, keyring=keyring, policy=policy)
    if {"detect", "deid"} & set(stages):
        if detector is None:
            from pipeline.detect.detector import Detector

            detector = Detector.from_settings(settings)
        runtime.detector = detector
    if reidentifying_tenants(policy) and {"deid", "provider"} & set(stages):
        runtime.vault = build_vault(settings, keyring)
    if "deid" in stages:
        from pydantic import ValidationError

        from pipeline.deid.engine import Deidentifier
        from pipeline.deid.profiles import OperatorSpec, TenantPolicy, builtin_profile

        tenants = {}
        for t in policy.tenants:
            d = t.deidentification
            try:
                tenants[t.name] = TenantPolicy(
                    profile=d.profile or settings.deid.profile,
                    overrides={
                        c: OperatorSpec.model_validate({"operator": op})
                        for c, op in d.overrides.items()
                    },
                    allow_reidentification=d.reidentify_completions,
                )
            except ValidationError:
                raise ConfigError(
                    f"tenant {t.name}: unknown operator in deidentification.overrides",
                    reason="bad_policy",
                ) from None
            # Fail at start-up, not on the first prompt, if an override breaks the profile.
            builtin_profile(tenants[t.name].profile).with_overrides(
                {c.value: spec for c, spec in tenants[t.name].overrides.items()}
            )
        runtime.deidentifier = Deidentifier.from_settings(
            settings, detector=detector, vault=runtime.vault, tenants=tenants
        )
    if "provider" in stages:
        from pipeline.providers.registry import build_adapters

        runtime.adapters = build_adapters(policy, settings.providers)
    return runtime


def freeze_heap(settings: Settings) -> bool:
    """Move every object alive now out of the cyclic garbage collector's reach.

    Called once the runtime is built: the models, policy and app then live for the whole
    process, yet each full collection would walk them again. In a chain worker at 100
    prompts/s, full collections over about 100,000 objects paused every thread of it for
    60-170 ms, a few times in a 30 s run; frozen, those of the run took 2-16 ms (README).
    A frozen object is never collected; these live as long as the process anyway.

    Returns:
        Whether the heap was frozen (``PHI_STREAMING__FREEZE_HEAP``).
    """
    if not settings.streaming.freeze_heap:
        return False
    gc.collect()
    gc.freeze()
    return True
