"""Closing the gap without looking at the target: ADR (dr=adr), observation history (policy.history=K),
recurrent policies (algo=recurrent_ppo) and the privileged critic (policy.privileged_critic=true); their bundles
act like the policies they came from over a whole episode."""

import json

import gymnasium as gym
import numpy as np
import pytest
import yaml
from sim2real_runtime.memory import History

from sim2real.deploy import Bundle
from sim2real.deploy.export import episode_parity, export
from sim2real.learn.adr import ADR, ADRSettings
from sim2real.learn.evaluate import run_episodes, stored_policy
from sim2real.learn.runs import load_model, resolve_policy
from sim2real.learn.vec import make_env
from sim2real.sim import tasks
from sim2real.sim.dynamics import param_spec
from tests.helpers import _in_venv, run_cli, tiny_train


def _adr(**kw):
    return ADR.start("navigate", ADRSettings(**{"init": "default", "buffer": 2, **kw}))


# ---------------------------------------------------------------- ADR's rule


def test_adr_bounds_grow_when_the_policy_copes_and_shrink_when_it_fails():
    adr = _adr()
    lo0, hi0 = adr.bounds["mass_scale"]
    e0 = adr.entropy()
    assert not adr.record("mass_scale", 1, 1.0)  # one score: the buffer (2) is not full yet
    assert adr.record("mass_scale", 1, 0.9)  # mean 0.95 >= t_high 0.8: outward by step x unit = 0.1
    assert adr.bounds["mass_scale"] == pytest.approx([lo0, hi0 + 0.1]) and adr.entropy() > e0
    assert adr.buffers["mass_scale:high"] == []  # emptied after the comparison
    assert adr.record("mass_scale", 0, 0.0) is False and adr.record("mass_scale", 0, 0.2)  # mean 0.1 < 0.5: inward
    assert adr.bounds["mass_scale"][0] == pytest.approx(lo0 + 0.1)
    adr.record("damping_scale", 1, 0.6)
    assert not adr.record("damping_scale", 1, 0.6)  # between the thresholds: no move, buffer emptied anyway
    assert adr.buffers["damping_scale:high"] == [] and adr.updates == 2


def test_adr_bounds_respect_physical_limits_and_never_cross_the_nominal_value():
    adr = _adr(step=5.0)
    for _ in range(10):  # pushed outward hard: a scale stays above zero, a latency stays whole and >= 0
        for side in (0, 1):
            for p in adr.bounds:
                adr.record(p, side, 1.0)
                adr.record(p, side, 1.0)
    lo, hi = adr.bounds["mass_scale"]
    assert lo == pytest.approx(param_spec("mass_scale").low) and hi == param_spec("mass_scale").high
    assert adr.bounds["damping_scale"][0] > 0  # damping's admissible low is 0; log-uniform sampling needs > 0
    lat = adr.ranges()["action_latency"]
    assert lat[0] == 0 and all(isinstance(v, int) for v in lat) and lat[1] == 1 + 10  # from 1, a step a move
    inward = _adr()
    for _ in range(30):  # pushed inward: the bounds close on the nominal value and stop there
        for side in (0, 1):
            inward.record("friction_scale", side, 0.0)
            inward.record("friction_scale", side, 0.0)
    assert inward.bounds["friction_scale"] == pytest.approx([1.0, 1.0])


def test_adr_state_round_trips_and_its_preset_is_a_plain_dr_file(tmp_path):
    adr = _adr()
    adr.record("mass_scale", 1, 1.0)
    adr.record("obs_noise_std", 1, 1.0)
    adr.record("obs_noise_std", 1, 1.0)
    back = ADR.from_state("navigate", json.loads(json.dumps(adr.state())))
    assert back.bounds == adr.bounds and back.buffers == adr.buffers and back.updates == adr.updates
    assert back.settings == adr.settings
    path = tmp_path / "adr.yaml"
    path.write_text(yaml.safe_dump(adr.preset()))
    r = run_cli("train", f"dr={path}", "steps=64", "--cfg", "job")  # the preset composes as dr=<file>
    assert r.returncode == 0, r.stderr
    dr = yaml.safe_load(r.stdout)["dr"]
    for name, rng in adr.ranges().items():
        assert dr[name] == pytest.approx(rng), name
    assert adr.ranges()["obs_noise_std"][1] == pytest.approx(0.02 + 0.1 * 0.01)  # default 0.02, one move up


