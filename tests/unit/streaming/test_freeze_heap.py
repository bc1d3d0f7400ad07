"""A worker freezes the heap it built at start-up, so full collections skip the models."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from pipeline.config import StreamingSettings, load_settings
from pipeline.streaming.runtime import freeze_heap


class Node:
    """A cyclic object: only the garbage collector can free it."""

    def __init__(self) -> None:
        self.me = self


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Leave the test process's collector as it was found (nothing frozen)."""
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_start_up_objects_leave_the_collector_and_new_garbage_is_still_collected(
    unfrozen: None,
) -> None:
    before = Node()
    assert any(o is before for o in gc.get_objects())
    assert freeze_heap(load_settings()) is True
    assert gc.get_freeze_count() > 0
    # Frozen objects are not walked by any collection any more...
    assert not any(o is before for o in gc.get_objects())
    # ...and cycles made after the freeze are still freed.
    later = Node()
    ref = weakref.ref(later)
    del later
    gc.collect()
    assert ref() is None


def test_freezing_can_be_turned_off(unfrozen: None) -> None:
    settings = load_settings(streaming=StreamingSettings(freeze_heap=False))
    assert freeze_heap(settings) is False
    assert gc.get_freeze_count() == 0
