"""Parameter validation, sampling, the action/observation channels and the stock-env wrapper."""

import gymnasium as gym
import numpy as np
import pytest
import sim2real.envs  # noqa: F401

from sim2real.sim.dynamics import PARAMS, DynamicsError, sample, validate_ranges, validate_values
from sim2real.sim.perturb import ActionChannel, ObsChannel
from sim2real.sim.wrappers import DynamicsWrapper

ALL = tuple(PARAMS)


def test_sampling_stays_in_range_and_is_log_uniform_for_scales():
    rng = np.random.default_rng(0)
    ranges = validate_ranges({"mass_scale": [0.25, 4.0], "action_latency": [0, 3], "obs_noise_std": [0, 0.1]}, ALL)
    draws = [sample(ranges, rng) for _ in range(4000)]
    m = np.array([d["mass_scale"] for d in draws])
    assert m.min() >= 0.25 and m.max() <= 4.0
    assert abs(np.mean(m < 1.0) - 0.5) < 0.03  # log-uniform: median at the geometric mean
    lat = {d["action_latency"] for d in draws}
    assert lat == {0, 1, 2, 3} and all(isinstance(d["action_latency"], int) for d in draws)


def test_profile_fills_nominal_values():
    v = validate_values({"friction_scale": 0.5}, ALL)
    assert v["friction_scale"] == 0.5 and v["mass_scale"] == 1.0 and v["action_latency"] == 0


@pytest.mark.parametrize(
    "ranges,match",
    [
        ({"mass_scale": [2, 1]}, "low 2 > high 1"),
        ({"mass_scale": [1, 2, 3]}, r"expected \[low, high\]"),
        ({"damping_scale": [0, 1]}, "log-uniform"),
        ({"obs_noise_std": [-1, 1]}, "outside"),
        ({"bogus": [1, 2]}, "unknown dynamics parameter 'bogus'"),
        ({"mass_scale": ["a", 2]}, "expected a number"),
    ],
)
def test_bad_ranges(ranges, match):
    with pytest.raises(DynamicsError, match=match):
        validate_ranges(ranges, ALL)


def test_action_latency_delays_by_whole_steps():
    ch = ActionChannel(2)
    ch.reset({"action_latency": 2})
    rng = np.random.default_rng(0)
    out = [ch(np.array([k, -k], float) / 10, rng) for k in range(1, 6)]
    assert np.allclose(out[0], 0) and np.allclose(out[1], 0)
    assert np.allclose(out[2], [0.1, -0.1]) and np.allclose(out[4], [0.3, -0.3])


def test_deadzone_and_noise():
    ch = ActionChannel(3)
    ch.reset({"actuator_deadzone": 0.2})
    rng = np.random.default_rng(0)
    assert np.allclose(ch(np.array([0.1, -0.19, 0.5]), rng), [0, 0, 0.5])
    ch.reset({"action_noise_std": 0.1})
    a = np.array([ch(np.zeros(3), rng) for _ in range(2000)])
    assert 0.08 < a.std() < 0.12 and np.all(np.abs(a) <= 1)


def test_obs_bias_is_constant_per_episode_and_noise_zero_mean():
    ch = ObsChannel(4)
    rng = np.random.default_rng(1)
    ch.reset({"obs_bias": 0.5}, rng)
    a, b = ch(np.zeros(4), rng), ch(np.zeros(4), rng)
    assert np.allclose(a, b) and np.all(np.abs(a) <= 0.5) and np.any(a != 0)
    ch.reset({"obs_noise_std": 0.2}, rng)
    x = np.array([ch(np.zeros(4), rng) for _ in range(3000)])
    assert abs(x.mean()) < 0.02 and 0.18 < x.std() < 0.22


def test_latency_shows_in_the_env():
    """With latency k the first k commands have no effect on the gripper."""
    moved = []
    for latency in (0, 2):
        env = gym.make("sim2real/Grasp-v0", dynamics={"action_latency": latency})
        obs0, _ = env.reset(seed=0)
        obs1, *_ = env.step(np.array([1.0, 0, 0, -1]))
        moved.append(obs1[0] - obs0[0])
    assert moved[0] > 0.005 and abs(moved[1]) < 0.002


def test_physics_blow_up_ends_episode_with_finite_obs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # MuJoCo would write MUJOCO_LOG.TXT into the working directory
    env = gym.make("sim2real/Grasp-v0")
    env.reset(seed=0)
    u = env.unwrapped
    u.data.qvel[:] = 1e9  # as if the solver diverged
    obs, r, term, trunc, info = env.step(np.zeros(4))
    assert term and info["physics_unstable"] and np.all(np.isfinite(obs)) and r == 0.0
    assert u.unstable_episodes == 1
    assert not (tmp_path / "MUJOCO_LOG.TXT").exists()  # warnings go to the sim2real.mujoco logger


def test_non_finite_action_is_not_sent():
    env = gym.make("sim2real/Navigate-v0")
    env.reset(seed=0)
    obs, *_ = env.step(np.array([np.nan, np.inf]))
    assert np.all(np.isfinite(obs)) and np.all(env.unwrapped.data.ctrl == 0)


def test_wrapper_on_stock_hopper():
    env = DynamicsWrapper(
        gym.make("Hopper-v5"),
        randomization={"mass_scale": [0.5, 2.0], "friction_scale": [0.5, 1.5]},
        dynamics={"action_latency": 1, "obs_noise_std": 0.01},
    )
    m = env.unwrapped.model
    nominal = m.body_mass.copy()
    masses = []
    for k in range(3):
        _, info = env.reset(seed=k)
        assert np.allclose(m.body_mass[1:], nominal[1:] * info["dynamics"]["mass_scale"])
        masses.append(info["dynamics"]["mass_scale"])
        obs, *_ = env.step(env.action_space.sample())
        assert obs.shape == env.observation_space.shape
    assert len(set(masses)) == 3
    with pytest.raises(DynamicsError, match="does not apply"):
        DynamicsWrapper(gym.make("Hopper-v5"), dynamics={"object_mass_scale": 2})
    with pytest.raises(DynamicsError, match="named preset"):
        DynamicsWrapper(gym.make("Hopper-v5"), randomization="default")
