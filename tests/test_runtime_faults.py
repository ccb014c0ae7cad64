"""Fault injection for the robot runtime: a tiny driver that misbehaves at step 7, the shipped navigation bundle,
and three assertions for every case: the safe action was the last command sent, ``safe_stop`` was called
exactly once, and the log holds every step before the fault and loads with ``sim2real data import``.
SIGTERM, SIGHUP and a double Ctrl-C are sent to a real ``sim2real-deploy run`` process."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from sim2real_runtime import Bundle, CallbackRobot, ControlLoop
from sim2real_runtime.cli import main as deploy_main
from sim2real_runtime.session import Driver, LogWriter, run_session

from sim2real.data.datasets import import_npz
from sim2real.deploy.export import export

FAULT_AT = 7
STEPS = 30
EPISODE = 10


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("faults") / "navigate-dr"
    export("navigate-dr", out, n_parity=20)
    return out


class Drv:
    """A driver whose ``fault`` (observe, act, reward, safe_stop or an observation value) strikes at FAULT_AT."""

    def __init__(self, fault: str | None) -> None:
        self.fault, self.t, self.sent, self.stops = fault, 0, [], 0

    def observe(self):
        o = np.full(32, 0.1, np.float32)
        if self.t == FAULT_AT:
            if self.fault == "observe raises":
                raise OSError("sensor bus timeout")
            bad = {
                "wrong length": np.zeros(5, np.float32),
                "ragged": [[0.0, 1.0], [2.0]],
                "strings": ["a"] * 32,
                "NaN": np.full(32, np.nan, np.float32),
                "1e30": np.full(32, 1e30, np.float32),
            }
            if self.fault in bad:
                return bad[self.fault]
        return o

    def act(self, a):
        self.sent.append(np.asarray(a, np.float32).copy())
        if self.fault == "act raises" and self.t == FAULT_AT:
            self.t += 1
            raise RuntimeError("motor controller fault")
        self.t += 1

    def safe_stop(self):
        self.stops += 1
        if self.fault == "safe_stop raises":
            raise RuntimeError("brake relay stuck")

    def reward(self):
        return "high" if self.fault == "reward string" and self.t == FAULT_AT + 1 else 1.0

    def done(self):
        return self.t % EPISODE == 0


# case -> (exit status, ticks whose observation was refused, the log holds every step of the run)
CASES = {
    "none": (0, 0, True),
    "observe raises": (3, 0, False),
    "act raises": (3, 0, False),
    "safe_stop raises": (4, 0, True),
    "reward string": (3, 0, False),
    "wrong length": (0, 1, False),
    "ragged": (0, 1, False),
    "strings": (0, 1, False),
    "NaN": (0, 1, False),
    "1e30": (0, 1, False),
}


@pytest.mark.parametrize("fault", list(CASES))
def test_a_driver_fault_stops_safely_and_keeps_the_log(fault, bundle, tmp_path, capsys):
    b = Bundle.load(bundle)
    d = Drv(None if fault == "none" else fault)
    robot = CallbackRobot(d.observe, d.act, d.safe_stop)
    log = LogWriter(tmp_path / "log.npz", flush_steps=4)
    log.check(STEPS, b.obs_dim, b.action_dim)
    loop = ControlLoop(b, robot)
    status = run_session(loop, Driver(robot, d.reward, d.done), STEPS, False, None, log, out=lambda s: None)
    want_status, refused, complete = CASES[fault]
    assert status == want_status, capsys.readouterr()
    assert np.array_equal(d.sent[-1], b.safe_action), "the safe action was not the last command"
    assert d.stops == 1
    with np.load(tmp_path / "log.npz") as f:
        n_logged, faults = int(f["episode_lengths"].sum()), f["fault_steps"].tolist()
    assert len(faults) == refused
    if complete:
        assert n_logged == STEPS
    elif refused:  # the refused tick and the action before it are not transitions; everything else is kept
        assert n_logged == STEPS - 2 and faults == [FAULT_AT]
    else:  # the run ended at the fault: every earlier complete step is logged
        assert n_logged >= FAULT_AT - 2
    path, _ = import_npz(tmp_path / "log.npz", "navigate", tmp_path / "data" / "log-v0")
    assert path.is_dir()


def _cli(bundle: Path, tmp_path: Path, *extra: str) -> int:
    drv = tmp_path / "okdrv.py"
    drv.write_text(
        "import numpy as np\nSENT = []\n"
        "def make():\n"
        "    return {'observe': lambda: np.zeros(32, np.float32), 'act': SENT.append, 'safe_stop': lambda: None}\n"
    )
    sys.path.insert(0, str(tmp_path))
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        return deploy_main(["run", str(bundle), "--driver", "okdrv:make", "--steps", "5", "--no-realtime", *extra])
    finally:
        os.chdir(cwd)
        sys.path.remove(str(tmp_path))
        sys.modules.pop("okdrv", None)


@pytest.mark.parametrize("deadline", ["nan", "-5", "0", "inf"])
def test_a_deadline_that_switches_the_watchdog_off_is_refused(deadline, bundle, tmp_path, capsys):
    assert _cli(bundle, tmp_path, "--deadline-ms", deadline) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "deadline" in err and "finite, positive" in err


def test_a_log_without_room_is_refused_before_the_robot_moves(bundle, tmp_path, capsys, monkeypatch):
    import shutil as sh

    monkeypatch.setattr("sim2real_runtime.safeio.shutil.disk_usage", lambda p: sh._ntuple_diskusage(10**9, 10**9, 1000))
    assert _cli(bundle, tmp_path, "--log", str(tmp_path / "x.npz")) == 2
    assert "MiB free" in capsys.readouterr().err and not (tmp_path / "x.npz").exists()
    assert _cli(bundle, tmp_path, "--log", str(tmp_path / "no" / "such" / "x.npz")) == 2
    assert "does not exist" in capsys.readouterr().err


def test_a_full_disk_mid_run_stops_safely_and_keeps_the_last_flush(bundle, tmp_path, monkeypatch):
    import sim2real_runtime.session as session

    real = session.write_npz
    calls = {"n": 0}

    def flaky(*a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(*a, **k)

    monkeypatch.setattr(session, "write_npz", flaky)
    b = Bundle.load(bundle)
    d = Drv(None)
    robot = CallbackRobot(d.observe, d.act, d.safe_stop)
    log = LogWriter(tmp_path / "log.npz", flush_steps=4)
    status = run_session(
        ControlLoop(b, robot), Driver(robot, d.reward, d.done), STEPS, False, None, log, out=lambda s: None
    )
    assert status == 5 and d.stops == 1 and np.array_equal(d.sent[-1], b.safe_action)
    with np.load(tmp_path / "log.npz") as f:
        assert int(f["episode_lengths"].sum()) >= 3  # the second flush survives


DRIVER = textwrap.dedent(
    """
    import time
    import numpy as np

    def make(record):
        f = open(record, "a", buffering=1)

        def observe():
            time.sleep(0.002)
            return np.full(32, 0.1, np.float32)

        def safe_stop():
            time.sleep(0.3)  # a slow brake: a second signal arrives while it runs
            f.write("STOP\\n")

        return {"observe": observe, "act": lambda a: f.write(" ".join(f"{x:.6f}" for x in a) + "\\n"),
                "safe_stop": safe_stop, "done": lambda: False}
    """
)


@pytest.mark.parametrize("signals", [("SIGTERM",), ("SIGHUP",), ("SIGINT", "SIGINT")])
def test_a_signal_ends_the_run_safely_in_a_real_process(signals, bundle, tmp_path):
    (tmp_path / "drv.py").write_text(DRIVER)
    record = tmp_path / "sent.txt"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sim2real_runtime.cli",
            "run",
            str(bundle),
            "--driver",
            "drv:make",
            "--driver-arg",
            f"record={record}",
            "--steps",
            "1000000",
            "--no-realtime",
            "--log",
            "log.npz",
            "--flush-steps",
            "50",
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while time.time() < deadline and (not record.exists() or record.read_text().count("\n") < 120):
        time.sleep(0.05)
    for s in signals:
        proc.send_signal(getattr(signal, s))
        time.sleep(0.01)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + getattr(signal, signals[0]), err
    assert "Traceback" not in err, err
    lines = record.read_text().splitlines()
    assert lines.count("STOP") == 1 and lines[-1] == "STOP"
    b = Bundle.load(bundle)
    assert np.allclose([float(x) for x in lines[-2].split()], b.safe_action)  # the last command: the safe action
    n_sent = len(lines) - 2  # the policy's commands (the safe action and STOP excluded)
    with np.load(tmp_path / "log.npz") as f:
        assert int(f["episode_lengths"].sum()) == n_sent - 1  # every step but the one cut at the signal
    import_npz(tmp_path / "log.npz", "navigate", tmp_path / "data" / "sig-v0")