def test_boundary_sampling_pins_one_parameter_per_episode_and_reports_it():
    env = make_env("navigate")
    ranges = {"mass_scale": [0.5, 2.0], "action_latency": [0, 3]}
    env.get_wrapper_attr("set_adr")(ranges, 1.0)
    seen = set()
    for k in range(40):
        _, info = env.reset(seed=k)
        core = tasks.core(env)
        name, side = core.dyn.pinned
        assert core.values[name] == ranges[name][side]
        seen.add((name, side))
        done = k >= 2  # the first episodes run to their end: the pinned bound comes back with the outcome
        while not done:
            _, _, term, trunc, step_info = env.step(env.action_space.sample())
            done = term or trunc
            if done:
                assert step_info["episode_boundary"] == (name, side)
    assert seen == {(n, s) for n in ranges for s in (0, 1)}
    env.get_wrapper_attr("set_adr")(ranges, 0.0)  # no boundary sampling: the same draws as a plain env
    plain = make_env("navigate", randomization=ranges)
    for k in range(3):
        assert env.reset(seed=k)[1]["dynamics"] == plain.reset(seed=k)[1]["dynamics"]


def test_adr_training_grows_bounds_saves_them_and_resume_restores_them(tmp_path):
    run = tmp_path / "adr"
    forced = ["adr.buffer=1", "adr.t_low=-2", "adr.t_high=-1"]  # every pinned episode scores >= -1: outward
    r = run_cli(
        "train",
        "task=navigate",
        "dr=adr",
        "adr.init=default",
        *forced,
        "steps=1024",
        "n_envs=4",
        "algo.n_steps=128",
        "algo.n_epochs=1",
        "warm_start.demos=0",
        "eval.interval=0",
        "checkpoint_interval=512",
        f"hydra.run.dir={run}",
    )
    assert r.returncode == 0, r.stderr
    meta = json.loads((run / "run.json").read_text())
    start = ADR.start("navigate", ADRSettings(init="default"))
    grown = meta["adr"]["bounds"]
    wider = [p for p in grown if grown[p][1] > start.bounds[p][1] or grown[p][0] < start.bounds[p][0]]
    assert meta["adr"]["updates"] > 0 and wider
    preset = yaml.safe_load((run / "adr_dr.yaml").read_text())
    assert {k: v for k, v in preset.items() if k != "name"} == ADR.from_state("navigate", meta["adr"]).ranges()
    r = run_cli("train", f"resume={run}", "steps=1536")
    assert r.returncode == 0, r.stderr
    after = json.loads((run / "run.json").read_text())["adr"]
    assert after["updates"] > meta["adr"]["updates"]  # continued from the checkpoint's bounds, not from init
    for p, (lo, hi) in grown.items():
        assert after["bounds"][p][0] <= lo and after["bounds"][p][1] >= hi


def test_adr_bounds_shrink_when_the_score_is_forced_low(tmp_path):
    r = run_cli(
        "train",
        "task=navigate",
        "dr=adr",
        "adr.init=default",
        "adr.buffer=1",
        "adr.t_low=2",
        "adr.t_high=3",  # no score reaches 2: every full buffer moves its bound inward
        "steps=512",
        "n_envs=4",
        "algo.n_steps=128",
        "algo.n_epochs=1",
        "warm_start.demos=0",
        "eval.interval=0",
        f"out_dir={tmp_path / 'low'}",
    )
    assert r.returncode == 0, r.stderr
    bounds = json.loads((tmp_path / "low" / "run.json").read_text())["adr"]["bounds"]
    start = ADR.start("navigate", ADRSettings(init="default")).bounds
    narrower = [p for p in bounds if bounds[p][1] < start[p][1] or bounds[p][0] > start[p][0]]
    assert narrower and all(bounds[p][0] >= start[p][0] and bounds[p][1] <= start[p][1] for p in bounds)


