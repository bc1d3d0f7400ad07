"""The workers' event loop choice: uvloop when installed, the standard loop on request."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from pipeline.config import StreamingSettings
from pipeline.errors import ConfigError
from pipeline.eventloop import install_event_loop

uvloop = pytest.importorskip("uvloop")


@pytest.fixture(autouse=True)
def restore_policy() -> Iterator[None]:
    """Each test leaves the process on the standard policy, as it found it."""
    before = asyncio.get_event_loop_policy()
    yield
    asyncio.set_event_loop_policy(before)


def loop_in_new_thread() -> type[asyncio.AbstractEventLoop]:
    """The class of the loop a new thread creates: how Faust's consumer thread gets its loop."""
    found: list[type[asyncio.AbstractEventLoop]] = []

    def run() -> None:
        loop = asyncio.new_event_loop()
        found.append(type(loop))
        loop.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return found[0]


def block_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``import uvloop`` fail, as on a machine without it (a ``None`` entry in
    ``sys.modules`` makes the import raise ``ImportError``)."""
    monkeypatch.setitem(sys.modules, "uvloop", None)


def test_the_default_is_auto() -> None:
    assert StreamingSettings().event_loop == "auto"


@pytest.mark.parametrize("choice", ["auto", "uvloop"])
def test_uvloop_serves_every_loop_created_afterwards(choice: Any) -> None:
    assert install_event_loop(choice) == "uvloop"
    assert loop_in_new_thread() is uvloop.Loop

    async def roundtrip() -> int:
        # A real coroutine, a future resolved from another thread and a timer: what the
        # agents, the acknowledgement thread and Faust's timers do.
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[int] = loop.create_future()
        threading.Thread(target=lambda: loop.call_soon_threadsafe(fut.set_result, 7)).start()
        await asyncio.sleep(0.01)
        return await fut

    loop = asyncio.new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
        assert loop.run_until_complete(roundtrip()) == 7
    finally:
        loop.close()


def test_asyncio_keeps_the_standard_loop() -> None:
    install_event_loop("uvloop")
    assert install_event_loop("asyncio") == "asyncio"
    assert not issubclass(loop_in_new_thread(), uvloop.Loop)


def test_auto_falls_back_without_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    block_uvloop(monkeypatch)
    assert install_event_loop("auto") == "asyncio"
    assert not issubclass(loop_in_new_thread(), uvloop.Loop)


def test_required_uvloop_that_is_missing_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    block_uvloop(monkeypatch)
    with pytest.raises(ConfigError) as info:
        install_event_loop("uvloop")
    assert info.value.reason == "uvloop_missing"


def test_an_unknown_choice_is_refused() -> None:
    with pytest.raises(ConfigError):
        install_event_loop("trio")  # type: ignore[arg-type]


@pytest.mark.parametrize(("choice", "uv"), [("auto", True), ("asyncio", False)])
def test_the_local_provider_server_runs_on_the_chosen_loop(choice: Any, uv: bool) -> None:
    import httpx

    from pipeline.providers.local_server import LocalProviderServer

    with LocalProviderServer(event_loop=choice) as server:
        body = {"model": "m", "messages": [{"role": "user", "content": "hello"}]}
        reply = httpx.post(server.openai_base_url + "/chat/completions", json=body, timeout=10)
        assert reply.status_code == 200
        assert "hello" in reply.json()["choices"][0]["message"]["content"]
        assert isinstance(server._loop, uvloop.Loop) is uv
    # The process's own policy is left alone.
    assert not isinstance(asyncio.get_event_loop_policy(), uvloop.EventLoopPolicy)
