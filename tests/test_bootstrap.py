"""The calibration's Newton refit, the dataset twin, the action-noise match and the bootstrap's arithmetic."""

import math
from types import SimpleNamespace

import numpy as np
import pytest

from sim2real.data.collect import policy_factory, rollout
from sim2real.ident.bootstrap import curved_inverse, match_action_noise, newton_refit, summarise, twin
from sim2real.ident.replay import Replay

TRUE = {"actuator_gain_scale": 0.7, "mass_scale": 1.4, "action_latency": 1, "actuator_deadzone": 0.05}
VEL = [3, 4, 5]  # forward, lateral and yaw-rate readings


@pytest.fixture(scope="module")
def logged(tmp_path_factory):
    from sim2real.data.datasets import read, write

    logs = rollout(policy_factory("excite", "navigate", {"seed": 0}), "navigate", 2, 0, None, TRUE, 0.0)
    path = write(tmp_path_factory.mktemp("boot") / "d" / "ex-v0", "navigate", logs, {"source": "test"})
    return read(path, "navigate")


class Quadratic:
    """A stand-in replay whose mean squared error is (x - m)' A (x - m) + 1 in two parameters."""

    def __init__(self, m, a):
        self.m, self.a, self.calls = np.asarray(m), np.asarray(a), 0

    def __call__(self, values):
        self.calls += 1
        d = np.array([values["mass_scale"], values["damping_scale"]]) - self.m
        return SimpleNamespace(rms=math.sqrt(float(d @ self.a @ d) + 1.0))


def test_newton_refit_lands_on_a_correlated_minimum_and_refuses_uphill_steps():
    """Coordinate steps crawl along a correlated valley; a Newton step with the Hessian crosses it at once; an
    overshooting step is halved; an uphill one is refused."""
    a = np.array([[2.0, 1.8], [1.8, 2.0]])
    cont, bounds = ["mass_scale", "damping_scale"], {"mass_scale": (0.3, 3.0), "damping_scale": (0.2, 5.0)}
    replay = Quadratic([1.1, 0.95], a)
    fit, f = newton_refit(replay, {"mass_scale": 1.0, "damping_scale": 1.0}, cont, curved_inverse(2 * a), bounds)
    assert fit["mass_scale"] == pytest.approx(1.1, abs=1e-6) and fit["damping_scale"] == pytest.approx(0.95, abs=1e-6)
    assert f == pytest.approx(1.0)
    start = {"mass_scale": 1.0, "damping_scale": 1.0}  # a wrong Hessian's step goes uphill: refused
    fit, f = newton_refit(replay, start, cont, -curved_inverse(2 * a), bounds)
    assert fit == start and f == pytest.approx(Quadratic([1.1, 0.95], a)(start).rms ** 2)
    start = {"mass_scale": 1.0, "damping_scale": 1.0}  # a step twice too long lands as high as it left: halved
    fit, f = newton_refit(Quadratic([1.1, 0.95], a), start, cont, 2 * curved_inverse(2 * a), bounds, steps=1)
    assert fit["mass_scale"] == pytest.approx(1.1, abs=1e-6) and f == pytest.approx(1.0)
    flat = curved_inverse(np.array([[1.0, 1.0], [1.0, 1.0]]))  # a flat direction: never stepped along
    assert flat @ np.array([1.0, -1.0]) == pytest.approx(np.zeros(2))


def test_twin_follows_the_logs_at_their_values_and_adds_the_noise_it_is_told(logged):
    replay = Replay(logged, 10, 20)
    zero = {"obs_noise_std": 0.0, "obs_bias": 0.0, "action_noise_std": 0.0}

    def gap(values):
        t = twin(replay, logged, values, zero, np.random.default_rng(0))
        pairs = zip(logged.observations, t.observations, strict=True)
        return np.mean([np.abs(a[:, VEL] - b[:, VEL]).mean() for a, b in pairs])

    right = gap(TRUE)
    assert right < 0.004, right
    assert gap({**TRUE, "mass_scale": 1.0}) > 3 * right  # the values reach the physics ...
    assert gap({**TRUE, "action_latency": 0}) > 3 * right  # ... and so do latency and deadzone
    assert gap({**TRUE, "actuator_deadzone": 0.0}) > 1.5 * right
    clean = twin(replay, logged, TRUE, zero, np.random.default_rng(0))
    noisy = twin(replay, logged, TRUE, {**zero, "obs_noise_std": 0.02}, np.random.default_rng(0))
    d = np.concatenate([a - b for a, b in zip(noisy.observations, clean.observations, strict=True)])
    assert d.std() == pytest.approx(0.02, rel=0.05) and abs(d.mean()) < 0.002
    biased = twin(replay, logged, TRUE, {**zero, "obs_bias": 0.05}, np.random.default_rng(0))
    for a, b in zip(biased.observations, clean.observations, strict=True):
        off = a - b
        assert np.allclose(off, off[0], atol=1e-6) and np.abs(off[0]).max() <= 0.05  # constant in the episode
        assert np.abs(off[0]).max() > 0.02


