"""train -> save -> load -> finetune -> evaluate, resume after SIGKILL, fine-tuning controls, bad inputs."""

import json

import numpy as np
import pytest
import torch as th
from hydra import compose, initialize_config_module

from sim2real.learn.bc import behaviour_clone, collect_demonstrations
from sim2real.learn.config import build_spec
from sim2real.learn.finetune import apply_scope, build_finetune_spec, finetune, set_learning_rate
from sim2real.learn.runs import load_model, resolve_policy
from sim2real.learn.train import train
from tests.helpers import run_cli

TINY = {
    "ppo": [
        "algo=ppo",
        "algo.n_steps=64",
        "algo.batch_size=64",
        "algo.n_epochs=2",
        "n_envs=2",
        "algo.lr_schedule=constant",
    ],
    "sac": ["algo=sac", "algo.learning_starts=64", "algo.buffer_size=2000", "algo.batch_size=32", "n_envs=1"],
}


def cfg(name, overrides):
    with initialize_config_module(config_module="sim2real.configs", version_base="1.3"):
        return compose(name, overrides=overrides)


def finetune_cfg(c):
    """Fine-tune from a composed config, as the command does: parse into a typed spec, then the library."""
    return finetune(build_finetune_spec(c))


cli = run_cli  # in-process: the CLI entry function, not a subprocess


@pytest.fixture(scope="module", params=["ppo", "sac"])
def trained(request, tmp_path_factory):
    algo = request.param
    out = tmp_path_factory.mktemp(f"train_{algo}")
    train(
        build_spec(
            cfg(
                "train",
                [
                    "task=navigate",
                    "steps=256",
                    "eval.interval=128",
                    "eval.episodes=2",
                    "checkpoint_interval=128",
                    "warm_start.demos=0",  # the warm start has its own test; here it would only cost 20 s
                    f"out_dir={out}",
                    *TINY[algo],
                ],
            )
        )
    )
    return algo, out


def test_run_directory_contents(trained):
    algo, out = trained
    for name in (
        "policy.safetensors",
        "optimizer.safetensors",
        "normalization.npz",
        "run.json",
        "config.yaml",
        "evaluations.jsonl",
    ):
        assert (out / name).is_file(), name
    meta = json.loads((out / "run.json").read_text())
    assert meta["task"] == "navigate" and meta["algo"] == algo and meta["num_timesteps"] >= 256
    assert meta["randomization"]["name"] == "default" and meta["randomization"]["ranges"]["mass_scale"]
    assert meta["commit"] and meta["command"] and meta["versions"]["stable-baselines3"]
    assert (out / "checkpoints" / "latest").is_file()
    rows = [json.loads(x) for x in (out / "evaluations.jsonl").read_text().splitlines()]
    assert {"timesteps", "train/success_rate", "nominal/success_rate"} <= set(rows[-1])
    assert "real/success_rate" not in rows[-1]  # the test target stays out of training-time evaluation
    assert {r["seed_range"] for r in rows} == {"development"}
    assert meta["evaluation_episodes"]["seed_range"] == "development"
    assert list((out / "tb").rglob("events.out.tfevents.*"))
    times = meta["time_breakdown_s"]  # rollout, update, evaluation and checkpoints add up to the run's wall-clock
    assert set(times) == {"rollout", "update", "evaluation", "checkpoint"} and times["evaluation"] > 0
    assert sum(times.values()) <= meta["wall_time_s"] + 0.5


def test_batched_evaluation_plays_the_same_episodes_as_one_at_a_time():
    """Envs stepped together: each episode is still fixed by its seed, and the records come in seed order."""
    from sim2real.learn.evaluate import run_episodes, stored_policy
    from sim2real.learn.runs import resolve_policy

    policy = stored_policy(resolve_policy("navigate-dr"))
    one = run_episodes(policy, "navigate", 5, 3, "default", batch=1)
    many = run_episodes(policy, "navigate", 5, 3, "default", batch=3)
    assert [e.seed for e in many] == [e.seed for e in one] == sorted(e.seed for e in one)
    assert [(e.success, e.length, e.dynamics) for e in many] == [(e.success, e.length, e.dynamics) for e in one]
    assert np.allclose([e.ret for e in many], [e.ret for e in one], rtol=1e-4)


def test_development_and_test_episodes_are_disjoint():
    from sim2real.learn.evaluate import run_episodes
    from sim2real.learn.vec import DEV_SEED_BASE, EVAL_SEED_BASE

    def still(obs):
        return np.zeros(2, np.float32)

    dev = {e.seed for s in range(3) for e in run_episodes(still, "navigate", 2, s, seed_range="development")}
    test = {e.seed for s in range(3) for e in run_episodes(still, "navigate", 2, s)}
    assert min(dev) == DEV_SEED_BASE and min(test) == EVAL_SEED_BASE and not dev & test


