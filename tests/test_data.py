"""Logged data: collect -> load round trip, the .npz importer, bad-dataset errors, calibration."""

import json
import math
import os
import re

import numpy as np
import pytest
from sim2real.envs.scripted import scripted_policy

from sim2real.commands.data_cmd import data_main
from sim2real.data.collect import rollout
from sim2real.data.datasets import DatasetError, import_npz, read, write
from sim2real.ident.calibrate import calibrate
from sim2real.ident.replay import Replay
from sim2real.ident.uncertainty import restart_spread
from tests.helpers import run_cli, tiny_train

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


_cli = run_cli  # in-process: the CLI entry function, not a subprocess


def test_collect_round_trip(tmp_path, monkeypatch):
    out = tmp_path / "data" / "grasp-real-v0"
    r = _cli(
        "collect",
        "policy=scripted",
        "task=grasp",
        "episodes=2",
        "action_noise=0.1",
        f"out={out}",
        f"hydra.run.dir={tmp_path / 'run'}",
    )
    assert r.returncode == 0, r.stderr
    logged = read(out)  # the task comes from the dataset
    assert logged.task == "grasp" and logged.episodes == 2 and logged.steps == 200
    assert all(o.shape == (101, 23) for o in logged.observations) and all(a.shape == (100, 4) for a in logged.actions)
    assert logged.true_dynamics[0]["action_latency"] == 2  # the real profile, kept for scoring only
    assert logged.metadata["sim2real_action_noise"] == 0.1 and logged.metadata["sim2real_dynamics_profile"] == "real"
    assert np.abs(np.concatenate(logged.actions)).max() <= 1.0
    info = _cli("data", "info", str(out), "--json")
    assert info.returncode == 0 and json.loads(info.stdout)["episodes"] == 2
    assert not (out.parent / ".partial").exists()  # no staging directory left behind
    # Minari rebuilds the env the data came from (the `real` profile), not the nominal sim
    import minari

    monkeypatch.setenv("MINARI_DATASETS_PATH", str(out.parent))
    ds = minari.load_dataset(out.name)
    env = ds.recover_environment()
    _, reset_info = env.reset(seed=0)
    assert reset_info["dynamics"]["action_latency"] == 2 and reset_info["dynamics"]["mass_scale"] != 1.0
    assert any(r.startswith("sim2real") for r in ds.storage.metadata["requirements"])
    ep = next(iter(ds.iterate_episodes()))
    assert {"success", "reward_lift", "reward_reach"} <= set(ep.infos) and len(ep.infos["reward_lift"]) == 101
    assert np.allclose(np.sum([ep.infos[k][1:] for k in ep.infos if k.startswith("reward_")], axis=0), ep.rewards)


def _npz(path, lengths=(3, 2), obs_dim=32, act_dim=2, **change):
    n = sum(lengths)
    rng = np.random.default_rng(0)
    arrays = {
        "observations": rng.normal(size=(n + len(lengths), obs_dim)),
        "actions": rng.uniform(-1, 1, size=(n, act_dim)),
        "rewards": rng.normal(size=n),
        "terminations": np.zeros(n, bool),
        "truncations": np.zeros(n, bool),
        "episode_lengths": np.asarray(lengths),
    }
    arrays["terminations"][lengths[0] - 1] = True  # the first episode ends on its last step; the second has no flag
    arrays.update(change)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    np.savez(path, **arrays)
    return arrays


