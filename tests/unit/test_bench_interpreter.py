"""The interpreter facts a benchmark records (benchmarks/interpreter.py)."""

from __future__ import annotations

import json
import platform
from pathlib import Path

import pytest

from benchmarks.common import emit
from benchmarks.interpreter import (
    configure_flags,
    interpreter_info,
    libpython_linkage,
    slow_build_note,
)

PYENV_ARGS = (
    "'--prefix=/root/.pyenv/versions/3.11.7' '--enable-shared' "
    "'--libdir=/root/.pyenv/versions/3.11.7/lib' 'LDFLAGS=-L/root/.pyenv/versions/3.11.7/lib'"
)
DOCKER_ARGS = (
    "'--build=x86_64-linux-gnu' '--enable-loadable-sqlite-extensions' "
    "'--enable-optimizations' '--enable-option-checking=fatal' '--enable-shared' "
    "'--with-lto' '--with-ensurepip'"
)


def test_configure_flags_reads_the_optimisation_options() -> None:
    assert configure_flags(PYENV_ARGS) == []
    assert configure_flags(DOCKER_ARGS) == ["--enable-optimizations", "--with-lto"]
    assert configure_flags("--with-lto=thin --with-lto=thin") == ["--with-lto=thin"]
    assert configure_flags("") == []


def test_libpython_linkage_reads_the_process_maps(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.write_text(
        "7f6a35c00000-7f6a35c50000 r--p 00000000 08:01 1 "
        "/root/.pyenv/versions/3.11.7/lib/libpython3.11.so.1.0\n"
        "7f6a35a1e000-7f6a35a40000 r--p 00000000 08:01 2 /lib/x86_64-linux-gnu/libc.so.6\n"
    )
    static = tmp_path / "static"
    static.write_text(
        "55d0c0000000-55d0c0100000 r--p 00000000 08:01 3 /usr/bin/python3.11\n"
        "7f6a35a1e000-7f6a35a40000 r--p 00000000 08:01 2 /lib/x86_64-linux-gnu/libc.so.6\n"
    )
    assert libpython_linkage(shared) == "shared"
    assert libpython_linkage(static) == "static"
    assert libpython_linkage(tmp_path / "absent") is None


def test_slow_build_note_only_for_a_shared_unoptimised_cpython() -> None:
    base = {"implementation": "CPython", "executable": "/x/python3"}
    note = slow_build_note({**base, "libpython": "shared", "configure_optimisations": []})
    assert note is not None and "/x/python3" in note and "--enable-optimizations" in note
    optimised = ["--enable-optimizations", "--with-lto"]
    assert (
        slow_build_note({**base, "libpython": "shared", "configure_optimisations": optimised})
        is None
    )
    # Debian's build: static interpreter, flags stripped from sysconfig.
    assert slow_build_note({**base, "libpython": "static", "configure_optimisations": []}) is None
    assert slow_build_note({**base, "libpython": None, "configure_optimisations": []}) is None
    other = {"implementation": "PyPy", "executable": "/x/pypy3", "libpython": "shared"}
    assert slow_build_note({**other, "configure_optimisations": []}) is None


def test_interpreter_info_describes_this_process() -> None:
    info = interpreter_info()
    assert info["version"] == platform.python_version()
    assert info["implementation"] == platform.python_implementation()
    assert Path(str(info["executable"])).exists()
    assert info["libpython"] in ("shared", "static", None)
    assert isinstance(info["configure_optimisations"], list)
    assert str(platform.python_build()[0]) in str(info["build"])


def test_emit_records_the_interpreter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.json"
    emit({"x": 1}, out)
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written["x"] == 1
    assert written["interpreter"]["version"] == platform.python_version()
    capsys.readouterr()
    kept = {"x": 2, "interpreter": {"version": "given"}}
    emit(kept, None)
    assert json.loads(capsys.readouterr().out)["interpreter"] == {"version": "given"}
    assert kept == {"x": 2, "interpreter": {"version": "given"}}  # the caller's dict untouched
