"""Settings for a throwaway Faust app on the session's broker (one partition, no web server)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any


def faust_app_kwargs(bootstrap: str, tmp_path: Path) -> dict[str, Any]:
    """Keyword arguments for ``faust.App`` (or a subclass): a fresh group, memory store."""
    return {
        "id": f"phi-test-{uuid.uuid4().hex[:8]}",
        "broker": f"kafka://{bootstrap}",
        "store": "memory://",
        "datadir": str(tmp_path / "faust"),
        "web_enabled": False,
        "topic_partitions": 1,
        "topic_replication_factor": 1,
        "consumer_auto_offset_reset": "earliest",
    }
