"""Where a training run's wall-clock goes: rollout (env steps and action sampling), update (the algorithm's
gradient steps), training-time evaluation, checkpoints and the warm start, from each run's ``run.json``
(``time_breakdown_s``, written by ``sim2real train`` / ``finetune``).

    .venv/bin/python benchmarks/time_breakdown.py runs/compare/navigate-real-paired    # its pretraining units
    .venv/bin/python benchmarks/time_breakdown.py <run dir> [<run dir> ...]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def runs_of(path: Path) -> list[Path]:
    """A run directory, or a compare directory's pretraining units (those with a run.json)."""
    if (path / "run.json").is_file():
        return [path]
    units = sorted(p.with_suffix("") for p in (path / "units").glob("*.json"))
    return [
        u
        for u in units
        if json.loads(u.with_suffix(".json").read_text()).get("kind") == "pretrain" and (u / "run.json").is_file()
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", type=Path, nargs="+")
    args = parser.parse_args()
    rows = []
    for run in [r for p in args.paths for r in runs_of(p)]:
        meta = json.loads((run / "run.json").read_text())
        t = meta.get("time_breakdown_s")
        if not t:
            print(f"{run}: no time_breakdown_s (a run from before it was recorded)")
            continue
        warm = (meta.get("warm_start") or {}).get("seconds", 0.0)
        total = meta["wall_time_s"]
        rows.append((run, meta, t, warm, total))
    print(
        "| run | task | dr | steps | wall-clock | rollout | update | evaluation | checkpoint | warm start "
        "| env steps/s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for run, meta, t, warm, total in rows:
        share = {k: 100 * v / total for k, v in t.items()}
        print(
            f"| {run.name} | {meta['task']} | {meta['randomization']['name']} | {meta['num_timesteps']} | "
            f"{total / 60:.1f} min | {share['rollout']:.0f} % | {share['update']:.0f} % | "
            f"{share['evaluation']:.0f} % | "
            f"{share['checkpoint']:.1f} % | {100 * warm / total:.0f} % | {meta['num_timesteps'] / total:.0f} |"
        )
    if rows:
        ev = [100 * t["evaluation"] / total for _, _, t, _, total in rows]
        print(
            f"training-time evaluation: {min(ev):.1f}-{max(ev):.1f} % of wall-clock over {len(rows)} runs "
            "(goal: below 15 %)"
        )


if __name__ == "__main__":
    main()
