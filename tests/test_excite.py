"""Identification experiments: the excitation signals' limits, the artefact, the guards, every supported task in
randomised simulation, collect and the torch-free runtime running the same routine."""

import json
import math

import numpy as np
import pytest
from sim2real_runtime.excite import ChannelSignal, Excitation, ExcitationError, Guard, build

from sim2real.data.collect import policy_factory, rollout
from tests.helpers import run_cli

RATE = 25.0


def _routine(signal, steps=200, rate_limit=0.3, guards=()):
    channels = [ChannelSignal(signal, 0.8, 0.0, (0.5, 5.0), seed=3), ChannelSignal("hold", 0.0, -1.0)]
    return build("t", RATE, 6, np.array([0.0, -1.0]), channels, steps, 10, rate_limit, guards)


@pytest.mark.parametrize("signal", ["chirp", "multisine", "prbs", "steps"])
def test_signals_keep_bounds_ramps_and_rate_limit(signal):
    ex = _routine(signal)
    t = ex.table
    assert t.shape == (200, 2) and np.all(np.abs(t) <= 1.0)
    assert np.allclose(t[0], [0.0, -1.0]) and np.allclose(t[-1], [0.0, -1.0], atol=0.31)  # ramps from/to safe
    steps = np.abs(np.diff(np.vstack([ex.safe_action, t]), axis=0))
    assert steps.max() <= 0.3 + 1e-9  # the rate limit
    assert np.allclose(t[:, 1], -1.0)  # a held channel stays at its offset
    assert np.abs(t[20:180, 0]).max() > 0.5  # and the excited one is excited


def test_steps_and_prbs_reverse_so_the_robot_does_not_drift():
    for signal in ("prbs", "steps"):
        raw = ChannelSignal(signal, 1.0, 0.0, (0.5, 5.0), seed=1).generate(400, RATE)
        assert abs(raw.mean()) < 0.1, signal  # each level is followed by its opposite for as long


def test_bad_specs_are_one_line():
    with pytest.raises(ExcitationError, match="band_hz"):
        build("t", RATE, 6, np.zeros(1), [ChannelSignal("chirp", 0.5, 0.0, (1.0, 20.0))], 100, 5, 0.5)
    with pytest.raises(ExcitationError, match="signal='sine'"):
        build("t", RATE, 6, np.zeros(1), [ChannelSignal("sine", 0.5)], 100, 5, 0.5)
    with pytest.raises(ExcitationError, match="amplitude"):
        build("t", RATE, 6, np.zeros(1), [ChannelSignal("chirp", 1.5)], 100, 5, 0.5)
    with pytest.raises(ExcitationError, match="2 given, the task has 1"):
        build("t", RATE, 6, np.zeros(1), [ChannelSignal("chirp"), ChannelSignal("hold")], 100, 5, 0.5)


def test_artefact_round_trip_tamper_and_no_overwrite(tmp_path):
    ex = _routine("prbs")
    d = ex.save(tmp_path / "ex")
    back = Excitation.load(d)
    assert np.allclose(back.table, ex.table, atol=1e-6) and back.meta["task"] == "t"
    with pytest.raises(FileExistsError):
        ex.save(d)
    body = json.loads((d / "excite.json").read_text())
    body["table"][5][0] = 1.0
    (d / "excite.json").write_text(json.dumps(body))
    with pytest.raises(ExcitationError, match="SHA-256"):
        Excitation.load(d)


def test_guard_stops_one_direction_and_counts():
    g = Guard("edge +x", (0,), 0, 1.0, above=0.2, velocity=(1,), lookahead_s=0.5)
    ex = _routine("steps", guards=[g])
    obs = np.zeros(6)
    obs[0], obs[1] = 0.1, 0.3  # 0.1 m, moving +0.3 m/s: 0.25 m in 0.5 s, past the edge
    sent = [ex(obs)[0] for _ in range(200)]
    table = ex.table[:, 0]
    assert all(s == 0.0 for s, c in zip(sent, table, strict=True) if c > 0)  # +x blocked
    assert all(s == pytest.approx(c, abs=1e-6) for s, c in zip(sent, table, strict=True) if c <= 0)  # -x free
    assert len(ex.stops) == int((table > 0).sum()) and ex.stops[0]["guard"] == "edge +x"
    assert ex.done and np.allclose(ex(obs), ex.safe_action)  # past the table: the safe action


