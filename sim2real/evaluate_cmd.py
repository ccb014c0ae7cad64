"""``sim2real evaluate``: one policy, one task and dynamics, ``evaluation.json`` in the output directory."""

from __future__ import annotations

from pathlib import Path

import torch as th
from omegaconf import DictConfig, OmegaConf

from sim2real.config import ConfigError, episodes_and_dynamics
from sim2real.evaluate import normalized_policy, run_episodes, summarize
from sim2real.io import write_json
from sim2real.runs import load_model, resolve_policy
from sim2real.vec import read_normalization


def evaluate(cfg: DictConfig) -> dict:
    """Evaluate ``cfg.policy`` on ``cfg.task`` under ``cfg.dr``/``cfg.dynamics``; returns the summary."""
    th.set_num_threads(int(cfg.threads))
    src = resolve_policy(cfg.policy)
    task = cfg.task.name
    if task != src.task:
        raise ConfigError(f"policy '{cfg.policy}' was trained on task '{src.task}', not '{task}'; drop task= or fix it")
    episodes, rand, dyn = episodes_and_dynamics(cfg, task)
    model = load_model(src)
    norm = read_normalization(src.norm_path)
    policy = normalized_policy(model, norm["obs_mean"], norm["obs_var"], float(norm["clip_obs"]))
    summary = summarize(run_episodes(policy, task, episodes, int(cfg.seed), rand, dyn))
    summary.update(
        policy=str(src.path),
        task=task,
        seed=int(cfg.seed),
        dynamics={"name": OmegaConf.select(cfg, "dynamics.name"), "values": dyn or {}},
        randomization={"name": OmegaConf.select(cfg, "dr.name"), "ranges": rand or {}},
    )
    out = Path(cfg.out_dir) / "evaluation.json"
    write_json(out, summary)
    print(
        f"evaluate: {task} {cfg.policy} on {summary['dynamics']['name']}: success {summary['success_rate']:.0%} "
        f"over {episodes} episodes, mean return {summary['mean_return']:.2f} -> {out}"
    )
    return summary
