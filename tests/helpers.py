"""Shared test helpers."""

import contextlib
import io
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import numpy as np
from hydra import compose, initialize_config_module

from sim2real.learn.config import build_spec
from sim2real.learn.train import train

TINY = {
    "ppo": ["algo=ppo", "algo.n_steps=64", "algo.batch_size=64", "algo.n_epochs=1", "n_envs=2"],
    "recurrent_ppo": [
        "algo=recurrent_ppo",
        "algo.n_steps=64",
        "algo.batch_size=64",
        "algo.n_epochs=1",
        "n_envs=2",
        "algo.policy.lstm_hidden_size=16",
    ],
    "sac": ["algo=sac", "algo.learning_starts=32", "algo.buffer_size=500", "algo.batch_size=16", "n_envs=1"],
}


def tiny_train(out, algo, steps=128, extra=()):
    """A tiny navigation run of ``algo`` in ``out`` (seconds), with ``extra`` overrides; returns ``out``."""
    with initialize_config_module(config_module="sim2real.configs", version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[
                "task=navigate",
                f"steps={steps}",
                "eval.interval=0",
                "warm_start.demos=0",
                f"out_dir={out}",
                *TINY[algo],
                *extra,
            ],
        )
    train(build_spec(cfg))
    return out


def run_cli(*argv, timeout=None):
    """The CLI's entry function in-process (about 2 s cheaper than a subprocess); returns ``returncode``,
    ``stdout`` and ``stderr`` like ``subprocess.run``. Streams are redirected by hand, not through capsys:
    Hydra's job logging keeps the stream it was set up with, so its handlers are restored afterwards."""
    from sim2real.commands.cli import main

    out, err = io.StringIO(), io.StringIO()
    handlers = list(logging.root.handlers)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in argv])
        except SystemExit as e:
            rc = e.code
        finally:
            logging.root.handlers[:] = handlers
    return SimpleNamespace(returncode=rc, stdout=out.getvalue(), stderr=err.getvalue())


def install_entry_point(site, dist_name, entry, monkeypatch):
    """Make ``site`` an installed distribution ``dist_name`` with one ``sim2real.tasks`` entry point (``entry``,
    as in entry_points.txt), put it on ``sys.path`` for this test, and make the registry load plugins again."""
    from sim2real.sim import tasks

    dist = site / f"{dist_name.replace('-', '_')}-0.1.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(f"[sim2real.tasks]\n{entry}\n")
    monkeypatch.syspath_prepend(str(site))
    tasks._load_builtin_and_plugins.cache_clear()


REPO = Path(__file__).resolve().parents[1]
SITE = Path(np.__file__).resolve().parents[1]  # this environment's site-packages
RUNTIME_DEPS = ("numpy", "numpy.libs", "onnxruntime")  # what the runtime imports, and nothing else

DRIVER = textwrap.dedent(
    """
    import numpy as np

    def make(obs_dim="32", episode="15"):
        state = {"t": 0, "sent": []}
        n, T = int(obs_dim), int(episode)

        def observe():
            o = np.full(n, 0.5, dtype=np.float32)
            o[0] = 1.0 + 0.01 * state["t"]
            return o

        def act(a):
            state["sent"].append(np.asarray(a).tolist())
            state["t"] += 1

        def done():
            return state["t"] % T == 0

        return {"observe": observe, "act": act, "safe_stop": lambda: None, "done": done,
                "reward": lambda: 1.0, "success": lambda: True}
    """
)


def build_runtime_venv(root: Path) -> Path:
    """A fresh venv in ``root``, outside the source tree, holding only the runtime wheel, numpy and onnxruntime,
    and ``root/work/fake_robot.py`` (``DRIVER``); returns ``root``."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", "--without-pip", str(root / "venv")], check=True)
    py = root / "venv" / "bin" / "python"
    site = Path(
        subprocess.check_output([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"], text=True).strip()
    )
    deps = root / "deps"  # numpy and onnxruntime from this machine's environment (no download in tests)
    deps.mkdir()
    for name in RUNTIME_DEPS:
        if (SITE / name).exists():
            (deps / name).symlink_to(SITE / name)
    (site / "deps.pth").write_text(f"{deps}\n")
    wheels = root / "wheels"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", wheels, REPO / "runtime"],
        check=True,
        cwd=root,
        capture_output=True,
    )
    wheel = next(wheels.glob("sim2real_runtime-*.whl"))
    subprocess.run(
        [*pip, "--python", py, "install", "--no-deps", "--no-index", wheel], check=True, cwd=root, capture_output=True
    )
    (root / "work").mkdir()
    (root / "work" / "fake_robot.py").write_text(DRIVER)
    return root


def _in_venv(root, *argv):
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(argv, cwd=root / "work", capture_output=True, text=True, env=env, timeout=120)