def test_finetune_and_evaluate(trained, tmp_path):
    algo, out = trained
    ft_dir = tmp_path / "ft"
    finetune_cfg(
        cfg(
            "finetune",
            [
                f"init={out}",
                "task=navigate",
                f"algo={algo}",
                "dynamics=real",
                "steps=128",
                "eval.interval=0",
                "finetune.lr=5e-5",
                f"out_dir={ft_dir}",
                *TINY[algo][1:],
            ],
        )
    )
    meta = json.loads((ft_dir / "run.json").read_text())
    assert meta["dynamics"]["name"] == "real" and meta["finetune"]["lr"] == 5e-5 and meta["init"] == str(out)
    model = load_model(resolve_policy(ft_dir))
    assert model.lr_schedule(1.0) == pytest.approx(5e-5)
    r = cli("evaluate", f"policy={ft_dir}", "dynamics=real", "episodes=3", f"hydra.run.dir={tmp_path / 'ev'}")
    assert r.returncode == 0, r.stderr
    assert "success" in r.stdout
    ev = json.loads((tmp_path / "ev" / "evaluation.json").read_text())
    assert {"success_rate", "mean_return", "episodes", "per_episode", "dynamics"} <= set(ev)
    assert ev["episodes"] == 3 and len(ev["per_episode"]) == 3
    assert {"success", "ret", "length", "seed", "dynamics"} <= set(ev["per_episode"][0])
    assert ev["dynamics"]["values"]["action_latency"] == 2
    assert min(e["seed"] for e in ev["per_episode"]) >= 1_000_000_000  # disjoint from training seeds
    # features: the fresh head trains at its own rate, not at finetune.lr
    ft2 = tmp_path / "ft-features"
    finetune_cfg(
        cfg(
            "finetune",
            [
                f"init={out}",
                "task=navigate",
                f"algo={algo}",
                "steps=128",
                "eval.interval=0",
                "finetune.lr=5e-5",
                "finetune.scope=features",
                "finetune.head_lr=2e-3",
                f"out_dir={ft2}",
                *TINY[algo][1:],
            ],
        )
    )
    tuned, pre = load_model(resolve_policy(ft2)), load_model(resolve_policy(out))
    assert tuned.lr_schedule(1.0) == pytest.approx(2e-3)
    before = dict(pre.policy.named_parameters())
    moved = {n for n, p in tuned.policy.named_parameters() if not th.equal(p, before[n])}
    trunk = {n for n in before if "mlp_extractor" in n or "latent_pi" in n or "features_extractor" in n}
    assert moved and not (moved & trunk), "an update moved the frozen trunk"  # weights unchanged, not just flags


def _lr_after_learning(out, algo, set_lr):
    from sim2real.learn.vec import make_vec_env, normalize

    src = resolve_policy(out)
    venv = normalize(make_vec_env("navigate", 2 if algo == "ppo" else 1, 0), 0.99)
    model = load_model(src, env=venv)
    old = model.lr_schedule(1.0)
    set_lr(model, old / 10)
    model.learn(128)
    opt = model.policy.optimizer if algo == "ppo" else model.actor.optimizer
    return old, opt.param_groups[0]["lr"]


def test_sac_keep_buffer_starts_from_the_pretraining_buffer(trained, tmp_path):
    algo, out = trained
    args = [
        f"init={out}",
        "task=navigate",
        f"algo={algo}",
        "steps=64",
        "eval.interval=0",
        f"out_dir={tmp_path}",
        *TINY[algo][1:],
    ]
    if algo == "ppo":
        with pytest.raises(ValueError, match="SAC policies only"):
            finetune_cfg(cfg("finetune", [*args, "finetune.keep_buffer=true"]))
        return
    finetune_cfg(cfg("finetune", [*args, "finetune.keep_buffer=true"]))
    from sim2real.learn.checkpoint import load_replay_buffer
    from sim2real.learn.runs import load_model, resolve_policy

    model = load_model(resolve_policy(tmp_path))
    load_replay_buffer(tmp_path / "replay_buffer.npz", model)
    assert model.replay_buffer.size() >= 256 + 64 - 1  # the pretraining transitions plus the new ones


def test_learning_rate_control_takes_effect(trained):
    algo, out = trained
    old, lr = _lr_after_learning(out, algo, set_learning_rate)
    assert lr == pytest.approx(old / 10)
    # the SB3 pitfall the control exists for: assigning the attribute alone changes nothing
    old, lr = _lr_after_learning(out, algo, lambda m, v: setattr(m, "learning_rate", v))
    assert lr == pytest.approx(old)


