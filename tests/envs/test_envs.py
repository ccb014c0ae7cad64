"""The environment contract: checkers, determinism, randomisation, rewards, solvability."""

import gymnasium as gym
import numpy as np
import pytest
import sim2real.envs  # noqa: F401
from gymnasium.utils.env_checker import check_env
from sim2real.envs.scripted import scripted_policy
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from sim2real.sim.dynamics import DynamicsError, flatten, resolve_randomization, task_tables
from tests.conftest import IDS

VARIANTS = [{}, {"randomization": "default"}, {"randomization": "wide"}, {"dynamics": "real"}]


def signature(env):
    m = env.unwrapped.model
    return np.concatenate(
        [
            m.body_mass,
            m.body_inertia.ravel(),
            m.geom_friction[:, 0],
            m.dof_damping,
            m.actuator_gainprm[:, 0],
            m.actuator_biasprm[:, :3].ravel(),
            m.geom_size.ravel(),
        ]
    )


@pytest.mark.parametrize("env_id", IDS)
@pytest.mark.parametrize("kwargs", VARIANTS, ids=["nominal", "default", "wide", "real"])
def test_checkers(env_id, kwargs):
    check_env(gym.make(env_id, **kwargs).unwrapped, skip_render_check=True)
    sb3_check_env(gym.make(env_id, **kwargs), warn=False)


def rollout(env_id, seed, steps=40, **kwargs):
    env = gym.make(env_id, **kwargs)
    obs, info = env.reset(seed=seed)
    env.action_space.seed(seed)
    out, rewards = [obs], []
    for _ in range(steps):
        obs, r, term, trunc, _ = env.step(env.action_space.sample())
        out.append(obs)
        rewards.append(r)
        if term or trunc:
            break
    return np.concatenate(out), np.array(rewards), info


@pytest.mark.parametrize("env_id", IDS)
def test_same_seed_same_trajectory(env_id):
    a, ra, ia = rollout(env_id, 3, randomization="wide")
    b, rb, ib = rollout(env_id, 3, randomization="wide")
    assert a.shape == b.shape and np.array_equal(a, b) and np.array_equal(ra, rb)
    assert ia["dynamics"] == ib["dynamics"]
    c, _, _ = rollout(env_id, 4, randomization="wide")
    assert a.shape != c.shape or not np.array_equal(a, c)


@pytest.mark.parametrize("env_id", IDS)
def test_randomisation_inside_ranges_and_resampled(env_id):
    env = gym.make(env_id, randomization="wide")
    u = env.unwrapped
    ranges = resolve_randomization("wide", u.task, u.params)
    sigs, seen = [], []
    for k in range(12):
        _, info = env.reset(seed=k)
        for name, (lo, hi) in ranges.items():
            assert lo <= info["dynamics"][name] <= hi, name
        assert isinstance(info["dynamics"]["action_latency"], int)
        sigs.append(signature(env))
        seen.append(info["dynamics"]["mass_scale"])
    assert len(set(seen)) == 12
    assert not any(np.allclose(sigs[0], s) for s in sigs[1:])
    # values land on the model as scales of the nominal snapshot (never cumulative)
    _, info = env.reset(seed=0)
    assert np.allclose(signature(env), sigs[0])
    robot = u.index.robot_bodies[u.index.robot_bodies != u.index.payload_body]  # the payload adds mass there
    ratio = u.model.body_mass[robot] / u.nominal.body_mass[robot]
    assert np.allclose(ratio[u.nominal.body_mass[robot] > 0], info["dynamics"]["mass_scale"])
    g = u.model.actuator_gainprm[:, 0] / u.nominal.actuator_gainprm[:, 0]
    assert np.allclose(g, info["dynamics"]["actuator_gain_scale"])


@pytest.mark.parametrize("env_id", IDS)
def test_nominal_model_untouched(env_id):
    env = gym.make(env_id)
    env.reset(seed=0)
    before = signature(env)
    for k in range(1, 4):
        _, info = env.reset(seed=k)
        env.step(env.action_space.sample())
        assert np.array_equal(before, signature(env))
    assert info["dynamics"]["mass_scale"] == 1.0 and info["dynamics"]["action_latency"] == 0


