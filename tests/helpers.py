"""Shared test helpers."""

import contextlib
import io
import logging
from types import SimpleNamespace

from hydra import compose, initialize_config_module

from sim2real.learn.config import build_spec
from sim2real.learn.train import train

TINY = {
    "ppo": ["algo=ppo", "algo.n_steps=64", "algo.batch_size=64", "algo.n_epochs=1", "n_envs=2"],
    "sac": ["algo=sac", "algo.learning_starts=32", "algo.buffer_size=500", "algo.batch_size=16", "n_envs=1"],
}


def tiny_train(out, algo, steps=128):
    """A tiny navigation run of ``algo`` in ``out`` (seconds); returns ``out``."""
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