# ---------------------------------------------------------------- memory


def test_history_buffer_layout_start_fill_and_order():
    h = History(3, 2, 1, np.array([-1.0]))
    h.start(0, [1.0, 2.0])
    assert h.input().tolist() == [[1, 2, 1, 2, 1, 2, -1, -1]]  # obs slots: the first obs; actions: the fill
    h.advance(0, [0.5], [3.0, 4.0])
    h.advance(0, [0.25], [5.0, 6.0])
    assert h.input().tolist() == [[5, 6, 3, 4, 1, 2, 0.25, 0.5]]  # newest first, the actions sent
    assert h.width == 8


@pytest.fixture(scope="module")
def memory_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("memory")
    hist = tiny_train(root / "history", "ppo", extra=("policy.history=3",))
    rnn = tiny_train(root / "recurrent", "recurrent_ppo")
    priv = tiny_train(root / "privileged", "ppo", extra=("policy.privileged_critic=true", "dr=default"))
    bundles = {}
    for name, run in (("history", hist), ("recurrent", rnn), ("privileged", priv)):
        bundles[name] = root / f"{name}-bundle"
        export(run, bundles[name], n_parity=50)
    return {"history": hist, "recurrent": rnn, "privileged": priv}, bundles


def test_history_training_env_and_evaluation_policy_stack_the_same_way(memory_runs):
    runs, _ = memory_runs
    src = resolve_policy(runs["history"])
    assert src.meta["history"] == 3 and load_model(src).observation_space.shape == (3 * 32 + 2 * 2,)
    policy = stored_policy(src)
    env = make_env("navigate", history=3)  # what training saw
    plain = make_env("navigate")  # what evaluation and the robot see
    obs, _ = env.reset(seed=5)
    raw, _ = plain.reset(seed=5)
    policy.reset()
    for _ in range(20):
        a = policy(raw)
        assert np.array_equal(policy.history.input([0])[0], obs)  # the evaluation policy's stack = training's
        obs, *_ = env.step(a)
        raw, *_ = plain.step(a)


@pytest.mark.parametrize("kind", ["history", "recurrent"])
def test_bundle_acts_like_its_policy_over_a_whole_episode(memory_runs, kind):
    runs, bundles = memory_runs
    meta = json.loads((bundles[kind] / "policy.json").read_text())
    assert meta["memory"]["kind"] == kind
    assert meta["episode_parity"]["steps"] > 10 and meta["episode_parity"]["max_abs_diff"] <= 1e-5
    bundle = Bundle.load(bundles[kind])
    with pytest.raises(ValueError, match="new_state"):
        bundle(np.zeros(bundle.obs_dim))  # a bundle that remembers acts only through a per-episode state
    src = resolve_policy(runs[kind])
    model = load_model(src)
    steps, diff = episode_parity(src, model, bundles[kind] / "policy.onnx", meta)
    assert diff <= 1e-5
    # the check can fail: a runtime that forgets between steps acts differently within the episode
    forgetful = {"kind": "none"} if kind == "recurrent" else {**meta["memory"], "k": 1}
    if kind == "history":
        forgetful = {**meta["memory"], "fill_action": [0.5, 0.5]}  # a wrong start-of-episode fill
    with pytest.raises(Exception):  # noqa: B017  (a shape error or a parity failure: either way not silent)
        _, bad = episode_parity(src, model, bundles[kind] / "policy.onnx", {**meta, "memory": forgetful})
        assert bad <= 1e-5


def test_evaluation_batches_stateful_policies_with_the_same_results(memory_runs):
    runs, _ = memory_runs
    for kind in ("history", "recurrent"):
        policy = stored_policy(resolve_policy(runs[kind]))
        together = run_episodes(policy, "navigate", 3, seed=3, batch=2)
        alone = run_episodes(policy, "navigate", 3, seed=3, batch=1)
        assert [e.length for e in together] == [e.length for e in alone]  # batched: the same episodes
        assert [e.ret for e in together] == pytest.approx([e.ret for e in alone], rel=1e-6)  # (matmul rounding)


