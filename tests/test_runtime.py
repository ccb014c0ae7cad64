"""The runtime-only install (``runtime/``, sim2real-runtime): a fresh virtual environment with numpy and
onnxruntime only runs a bundle against a driver module and logs episodes that ``sim2real data import`` reads."""

import json
from pathlib import Path

import numpy as np
import pytest

from sim2real.deploy import Bundle, CallbackRobot, ControlLoop
from sim2real.deploy.export import export
from tests.helpers import _in_venv, run_cli

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundles") / "navigate-dr"
    export("navigate-dr", out, n_parity=50)
    return out


def test_runtime_installs_alone_and_runs_a_bundle_against_a_driver(runtime_venv, bundle, tmp_path):
    root, bin_ = runtime_venv, runtime_venv / "venv" / "bin"
    r = _in_venv(
        root,
        bin_ / "python",
        "-c",
        "import importlib.util as u; print([m for m in "
        "('torch','gymnasium','mujoco','stable_baselines3','sim2real','hydra') if u.find_spec(m)])",
    )
    assert r.returncode == 0 and r.stdout.strip() == "[]", r.stdout + r.stderr
    r = _in_venv(root, bin_ / "sim2real-deploy", "verify", str(bundle))
    assert r.returncode == 0 and "manifest verified" in r.stdout, r.stderr
    r = _in_venv(root, bin_ / "sim2real-deploy", "info", str(bundle))
    assert r.returncode == 0 and "10 Hz" in r.stdout and "range_0 [m] 0.0..2.0" in r.stdout, r.stdout + r.stderr
    assert "filled by the loop" in r.stdout and "counter-clockwise" in r.stdout
    log = tmp_path / "robot.npz"
    r = _in_venv(
        root,
        bin_ / "sim2real-deploy",
        "run",
        str(bundle),
        "--driver",
        "fake_robot:make",
        "--driver-arg",
        "episode=15",
        "--steps",
        "40",
        "--no-realtime",
        "--log",
        str(log),
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout.splitlines()[0])
    assert summary["steps"] == 40 and summary["faults"] == 0 and summary["episodes"] == 3
    with np.load(log, allow_pickle=False) as f:
        assert f["episode_lengths"].tolist() == [15, 15, 10]
        assert f["terminations"].sum() == 2 and f["truncations"][-1]
        obs, act = f["observations"], f["actions"]
        # the loop wrote the previous action into the observation: the safe action, then what it sent
        assert np.allclose(obs[0, 30:], [0.0, 0.0]) and np.allclose(obs[1, 30:], act[0])
    r = run_cli("data", "import", str(log), "task=navigate", f"out={tmp_path / 'robot-v0'}")
    assert r.returncode == 0, r.stderr
    # a bad driver and an existing log are one-line errors before anything runs
    r = _in_venv(root, bin_ / "sim2real-deploy", "run", str(bundle), "--driver", "fake_robot", "--steps", "5")
    assert r.returncode == 2 and r.stderr.startswith("error: --driver 'fake_robot': give module:factory")
    r = _in_venv(
        root,
        bin_ / "sim2real-deploy",
        "run",
        str(bundle),
        "--driver",
        "fake_robot:make",
        "--steps",
        "5",
        "--log",
        str(log),
    )
    assert r.returncode == 2 and "never overwritten" in r.stderr and r.stderr.count("\n") == 1


def test_loop_fills_previous_action_entries(bundle):
    b = Bundle.load(bundle)
    assert b.previous_action_index.tolist() == [30, 31]
    seen, sent = [], []
    robot = CallbackRobot(lambda: np.full(32, 7.0, np.float32), sent.append, lambda: None)
    loop = ControlLoop(b, robot, on_step=lambda o, a: seen.append(o.copy()))
    loop.run(3, realtime=False)
    assert np.allclose(seen[0][30:], b.safe_action) and np.allclose(seen[2][30:], sent[1])
    assert np.allclose(seen[0][:30], 7.0)  # the driver's own readings are untouched
    loop.new_episode()
    loop.run(1, realtime=False)
    assert np.allclose(seen[3][30:], b.safe_action)


def test_bundle_metadata_reaches_the_onnx_file(bundle):
    import onnx

    props = {p.key: p.value for p in onnx.load(str(bundle / "policy.onnx")).metadata_props}
    meta = json.loads((bundle / "policy.json").read_text())
    assert json.loads(props["sim2real.control_rate_hz"]) == meta["control_rate_hz"] == 10.0
    assert [o["name"] for o in json.loads(props["sim2real.observation"])] == [o["name"] for o in meta["observation"]]
    assert json.loads(props["sim2real.safe_action"]) == meta["safe_action"]
    assert "/" not in meta["source_run"] and len(meta["source_sha256"]) == 64  # no exporter's local path