def test_import_hand_written_npz(tmp_path):
    src = _npz(tmp_path / "log.npz")
    path, notes = import_npz(tmp_path / "log.npz", "navigate", tmp_path / "d" / "nav-log-v0")
    assert notes == ["episode 1: no end flag on its last step, marked truncated"]
    logged = read(path, "navigate")
    assert logged.episodes == 2 and [len(a) for a in logged.actions] == [3, 2]
    np.testing.assert_allclose(logged.observations[1], src["observations"][4:], rtol=1e-6)
    np.testing.assert_allclose(logged.actions[0], src["actions"][:3], rtol=1e-6)
    assert logged.terminations[0][-1] and logged.truncations[1][-1]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"rewards": None}, "missing arrays rewards"),
        ({"observations": np.zeros((7, 31))}, "observations (31,)"),
        ({"observations": np.full((7, 32), np.nan)}, "non-finite values"),
        ({"episode_lengths": np.zeros(0, int)}, "episode_lengths must be a non-empty"),
        ({"actions": np.zeros((4, 2))}, "need 5 rows"),
        ({"actions": np.full((5, 2), 3.0)}, "actions outside [-1, 1]"),
    ],
)
def test_bad_npz_is_one_line(tmp_path, capsys, change, message):
    _npz(tmp_path / "bad.npz", **change)
    rc = data_main(["import", str(tmp_path / "bad.npz"), "task=navigate", f"out={tmp_path / 'x-v0'}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err[0].startswith("error:") and message in err[0], err


def test_bad_datasets_on_load(tmp_path, capsys):
    _npz(tmp_path / "log.npz")
    path, _ = import_npz(tmp_path / "log.npz", "navigate", tmp_path / "d" / "nav-log-v0")
    with pytest.raises(DatasetError, match="navigate dataset, not grasp"):
        read(path, "grasp")
    with pytest.raises(DatasetError, match="no such dataset directory"):
        read(tmp_path / "d" / "missing-v0", "grasp")
    with pytest.raises(DatasetError, match="Minari id"):
        read(tmp_path / "d" / "no_version", "grasp")
    with pytest.raises(DatasetError, match="no finished episodes"):
        write(tmp_path / "d" / "empty-v0", "grasp", [], {})
    assert data_main(["info", str(tmp_path / "d" / "missing-v0")]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def _scripted(env):
    return scripted_policy(env)


def test_calibration_recovers_known_scales(tmp_path):
    """Noise-free grasp logs with gain 0.6 and 2 steps of latency: the search (gain and latency free) recovers
    both, and the replay error at the estimate is far below the nominal one."""
    true = {"actuator_gain_scale": 0.6, "action_latency": 2}
    logs = rollout(_scripted, "grasp", 3, 0, None, true, action_noise=0.2)
    path = write(tmp_path / "d" / "syn-v0", "grasp", logs, {"source": "test"})
    logged = read(path, "grasp")
    result = calibrate(logged, ["actuator_gain_scale", "action_latency"], budget=40, seed=0, stride=20, restarts=1)
    est = result["estimate"]
    assert est["action_latency"] == 2
    assert abs(est["actuator_gain_scale"] / 0.6 - 1) < 0.1, est
    assert result["replay_error_after"] < 0.5 * result["replay_error_before"]
    assert result["identified"]["action_latency"]
    # three episodes pin the gain to about 5 %: flagged only where two stds lie within 10 % (calibrate's bound)
    gain, std = est["actuator_gain_scale"], result["std"]["actuator_gain_scale"]
    assert result["identified"]["actuator_gain_scale"] == (std <= 0.05 * gain) and abs(gain - 0.6) <= 3 * std
    assert result["identified_rel_std"] == 0.05
    # the true values replay (almost) perfectly: what remains is the smoothing of the initial states
    assert Replay(logged, 10, 20)(true).rms < 0.5 * result["replay_error_before"]


def test_calibration_restarts_polish_every_start_and_keep_the_lowest(tmp_path):
    """Three CMA-ES runs from nominal at a tiny budget stop at different points: every start is recorded with
    its seed and replay error before and after its polish, and the lowest polished start is the estimate."""
    logs = rollout(_scripted, "grasp", 2, 0, None, {"actuator_gain_scale": 0.6, "mass_scale": 1.3}, action_noise=0.2)
    logged = read(write(tmp_path / "d" / "r-v0", "grasp", logs, {"source": "test"}), "grasp")
    params = ["actuator_gain_scale", "mass_scale"]
    result = calibrate(logged, params, budget=20, seed=0, stride=20, newton_rounds=1, restarts=3, solver="cma")
    starts = result["optimiser"]["restarts"]
    assert [s["cma_seed"] for s in starts] == [1, 2, 3]
    assert len({s["replay_error"] for s in starts}) == 3  # the starts differ ...
    polished = [s["polished_replay_error"] for s in starts]
    assert all(p <= s["replay_error"] + 1e-12 for p, s in zip(polished, starts, strict=True))  # ... each polished
    k = int(np.argmin(polished))
    assert result["replay_error_after"] == pytest.approx(polished[k], abs=1e-12)  # ... the lowest is the estimate
    assert all(result["estimate"][p] == pytest.approx(starts[k]["polished_estimate"][p]) for p in params)
    n = result["replay"]["segments"]
    for i in result["optimiser"]["alike_starts"]:  # an alike start is one the rule admits, never the estimate
        assert i != k and n * (polished[i] ** 2 / polished[k] ** 2 - 1) <= len(params) + 1e-9
    single = calibrate(logged, params, budget=20, seed=0, stride=20, newton_rounds=1, solver="cma", restarts=1)
    assert len(single["optimiser"]["restarts"]) == 1


def test_the_alike_starts_spread_widens_the_std(tmp_path, monkeypatch):
    """The spread of the alike starts enters a parameter's std in quadrature with its local std."""
    import sim2real.ident.calibrate as cal

    logs = rollout(_scripted, "grasp", 2, 0, None, {"actuator_gain_scale": 0.6}, action_noise=0.2)
    logged = read(write(tmp_path / "d" / "r-v0", "grasp", logs, {"source": "test"}), "grasp")
    monkeypatch.setattr(cal, "restart_spread", lambda *a: ([1], {"actuator_gain_scale": 0.3}))
    r = cal.calibrate(  # (a 10-replay coarse start per restart: the search is not what is tested here)
        logged, ["actuator_gain_scale", "action_latency"], budget=10, stride=20, newton_rounds=1, restarts=2,
        start_budget=10,
    )  # fmt: skip
    g = r["parameters"]["actuator_gain_scale"]
    local = max(g["std_laplace"], g["std_robust"])
    assert math.isfinite(local) and g["std_restarts"] == 0.3 and r["optimiser"]["alike_starts"] == [1]
    assert g["std"] == pytest.approx(math.sqrt(local**2 + 0.09))


def test_restart_spread_admits_only_starts_that_fit_as_well():
    """The rule: a polished start whose error rise over the estimate's, x segments, is within the number of
    parameters, widens the std by its distance; one that fits worse, or an unpolished one, does not."""
    est = {"a": 1.0, "b": 2.0}

    def start(error: float, a: float, b: float, polished: bool = True) -> dict:
        out = {"replay_error": error * 2, "estimate": {"a": 0.0, "b": 0.0}}
        return {**out, "polished_replay_error": error, "polished_estimate": {"a": a, "b": b}} if polished else out

    # 100 segments, two parameters: admitted while 100 x (e^2 / 0.1^2 - 1) <= 2, i.e. e <= 0.1 x sqrt(1.02)
    starts = [start(0.1, 1.0, 2.0), start(0.1005, 1.06, 2.0), start(0.1011, 0.5, 2.0), start(0.1, 3.0, 3.0, False)]
    alike, spread = restart_spread(starts, est, 0.1, ["a", "b"], 100)
    assert alike == [1]  # the estimate itself, a start that fits worse and an unpolished one stay out
    assert spread == pytest.approx({"a": 0.06, "b": 0.0})
    starts.append(start(0.1, 0.9, 2.2))
    alike, spread = restart_spread(starts, est, 0.1, ["a", "b"], 100)
    assert alike == [1, 4] and spread == pytest.approx({"a": np.sqrt((0.06**2 + 0.1**2) / 2), "b": np.sqrt(0.02)})
    assert restart_spread(starts[3:4], est, 0.1, ["a", "b"], 100) == ([], {})  # restarts=1: nothing to compare


def _finetune(init, out, *overrides):
    from hydra import compose, initialize_config_module

    from sim2real.learn.finetune import build_finetune_spec, finetune

    with initialize_config_module(config_module="sim2real.configs", version_base="1.3"):
        cfg = compose(
            "finetune", overrides=[f"init={init}", "task=navigate", f"out_dir={out}", "eval.interval=0", *overrides]
        )
    return finetune(build_finetune_spec(cfg), read(cfg.data, "navigate") if cfg.get("data") else None)


@pytest.fixture(scope="module")
def nav_logs(tmp_path_factory):
    root = tmp_path_factory.mktemp("logs")
    logs = rollout(_scripted, "navigate", 2, 0, None, "real", action_noise=0.1)
    assert any(ep.success for ep in logs)
    return write(root / "nav-real-v0", "navigate", logs, {"source": "test"})


def _actor_params(run):
    from sim2real.learn.runs import load_model, resolve_policy

    model = load_model(resolve_policy(run))
    return [p.detach().clone() for n, p in model.policy.named_parameters() if "critic" not in n and "value" not in n]


@pytest.mark.parametrize("algo", ["sac", "ppo"])
def test_offline_finetuning_changes_the_policy(tmp_path, nav_logs, algo):
    init = tiny_train(tmp_path / "init", algo, steps=64)
    extra = [f"algo={algo}", *(["algo.batch_size=16"] if algo == "sac" else [])]
    run = _finetune(
        init,
        tmp_path / "ft",
        f"data={nav_logs}",
        "mode=offline",
        "steps=0",
        "offline.gradient_steps=20",
        "offline.batch_size=32",
        "offline.epochs=2",
        *extra,
    )
    meta = json.loads((run / "run.json").read_text())
    assert meta["logged"]["mode"] == "offline" and meta["logged"]["episodes"] == 2
    before, after = _actor_params(init), _actor_params(run)
    assert any(not np.allclose(a, b) for a, b in zip(before, after, strict=True))


def test_mixed_finetuning_samples_half_logged(tmp_path, nav_logs):
    from sim2real.learn.offline import MixedReplayBuffer, logged_buffer
    from sim2real.learn.runs import load_model, resolve_policy

    init = tiny_train(tmp_path / "init", "sac", steps=64)
    run = _finetune(
        init,
        tmp_path / "ft",
        f"data={nav_logs}",
        "mode=mixed",
        "algo=sac",
        "steps=32",
        "algo.batch_size=16",
        "n_envs=1",
    )
    assert (run / "policy.safetensors").is_file()
    model = load_model(resolve_policy(init))
    offline = logged_buffer(read(nav_logs, "navigate"), model)
    mixed = MixedReplayBuffer(100, model.observation_space, model.action_space, device="cpu", offline=offline)
    obs = np.full((1, 32), 7.0, dtype=np.float32)
    for _ in range(5):
        mixed.add(obs, obs, np.zeros((1, 2)), np.zeros(1), np.zeros(1), [{}])
    batch = mixed.sample(20)
    from_online = (batch.observations == 7.0).all(dim=1).sum().item()
    assert from_online == 10


def test_ppo_cannot_mix(tmp_path, nav_logs):
    from sim2real.learn.config import ConfigError

    init = tiny_train(tmp_path / "init", "ppo", steps=64)
    with pytest.raises(ConfigError, match="mode=mixed needs an off-policy"):
        _finetune(init, tmp_path / "ft", f"data={nav_logs}", "mode=mixed", "algo=ppo")


def test_calibrate_command_writes_a_usable_randomisation(tmp_path, nav_logs):
    cal = tmp_path / "cal"
    r = _cli(
        "calibrate",
        f"data={nav_logs}",
        "params=[actuator_gain_scale,action_latency]",
        "budget=10",
        "restarts=1",  # the search is not what is tested here
        "gap_of=[real,nominal]",
        f"hydra.run.dir={cal}",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("calibrate: navigate from 2 episodes: replay error")
    result = json.loads((cal / "calibration.json").read_text())
    assert {"estimate", "std", "identifiability", "replay_error_before", "replay_error_after", "optimiser"} <= set(
        result
    )
    assert result["optimiser"]["budget"] == 10 and result["optimiser"]["seed"] == 0
    assert result["replay_error_of"]["nominal"] == pytest.approx(result["replay_error_before"])
    assert result["replay_error_of"]["real"] < result["replay_error_before"]
    run = tmp_path / "run"
    r = _cli(
        "train",
        "task=navigate",
        f"dr={cal}",
        f"dynamics={cal / 'dynamics.yaml'}",
        "steps=64",
        "n_envs=1",
        "algo.n_steps=64",
        "algo.batch_size=64",
        "eval.interval=0",
        "warm_start.demos=0",
        "progress=false",
        f"hydra.run.dir={run}",
    )
    assert r.returncode == 0, r.stderr
    meta = json.loads((run / "run.json").read_text())
    assert meta["randomization"]["name"] == "calibrated"
    lat = result["estimate"]["action_latency"]  # exact where flagged, else one step either side
    assert meta["randomization"]["ranges"]["action_latency"] == ([lat, lat] if result["identified"]["action_latency"]
                                                                 else [max(lat - 1, 0), lat + 1])  # fmt: skip
    assert meta["dynamics"]["name"] == "calibrated"


@pytest.mark.parametrize(
    "args, message",
    [
        (["params=[teleport]"], "'teleport' cannot be calibrated"),
        (["params=[object_mass_scale]"], "does not apply to task navigate"),
        (["budget=3"], "budget=3"),
        (["task=grasp"], "navigate dataset, not grasp"),
        (["base_dr=huge"], "base_dr='huge' is not a preset"),
        (["gap_of=[moon]"], "'moon' is not a target profile"),
    ],
)
def test_bad_calibration_requests_are_one_line(tmp_path, nav_logs, args, message):
    r = _cli("calibrate", f"data={nav_logs}", *args, f"hydra.run.dir={tmp_path}", timeout=60)
    assert r.returncode == 2 and message in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_observation_noise_and_bias_from_kinematics(tmp_path):
    from sim2real.ident.noise import noise_and_bias
    from sim2real.ident.replay import replay_env

    true = {"obs_noise_std": 0.01, "obs_bias": 0.02}
    logs = rollout(_scripted, "grasp", 6, 0, None, true, action_noise=0.1)
    logged = read(write(tmp_path / "noise-v0", "grasp", logs, {"source": "test"}), "grasp")
    est = noise_and_bias(replay_env("grasp"), logged)
    assert abs(est["obs_noise_std"] / 0.01 - 1) < 0.1, est
    assert abs(est["obs_bias"] / 0.02 - 1) < 0.3, est


@pytest.mark.parametrize(
    "level, entry, message",
    [
        ("dataset", {"sim2real_control_rate_hz": 20.0}, "logged at 20 Hz, task navigate runs at 10 Hz"),
        ("dataset", {"sim2real_control_rate_hz": -1.0}, "sim2real_control_rate_hz=-1.0 is not a positive rate"),
        ("dataset", {"sim2real_task": 3}, "sim2real_task=3 is not a task name"),
        ("episode", {"success": "maybe"}, "episode 0: success='maybe' is not a boolean"),
        ("episode", {"true_dynamics.warp_scale": 1.0}, "true_dynamics.warp_scale is not a canonical"),
        ("episode", {"true_dynamics.mass_scale": float("nan")}, "true_dynamics.mass_scale=nan is not a finite"),
    ],
)
def test_dataset_metadata_is_typed_and_checked_on_load(tmp_path, level, entry, message):
    """The metadata sim2real writes is parsed into DatasetMeta / EpisodeMeta on load: a wrong entry is one line."""
    import minari

    _npz(tmp_path / "log.npz")
    path, _ = import_npz(tmp_path / "log.npz", "navigate", tmp_path / "d" / "nav-log-v0")
    assert read(path, "navigate").metadata["sim2real_control_rate_hz"] == pytest.approx(10.0)
    ds = minari.load_dataset("nav-log-v0")  # MINARI_DATASETS_PATH: set by import_npz to tmp_path / "d"
    if level == "dataset":
        ds.storage.update_metadata(entry)
    else:
        ds.storage.update_episode_metadata([entry], episode_indices=[0])
    with pytest.raises(DatasetError, match=re.escape(message)):
        read(path, "navigate")