@pytest.mark.parametrize("task", ["navigate", "grasp", "panda_lift", "hopper", "pusher"])
def test_excitation_stays_inside_every_limit_under_randomised_dynamics(task):
    kept = []
    factory = policy_factory("excite", task, {"seed": 0})
    logs = rollout(lambda env: kept.append(factory(env)) or kept[-1], task, 3, 0, "wide", None, 0.0)
    ex = kept[0]
    for log in logs:
        a, o = np.array(log.actions), np.array(log.observations)
        assert np.all(np.abs(a) <= 1.0 + 1e-6)
        if task == "navigate":  # no contact: a collision would have terminated the episode
            assert not any(log.terminations) and o[:, 6:30].min() > 0.2
        if task in ("grasp", "panda_lift"):  # the pinch point stays in its box, above the box on the table
            assert o[:, 2].min() > 0.04 and np.abs(o[:, 0:2]).max() < 0.26
            assert np.abs(o[:, 13:16]).max() < 0.05  # the box never moved: nothing touched it
    rate = ex.meta["rate_limit"]
    stopped = {s["step"] for s in ex.stops}
    for log in logs:  # the rate limit holds except where a guard stopped a channel (a stop is immediate)
        a = np.vstack([ex.safe_action, np.array(log.actions)])
        jumps = np.abs(np.diff(a, axis=0)).max(axis=1)
        assert all(j <= rate + 1e-5 for k, j in enumerate(jumps) if k not in stopped and k - 1 not in stopped)


