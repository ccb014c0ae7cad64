"""Running compare's units: one Hydra multirun of ``sim2real unit`` in its own process group, ended with
compare (a signal, an exit, ``kill -9`` included), with progress on a terminal."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from omegaconf import DictConfig

from sim2real.learn.config import plain


def launch(units: list[dict[str, Any]], out: Path, cfg: DictConfig, stage: str = "evaluation and training") -> None:
    """Run the units that have no result yet, as one Hydra multirun of the worker (:mod:`sim2real.transfer.worker`)."""
    todo = [u for u in units if not (out / "units" / u["id"] / "result.json").is_file()]
    print(f"compare ({stage}): {len(units)} units, {len(units) - len(todo)} already done, {len(todo)} to run")
    if not todo:
        return
    files = ",".join(str(out / "units" / f"{u['id']}.json") for u in todo)
    cmd = [
        sys.executable,
        "-m",
        "sim2real.transfer.worker",
        "-m",
        *_config_dir(units),
        f"unit={files}",
        f"hydra/launcher={cfg.launcher}",
        f"hydra.sweep.dir={out / ('multirun-pretraining' if stage == 'pretraining' else 'multirun')}",
        "hydra.sweep.subdir=${hydra.job.num}",
        *plain(cfg.launcher_overrides),
    ]
    if cfg.launcher == "joblib":
        cmd.append(f"hydra.launcher.n_jobs={int(cfg.n_jobs)}")
    env = {**os.environ, "OMP_NUM_THREADS": "1", PARENT_ENV: str(os.getpid())}
    with _progress(todo, out, stage):
        rc = run_group(cmd, env)
    failed = [u["id"] for u in todo if not (out / "units" / u["id"] / "result.json").is_file()]
    if rc or failed:
        raise RuntimeError(
            f"compare: {len(failed)} unit(s) failed ({', '.join(failed[:5])}); see {out / 'multirun'}; "
            "rerun the same command to retry only those"
        )


@contextlib.contextmanager
def _progress(todo: list[dict[str, Any]], out: Path, stage: str, every_s: float = 5.0) -> Any:
    """Units done and remaining, with an ETA, while the multirun works (on a terminal only)."""
    from tqdm import tqdm

    bar = tqdm(total=len(todo), desc=f"compare ({stage})", unit="unit", disable=None)
    stop = threading.Event()

    def poll() -> None:
        while not stop.wait(every_s):
            bar.update(sum((out / "units" / u["id"] / "result.json").is_file() for u in todo) - bar.n)

    thread = threading.Thread(target=poll, name="compare-progress", daemon=True)
    thread.start()
    try:
        yield bar
    finally:
        stop.set()
        thread.join()
        bar.close()


def _config_dir(units: list[dict[str, Any]]) -> list[str]:
    """``--config-dir <dir>`` when the task came from a task YAML there (the workers register it the same way)."""
    from sim2real.sim import tasks

    where = tasks.config_dir(units[0]["task"]) if units else None
    return ["--config-dir", str(where)] if where is not None else []


PARENT_ENV = "SIM2REAL_COMPARE_PID"  # set for the unit workers: they end when this process is gone


def _die_with_parent() -> None:
    """In the launched child: receive SIGKILL when compare dies, even by ``kill -9`` (Linux ``prctl``)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # elsewhere the unit watchdog (watch_parent) still ends the workers


def run_group(cmd: list[str], env: dict[str, str]) -> int:
    """Run ``cmd`` in its own process group and end the whole group when this process exits or is signalled."""
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, preexec_fn=_die_with_parent)
    old = {s: signal.signal(s, _raise_interrupt) for s in (signal.SIGTERM, signal.SIGHUP)}
    try:
        return proc.wait()
    finally:
        for s, h in old.items():
            signal.signal(s, h)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, killed but not yet reaped, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (FileNotFoundError, IndexError):
        try:
            os.kill(pid, 0)
            return True
        except ProcessLookupError:
            return False
        except PermissionError:
            return True


def watch_parent(interval_s: float = 1.0) -> None:
    """In a unit worker: end this process once the compare that launched it is gone (``kill -9`` included)."""
    pid = os.environ.get(PARENT_ENV)
    if not pid or not pid.isdigit():
        return

    def loop() -> None:
        while _alive(int(pid)):
            time.sleep(interval_s)
        os._exit(137)

    threading.Thread(target=loop, name="compare-watchdog", daemon=True).start()
