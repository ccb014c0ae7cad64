"""Faults a robot-learning user meets: a killed run resumed, two runs in one directory, a killed compare,
an export or a dataset written over something else, checkpoints of an older run, a calibration on data in
the wrong units. Each test fails on the code before its fix."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from sim2real.envs.scripted import scripted_policy
from stable_baselines3 import PPO

from sim2real.data.collect import rollout
from sim2real.data.datasets import DatasetError, write
from sim2real.ident.replay import CalibrationError
from sim2real.ident.result_check import check_result
from sim2real.learn.runs import latest_checkpoint, save_checkpoint
from sim2real.learn.vec import make_vec_env, normalize
from sim2real.transfer.launch import PARENT_ENV
from tests.helpers import run_cli as cli

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def run_cli(*argv):
    r = cli(*argv)
    return r.returncode, r.stdout, r.stderr


def wait_for(predicate, timeout=240.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def latest_step(run: Path) -> int:
    p = run / "checkpoints" / "latest"
    return int(p.read_text().strip().split("-")[1]) if p.is_file() else -1


def test_kill_9_then_resume_keeps_the_started_config_and_a_second_run_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run = tmp_path / "run"
    args = [
        "train",
        "task=navigate",
        "steps=4096",
        "n_envs=2",
        "algo.n_steps=128",
        "algo.batch_size=64",
        "algo.n_epochs=1",
        "checkpoint_interval=512",
        "eval.interval=1024",
        "eval.episodes=1",
        "eval.targets=[train]",
        "warm_start.demos=0",  # navigation's tuning clones 300 demonstrations first (30-40 s); not what is tested
        f"hydra.run.dir={run}",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim2real.commands.cli", *args],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert wait_for(lambda: latest_step(run) >= 1024)
        # a second run in the same directory while the first one runs: refused, the first one's files intact
        rc, _, err = run_cli(*args, "seed=1")
        assert rc == 2 and "in use by another process" in err, err
        # the loser wrote nothing: the winner's record still holds the winner's command line
        assert "seed=1" not in (run / ".hydra" / "overrides.yaml").read_text()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    killed_at = latest_step(run)
    assert 0 < killed_at < 4096 and not (run / "policy.safetensors").exists()
    # an override that changes what the run learns is refused
    rc, _, err = run_cli("train", f"resume={run}", "algo.gamma=0.9")
    assert rc == 2 and "algo.gamma" in err and "differs" in err, err
    # the documented command: nothing but resume=<run dir>
    rc, out, err = run_cli("train", f"resume={run}")
    assert rc == 0, err
    assert f"from step {killed_at}" in out
    meta = json.loads((run / "run.json").read_text())
    assert 4096 <= meta["num_timesteps"] < 4096 + 2 * 128 * 2  # not the default 300 000 steps
    assert meta["config"]["checkpoint_interval"] == 512 and meta["config"]["eval"]["interval"] == 1024
    steps = [json.loads(x)["timesteps"] for x in (run / "evaluations.jsonl").read_text().splitlines()]
    assert steps == sorted(set(steps)), steps  # rows after the checkpoint were dropped, not repeated


def test_finetune_resume_hint_works(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from tests.helpers import tiny_train

    init = tiny_train(tmp_path / "init", "ppo")
    run = tmp_path / "ft"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sim2real.commands.cli",
            "finetune",
            f"init={init}",
            "steps=100000",
            "n_envs=2",
            "checkpoint_interval=256",
            "eval.interval=0",
            "finetune.lr=3e-4",
            f"hydra.run.dir={run}",
        ],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert wait_for(lambda: latest_step(run) >= 256)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    hint = err.strip().splitlines()[-1].split("continue with: ")[1]
    assert hint == f"sim2real finetune resume={run}"
    started = yaml.safe_load((run / "config.started.yaml").read_text())
    rc, out, err = run_cli(*hint.split()[1:], "steps=512")  # steps may be changed on resume
    assert rc == 0, err
    meta = json.loads((run / "run.json").read_text())
    assert meta["init"] == str(init) and meta["finetune"]["lr"] == 3e-4 == started["finetune"]["lr"]


def test_a_resume_past_its_steps_saves_and_reports_its_time_breakdown(tmp_path):
    """A run resumed with ``steps`` below the steps its checkpoint already took (SIGTERM landed late, as on a slow
    CI machine) takes no step but still saves, with the checkpoint's time breakdown, instead of an AttributeError."""
    from tests.helpers import TINY

    run = tmp_path / "run"
    common = ["eval.interval=0", "warm_start.demos=0", "checkpoint_interval=128"]
    r = cli("train", "task=navigate", "steps=256", *common, *TINY["ppo"], f"hydra.run.dir={run}")
    assert r.returncode == 0, r.stderr
    before = json.loads((run / "run.json").read_text())
    r = cli("train", f"resume={run}", "steps=128")
    assert r.returncode == 0, r.stderr
    meta = json.loads((run / "run.json").read_text())
    assert meta["timesteps"] == before["timesteps"] == 256
    assert meta["time_breakdown_s"]["rollout"] == pytest.approx(before["time_breakdown_s"]["rollout"])


