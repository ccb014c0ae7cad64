"""Lifelong transfer over a sequence of targets: the accuracy matrix and the continual-learning metrics of
Lopez-Paz & Ranzato (2017, "Gradient Episodic Memory for Continual Learning"): ACC, BWT and FWT.

Stage ``i`` (1..T) fine-tunes on target profile ``i``. ``R[j][i]`` is the score on stage ``i``'s profile after
stage ``j`` (row 0: the pretrained policy, before any stage); ``b[i]`` is a uniformly random policy's score
on that profile (GEM's "random initialisation" reference).

- ACC = (1/T) sum_i R[T][i]: the final average over the stages' profiles;
- BWT = 1/(T-1) sum_{i<T} (R[T][i] - R[i][i]): backward transfer, negative = forgetting;
- FWT = 1/(T-1) sum_{i>=2} (R[i-1][i] - b[i]): forward transfer, what earlier stages give a stage before
  it trains (its jumpstart over the random reference).
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sim2real.io import read_json, write_json
from sim2real.learn.config import compose_config
from sim2real.learn.evaluate import evaluate_policy, run_episodes, summarize
from sim2real.learn.finetune import build_finetune_spec, finetune
from sim2real.learn.runs import resolve_policy
from sim2real.transfer.units import random_policy


def metrics(R: Sequence[Sequence[float]], b: Sequence[float]) -> dict[str, float | list[float]]:
    """ACC, BWT, FWT and per-stage jumpstart (R[i-1][i] - b[i], i = 1..T) of one seed's accuracy matrix ``R``
    ((T + 1) x T: row 0 before any stage) and random-policy scores ``b`` (T)."""
    R = np.asarray(R, dtype=float)
    b = np.asarray(b, dtype=float)
    T = R.shape[1]
    if R.shape != (T + 1, T) or b.shape != (T,):
        raise ValueError(f"accuracy matrix {R.shape} and reference {b.shape}: need (T + 1, T) and (T,)")
    # stage i (1-based) is column i - 1; row i is "after stage i"
    acc = float(R[T].mean())
    bwt = float(np.mean([R[T, i - 1] - R[i, i - 1] for i in range(1, T)])) if T > 1 else float("nan")
    fwt = float(np.mean([R[i - 1, i - 1] - b[i - 1] for i in range(2, T + 1)])) if T > 1 else float("nan")
    jump = [float(R[i - 1, i - 1] - b[i - 1]) for i in range(1, T + 1)]
    return {"ACC": acc, "BWT": bwt, "FWT": fwt, "jumpstart": jump}


def run_sequence(spec: dict, d: Path) -> dict[str, Any]:
    """A ``sequence`` unit: fine-tune through ``spec["profiles"]`` in order, ``spec["steps"]`` target steps each,
    each stage starting from the previous one (with ``spec["l2sp"]`` > 0, pulled toward the original pretrained
    weights); before the first and after every stage, evaluate on every profile and in the randomised sim.
    A finished stage is kept (``stage<i>/stage.json``); an interrupted one is run again."""
    task, seed, init = spec["task"], spec["seed"], spec["init"]
    algo = resolve_policy(init).algo
    names = list(dict.fromkeys(spec["profiles"]))  # the columns: each profile once
    sim = spec.get("randomization")

    def score(s: dict[str, Any]) -> float:
        return s["success_rate"] if s["success_rate"] is not None else s["mean_return"]

    def evaluate_all(policy: str) -> dict[str, float]:
        row = {
            p: score(evaluate_policy(policy, task, spec["episodes"], seed, None, spec["values"][p], (None, p)))
            for p in names
        }
        row["sim"] = score(evaluate_policy(policy, task, spec["episodes"], seed, sim, None, (sim, "nominal")))
        return row

    reference = {
        p: score(
            summarize(run_episodes(random_policy(task, seed), task, spec["episodes"], seed, None, spec["values"][p]))
        )
        for p in names
    }
    rows = [evaluate_all(init)]
    prev = init
    for i, profile in enumerate(spec["profiles"]):
        stage = d / f"stage{i + 1}"
        if (stage / "stage.json").is_file():
            rows.append(read_json(stage / "stage.json")["scores"])
            prev = str(stage)
            continue
        shutil.rmtree(stage, ignore_errors=True)  # this unit's own interrupted stage
        values = {
            "init": prev,
            "seed": seed,
            "steps": spec["steps"],
            "out_dir": str(stage),
            "dynamics": {**spec["values"][profile], "name": profile},
            "eval.interval": 0,
            "progress": False,
            "n_envs": spec["n_envs"],
            "finetune.lr": spec["lr"],
            "finetune.l2sp": spec["l2sp"],
            "finetune.l2sp_anchor": init if spec["l2sp"] > 0 else None,
        }
        groups = {"task": task, "dynamics": "nominal", "algo": algo}
        finetune(build_finetune_spec(compose_config("finetune", groups, values)))
        scores = evaluate_all(str(stage))
        write_json(stage / "stage.json", {"profile": profile, "scores": scores})
        rows.append(scores)
        prev = str(stage)
    R = [[row[p] for p in spec["profiles"]] for row in rows]
    b = [reference[p] for p in spec["profiles"]]
    return {"rows": rows, "columns": [*names, "sim"], "reference": reference, "metrics": metrics(R, b)}
