"""Learning quality: steps and wall-clock to a success threshold in the randomised sim, per seed.

Trains ``--seeds`` seeds of ``sim2real train task=<task> dr=default`` (two processes at a time, one
torch thread each; pass extra Hydra overrides after ``--``), or reads finished runs with ``--runs``,
then prints per seed: the first evaluation at which the success rate on the training distribution
(``train/success_rate``, ``eval.episodes`` episodes) reaches the threshold, its env steps and
wall-clock (training plus evaluation, warm start included), and the final success rates on the
randomised sim, the nominal sim and the ``real`` target.

    .venv/bin/python benchmarks/learning.py --task navigate --seeds 0 1 2 --threshold 0.95
    .venv/bin/python benchmarks/learning.py --task grasp --runs runs/bench/grasp/s0 runs/bench/grasp/s1
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np


def train(task: str, seed: int, out: Path, extra: list[str]) -> Path:
    """Train one seed into ``out/task/s<seed>``; a finished run there is reused and a stopped one resumed from
    its last checkpoint with the settings it started with, so a benchmark stopped midway continues."""
    run = out / task / f"s{seed}"
    if (run / "policy.safetensors").is_file() and (run / "run.json").is_file():
        print(f"{run}: finished before, reused")
        return run
    cli = [sys.executable, "-m", "sim2real.commands.cli", "train"]
    if (run / "overrides.started.yaml").is_file() and any((run / "checkpoints").glob("*")):
        print(f"{run}: stopped before, resumed")
        cmd = [*cli, f"resume={run}"]
    else:
        dr = [] if any(e.startswith("dr=") for e in extra) else ["dr=default"]
        cmd = [*cli, f"task={task}", *dr, f"seed={seed}", "progress=false", f"hydra.run.dir={run}", *extra]
    log = (out / f"{task}_s{seed}.log").open("a")
    subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True)
    return run


def report(run: Path, threshold: float) -> dict:
    rows = [json.loads(line) for line in (run / "evaluations.jsonl").read_text().splitlines()]
    meta = json.loads((run / "run.json").read_text())
    hit = next((r for r in rows if r.get("train/success_rate", 0) >= threshold), None)
    last = rows[-1]
    return {
        "run": str(run),
        "seed": meta["seed"],
        "steps_to_threshold": hit["timesteps"] if hit else None,
        "minutes_to_threshold": hit["wall_time_s"] / 60 if hit else None,
        "final_steps": last["timesteps"],
        "final_minutes": last["wall_time_s"] / 60,
        "train": last.get("train/success_rate"),
        "nominal": last.get("nominal/success_rate"),
        "real": last.get("real/success_rate"),
        "episodes": meta["config"]["eval"]["episodes"],
        "warm_start_s": (meta.get("warm_start") or {}).get("seconds", 0.0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="navigate")
    parser.add_argument("--seeds", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--threshold", type=float, default=None, help="default: 0.95 navigate, 0.90 grasp")
    parser.add_argument("--out", type=Path, default=Path("runs/bench"))
    parser.add_argument("--runs", type=Path, nargs="*", help="report finished runs instead of training")
    parser.add_argument("--jobs", type=int, default=2)
    args, extra = parser.parse_known_args()
    extra = [e for e in extra if e != "--"]
    threshold = args.threshold or (0.95 if args.task == "navigate" else 0.90)
    if args.runs:
        runs = args.runs
    else:
        args.out.mkdir(parents=True, exist_ok=True)
        with ThreadPoolExecutor(args.jobs) as pool:
            runs = list(pool.map(lambda s: train(args.task, s, args.out, extra), args.seeds))
    dr = next((e for e in extra if e.startswith("dr=")), "dr=default")
    print(f"task={args.task} {dr} threshold={threshold:.0%} on the training distribution")
    print(
        f"{'seed':>4} {'steps to thr':>12} {'min to thr':>10} {'final steps':>11} {'min':>6} "
        f"{'train':>6} {'nominal':>7} {'real':>6} {'eps':>4} {'warm s':>6}"
    )
    rows = [report(r, threshold) for r in runs]
    for r in rows:
        fmt = lambda v, f: "-" if v is None else format(v, f)  # noqa: E731
        print(
            f"{r['seed']:>4} {fmt(r['steps_to_threshold'], 'd'):>12} {fmt(r['minutes_to_threshold'], '.1f'):>10} "
            f"{r['final_steps']:>11d} {r['final_minutes']:6.1f} {fmt(r['train'], '6.0%'):>6} "
            f"{fmt(r['nominal'], '7.0%'):>7} {fmt(r['real'], '6.0%'):>6} {r['episodes']:>4} {r['warm_start_s']:6.0f}"
        )
    for key in ("train", "nominal", "real"):
        if any(r[key] is None for r in rows):  # not evaluated during training (`real` is a test target)
            continue
        v = np.array([r[key] for r in rows])
        print(f"final {key:8s} success: mean {v.mean():.0%} (min {v.min():.0%}, max {v.max():.0%}) over {len(v)} seeds")


if __name__ == "__main__":
    main()