# ---------------------------------------------------------------- the privileged critic


def test_privileged_critic_sees_dynamics_the_actor_and_bundle_never_do(memory_runs):
    runs, bundles = memory_runs
    src = resolve_policy(runs["privileged"])
    model = load_model(src)
    assert set(model.observation_space.spaces) == {"obs", "privileged"}
    n = model.observation_space["privileged"].shape[0]
    assert n == len(tasks.core(tasks.make("navigate")).params)
    meta = json.loads((bundles["privileged"] / "policy.json").read_text())
    assert meta["privileged_critic"]["trained_with"] and not meta["privileged_critic"]["in_bundle"]
    bundle = Bundle.load(bundles["privileged"])
    assert [i.name for i in bundle.session.get_inputs()] == ["obs"]
    assert bundle.session.get_inputs()[0].shape[-1] == 32
    s = run_episodes(stored_policy(src), "navigate", 2, seed=0)
    assert len(s) == 2


class _Episodic(gym.Env):
    """A stand-in env whose dynamics values change at every reset (k-th episode: mass_scale k) and whose
    episodes last ``length`` steps, as the randomised envs report them (``values``, ``episode_dynamics``)."""

    def __init__(self, length: int) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.action_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
        self.length, self.episodes, self.t, self.values = length, 0, 0, {}

    def reset(self, seed=None, options=None):
        self.episodes, self.t = self.episodes + 1, 0
        self.values = {"mass_scale": float(self.episodes), "action_latency": self.episodes % 3}
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        done = self.t >= self.length
        return np.zeros(2, np.float32), 0.0, done, False, {"episode_dynamics": dict(self.values)} if done else {}


def test_privileged_values_follow_each_envs_episode_and_the_terminal_one_keeps_the_finished_episodes():
    from stable_baselines3.common.vec_env import DummyVecEnv

    from sim2real.learn.privileged import VecPrivileged, encode

    params = ("mass_scale", "action_latency")
    venv = VecPrivileged(DummyVecEnv([lambda: _Episodic(2), lambda: _Episodic(3)]), params)
    obs = venv.reset()
    for _ in range(7):
        before = [encode(v, params) for v in venv.venv.get_attr("values")]
        obs, _, dones, infos = venv.step(np.zeros((2, 1), np.float32))
        now = np.stack([encode(v, params) for v in venv.venv.get_attr("values")])
        np.testing.assert_array_equal(obs["privileged"], now)  # the episode now running in each env
        for i in np.flatnonzero(dones):
            np.testing.assert_array_equal(infos[i]["terminal_observation"]["privileged"], before[i])
            assert not np.array_equal(before[i], now[i])  # a new episode, new values
    assert venv.venv.envs[0].episodes == 4 and venv.venv.envs[1].episodes == 3


def test_memory_and_privileged_settings_refuse_bad_combinations(tmp_path):
    r = run_cli("train", "algo=sac", "policy.privileged_critic=true", "steps=64")
    assert r.returncode == 2 and "needs algo=ppo" in r.stderr
    r = run_cli("train", "algo=recurrent_ppo", "policy.history=2", "steps=64")
    assert r.returncode == 2 and "the LSTM is the memory" in r.stderr
    r = run_cli("train", "dr=adr", "adr.init=wide2", "steps=64")
    assert r.returncode == 2 and "adr.init='wide2'" in r.stderr
    r = run_cli("train", "dr=adr", "adr.t_low=0.9", "adr.t_high=0.8", "steps=64")
    assert r.returncode == 2 and "adr.t_low" in r.stderr
    r = run_cli("train", "dr=adr", "dr.mass_scale=[0.5,2.0]", "steps=64")
    assert r.returncode == 2 and "dr=adr sets its own ranges" in r.stderr
    r = run_cli("train", "policy.history=0", "steps=64")
    assert r.returncode == 2 and "policy.history" in r.stderr
    r = run_cli("evaluate", "policy=navigate-dr", "dr=adr", "episodes=1")
    assert r.returncode == 2 and "dr=<run dir>/adr_dr.yaml" in r.stderr


