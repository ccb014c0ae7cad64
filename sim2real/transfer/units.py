"""One unit of a comparison grid (a Hydra job of ``sim2real unit``): evaluate a policy, fine-tune it or train
from scratch, pretrain, run a sequence of targets or fine-tune on logged data; then ``result.json``. A finished
unit is reused; an interrupted one starts again from its own clean directory, so that a killed and rerun
compare publishes exactly what an uninterrupted one would (a run resumed from a checkpoint meets other episodes
and other random draws than the run it continues: its curve would differ)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig

from sim2real.io import exclusive, git_commit, read_json, write_json
from sim2real.learn.checkpoint import BUFFER_FILE, NORM_FILE, POLICY_FILE, TRAINING_FILE
from sim2real.learn.config import build_spec, compose_config
from sim2real.learn.evaluate import evaluate_policy, run_episodes, summarize
from sim2real.learn.runs import resolve_policy
from sim2real.sim import tasks
from sim2real.transfer.launch import watch_parent


def run_unit(cfg: DictConfig) -> None:
    """One unit (a Hydra job of ``sim2real unit``): evaluate, fine-tune or train from scratch, then result.json."""

    watch_parent()
    git_commit()  # the code this worker loaded, read now (cached): a unit may end long after edits to the checkout
    spec = read_json(Path(cfg.unit))
    if "task_spec" in spec:  # a task registered in compare's process (a task YAML, a run's record): register it here
        tasks.adopt(spec["task"], spec.pop("task_spec"), f"compare unit {cfg.unit}")
    d = Path(cfg.unit).with_suffix("")
    with exclusive(d.parent, "compare unit", name=f"{d.name}.lock"):
        _run_unit_locked(spec, d)


def _run_unit_locked(spec: dict[str, Any], d: Path) -> None:
    """A unit, holding its lock: reuse a result, or run it from its own clean directory."""
    if (d / "result.json").is_file():
        print(f"unit {spec['id']}: done before, reused")
        return
    resume = False  # an interrupted unit is run again whole: its results equal an uninterrupted run's
    if d.exists():  # the unit's own directory (compare made it; the unit's spec and lock lie beside it)
        shutil.rmtree(d)
    if spec["kind"] in ("pretrain", "sequence"):
        if spec["kind"] == "sequence":
            from sim2real.transfer.lifelong import run_sequence

            result = run_sequence(spec, d)
        else:
            result = _run_pretrain(spec, d, resume)
        write_json(d / "result.json", {**result, "unit": spec, "commit": git_commit()})
        print(f"unit {spec['id']} ({spec['condition']}, seed {spec['seed']}): done")
        return
    if spec["kind"] == "logged":
        result = _run_logged(spec, d)
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
    elif spec["kind"] == "fallback":
        result = _run_fallback(spec, d)
    else:
        _train_curve(spec, d, spec["init"], spec["steps"], resume)
        result = {"curve": _curve_rows(d)}
    if spec.get("video"):  # the unit's final policy on the target, first test episode (report.html embeds it)
        from sim2real.learn.evaluate import record_videos, stored_policy

        src = resolve_policy(spec["policy"] if spec["kind"] == "eval" else d)
        result["videos"] = [
            p.name
            for p in record_videos(
                stored_policy(src), spec["task"], 1, d / "videos", spec["seed"], None, spec["dynamics"] or None,
                prefix=f"{spec['condition']}-seed{spec['seed']}",
            )
        ]  # fmt: skip
    write_json(d / "result.json", {**result, "unit": spec, "commit": git_commit()})
    print(f"unit {spec['id']} ({spec['condition']}, seed {spec['seed']}): done")


def _train_curve(spec: dict[str, Any], d: Path, init: str | None, steps: int, resume: bool) -> None:
    """Train from scratch (``init`` None) or fine-tune ``init`` on the target for ``steps`` steps in ``d``,
    evaluated on test episodes every ``interval`` steps (fine-tuning also back in the randomised sim)."""
    values = {
        "seed": spec["seed"],
        "steps": steps,
        "out_dir": str(d),
        "dynamics": {**spec["dynamics"], "name": spec["dynamics_name"]},
        "eval.interval": spec["interval"],
        "eval.episodes": spec["episodes"],
        "eval.seed_range": "test",  # the learning curves are published: test episodes
        "checkpoint_interval": spec["interval"],  # an interrupted unit resumes from its last evaluation
        "resume": resume,
        "progress": False,
        "n_envs": spec["n_envs"],
    }
    if init is None:
        from sim2real.learn.train import train

        groups = {"task": spec["task"], "dr": "none", "dynamics": "nominal", "algo": "ppo"}
        values.update(
            {
                "warm_start.demos": 0,
                "eval.targets": ["train"],
                "algo.learning_rate": spec["scratch_lr"],
                "algo.lr_schedule": "constant",
            }
        )
        train(build_spec(compose_config("train", groups, values)))
        return
    from sim2real.learn.finetune import build_finetune_spec, finetune

    groups = {"task": spec["task"], "dynamics": "nominal", "algo": resolve_policy(init).algo}
    values.update(
        {
            "init": init,
            "finetune.lr": spec["lr"],
            "finetune.scope": spec["scope"],
            "finetune.reset_head": bool(spec.get("reset_head", False)),
            "finetune.update_norm": spec["update_norm"],
            "eval.targets": ["train", "dr:default"],
        }
    )
    for key in ("head_lr", "l2sp"):  # set only in the units where they act
        if key in spec:
            values[f"finetune.{key}"] = spec[key]
    finetune(build_finetune_spec(compose_config("finetune", groups, values)))


def _curve_rows(d: Path, offset: int = 0) -> list[dict[str, Any]]:
    """A run's target evaluations (and randomised-sim ones, for fine-tuning) as curve points, steps + ``offset``."""
    rows = [json.loads(x) for x in (d / "evaluations.jsonl").read_text().splitlines()]
    return [
        {
            "step": r["timesteps"] + offset,
            "success_rate": r["train/success_rate"],
            "mean_return": r["train/mean_return"],
            "sim_success_rate": r.get("dr:default/success_rate"),
            "sim_mean_return": r.get("dr:default/mean_return"),
        }
        for r in rows
    ]