def test_l2sp_adds_the_pull_toward_the_pretrained_weights(trained):
    """Known answer: with a zero task loss, the gradient is exactly strength * (theta - theta_0)."""
    from sim2real.learn.finetune import l2sp

    algo, out = trained
    model, anchor = load_model(resolve_policy(out)), load_model(resolve_policy(out))
    handles = l2sp(model, anchor, strength=3.0)  # at the pretrained weights the pull is zero
    sum(0.0 * p.sum() for p in model.policy.parameters()).backward()
    assert all(th.count_nonzero(p.grad) == 0 for p in model.policy.parameters())
    for h in handles:
        h.remove()
    model.policy.zero_grad(set_to_none=True)
    with th.no_grad():
        for p in model.policy.parameters():
            p.add_(0.5)
    l2sp(model, anchor, strength=3.0)
    sum(0.0 * p.sum() for p in model.policy.parameters()).backward()
    for p in model.policy.parameters():
        assert th.allclose(p.grad, th.full_like(p, 1.5)), "gradient of (3/2)||theta - theta_0||^2 at +0.5"


@pytest.mark.parametrize("scope", ["last", "features", "all"])
def test_finetune_scopes(trained, scope):
    algo, out = trained
    model = load_model(resolve_policy(out))
    before = {n: p.detach().clone() for n, p in model.policy.named_parameters()}
    n_train = apply_scope(model, scope, seed=0)
    trainable = {n for n, p in model.policy.named_parameters() if p.requires_grad}
    total = sum(p.numel() for p in model.policy.parameters())
    body = [n for n in before if ("mlp_extractor" in n or "latent_pi" in n)]
    if scope == "all":
        assert n_train == total and trainable == set(before)
    else:
        assert n_train < total and not (set(body) & trainable)
    if scope == "features":
        changed = [n for n, p in model.policy.named_parameters() if not th.equal(p, before[n])]
        assert changed and not (set(changed) & set(body))


def test_reset_heads_reinitialises_the_output_layers_and_exploration_only(trained):
    from sim2real.learn.finetune import output_layers, reset_heads

    algo, out = trained
    model = load_model(resolve_policy(out))
    before = {n: p.detach().clone() for n, p in model.policy.named_parameters()}
    heads = {id(p) for layer in output_layers(model) for p in layer.parameters()}
    reset_heads(model, seed=0)
    for n, p in model.policy.named_parameters():
        if id(p) in heads:
            assert not th.equal(p, before[n]), f"{n} kept its pretrained values"
        elif n != "log_std" and not n.startswith("critic_target"):  # SAC's target critic is synced to the critic
            assert th.equal(p, before[n]), f"{n} is not a head and must keep its pretrained values"
    if algo == "ppo":  # the initial exploration noise again (the pretrained policy narrowed it)
        init = model.policy_kwargs["log_std_init"]
        assert th.allclose(model.policy.log_std, th.full_like(model.policy.log_std, init))
    again = load_model(resolve_policy(out))
    reset_heads(again, seed=0)
    assert all(th.equal(p, q) for p, q in zip(model.policy.parameters(), again.policy.parameters(), strict=True))


def test_checkpoint_of_other_task_is_refused(trained):
    _, out = trained
    r = cli("evaluate", f"policy={out}", "task=grasp", "episodes=1")
    assert r.returncode == 2 and "trained on task 'navigate'" in r.stderr and r.stderr.count("\n") == 1
    r = cli("finetune", f"init={out}", "task=grasp", "steps=10")
    assert r.returncode == 2 and "navigate policy" in r.stderr


def test_negative_finetune_steps_refused(trained):
    _, out = trained
    r = cli("finetune", f"init={out}", "steps=-1")
    assert r.returncode == 2 and "steps=-1" in r.stderr


def test_behaviour_cloning_imitates_the_scripted_controller():
    demos = collect_demonstrations("grasp", episodes=4, seed=0)
    assert demos.successes >= 3 and len(demos.obs) == len(demos.actions)
    from stable_baselines3 import PPO

    from sim2real.learn.vec import make_vec_env

    model = PPO("MlpPolicy", make_vec_env("grasp", 1, 0), seed=0, device="cpu")
    x = (demos.obs - demos.obs.mean(0)) / (demos.obs.std(0) + 1e-8)
    with th.no_grad():
        before = ((model.policy._predict(th.as_tensor(x, dtype=th.float32), True).numpy() - demos.actions) ** 2).mean()
    after = behaviour_clone(model, x, demos.actions, epochs=60, lr=1e-3, batch_size=64, seed=0, log_std=-1.5)
    assert after < before / 3
    assert np.allclose(model.policy.log_std.detach().numpy(), -1.5)


@pytest.mark.parametrize("cmd,key", [("evaluate", "policy"), ("finetune", "init"), ("deploy", "bundle")])
def test_missing_policy_argument_is_one_line(cmd, key):
    r = cli(cmd, timeout=60)
    assert r.returncode == 2 and r.stderr == f"error: {key} is required: add {key}=<value>\n"