def test_runtime_only_install_runs_history_and_recurrent_bundles(memory_runs, runtime_venv, tmp_path):
    """``sim2real-deploy run`` in a venv with numpy and onnxruntime only: a bundle that remembers runs its
    episodes, its memory restarting with each one."""
    _, bundles = memory_runs
    bin_ = runtime_venv / "venv" / "bin"
    for kind in ("history", "recurrent"):
        log = tmp_path / f"{kind}.npz"
        r = _in_venv(
            runtime_venv,
            bin_ / "sim2real-deploy",
            "run",
            str(bundles[kind]),
            "--driver",
            "fake_robot:make",
            "--driver-arg",
            "episode=10",
            "--steps",
            "20",
            "--no-realtime",
            "--log",
            str(log),
        )
        assert r.returncode == 0, r.stderr
        summary = json.loads(r.stdout.splitlines()[0])
        assert summary["steps"] == 20 and summary["faults"] == 0 and summary["episodes"] == 2
        with np.load(log, allow_pickle=False) as f:
            obs, act = f["observations"], f["actions"]
        # replayed here through the bundle's per-episode state, restarted at each episode's first observation
        # (each episode logs one more observation than actions), the logged actions come back
        state, ours = Bundle.load(bundles[kind]).new_state(), []
        for e in range(2):
            state.reset()
            for t in range(10):
                a = state.act(obs[e * 11 + t])
                state.sent(np.clip(a, -1, 1))
                ours.append(a)
        assert np.allclose(np.clip(ours, -1, 1), act, atol=1e-5)
        assert not np.allclose(act[0], act[5], atol=1e-6)  # the policy's actions do change within an episode


def test_adr_bounds_reach_envs_in_subprocesses():
    from stable_baselines3.common.vec_env import SubprocVecEnv

    venv = SubprocVecEnv([lambda: make_env("navigate") for _ in range(2)], start_method="fork")
    try:
        venv.env_method("set_adr", {"mass_scale": [0.5, 2.0]}, 1.0)  # what TrainCallback sends after a move
        for k in range(3):
            venv.seed(k)
            venv.reset()
            assert all(info["dynamics"]["mass_scale"] in (0.5, 2.0) for info in venv.reset_infos)
    finally:
        venv.close()


def test_cloning_a_history_policy_shuffles_its_previous_actions_across_rows():
    """The copycat guard: in a smooth controller's demonstrations the previous action predicts the next one;
    after the shuffle the observations are untouched, each action column keeps its values, and the previous
    action no longer predicts the target."""
    from sim2real.learn.bc import decorrelate_action_history

    rng = np.random.default_rng(0)
    k, obs_dim, act_dim, n = 3, 4, 2, 2000
    actions = np.cumsum(rng.normal(0, 0.1, (n + 2, act_dim)), axis=0)  # smooth: a_t close to a_t-1
    obs = np.concatenate([rng.normal(size=(n, k * obs_dim)), actions[1:-1], actions[:-2]], axis=1)
    target = actions[2:]
    out = decorrelate_action_history(obs, k, act_dim, seed=0)
    assert np.array_equal(out[:, : k * obs_dim], obs[:, : k * obs_dim])
    assert np.array_equal(np.sort(out[:, k * obs_dim :], axis=0), np.sort(obs[:, k * obs_dim :], axis=0))
    before = np.corrcoef(obs[:, k * obs_dim], target[:, 0])[0, 1]
    after = np.corrcoef(out[:, k * obs_dim], target[:, 0])[0, 1]
    assert before > 0.9 and abs(after) < 0.1, (before, after)
    assert decorrelate_action_history(obs, 1, act_dim, 0) is obs
