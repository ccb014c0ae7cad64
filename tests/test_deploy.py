"""Export parity, bundle verification, the torch-free runtime, the control loop's safety, deploy logs."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sim2real.data.datasets import load_dataset
from sim2real.deploy import Bundle, BundleError, CallbackRobot, ControlLoop
from sim2real.deploy.export import export
from tests.helpers import tiny_train


@pytest.fixture(scope="module")
def bundle_dir(tmp_path_factory):
    run = tiny_train(tmp_path_factory.mktemp("run"), "ppo")
    out = tmp_path_factory.mktemp("bundles") / "nav"
    meta = export(run, out, n_parity=1000)
    assert meta["parity_max_abs_diff"] <= 1e-5
    return out


def test_bundle_contents(bundle_dir):
    assert sorted(p.name for p in bundle_dir.iterdir()) == ["manifest.json", "policy.json", "policy.onnx"]
    meta = json.loads((bundle_dir / "policy.json").read_text())
    assert meta["task"] == "navigate" and meta["control_rate_hz"] == pytest.approx(10.0)
    assert len(meta["observation"]) == 32 and meta["observation"][6]["unit"] == "m"
    assert [a["name"] for a in meta["action"]] == ["forward_speed", "turn_rate"]
    assert meta["parity_observations"] == 1000 and meta["trained_action_latency_steps"] == [0, 1]
    import onnx

    onnx.checker.check_model(onnx.load(str(bundle_dir / "policy.onnx")), full_check=True)


def test_sac_export_parity(tmp_path):
    run = tiny_train(tmp_path / "sac", "sac")
    meta = export(run, tmp_path / "bundle", n_parity=1000)
    assert meta["parity_max_abs_diff"] <= 1e-5


def _copy(src, dst):
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_tampered_bundle_refused(bundle_dir, tmp_path):
    b = _copy(bundle_dir, tmp_path / "b")
    data = bytearray((b / "policy.onnx").read_bytes())
    data[-10] ^= 0xFF
    (b / "policy.onnx").write_bytes(bytes(data))
    with pytest.raises(BundleError, match="policy.onnx does not match its SHA-256"):
        Bundle.load(b)


def _rewrite_json(b, text):
    (b / "policy.json").write_text(text)
    import hashlib

    man = json.loads((b / "manifest.json").read_text())
    man["files"]["policy.json"] = hashlib.sha256(text.encode()).hexdigest()
    (b / "manifest.json").write_text(json.dumps(man))


def test_missing_or_malformed_policy_json_refused(bundle_dir, tmp_path):
    b = _copy(bundle_dir, tmp_path / "missing")
    (b / "policy.json").unlink()
    with pytest.raises(BundleError, match="policy.json is missing"):
        Bundle.load(b)
    b = _copy(bundle_dir, tmp_path / "malformed")
    _rewrite_json(b, "{not json")
    with pytest.raises(BundleError, match="policy.json is not valid JSON"):
        Bundle.load(b)
    b = _copy(bundle_dir, tmp_path / "incomplete")
    _rewrite_json(b, json.dumps({"task": "navigate"}))
    with pytest.raises(BundleError, match="lacks format, observation, action"):
        Bundle.load(b)
    with pytest.raises(BundleError, match="not a directory"):
        Bundle.load(tmp_path / "nowhere")


class _Recorder:
    def __init__(self, obs):
        self.obs, self.sent, self.stopped = obs, [], False

    def robot(self):
        return CallbackRobot(lambda: self.obs, self.sent.append, lambda: setattr(self, "stopped", True))


def test_nan_observation_gives_safe_action(bundle_dir):
    bundle = Bundle.load(bundle_dir)
    rec = _Recorder(np.full(32, np.nan, dtype=np.float32))
    loop = ControlLoop(bundle, rec.robot())
    loop.run(3, realtime=False)
    assert all(np.array_equal(a, bundle.safe_action) for a in rec.sent)
    assert len(loop.stats.faults) == 3 and rec.stopped


class _FakeSession:
    def __init__(self, out, delay=0.0):
        self.out, self.delay = out, delay

    def run(self, _names, _feed):
        time.sleep(self.delay)
        return [np.array([self.out], dtype=np.float32)]


def _fake_bundle(bundle_dir, out, delay=0.0):
    real = Bundle.load(bundle_dir)
    return Bundle(real.path, real.meta, _FakeSession(out, delay), real.low, real.high, real.safe_action)


def test_actions_are_clipped_to_bounds(bundle_dir):
    bundle = _fake_bundle(bundle_dir, [5.0, -7.0])
    rec = _Recorder(np.zeros(32, dtype=np.float32))
    ControlLoop(bundle, rec.robot()).run(2, realtime=False)
    assert np.allclose(rec.sent[0], [1.0, -1.0])


def test_deadline_overrun_gives_safe_action(bundle_dir):
    bundle = _fake_bundle(bundle_dir, [0.5, 0.5], delay=0.02)
    rec = _Recorder(np.zeros(32, dtype=np.float32))
    loop = ControlLoop(bundle, rec.robot(), deadline_s=0.005)
    loop.run(3, realtime=False)
    assert loop.stats.deadline_misses == 3 and all(np.array_equal(a, bundle.safe_action) for a in rec.sent)


def test_runtime_loads_neither_torch_nor_sb3_nor_pickle(bundle_dir):
    code = f"""
import pickle, sys
def refuse(*a, **k):
    raise AssertionError("pickle used on the deploy path")
pickle.load = pickle.loads = refuse
import numpy as np
from sim2real.deploy import Bundle, CallbackRobot, ControlLoop
b = Bundle.load({str(bundle_dir)!r})
sent = []
ControlLoop(b, CallbackRobot(lambda: np.zeros(32, np.float32), sent.append, lambda: None)).run(5, realtime=False)
assert len(sent) == 6 and (sent[-1] == b.safe_action).all()  # the stop sends the safe action last
bad = [m for m in ("torch", "stable_baselines3", "gymnasium", "mujoco") if m in sys.modules]
print("loaded:", bad)
assert not bad, bad
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr + r.stdout


def test_deploy_on_target_writes_a_valid_dataset(bundle_dir, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "sim2real.commands.cli",
            "deploy",
            f"bundle={bundle_dir}",
            "dynamics=real",
            "episodes=2",
            f"log={tmp_path / 'data' / 'test-deploy-v0'}",
            f"hydra.run.dir={tmp_path / 'out'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    assert "deadline misses 0" in r.stdout
    summary = json.loads((tmp_path / "out" / "deploy.json").read_text())
    assert summary["episodes"] == 2 and summary["latency_us"]["p99"] > 0
    ds = load_dataset("test-deploy-v0", tmp_path / "data", "navigate")
    assert ds.total_episodes == 2
    ep = next(ds.iterate_episodes())
    assert ep.observations.shape[1] == 32 and len(ep.observations) == len(ep.actions) + 1
    assert np.abs(ep.actions).max() <= 1.0


def test_deploy_bad_bundle_is_one_line(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "sim2real.commands.cli", "deploy", f"bundle={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and r.stderr.strip().startswith("error: bundle") and r.stderr.count("\n") == 1


def test_export_writes_one_file_set(bundle_dir):
    assert not list(Path(bundle_dir).glob("*.data"))
