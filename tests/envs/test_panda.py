"""The Panda lift task: its controller (IK tracking, hand orientation), gravity compensation of the nominal
model, the registry entry, replay hooks, and one tiny train -> export -> deploy."""

import json

import gymnasium as gym
import mujoco
import numpy as np
import pytest
import sim2real.envs  # noqa: F401
from sim2real.envs.panda.env import ARM_DOFS

from sim2real.sim import tasks
from tests.helpers import run_cli

ENV_ID = "sim2real/PandaLift-v0"


def settle(env, target, steps=30):
    """Move the commanded pinch point to ``target`` (m) at up to 0.02 m per step, then hold it; ``steps`` control
    steps in all, gripper open. Returns the measured pinch point."""
    u = env.unwrapped
    for _ in range(steps):
        env.step(np.append(np.clip((target - u._target) / 0.02, -1, 1), -1.0))
    return u.data.site_xpos[u._site].copy()


@pytest.mark.parametrize("target", [(0.1, 0.1, 0.15), (-0.15, -0.1, 0.08), (0.0, 0.2, 0.3)])
def test_ik_tracks_a_reachable_target_within_3_mm_and_keeps_the_hand_down(target):
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    target = np.array(target)
    pinch = settle(env, target)
    assert np.linalg.norm(pinch - target) < 0.003  # m: the stated bound (README, env docstring)
    u = env.unwrapped
    z = u.data.site_xmat[u._site].reshape(3, 3)[:, 2]
    assert z[2] < -0.999  # the jaw points down (within 2.6 degrees)


def test_ik_never_commands_outside_the_joint_ranges():
    env = gym.make(ENV_ID)
    env.reset(seed=1)
    u = env.unwrapped
    lo, hi = u.model.jnt_range[:ARM_DOFS, 0], u.model.jnt_range[:ARM_DOFS, 1]
    rng = np.random.default_rng(0)
    for _ in range(60):
        env.step(rng.uniform(-1, 1, 4))
        q = u.data.ctrl[:ARM_DOFS]
        assert np.all(q >= lo - 1e-9) and np.all(q <= hi + 1e-9)
        assert np.all(u._target >= u._lo) and np.all(u._target <= u._hi)


def test_gravity_compensation_is_of_the_nominal_model():
    """Nominal: the hand holds its height. A payload or heavier links are not compensated: the servos sag, and a
    heavier payload sags more (what makes payload_mass visible in the data)."""
    sag = {}
    for payload in (0.0, 1.0, 3.0):
        env = gym.make(ENV_ID, dynamics={"payload_mass": payload})
        env.reset(seed=0)
        u = env.unwrapped
        target = np.array([0.0, 0.0, 0.2])
        settle(env, target, steps=25)
        q_cmd = u.data.ctrl[:ARM_DOFS].copy()
        sag[payload] = float(np.abs(q_cmd - u.data.qpos[:ARM_DOFS]).sum())  # servo error holding the pose, rad
        gc = u.model.body_gravcomp[u.index.payload_body]
        assert gc == pytest.approx(u.nominal.body_mass[u.index.payload_body] / u.model.body_mass[u.index.payload_body])
    assert sag[0.0] < 1e-3 < sag[1.0] < sag[3.0]


def test_registry_entry_and_accepted_parameters():
    spec = tasks.get("panda_lift")
    assert spec.env_id == ENV_ID and spec.payload_body == "hand"
    env = gym.make(ENV_ID, dynamics="real")
    _, info = env.reset(seed=0)
    assert info["dynamics"]["payload_mass"] == 0.6 and info["dynamics"]["body_mass_scale.link5"] == 1.3
    u = env.unwrapped
    hand = u.index.payload_body
    nominal = u.nominal.body_mass[hand]
    assert u.model.body_mass[hand] == pytest.approx(nominal * 1.15 + 0.6)
    with pytest.raises(ValueError, match="body_mass_scale.link9"):
        gym.make(ENV_ID, dynamics={"body_mass_scale": {"link9": 1.2}})


def test_replay_restores_the_logged_state():
    """The calibration hooks: restoring a logged observation and replaying the applied actions reproduces the
    next observations closely under the true parameters (noise-free)."""
    env = gym.make(ENV_ID, dynamics={"payload_mass": 0.5})
    obs, _ = env.reset(seed=3)
    u = env.unwrapped
    from sim2real.envs.scripted import scripted_policy

    ctl = scripted_policy(env)
    ctl.reset()
    observations, actions = [obs], []
    for _ in range(30):
        a = ctl(obs)
        obs, *_ = env.step(a)
        observations.append(obs)
        actions.append(a)
    observations, actions = np.array(observations, dtype=np.float64), np.array(actions, dtype=np.float64)
    ctx = u.replay_context(observations, actions)
    errs = []
    for t in range(0, 29, 4):
        u.restore(observations[t], ctx, t)
        pred = u.replay_step(actions[t], actions[t])
        errs.append(np.abs(pred[0:3] - observations[t + 1][0:3]).max())
    assert max(errs) < 0.004  # m, one control step of pinch motion predicted from the logged state


def test_tiny_train_export_deploy(tmp_path):
    run = tmp_path / "run"
    r = run_cli(
        "train",
        "task=panda_lift",
        "steps=128",
        "n_envs=2",
        "algo.n_steps=64",
        "algo.batch_size=64",
        "algo.n_epochs=1",
        "warm_start.demos=2",
        "eval.interval=0",
        f"out_dir={run}",
        "progress=false",
    )
    assert r.returncode == 0, r.stderr
    r = run_cli("export", f"policy={run}", f"out={tmp_path / 'bundle'}")
    assert r.returncode == 0, r.stderr
    assert json.loads((tmp_path / "bundle" / "policy.json").read_text())["task"] == "panda_lift"
    r = run_cli(
        "deploy",
        f"bundle={tmp_path / 'bundle'}",
        "dynamics=real",
        "episodes=1",
        f"hydra.run.dir={tmp_path / 'out'}",
    )
    assert r.returncode == 0, r.stderr
    summary = json.loads((tmp_path / "out" / "deploy.json").read_text())
    assert summary["episodes"] == 1


def test_missing_model_package_is_one_line(monkeypatch):
    from sim2real.envs.panda import model

    model.franka_dir.cache_clear()
    monkeypatch.setattr(model.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(model.PandaAssetError, match="pip install 'gymnasium-robotics"):
        model.franka_dir()
    monkeypatch.undo()
    model.franka_dir.cache_clear()
    assert mujoco.MjModel.from_xml_string(model.panda_lift_xml()).nu == 9
