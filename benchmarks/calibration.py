"""Calibration from logged data: replay error before/after and recovered parameters against the truth.

For each task: ``sim2real collect`` logs ``--episodes`` episodes of the scripted controller (or
``--policy``) on the ``real`` target
(observation noise, bias, latency and deadzone included; exploration noise ``--action-noise``), then
``sim2real calibrate`` estimates the task's default parameter list. The target's true values are read
from the dataset's episode metadata *here only*, to score the estimate; the calibration never reads
them. Both tasks run side by side (two processes); calibration wall-clock is measured per task.

    .venv/bin/python benchmarks/calibration.py --out runs/bench/calibration
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sim2real.commands.cli", *cmd], check=True)
    return time.perf_counter() - t0


def one(task: str, args: argparse.Namespace) -> dict:
    data = args.out / "data" / f"{task}-real-v0"
    run(
        [
            "collect",
            f"policy={args.policy}",
            f"task={task}",
            "dynamics=real",
            f"episodes={args.episodes}",
            f"action_noise={args.action_noise}",
            f"seed={args.seed}",
            f"out={data}",
            f"hydra.run.dir={args.out / task / 'collect'}",
        ]
    )
    cal_dir = args.out / task / "calibrate"
    wall = run(
        [
            "calibrate",
            f"data={data}",
            f"seed={args.seed}",
            f"budget={args.budget}",
            "gap_of=[real]",
            f"hydra.run.dir={cal_dir}",
        ]
    )
    result = json.loads((cal_dir / "calibration.json").read_text())
    from sim2real.data.datasets import read

    true = read(data, task).true_dynamics[0]  # scoring only
    return {"task": task, "wall_s": wall, "result": result, "true": true}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=Path("runs/bench/calibration"))
    ap.add_argument("--tasks", nargs="+", default=["grasp", "navigate"])
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--action-noise", type=float, default=0.1)
    ap.add_argument(
        "--policy",
        default="scripted",
        help="scripted (default: its fast, large motions excite the dynamics, as system-identification data "
        "should) or a policy name/run, e.g. grasp-dr (one task at a time then)",
    )
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    with ThreadPoolExecutor(2) as pool:
        outs = list(pool.map(lambda t: one(t, args), args.tasks))
    for o in outs:
        r = o["result"]
        drop = 1 - r["replay_error_after"] / r["replay_error_before"]
        print(
            f"\n== {o['task']}: {r['episodes']} episodes ({r['steps']} steps), seed {args.seed}, "
            f"CMA-ES budget {args.budget}; calibrate wall-clock {o['wall_s']:.0f} s (incl. start-up)"
        )
        print(
            f"replay error {r['replay_error_before']:.3f} (nominal) -> {r['replay_error_after']:.3f} "
            f"(calibrated): {drop:.0%} lower"
        )
        print(f"replay error at the true parameters (the `real` profile): {r['replay_error_of']['real']:.3f}")
        print(f"{'parameter':22s} {'true':>7s} {'estimate':>9s} {'std':>7s} {'error':>7s} {'ident.':>7s}  identified")
        for p, est in r["estimate"].items():
            t = o["true"].get(p, math.nan)
            err = (est - t) if p in ("action_latency", "actuator_deadzone") else (est / t - 1 if t else math.nan)
            fmt = f"{err:+7.3f}" if p in ("action_latency", "actuator_deadzone") else f"{err:+7.0%}"
            print(
                f"{p:22s} {t:7.3f} {est:9.3f} {r['std'][p]:7.3f} {fmt} {r['identifiability'][p]:7.3f}  "
                f"{r['identified'][p]}"
            )
    summary = {o["task"]: {"wall_s": o["wall_s"], "true": o["true"], **o["result"]} for o in outs}
    (args.out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    print(f"\nsummary: {args.out / 'summary.json'}")


if __name__ == "__main__":
    main()
