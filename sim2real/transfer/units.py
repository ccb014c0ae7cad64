"""One unit of a comparison grid (a Hydra job of ``sim2real unit``): evaluate a policy, fine-tune it or train
from scratch, pretrain, run a sequence of targets or fine-tune on logged data; then ``result.json``. A finished
unit is reused; an interrupted one resumes from its checkpoint or starts again from its own clean directory."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from sim2real.io import exclusive, git_commit, read_json, write_json
from sim2real.learn.evaluate import evaluate_policy, run_episodes, summarize
from sim2real.learn.runs import latest_checkpoint, resolve_policy
from sim2real.learn.train import STARTED_CONFIG, STARTED_OVERRIDES
from sim2real.sim import tasks
from sim2real.transfer.launch import watch_parent


def run_unit(cfg: DictConfig) -> None:
    """One unit (a Hydra job of ``sim2real unit``): evaluate, fine-tune or train from scratch, then result.json."""

    watch_parent()
    git_commit()  # the code this worker loaded, read now (cached): a unit may end long after edits to the checkout
    spec = read_json(Path(cfg.unit))
    d = Path(cfg.unit).with_suffix("")
    with exclusive(d.parent, "compare unit", name=f"{d.name}.lock"):
        _run_unit_locked(spec, d)


def _run_unit_locked(spec: dict[str, Any], d: Path) -> None:
    """A unit, holding its lock: reuse a result, resume an interrupted curve from its checkpoint, or run it."""
    from hydra import compose

    if (d / "result.json").is_file():
        print(f"unit {spec['id']}: done before, reused")
        return
    resume = spec["kind"] in ("curve", "pretrain") and latest_checkpoint(d) is not None
    if not resume:  # an interrupted unit's own partial outputs (no checkpoint to resume from)
        for name in ("evaluations.jsonl", STARTED_CONFIG, STARTED_OVERRIDES, "run"):
            p = d / name
            if p.is_dir():
                shutil.rmtree(p)
            elif p.exists():
                p.unlink()
        shutil.rmtree(d / "tb", ignore_errors=True)
        shutil.rmtree(d / "checkpoints", ignore_errors=True)
    if spec["kind"] in ("pretrain", "sequence"):
        if spec["kind"] == "sequence":
            from sim2real.transfer.lifelong import run_sequence

            result = run_sequence(spec, d)
        else:
            result = _run_pretrain(spec, d, resume)
        write_json(d / "result.json", {**result, "unit": spec, "commit": git_commit()})
        print(f"unit {spec['id']} ({spec['condition']}, seed {spec['seed']}): done")
        return
    dyn_overrides = [f"dynamics.{k}={v}" for k, v in spec["dynamics"].items()] + [
        f"dynamics.name={spec['dynamics_name']}"
    ]
    if spec["kind"] == "logged":
        result = _run_logged(spec, d, dyn_overrides)
    elif spec["kind"] == "random":
        s = summarize(
            run_episodes(
                random_policy(spec["task"], spec["seed"]),
                spec["task"],
                spec["episodes"],
                spec["seed"],
                None,
                spec["dynamics"] or None,
            )
        )
        result = {"success_rate": s["success_rate"], "mean_return": s["mean_return"], "episodes": s["episodes"]}
    elif spec["kind"] == "eval":
        s = evaluate_policy(
            spec["policy"],
            spec["task"],
            spec["episodes"],
            spec["seed"],
            spec.get("randomization"),
            spec["dynamics"] or None,
            (spec.get("randomization"), spec["dynamics_name"]),
        )
        write_json(d / "evaluation.json", s)
        result = {"success_rate": s["success_rate"], "mean_return": s["mean_return"], "episodes": s["episodes"]}
    else:
        ov = [
            f"task={spec['task']}",
            f"seed={spec['seed']}",
            f"steps={spec['steps']}",
            f"out_dir={d}",
            "dynamics=nominal",
            *dyn_overrides,
            f"eval.interval={spec['interval']}",
            f"eval.episodes={spec['episodes']}",
            "eval.seed_range=test",  # the learning curves are published: test episodes
            f"checkpoint_interval={spec['interval']}",  # an interrupted unit resumes from its last evaluation
            f"resume={str(resume).lower()}",
            "progress=false",
            f"n_envs={spec['n_envs']}",
        ]
        if spec["init"] is None:
            from sim2real.learn.train import train

            train(
                compose(
                    "train",
                    overrides=[
                        *ov,
                        "dr=none",
                        "warm_start.demos=0",
                        "eval.targets=[train]",
                        "algo=ppo",
                        f"algo.learning_rate={spec['scratch_lr']}",
                        "algo.lr_schedule=constant",
                    ],
                )
            )
        else:
            from sim2real.learn.finetune import finetune

            algo = resolve_policy(spec["init"]).algo
            finetune(
                compose(
                    "finetune",
                    overrides=[
                        *ov,
                        f"init={spec['init']}",
                        f"algo={algo}",
                        f"finetune.lr={spec['lr']}",
                        f"finetune.scope={spec['scope']}",
                        *([f"finetune.head_lr={spec['head_lr']}"] if "head_lr" in spec else []),
                        *([f"finetune.l2sp={spec['l2sp']}"] if "l2sp" in spec else []),
                        f"finetune.update_norm={str(spec['update_norm']).lower()}",
                        "eval.targets=[train,dr:default]",
                    ],
                )
            )
        rows = [json.loads(x) for x in (d / "evaluations.jsonl").read_text().splitlines()]
        result = {
            "curve": [
                {
                    "step": r["timesteps"],
                    "success_rate": r["train/success_rate"],
                    "mean_return": r["train/mean_return"],
                    "sim_success_rate": r.get("dr:default/success_rate"),
                    "sim_mean_return": r.get("dr:default/mean_return"),
                }
                for r in rows
            ]
        }
    write_json(d / "result.json", {**result, "unit": spec, "commit": git_commit()})
    print(f"unit {spec['id']} ({spec['condition']}, seed {spec['seed']}): done")


def _run_pretrain(spec: dict[str, Any], d: Path, resume: bool) -> dict[str, Any]:
    """A pretraining run in the unit's directory: ``sim2real train`` with the task's tuned settings."""
    from hydra import compose

    from sim2real.learn.train import train

    if not resume:
        for name in ("model.zip", "normalization.npz", "run.json", "config.yaml"):
            (d / name).unlink(missing_ok=True)  # an interrupted unit's own partial outputs
    train(
        compose(
            "train",
            overrides=[
                f"task={spec['task']}",
                f"seed={spec['seed']}",
                f"dr={spec['randomization']}",
                f"out_dir={d}",
                f"resume={str(resume).lower()}",
                "progress=false",
                *spec["overrides"],
            ],
        )
    )
    meta = read_json(d / "run.json")
    return {
        "run": str(d),
        "wall_time_s": meta["wall_time_s"],
        "time_breakdown_s": meta.get("time_breakdown_s"),
        "warm_start_s": (meta.get("warm_start") or {}).get("seconds"),
        "final_evaluation": meta.get("final_evaluation"),
    }


def random_policy(task: str, seed: int) -> Any:
    """Uniform random actions in the task's bounds, seeded (the lower anchor of the normalised return)."""
    space = tasks.make(task).action_space
    rng = np.random.default_rng(seed)
    return lambda obs: rng.uniform(space.low, space.high).astype(np.float32)


