"""``sim2real evaluate``: one policy, one task and dynamics, ``evaluation.json`` in the output directory."""

from __future__ import annotations

from pathlib import Path

import torch as th
from omegaconf import DictConfig, OmegaConf

from sim2real.config import ConfigError, episodes_and_dynamics
from sim2real.evaluate import run_episodes, stored_policy, summarize
from sim2real.io import write_json
from sim2real.runs import resolve_policy


def evaluate(cfg: DictConfig) -> dict:
    """Evaluate ``cfg.policy`` on ``cfg.task`` under ``cfg.dr``/``cfg.dynamics``; returns the summary."""
    th.set_num_threads(int(cfg.threads))
    src = resolve_policy(cfg.policy)
    task = cfg.task.name
    if task != src.task:
        raise ConfigError(f"policy '{cfg.policy}' was trained on task '{src.task}', not '{task}'; drop task= or fix it")
    episodes, rand, dyn = episodes_and_dynamics(cfg, task)
    summary = summarize(run_episodes(stored_policy(src), task, episodes, int(cfg.seed), rand, dyn))
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