def _run_fallback(spec: dict[str, Any], d: Path) -> dict[str, Any]:
    """Fine-tuning and scratch each train ``decide_at`` target steps (in ``d/finetune`` and ``d/scratch``); both
    are scored on development episodes of the target (never the published test episodes), and the better one
    (success rate, then return; fine-tuning on a tie) continues to ``steps`` target steps in all. Its curve is
    placed at total target steps, the losing branch's steps included (``decide_at`` rounded up to whole rollouts)."""
    decide, branches = int(spec["decide_at"]), {"finetune": spec["init"], "scratch": None}
    record = d / "decision.json"  # made once: a resumed unit continues the branch it chose
    if record.is_file():
        decision = read_json(record)
    else:
        scores = {}
        for name, init in branches.items():
            bd = d / name
            if not steps_done(bd, decide):
                _train_curve(spec, bd, init, decide, False)
            s = evaluate_policy(
                bd,
                spec["task"],
                spec["decide_episodes"],
                spec["seed"],
                None,
                spec["dynamics"] or None,
                (None, spec["dynamics_name"]),
                seed_range="development",
            )
            scores[name] = {k: s[k] for k in ("success_rate", "mean_return", "episodes")}
            scores[name]["steps"] = int(read_json(bd / "run.json")["timesteps"])  # rollouts round decide_at up

        def key(name: str) -> tuple[float, float, bool]:
            sc = scores[name]
            return (sc["success_rate"] or 0.0, sc["mean_return"], name == "finetune")

        decision = {
            "decide_at": decide,
            "winner": max(branches, key=key),
            "development_scores": scores,
            "development_episodes": 2 * int(spec["decide_episodes"]),
            "rule": "higher development-episode success rate on the target, then mean return; fine-tuning on a tie",
        }
        write_json(record, decision)
    winner = decision["winner"]
    spent = decision["development_scores"][next(b for b in branches if b != winner)]["steps"]  # the loser's steps
    total, interval = int(spec["steps"]), int(spec["interval"])
    _train_curve(spec, d / winner, branches[winner], total - spent, True)
    print(f"unit {spec['id']}: fallback chose {winner} after {decide} steps per branch")
    return {
        "curve": [
            p for p in _curve_rows(d / winner, offset=spent) if round(p["step"] / interval) * interval >= 2 * decide
        ],
        "decision": {**decision, "target_steps": total},
    }


def steps_done(run_dir: Path, steps: int) -> bool:
    """Whether ``run_dir`` holds a finished run of at least ``steps`` env steps."""
    from sim2real.learn.finetune import steps_run

    return steps_run(run_dir) and int(read_json(run_dir / "run.json").get("timesteps", 0)) >= steps


CHECKPOINT_FILES = (POLICY_FILE, TRAINING_FILE, NORM_FILE, BUFFER_FILE)


def _run_pretrain(spec: dict[str, Any], d: Path, resume: bool) -> dict[str, Any]:
    """A pretraining run in the unit's directory: ``sim2real train`` with the task's tuned settings."""
    from sim2real.learn.train import train

    if not resume:
        for name in (*CHECKPOINT_FILES, "run.json", "config.yaml"):
            (d / name).unlink(missing_ok=True)  # an interrupted unit's own partial outputs
    groups = {"task": spec["task"], "dr": spec["randomization"]}
    values = {"seed": spec["seed"], "out_dir": str(d), "resume": resume, "progress": False}
    train(build_spec(compose_config("train", groups, values, spec["overrides"])))
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


def _run_logged(spec: dict[str, Any], d: Path) -> dict[str, Any]:
    """Fine-tune offline on the first ``logged_episodes`` episodes, then evaluate on the target."""
    from sim2real.data.datasets import read
    from sim2real.learn.finetune import build_finetune_spec, finetune

    groups = {"task": spec["task"], "dynamics": "nominal", "algo": resolve_policy(spec["init"]).algo}
    values = {
        "init": spec["init"],
        "seed": spec["seed"],
        "data": spec["data"],
        "mode": "offline",
        "steps": 0,
        "offline": {**spec["offline"], "episodes": spec["logged_episodes"]},
        "eval.interval": 0,
        "progress": False,
        "out_dir": str(d / "run"),
        "dynamics": {**spec["dynamics"], "name": spec["dynamics_name"]},
    }
    run = finetune(build_finetune_spec(compose_config("finetune", groups, values)), read(spec["data"], spec["task"]))
    s = evaluate_policy(
        run, spec["task"], spec["episodes"], spec["seed"], None, spec["dynamics"] or None, (None, spec["dynamics_name"])
    )
    write_json(d / "evaluation.json", s)
    return {"success_rate": s["success_rate"], "mean_return": s["mean_return"], "episodes": s["episodes"]}