def test_the_update_phase_is_learn_time_not_spent_in_the_others():
    from types import SimpleNamespace

    from sim2real.learn.train import TrainCallback

    times = {"rollout": 5.0, "update": 2.0, "evaluation": 1.0, "checkpoint": 0.5}
    cb = TrainCallback(SimpleNamespace(task="navigate"), {"time_breakdown_s": dict(times)}, None)
    assert cb.breakdown(0.0) == times  # a resume that takes no step: the checkpoint's breakdown
    assert cb.breakdown(3.0)["update"] == 5.0  # learn() time not spent in the other phases is the update's


def test_killed_compare_leaves_no_worker_and_its_rerun_continues_cleanly(tmp_path):
    out = tmp_path / "cmp"
    from tests.helpers import tiny_train

    pre = tiny_train(tmp_path / "pre", "ppo")
    args = [
        "compare",
        "task=navigate",
        "seeds=1",
        "budgets=[1024]",
        "eval.interval=256",
        "eval.episodes=1",
        "n_envs=2",
        "conditions=[finetune]",
        f"pretrained={pre}",
        f"out={out}",
    ]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sim2real.commands.cli", *args],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert wait_for(lambda: any((out / "units").glob("*/evaluations.jsonl")), timeout=120)
    proc.send_signal(signal.SIGKILL)
    proc.wait()

    def workers() -> list[int]:
        found = []
        for env in Path("/proc").glob("[0-9]*/environ"):
            try:
                if f"{PARENT_ENV}={proc.pid}".encode() in env.read_bytes().split(b"\0"):
                    found.append(int(env.parent.name))
            except OSError:
                pass
        return found

    assert wait_for(lambda: not workers(), timeout=15), f"live workers after kill -9: {workers()}"
    # the rerun and the uninterrupted reference: in-process, units one after another (the kill above is the
    # joblib path, with its worker pool)
    r = cli(*args, "launcher=basic")
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary
    for result in (out / "units").glob("*/result.json"):
        curve = json.loads(result.read_text()).get("curve")
        if curve:
            steps = [p["step"] for p in curve]
            assert steps == sorted(set(steps)), steps
    # the same rows and the same values as a compare that was never interrupted
    clean = tmp_path / "clean"
    clean_args = [a if not a.startswith("out=") else f"out={clean}" for a in args]
    r = cli(*clean_args, "launcher=basic")
    assert r.returncode == 0, r.stderr

    def rows(d: Path) -> list[dict]:
        import csv

        with open(d / "results.csv") as f:
            return [{k: v for k, v in row.items() if "time" not in k and "wall" not in k} for row in csv.DictReader(f)]

    assert rows(out) == rows(clean) and len(rows(out)) > 1


def _tiny_model(tmp_path):
    norm = normalize(make_vec_env("navigate", 1, 0), 0.99)
    model = PPO("MlpPolicy", norm, n_steps=16, batch_size=16, device="cpu")
    return model, norm


def test_checkpoints_are_pruned_by_step_within_the_run(tmp_path):
    model, norm = _tiny_model(tmp_path)
    run = tmp_path / "run"
    for step in (600_000, 650_000):  # an older run's checkpoints, at larger steps
        model.num_timesteps = step
        save_checkpoint(run, model, norm, {"task": "navigate"})
    for step in (5_000, 10_000, 15_000):
        model.num_timesteps = step
        last = save_checkpoint(run, model, norm, {"task": "navigate"})
    names = sorted(p.name for p in (run / "checkpoints").glob("ckpt-*"))
    assert last.is_dir() and latest_checkpoint(run) == last
    assert "ckpt-0000010000" in names and "ckpt-0000005000" not in names  # keep=2 at or below this step
    assert "ckpt-0000650000" in names  # never pruned by name order


