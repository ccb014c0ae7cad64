"""``sim2real evaluate``: one policy, one task and dynamics, ``evaluation.json`` in the output directory."""

from __future__ import annotations

from pathlib import Path

import torch as th
from omegaconf import DictConfig, OmegaConf

from sim2real.io import write_json
from sim2real.learn.config import episodes_and_dynamics
from sim2real.learn.evaluate import evaluate_policy, record_videos, stored_policy, success_text
from sim2real.learn.runs import resolve_policy
from sim2real.learn.schemas import check


def evaluate(cfg: DictConfig) -> dict:
    """Evaluate ``cfg.policy`` on ``cfg.task`` under ``cfg.dr``/``cfg.dynamics``; returns the summary."""
    check(cfg, "evaluate")  # types and ranges, from the schema
    th.set_num_threads(int(cfg.threads))
    task = cfg.task.name
    episodes, rand, dyn = episodes_and_dynamics(cfg, task)
    names = (OmegaConf.select(cfg, "dr.name"), OmegaConf.select(cfg, "dynamics.name"))
    summary = evaluate_policy(cfg.policy, task, episodes, int(cfg.seed), rand, dyn, names)
    if cfg.video:  # the first episodes again, rendered: the same episode seeds as the evaluation
        src = resolve_policy(cfg.policy)
        videos = record_videos(
            stored_policy(src), task, min(int(cfg.video_episodes), episodes), Path(cfg.out_dir) / "videos",
            int(cfg.seed), rand, dyn, prefix=f"{task}-{names[1] or 'nominal'}",
        )  # fmt: skip
        summary["videos"] = [p.name for p in videos]
    out = Path(cfg.out_dir) / "evaluation.json"
    write_json(out, summary)
    print(
        f"evaluate: {task} {cfg.policy} on {summary['dynamics']['name']}: {success_text(summary['success_rate'])} "
        f"over {episodes} episodes, mean return {summary['mean_return']:.2f} -> {out}"
        + (f"; {len(summary['videos'])} video(s) in {Path(cfg.out_dir) / 'videos'}" if cfg.video else "")
    )
    return summary
