"""sim2real's build backend: setuptools', plus one check when pip installs sim2real. sim2real depends on
``sim2real-runtime`` (``./runtime``), which no package index has, so a bare ``pip install .`` would end in
pip's "No matching distribution found". This says what to do instead, before pip tries: the runtime must be
installed already, or be installed by the same pip command (``pip install ./runtime .``).

The pip command line is read from ``/proc/<parent>/cmdline`` (Linux); where that cannot be read, or for
``pip wheel`` and ``python -m build``, nothing is checked and pip's own resolution decides.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

from setuptools import build_meta as _orig
from setuptools.build_meta import *  # noqa: F403  (every hook setuptools provides)

MESSAGE = (
    "sim2real needs its deploy runtime, sim2real-runtime, which no package index has: install both, the runtime "
    "first, with `pip install ./runtime .` (from a checkout), or install the runtime's wheel first"
)


def _runtime_installed() -> bool:
    """Whether the environment pip installs into already has sim2real-runtime (build isolation hides its
    site-packages from ``sys.path``, not from ``sys.prefix``)."""
    site = Path(sysconfig.get_paths(vars={"base": sys.prefix, "platbase": sys.prefix})["purelib"])
    return any(site.glob("sim2real_runtime-*.dist-info")) or any(site.glob("__editable__*sim2real_runtime*"))


def _pip_args() -> tuple[list[str], Path] | None:
    """The command line and working directory of the pip process that runs this backend (None: unknown)."""
    pid = os.getppid()
    try:
        args = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")
        return [a for a in args if a], Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def check_runtime() -> None:
    """Refuse, in one message, a ``pip install`` of sim2real that does not bring the runtime."""
    if os.environ.get("SIM2REAL_SKIP_RUNTIME_CHECK") or _runtime_installed():
        return
    found = _pip_args()
    if found is None:
        return
    args, cwd = found
    if "install" not in args or "--no-deps" in args:
        return  # pip wheel, python -m build, --no-deps: nothing will resolve sim2real-runtime
    runtime = (Path(__file__).resolve().parents[1] / "runtime").resolve()
    for a in args:
        path = Path(a) if Path(a).is_absolute() else cwd / a
        if "sim2real_runtime" in a or "sim2real-runtime" in a or (path.exists() and path.resolve() == runtime):
            return
    raise SystemExit(MESSAGE)


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):  # noqa: ANN001, ANN201
    check_runtime()
    return _orig.prepare_metadata_for_build_wheel(metadata_directory, config_settings)


def prepare_metadata_for_build_editable(metadata_directory, config_settings=None):  # noqa: ANN001, ANN201
    check_runtime()
    return _orig.prepare_metadata_for_build_editable(metadata_directory, config_settings)