def _run_logged(spec: dict[str, Any], d: Path, dyn_overrides: list[str]) -> dict[str, Any]:
    """Fine-tune offline on the first ``logged_episodes`` episodes, then evaluate on the target."""
    from hydra import compose

    from sim2real.data.datasets import read
    from sim2real.learn.finetune import finetune

    algo = resolve_policy(spec["init"]).algo
    off = [f"offline.{k}={v}" for k, v in spec["offline"].items()]
    run = finetune(
        compose(
            "finetune",
            overrides=[
                f"task={spec['task']}",
                f"init={spec['init']}",
                f"algo={algo}",
                f"seed={spec['seed']}",
                f"data={spec['data']}",
                "mode=offline",
                "steps=0",
                *off,
                f"offline.episodes={spec['logged_episodes']}",
                "eval.interval=0",
                "progress=false",
                f"out_dir={d / 'run'}",
                "dynamics=nominal",
                *dyn_overrides,
            ],
        ),
        read(spec["data"], spec["task"]),
    )
    s = evaluate_policy(
        run, spec["task"], spec["episodes"], spec["seed"], None, spec["dynamics"] or None, (None, spec["dynamics_name"])
    )
    write_json(d / "evaluation.json", s)
    return {"success_rate": s["success_rate"], "mean_return": s["mean_return"], "episodes": s["episodes"]}
