"""EPOpt's torso-mass experiment (Rajeswaran et al. 2017, Fig. 1) on stock Hopper-v5 through the task registry.

PPO on nominal Hopper and PPO with the torso mass randomised over 3-9 kg (``body_mass_scale.torso`` in
[0.82, 2.45]; nominal 3.67 kg), the same budget and recipe, ``--seeds`` seeds each; then every policy is
evaluated at torso masses 3, 4.5, 6, 7.5 and 9 kg on test episodes. Prints and writes the return IQM with
95 % stratified-bootstrap CIs over seeds per mass, a plot, and the wall-clock of each stage.

    .venv/bin/python benchmarks/hopper_torso.py --out runs/bench/hopper_torso      # both cores, ~40 min
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

TORSO_KG = 3.6651914291880923  # Hopper-v5's torso mass (kg)
MASSES = (3.0, 4.5, 6.0, 7.5, 9.0)
CONDITIONS = {
    "nominal": ["dr=none"],
    "torso-dr": ["dr=none", "+dr.body_mass_scale.torso=[0.82,2.45]"],
}
TEST_SEED = 7  # evaluation seed set (episode seeds 1e9 + 1e4 * 7 + k), never used in training


def train(cond: str, seed: int, steps: int, out: Path) -> float:
    run = out / cond / f"s{seed}"
    if (run / "policy.safetensors").is_file():
        return 0.0
    t = time.time()
    cmd = [
        sys.executable,
        "-m",
        "sim2real.commands.cli",
        "train",
        "task=hopper",
        f"seed={seed}",
        f"steps={steps}",
        "eval.interval=0",
        "checkpoint_interval=100000",
        "progress=false",
        *CONDITIONS[cond],
        f"hydra.run.dir={run}",
    ]
    subprocess.run(cmd, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.DEVNULL)
    return time.time() - t


def evaluate(run: Path, episodes: int) -> list[float]:
    from sim2real.learn.evaluate import evaluate_policy

    return [
        evaluate_policy(run, "hopper", episodes, TEST_SEED, None, {"body_mass_scale.torso": kg / TORSO_KG})[
            "mean_return"
        ]
        for kg in MASSES
    ]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--steps", type=int, default=400_000)
    ap.add_argument("--episodes", type=int, default=10)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("runs/bench/hopper_torso"))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(1)
    t0 = time.time()
    jobs = [(c, s) for s in args.seeds for c in CONDITIONS]
    with ThreadPoolExecutor(args.jobs) as pool:
        minutes = list(pool.map(lambda j: train(*j, args.steps, args.out) / 60, jobs))
    t_train = time.time() - t0
    t1 = time.time()
    with ThreadPoolExecutor(args.jobs) as pool:  # evaluation in threads: MuJoCo and torch release the GIL
        returns = list(pool.map(lambda j: evaluate(args.out / j[0] / f"s{j[1]}", args.episodes), jobs))
    t_eval = time.time() - t1
    from sim2real.transfer.stats import iqm_ci

    table: dict[str, list] = {}
    for cond in CONDITIONS:
        per_seed = np.array([r for (c, _), r in zip(jobs, returns, strict=True) if c == cond])  # seeds x masses
        table[cond] = [iqm_ci(per_seed[:, i], seed=0) for i in range(len(MASSES))]
        table[f"{cond}/per_seed"] = per_seed.tolist()
    result = {
        "masses_kg": MASSES,
        "seeds": args.seeds,
        "steps_per_run": args.steps,
        "episodes_per_point": args.episodes,
        "test_seed": TEST_SEED,
        "train_minutes_per_run": dict(zip([f"{c}/s{s}" for c, s in jobs], minutes, strict=True)),
        "wall_clock_s": {"train": t_train, "evaluate": t_eval},
        "iqm_ci": {c: table[c] for c in CONDITIONS},
        "per_seed_returns": {c: table[f"{c}/per_seed"] for c in CONDITIONS},
        "method": "IQM over seeds of each seed's mean return, 95 % stratified bootstrap CI (rliable)",
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = ["| torso mass (kg) | " + " | ".join(f"{m:g}" for m in MASSES) + " |", "|---" * (len(MASSES) + 1) + "|"]
    for cond in CONDITIONS:
        cells = [f"{p:.0f} [{lo:.0f}, {hi:.0f}]" for p, lo, hi in table[cond]]
        lines.append(f"| {cond} | " + " | ".join(cells) + " |")
    print("\n".join(lines))
    print(f"train {t_train / 60:.1f} min ({len(jobs)} runs, {args.jobs} at a time), evaluate {t_eval / 60:.1f} min")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.5))
    for cond, style in zip(CONDITIONS, ("o-", "s--"), strict=True):
        p = np.array(table[cond])
        ax.plot(MASSES, p[:, 0], style, label=cond)
        ax.fill_between(MASSES, p[:, 1], p[:, 2], alpha=0.2)
    ax.axvline(TORSO_KG, color="grey", lw=0.8)
    ax.set_xlabel("torso mass (kg)")
    ax.set_ylabel("return (IQM, 95 % CI over seeds)")
    ax.set_title(f"Hopper-v5, PPO {args.steps // 1000} k steps, {len(args.seeds)} seeds")
    ax.legend()
    fig.tight_layout()
    fig.savefig(args.out / "hopper_torso.png", dpi=120)
    (args.out / "table.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
