"""`make dist`'s wheels install into a fresh virtual environment and their commands run (built from a copy of
the tracked files, so nothing is written into the repository)."""

import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_both_wheels_install_into_a_fresh_venv_and_run(tmp_path):
    files = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    src = tmp_path / "src"
    for f in files:
        if (ROOT / f).is_file() and not f.startswith(("tests/", "docs/", "benchmarks/")):
            (src / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / f, src / f)
    wheels = tmp_path / "dist"
    pip = [sys.executable, "-m", "pip"]
    subprocess.run([*pip, "wheel", "--quiet", "--no-deps", "--no-build-isolation", "-w", wheels, "./runtime", "."],
                   cwd=src, check=True, timeout=600)  # fmt: skip
    names = sorted(p.name for p in wheels.glob("*.whl"))
    assert [n.split("-")[0] for n in names] == ["sim2real", "sim2real_runtime"], names
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", venv], check=True, timeout=120)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())  # fmt: skip
    # the dependencies (torch, MuJoCo, SB3, ...) come from this environment's site-packages, as a plain path: its
    # .pth files (the editable install of sim2real) are not run, so sim2real is the wheel's
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([*pip, "--python", str(py), "install", "--quiet", "--no-deps", "--no-index", *wheels.glob("*.whl")],
                   check=True, timeout=300)  # fmt: skip
    where = subprocess.run([py, "-c", "import sim2real, sim2real_runtime; print(sim2real.__file__, "
                            "sim2real_runtime.__file__)"], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert where.returncode == 0 and where.stdout.count(str(site)) == 2, where.stdout + where.stderr
    for cmd in ("sim2real", "sim2real-deploy"):
        r = subprocess.run([venv / "bin" / cmd, "--help"], capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert r.returncode == 0 and "usage" in (r.stdout + r.stderr).lower(), (cmd, r.stderr[-2000:])
    r = subprocess.run([venv / "bin" / "sim2real", "task", "list"], capture_output=True, text=True, timeout=300,
                       cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0 and "panda_lift" in r.stdout, r.stderr[-2000:]  # the packaged configs and assets


def _backend():
    import importlib.util

    spec = importlib.util.spec_from_file_location("sim2real_build", ROOT / "build_backend" / "sim2real_build.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_pip_install_dot_alone_is_refused_with_what_to_do(monkeypatch, tmp_path):
    """`pip install .` without ./runtime: one message naming `pip install ./runtime .` (before pip's resolver
    fails on a package no index has); with the runtime on the same command line, or installed, it passes."""
    import pytest

    b = _backend()
    monkeypatch.delenv("SIM2REAL_SKIP_RUNTIME_CHECK", raising=False)
    monkeypatch.setattr(b, "_runtime_installed", lambda: False)
    monkeypatch.setattr(b, "_pip_args", lambda: (["python", "-m", "pip", "install", "."], ROOT))
    with pytest.raises(SystemExit, match=r"pip install \./runtime \."):
        b.check_runtime()
    passing = [
        ["pip", "install", "./runtime", "."],
        ["pip", "install", "-e", str(ROOT / "runtime"), "-e", "."],
        ["pip", "install", "dist/sim2real_runtime-0.1.0-py3-none-any.whl", "."],
        ["pip", "wheel", "."],
    ]
    for args in passing:
        monkeypatch.setattr(b, "_pip_args", lambda a=args: (a, ROOT))
        b.check_runtime()
    monkeypatch.setattr(b, "_pip_args", lambda: (["pip", "install", "."], ROOT))
    monkeypatch.setattr(b, "_runtime_installed", lambda: True)
    b.check_runtime()