def test_new_run_in_a_directory_with_checkpoints_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    model, norm = _tiny_model(tmp_path)
    run = tmp_path / "run"
    model.num_timesteps = 600_000
    save_checkpoint(run, model, norm, {"task": "navigate"})
    rc, _, err = run_cli(
        "train", "task=navigate", "steps=64", "algo.n_steps=32", "n_envs=2", "eval.interval=0", f"hydra.run.dir={run}"
    )
    assert rc == 2 and "already holds a run" in err and f"resume={run}" in err
    assert latest_checkpoint(run).name == "ckpt-0000600000"


def test_export_replaces_an_earlier_bundle_only(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    from tests.helpers import tiny_train

    run = tiny_train(tmp_path / "run", "ppo")
    for _ in range(2):  # the second export replaces the first bundle
        rc, _, err = run_cli("export", f"policy={run}", f"out={tmp_path / 'b'}", "parity_observations=20")
        assert rc == 0, err
    assert sorted(p.name for p in (tmp_path / "b").iterdir()) == ["manifest.json", "policy.json", "policy.onnx"]
    before = sorted(p.name for p in run.iterdir())
    rc, _, err = run_cli("export", f"policy={run}", f"out={run}")
    assert rc == 2 and "is a directory that is not a bundle" in err
    assert sorted(p.name for p in run.iterdir()) == before and (run / "policy.safetensors").is_file()
    assert not list(tmp_path.glob(".*tmp*"))  # no staging directory left behind


def test_dataset_overwrite_on_request_only(tmp_path):
    logs = rollout(scripted_policy, "navigate", 1, 0, None, None, 0.0)
    path = write(tmp_path / "d" / "nav-v0", "navigate", logs, {"source": "a"})
    with pytest.raises(DatasetError, match="already exists"):
        write(path, "navigate", logs, {"source": "b"})
    meta = json.loads((path / "data" / "metadata.json").read_text())
    assert meta["sim2real_source"] == "a"
    write(path, "navigate", logs, {"source": "b"}, overwrite=True)
    assert json.loads((path / "data" / "metadata.json").read_text())["sim2real_source"] == "b"
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["nav-v0"]  # no .partial left behind


RESULT = {
    "diverged_segments_after": 0,
    "replay_error_before": 2.0,
    "replay_error_after": 0.5,
    "estimate": {"mass_scale": 1.2},
}


@pytest.mark.parametrize(
    "change,ranges,match",
    [
        ({"diverged_segments_after": 12}, {}, "diverge"),
        ({"replay_error_after": 2.0}, {}, "did not drop"),
        ({"replay_error_after": float("nan")}, {}, "did not drop"),
        ({}, {"obs_noise_std": (0.0, 42154.0)}, "obs_noise_std"),
        ({"estimate": {"mass_scale": -3.0}}, {}, "mass_scale"),
    ],
)
def test_unusable_calibration_is_refused(change, ranges, match):
    with pytest.raises(CalibrationError, match=match):
        check_result({**RESULT, **change}, ranges, "navigate", "data/x-v0")


def test_usable_calibration_passes():
    check_result(RESULT, {"mass_scale": (1.0, 1.4)}, "navigate", "data/x-v0")


def test_a_loop_never_sends_a_non_finite_action():
    from sim2real.deploy import ControlLoop

    class Bundle:
        obs_dim, control_rate_hz = 2, 10.0
        low, high = np.array([-1.0], np.float32), np.array([1.0], np.float32)
        safe_action = np.array([0.0], np.float32)
        previous_action_index = np.zeros(0, np.int64)

        def __call__(self, obs):
            return np.array([np.nan], np.float32)

    class Robot:
        sent: list = []

        def observe(self):
            return np.zeros(2, np.float32)

        def act(self, a):
            self.sent.append(a.copy())

        def safe_stop(self):
            pass

    robot = Robot()
    loop = ControlLoop(Bundle(), robot)
    loop.run(3, realtime=False)
    assert len(robot.sent) == 4 and all(np.isfinite(a).all() for a in robot.sent)  # 3 ticks and the stop
    assert len(loop.stats.faults) == 3