def test_collect_writes_the_artefact_and_the_runtime_runs_it(tmp_path, monkeypatch):
    r = run_cli(
        "collect",
        "policy=excite",
        "task=navigate",
        "episodes=2",
        "action_noise=0",
        "excite.duration_s=8",
        f"out={tmp_path / 'd' / 'ex-v0'}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert r.returncode == 0, r.stderr
    routine = tmp_path / "run" / "excite"
    assert Excitation.load(routine).steps == 80
    # the same routine from its artefact, in simulation: the same commands
    r2 = run_cli(
        "collect",
        f"policy={routine}",
        "episodes=2",
        "action_noise=0",
        f"out={tmp_path / 'd' / 'ex2-v0'}",
        f"hydra.run.dir={tmp_path / 'run2'}",
    )
    assert r2.returncode == 0, r2.stderr
    from sim2real.data.datasets import read

    a = np.concatenate(read(tmp_path / "d" / "ex-v0", "navigate").actions)
    b = np.concatenate(read(tmp_path / "d" / "ex2-v0", "navigate").actions)
    assert np.allclose(a, b)
    # the torch-free runtime runs it against a driver, episode by episode, and logs .npz
    from sim2real_runtime.cli import main

    (tmp_path / "bot.py").write_text(
        "import numpy as np\n"
        "def make():\n"
        "    return {'observe': lambda: np.full(32, 1.5, np.float32), 'act': lambda a: None,\n"
        "            'safe_stop': lambda: None}\n"
    )
    monkeypatch.chdir(tmp_path)
    rc = main(
        [
            "run",
            str(routine),
            "--driver",
            "bot:make",
            "--steps",
            "500",
            "--episodes",
            "3",
            "--no-realtime",
            "--log",
            str(tmp_path / "robot.npz"),
        ]
    )
    assert rc == 0
    with np.load(tmp_path / "robot.npz") as z:
        assert list(z["episode_lengths"]) == [80, 80, 80]
        table = Excitation.load(routine).table  # nothing within 0.45 m: no guard acts, the table is what is sent
        assert np.allclose(z["actions"][:80], table, atol=1e-6) and np.allclose(z["actions"][160:], table, atol=1e-6)
    assert main(["info", str(routine)]) == 0


def test_design_ranks_the_excitation_above_the_task_motions():
    from sim2real.ident.design import design

    truth = {"actuator_gain_scale": 0.7, "mass_scale": 1.4, "obs_noise_std": 0.01}
    r = design("navigate", ["actuator_gain_scale", "mass_scale"], truth, ["scripted", "excite"], episodes=3)
    best, worst = r["ranked"]
    assert best["candidate"] == "excite" and worst["candidate"] == "scripted"
    assert best["worst_rel_std"] < 0.1 and worst["worst_rel_std"] > 2 * best["worst_rel_std"]
    assert r["target_rel_std"] == 0.05  # calibrate's flag bound: (0.1 / 0.05)^2 = 4x the episodes a 10 % std needs
    assert best["parameters"]["actuator_gain_scale"]["episodes_for_target"] <= 12
    assert worst["parameters"]["actuator_gain_scale"]["episodes_for_target"] > 40


def test_design_finds_the_gentle_excitation_a_slick_floor_needs():
    """On Navigate-v1 at wheel friction 0.3 the routine's full-torque steps are traction-limited (the base
    accelerates at friction x g whatever its gain and mass): the design names that flat, and ranks the same
    routine at amplitude 0.25, whose accelerations stay under the traction limit, first."""
    from sim2real.ident.design import design

    truth = {"friction_scale": 0.3}
    params = ["actuator_gain_scale", "mass_scale", "damping_scale", "friction_scale"]
    r = design("navigate_v1", params, truth, ["excite", "excite@0.25"], episodes=2, horizon=30, stride=30)
    best, worst = r["ranked"]
    assert best["candidate"] == "excite@0.25" and best["worst_rel_std"] < 0.1
    assert worst["flat_directions"] and math.isinf(worst["parameters"]["mass_scale"]["rel_std"])


def test_design_names_the_ratio_symmetry_of_grasping():
    """Gain, mass and damping of the Cartesian gripper act through their ratios: the design says so, before any
    robot time, with the flat direction (all three scaled together) and the combination that is identifiable."""
    from sim2real.ident.design import design

    truth = {"actuator_gain_scale": 0.65, "mass_scale": 1.3, "damping_scale": 1.6}
    r = design("grasp", ["mass_scale", "actuator_gain_scale", "damping_scale"], truth, ["excite"], episodes=2)
    row = r["ranked"][0]
    assert all(v["rel_std"] > 0.1 for v in row["parameters"].values())  # none identifiable alone
    flat = row["flat_directions"][0]["direction"]
    assert set(flat) == {"log mass_scale", "log actuator_gain_scale", "log damping_scale"}
    assert all(c > 0 for c in flat.values())  # scaled together
    pinned = row["pinned_directions"][0]["direction"]
    assert pinned["log actuator_gain_scale"] * pinned["log mass_scale"] < 0  # the gain / mass ratio


def test_calibration_recovers_gain_and_mass_from_noise_free_excitation(tmp_path):
    from sim2real.data.datasets import read, write
    from sim2real.ident.calibrate import calibrate

    true = {"actuator_gain_scale": 0.7, "mass_scale": 1.4}
    logs = rollout(policy_factory("excite", "navigate", {"seed": 0}), "navigate", 2, 0, None, true, 0.0)
    logged = read(write(tmp_path / "d" / "ex-v0", "navigate", logs, {"source": "test"}), "navigate")
    # about 40 s, with two simulated twins (sim2real.ident.bootstrap)
    result = calibrate(
        logged, ["actuator_gain_scale", "mass_scale"], budget=120, seed=0, stride=20, bootstrap=2, restarts=1
    )
    est = result["estimate"]
    assert abs(est["actuator_gain_scale"] / 0.7 - 1) < 0.02 and abs(est["mass_scale"] / 1.4 - 1) < 0.02, est
    assert result["identified"]["actuator_gain_scale"] and result["identified"]["mass_scale"]
    assert result["bootstrap"]["replicates"] == 2 and len(result["bootstrap"]["twin_replay_error"]) == 2
    assert result["bootstrap"]["action_noise_std"] == result["estimate"]["action_noise_std"]
    for p in ("actuator_gain_scale", "mass_scale"):  # the twins' shift is subtracted, their spread is in the std
        row = result["parameters"][p]
        assert row["estimate"] == pytest.approx(row["estimate_uncorrected"] - row["bootstrap_bias"])
        assert row["std"] >= max(row["std_bootstrap"], row["std_laplace"], row["std_robust"])
    assert 0 <= result["estimate"]["action_noise_std"] < 0.05  # noise-free logs: little left to match


def test_velocity_bias_is_measured_from_an_excitation_that_turns():
    """Turning in place rotates the unit vector toward the goal, so a constant velocity-reading offset does not
    add up over an episode; the bias estimate fits the offset along that direction instead of summing the
    residuals (which gave about a third of the true bound on these logs)."""
    from types import SimpleNamespace

    from sim2real.ident.noise import noise_and_bias
    from sim2real.ident.replay import replay_env

    true = {"obs_noise_std": 0.02, "obs_bias": 0.05}
    logs = rollout(policy_factory("excite", "navigate", {"seed": 0}), "navigate", 12, 0, None, true, 0.0)
    logged = SimpleNamespace(observations=[np.asarray(log.observations) for log in logs])
    est = noise_and_bias(replay_env("navigate"), logged)
    assert abs(est["obs_noise_std"] / 0.02 - 1) < 0.1, est
    assert abs(est["obs_bias"] / 0.05 - 1) < 0.25, est


def test_cluster_covariance_counts_episodes_not_segments():
    """Each episode pulls the estimate to its own value a_c (a bias shared by its segments): the minimiser of
    the mean error is their mean, whose std is sd(a) / sqrt(episodes), whatever the number of segments. The
    sandwich gives exactly that; treating segments as independent would shrink it by sqrt(segments per episode)."""
    from sim2real.ident.uncertainty import cluster_covariance

    rng = np.random.default_rng(0)
    a = rng.normal(1.0, 0.2, size=12)  # per-episode optimum
    clusters = np.repeat(np.arange(12), 25)
    theta = a.mean()
    grads = (2 * (theta - a[clusters]))[None, :]  # d/dtheta of (theta - a_c)^2
    cov = cluster_covariance(np.array([[2.0]]), grads, clusters)
    assert cov[0, 0] == pytest.approx(a.var(ddof=1) / 12, rel=1e-9)
    assert np.isnan(cluster_covariance(np.array([[2.0]]), grads[:, :25], clusters[:25])).all()  # one episode


def test_paired_rise_is_significant_only_when_every_episode_agrees():
    from sim2real.ident.uncertainty import _paired_z

    clusters = np.repeat(np.arange(10), 5)
    at = np.ones(50)
    consistent = at + 0.01 + 0.001 * np.sin(np.arange(50))  # 1 % higher in every episode
    mixed = at + 0.01 * np.where(clusters % 2 == 0, 1.0, -0.8)  # higher in half the episodes, lower in the rest
    assert _paired_z(at, [consistent, consistent], clusters) > 10
    assert abs(_paired_z(at, [mixed, mixed], clusters)) < 1
    lower = at - 0.01 + 0.001 * np.cos(np.arange(50))
    assert _paired_z(at, [lower, lower], clusters) < -10  # probes below the estimate: not a minimum


def test_calibration_finds_a_deadzone_and_keeps_it_out_of_the_hessian(tmp_path):
    """The replay error is a staircase in the deadzone (it moves only where the threshold crosses a logged
    command): CMA-ES alone stalls on a tread; the scan finds it. No Laplace std is claimed for it; its profile
    gives one, and on two episodes no logged command lies between 0.19 and 0.24, so it is not flagged."""
    from sim2real.data.datasets import read, write
    from sim2real.ident.calibrate import calibrate

    true = {"actuator_deadzone": 0.2}
    logs = rollout(policy_factory("excite", "navigate", {"seed": 0}), "navigate", 2, 0, None, true, 0.0)
    logged = read(write(tmp_path / "d" / "dz-v0", "navigate", logs, {"source": "test"}), "navigate")
    result = calibrate(logged, ["actuator_deadzone", "mass_scale"], budget=10, seed=0, stride=20, restarts=1)
    assert abs(result["estimate"]["actuator_deadzone"] - 0.2) <= 0.02, result["estimate"]
    dz = result["parameters"]["actuator_deadzone"]
    assert math.isnan(dz["std_laplace"]) and 0.01 < dz["std"] and abs(dz["estimate"] - 0.2) < 3 * dz["std"]
    assert dz["profile_half_width"] >= 0.04 and not dz["identified"]  # flat above the estimate to 0.24 at least
    one = calibrate(logged, ["actuator_deadzone"], budget=10, seed=0, stride=20)  # one parameter: a grid (cma fails)
    assert abs(one["estimate"]["actuator_deadzone"] - 0.2) <= 0.02, one["estimate"]
    # one parameter has no coarse start (and no valley to hop along): one search, nothing to compare
    assert one["optimiser"]["searches"] == 1 and one["optimiser"]["restarts"] == []