@pytest.mark.parametrize("task", ["navigate", "hopper"])
def test_batched_twin_equals_the_python_twin(task, logged, tmp_path):
    """The twin simulated in one ``mujoco.rollout`` call equals the one stepped in Python, noise included (the
    same draws in the same order), on every entry a replay reads; the navigation base's rangefinders, which
    ``replay_observe`` does not compute, are the logged readings there."""
    from sim2real.data.datasets import read, write
    from sim2real.ident.rollout import BatchedReplay

    data = logged
    if task != "navigate":
        logs = rollout(policy_factory("excite", task, {"seed": 0}), task, 2, 0, None, "real", 0.0)
        data = read(write(tmp_path / "h-v0", task, logs, {"source": "test"}), task)
    values = {"mass_scale": 1.2, "action_latency": 1, "actuator_deadzone": 0.05}
    noise = {"action_noise_std": 0.05, "obs_noise_std": 0.02, "obs_bias": 0.01}
    py, batched = Replay(data, 10, 20), BatchedReplay(data, 10, 20, threads=2)
    assert batched.batched and not getattr(py, "batched", False)
    a = twin(py, data, values, noise, np.random.default_rng(3))
    b = twin(batched, data, values, noise, np.random.default_rng(3))
    assert [len(o) for o in a.observations] == [len(o) for o in b.observations]
    read_entries = slice(0, 6) if task == "navigate" else slice(None)  # what restore and the replay read
    for x, y in zip(a.observations, b.observations, strict=True):
        np.testing.assert_allclose(y[:, read_entries], x[:, read_entries], rtol=0, atol=2e-5)
    assert py.steps == batched.steps == sum(len(x) for x in data.actions)
    other = twin(batched, data, {**values, "mass_scale": 0.8}, noise, np.random.default_rng(3))
    assert np.abs(other.observations[0][:, read_entries] - b.observations[0][:, read_entries]).max() > 0.01


def test_action_noise_is_matched_to_the_data_replay_error(logged):
    """Data whose actions carried noise of std 0.06 that the logs do not show: the twin's replay error equals
    the data's at about that noise. (The data here is one twin of two episodes, so its own error is a draw:
    seeds 5 and 6 match at 0.063 and 0.082.)"""
    replay = Replay(logged, 10, 20)
    noisy = twin(replay, logged, TRUE, {"action_noise_std": 0.06}, np.random.default_rng(5))
    data = Replay(noisy, 10, 20)
    target = data(TRUE).rms ** 2
    sigma, base = match_action_noise(lambda d: Replay(d, 10, 20), data, noisy, TRUE, {}, target)
    assert sigma == pytest.approx(0.06, rel=0.4), sigma
    assert base < 0.2 * target  # without it the twin explains a fraction of the error


def test_navigation_twin_starts_at_any_heading_with_the_same_readings(logged):
    """A twin's episode starts at a random world heading (the pyramidal friction cone is anisotropic): the
    robot-frame readings after a step match those from the heading-0 restore to the anisotropy's millimetres."""
    env = Replay(logged, 10, 20).env
    env.set_values(TRUE)
    rng, a = np.random.default_rng(0), np.array([0.3, 0.5])
    for t in (30, 60, 90):
        obs = logged.observations[0][t]
        env.restore(obs, None, 0)
        ref = env.replay_step(a, a)[:6]
        env.twin_start(obs, None, rng)
        assert np.abs(env.replay_step(a, a)[:6] - ref).max() < 0.01


def test_bootstrap_summary_subtracts_the_shift_and_reports_its_spread():
    est = {"mass_scale": 1.0, "damping_scale": 2.0}
    reps = [{"mass_scale": m, "damping_scale": 2.0} for m in (1.08, 1.10, 1.12)]
    out = summarise(est, reps, ["mass_scale", "damping_scale"])
    assert out["mass_scale"]["bias"] == pytest.approx(0.1)
    assert out["mass_scale"]["corrected"] == pytest.approx(0.9)  # the estimate minus the twins' shift
    assert out["mass_scale"]["std"] == pytest.approx(0.02)
    assert out["mass_scale"]["bias_std"] == pytest.approx(0.02 / math.sqrt(3))
    assert out["damping_scale"]["corrected"] == pytest.approx(2.0) and out["damping_scale"]["std"] == 0.0


def test_newton_rounds_evaluate_the_hessian_afresh_until_the_error_stops_falling():
    """A Hessian 20 x too stiff (a shallow valley seen from its steep end) leaves three steps far short of the
    minimum; a second round with the Hessian evaluated where the first ended lands on it, and a third that no
    longer lowers the error ends the rounds."""
    a = np.array([[2.0, 1.8], [1.8, 2.0]])
    cont, bounds = ["mass_scale", "damping_scale"], {"mass_scale": (0.3, 3.0), "damping_scale": (0.2, 5.0)}
    start, stiff = {"mass_scale": 1.0, "damping_scale": 1.0}, curved_inverse(40 * a)
    short, _ = newton_refit(Quadratic([1.1, 0.95], a), start, cont, stiff, bounds)
    assert short["mass_scale"] < 1.03  # one round: under a third of the way
    where = []

    def hessian(x):
        where.append(dict(x))
        return 2 * a

    fit, f = newton_refit(Quadratic([1.1, 0.95], a), start, cont, stiff, bounds, hessian=hessian, rounds=4)
    assert fit["mass_scale"] == pytest.approx(1.1, abs=1e-6) and fit["damping_scale"] == pytest.approx(0.95, abs=1e-6)
    assert f == pytest.approx(1.0)
    assert len(where) == 2 and where[0] == short  # round 2 starts where round 1 ended; round 3 changes nothing
    again, _ = newton_refit(Quadratic([1.1, 0.95], a), start, cont, stiff, bounds, hessian=hessian, rounds=1)
    assert again == short and len(where) == 2  # rounds=1: the first Hessian only, as before
