"""Which Python interpreter build a benchmark ran on: the build alone moves the figures.

CPython built from source without ``--enable-optimizations`` (profile-guided optimisation)
and ``--with-lto``, with ``libpython`` as a shared library (pyenv's default), runs this
pipeline's Python code markedly slower than a build with both and a statically linked
interpreter (Debian's and Ubuntu's ``python3``, the official ``python`` Docker images); see
the README ("The interpreter"). A benchmark's JSON therefore records the build, and
:func:`slow_build_note` says when a run measures such a build.

Only facts the process can read about itself are recorded: the version, the build string,
whether a ``libpython`` shared object is mapped into the process (``/proc/self/maps``), and
the optimisation flags in ``sysconfig``'s ``CONFIG_ARGS``. Debian's packages strip their
LTO/PGO flags from ``sysconfig`` (their changelog: "Don't propagate lto flags to the
_sysconfigdata module"), so an empty flag list does not prove an unoptimised build; a shared
``libpython`` together with no flags is what :func:`slow_build_note` reports.
"""

from __future__ import annotations

import os
import platform
import sys
import sysconfig
from pathlib import Path

#: Configure options that mark an optimised CPython build, as ``CONFIG_ARGS`` spells them.
_OPTIMISING = ("--enable-optimizations", "--with-lto")


def libpython_linkage(maps: Path = Path("/proc/self/maps")) -> str | None:
    """Return ``"shared"`` when a ``libpython`` shared object is mapped, ``"static"`` if not.

    ``None`` where ``/proc`` cannot be read (not Linux).
    """
    try:
        text = maps.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return "shared" if "/libpython" in text else "static"


def configure_flags(config_args: str | None = None) -> list[str]:
    """Return the optimisation options CPython was configured with (as ``sysconfig`` says)."""
    args = sysconfig.get_config_var("CONFIG_ARGS") if config_args is None else config_args
    found = []
    for word in str(args or "").replace("'", " ").split():
        if word.startswith(_OPTIMISING) and word not in found:
            found.append(word)
    return found


def interpreter_info() -> dict[str, object]:
    """Return the running interpreter's build facts for a benchmark's JSON."""
    build_no, build_date = platform.python_build()
    return {
        "executable": os.path.realpath(sys.executable),
        "implementation": platform.python_implementation(),
        "version": platform.python_version(),
        "build": f"{build_no}, {build_date}",
        "compiler": platform.python_compiler(),
        "libpython": libpython_linkage(),
        "configure_optimisations": configure_flags(),
    }


def slow_build_note(info: dict[str, object]) -> str | None:
    """Return a warning when ``info`` describes a shared-``libpython`` build without
    optimisation flags (pyenv's default), else ``None``."""
    if info.get("implementation") != "CPython":
        return None
    if info.get("libpython") == "shared" and not info.get("configure_optimisations"):
        return (
            f"note: {info['executable']} is CPython built without --enable-optimizations and "
            "--with-lto, with a shared libpython; an optimised build (Debian's or Ubuntu's "
            "python3, the official Docker images) runs the pipeline faster. See the README, "
            '"The interpreter".'
        )
    return None