@pytest.mark.parametrize("env_id", IDS)
def test_real_profile_is_applied(env_id):
    env = gym.make(env_id, dynamics="real")
    _, info = env.reset(seed=0)
    real = flatten(task_tables(env.unwrapped.task)["targets"]["real"])
    for k, v in real.items():
        assert info["dynamics"][k] == pytest.approx(v)
    _, info2 = env.reset(seed=1)
    assert info2["dynamics"] == info["dynamics"]


@pytest.mark.parametrize("env_id", IDS)
def test_reward_is_sum_of_terms(env_id):
    env = gym.make(env_id, randomization="default")
    env.reset(seed=0)
    for _ in range(30):
        _, r, term, trunc, info = env.step(env.action_space.sample())
        assert r == pytest.approx(sum(info["reward_terms"].values()))
        if term or trunc:
            env.reset()


def success_rate(env_id, policy_factory, episodes, **kwargs):
    env = gym.make(env_id, **kwargs)
    act = policy_factory(env)
    wins = 0
    for k in range(episodes):
        obs, _ = env.reset(seed=10_000 + k)
        if hasattr(act, "reset"):
            act.reset()
        done = False
        while not done:
            obs, _, term, trunc, info = env.step(act(obs))
            done = term or trunc
        wins += bool(info["is_success"])
    return wins / episodes


@pytest.mark.parametrize("env_id", IDS)
def test_random_policy_rarely_succeeds(env_id):
    def random_policy(env):
        env.action_space.seed(0)
        return lambda obs: env.action_space.sample()

    assert success_rate(env_id, random_policy, 30) < 0.1


@pytest.mark.parametrize("env_id,episodes", [(IDS[0], 40), (IDS[1], 20), (IDS[2], 10)])
def test_scripted_controller_solves_nominal(env_id, episodes):
    assert success_rate(env_id, scripted_policy, episodes) >= 0.9


def test_navigation_straight_line_usually_blocked():
    env = gym.make(IDS[1]).unwrapped
    blocked = 0
    for k in range(30):
        env.reset(seed=k)
        start, _ = env.pose()
        d = env.goal - start
        t = np.clip(((env.obstacles - start) @ d) / (d @ d), 0, 1)
        closest = start + t[:, None] * d
        blocked += np.any(np.linalg.norm(env.obstacles - closest, axis=1) < 0.2 + 0.19)
    assert blocked >= 27


def test_collision_ends_episode_without_success():
    env = gym.make(IDS[1])
    env.reset(seed=0)
    u = env.unwrapped
    pos, yaw = u.pose()
    ahead = pos + 0.6 * np.array([np.cos(yaw), np.sin(yaw)])
    u.data.mocap_pos[u._mocap[0], :2] = ahead  # an obstacle right in front of the base
    for _ in range(40):
        _, r, term, trunc, info = env.step(np.array([1.0, 0.0]))
        if term or trunc:
            break
    assert term and info["collisions"] == 1 and not info["is_success"]
    assert info["reward_terms"]["collision"] < 0


@pytest.mark.parametrize(
    "bad,match",
    [
        ({"randomization": "nope"}, "not a preset"),
        ({"dynamics": "nope"}, "not a target profile"),
        ({"dynamics": {"mass_scale": -1}}, "mass_scale"),
        ({"dynamics": {"warp_drive": 1}}, "unknown dynamics parameter 'warp_drive'"),
        ({"randomization": {"friction_scale": [1.5, 0.5]}}, "low 1.5 > high 0.5"),
        ({"dynamics": {"action_latency": 1.5}}, "whole number"),
    ],
)
def test_bad_dynamics_are_refused(bad, match):
    with pytest.raises(DynamicsError, match=match):
        gym.make(IDS[0], **bad)


def test_object_params_do_not_apply_to_navigation():
    with pytest.raises(DynamicsError, match="does not apply"):
        gym.make(IDS[1], dynamics={"object_mass_scale": 2.0})
    gym.make(IDS[1], dynamics={"object_mass_scale": 1.0})  # nominal is accepted


def test_bad_action_shape_is_refused():
    env = gym.make(IDS[0])
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3))
