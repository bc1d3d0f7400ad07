"""The audit trail's archive: hash-chained, signed, write-once segments of ``phi.audit``.

Modules: :mod:`~pipeline.audit.chain` (record hashes), :mod:`~pipeline.audit.segment` (Avro
container files), :mod:`~pipeline.audit.manifest` and :mod:`~pipeline.audit.signing` (signed
manifests), :mod:`~pipeline.audit.storage` (write-once storage), :mod:`~pipeline.audit.archiver`
(the core) and :mod:`~pipeline.audit.consumer` (its Kafka loop), :mod:`~pipeline.audit.verify`,
:mod:`~pipeline.audit.check`, :mod:`~pipeline.audit.verify_kafka`,
:mod:`~pipeline.audit.sources`, :mod:`~pipeline.audit.replay`, :mod:`~pipeline.audit.trace`,
:mod:`~pipeline.audit.canary` and :mod:`~pipeline.audit.cli` (the ``audit`` command).
Importing the package is cheap: Kafka clients are imported where they are used.
"""
