"""Zero-shot success on a target of groups of finished runs, side by side (e.g. calibrated vs default DR).

Each run is evaluated with ``sim2real evaluate`` (deterministic policy, ``--episodes`` episodes on
evaluation seeds disjoint from training; two processes at a time). Per group: success per run (seed),
the mean, the IQM with a 95 % stratified-bootstrap CI over runs, and the probability that a run of
the first group beats one of each other group. A run's earlier evaluation with the same episodes is reused.

    .venv/bin/python benchmarks/zero_shot.py --target real \\
        --group calibrated runs/bench/calibrated/grasp/s0 runs/bench/calibrated/grasp/s1 \\
        --group default runs/bench/grasp/s0 runs/bench/grasp/s1
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from sim2real.transfer.stats import iqm_ci, probability_of_improvement


def evaluate(run: Path, target: str, episodes: int) -> dict:
    out = run / f"zero_shot_{target}"
    done = out / "evaluation.json"
    if done.is_file():  # an earlier call's evaluation of this run: reused when it has the same episodes
        earlier = json.loads(done.read_text())
        if earlier.get("episodes") == episodes and earlier.get("seed") == 0:
            return earlier
        sys.exit(f"{done} holds {earlier.get('episodes')} episodes, not {episodes}: move it aside to re-evaluate")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "sim2real.commands.cli",
            "evaluate",
            f"policy={run}",
            f"dynamics={target}",
            f"episodes={episodes}",
            f"hydra.run.dir={out}",
        ],
        check=True,
    )
    return json.loads((out / "evaluation.json").read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--target", default="real")
    ap.add_argument("--episodes", type=int, default=100)
    ap.add_argument("--group", nargs="+", action="append", required=True, metavar=("LABEL", "RUN"))
    args = ap.parse_args()
    groups = {g[0]: [Path(r) for r in g[1:]] for g in args.group}
    jobs = [(label, run) for label, runs in groups.items() for run in runs]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda j: evaluate(j[1], args.target, args.episodes), jobs))
    succ: dict[str, list[float]] = {label: [] for label in groups}
    print(f"\nzero-shot on {args.target}, {args.episodes} episodes per run")
    for (label, run), res in zip(jobs, results, strict=True):
        seed = json.loads((run / "run.json").read_text())["seed"]
        succ[label].append(res["success_rate"])
        print(f"  {label:12s} seed {seed}: success {res['success_rate']:.0%}, return {res['mean_return']:.1f}  ({run})")
    for label, v in succ.items():
        m, lo, hi = iqm_ci(v)
        print(f"{label:12s} mean {np.mean(v):.1%}  IQM {m:.1%} [95% CI {lo:.1%}, {hi:.1%}] over {len(v)} seeds")
    first, *others = list(succ)
    for b in others:
        print(f"P({first} > {b}) = {probability_of_improvement(succ[first], succ[b]):.2f}")


if __name__ == "__main__":
    main()
