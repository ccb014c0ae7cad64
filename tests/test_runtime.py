"""The runtime-only install (``runtime/``, sim2real-runtime): a fresh virtual environment with numpy and
onnxruntime only runs a bundle against a driver module and logs episodes that ``sim2real data import`` reads."""

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from sim2real.deploy import Bundle, CallbackRobot, ControlLoop
from sim2real.deploy.export import export
from tests.helpers import run_cli

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


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundles") / "navigate-dr"
    export("navigate-dr", out, n_parity=50)
    return out


@pytest.fixture(scope="module")
def runtime_venv(tmp_path_factory):
    """A fresh venv, outside the source tree, holding only the runtime wheel, numpy and onnxruntime."""
    root = tmp_path_factory.mktemp("robot")
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
