"""Copy a finished run into ``policies/<name>/`` as a shipped policy, with measured evaluation figures.

    python -m sim2real.ship <run dir> <name> [--episodes 100]

The figures (success rate and mean return on the nominal sim, the default randomisation and the
``real`` target, ``--episodes`` evaluation episodes each, seeds disjoint from training) go into the
shipped ``run.json`` under ``shipped_evaluation``.
"""

from __future__ import annotations

import argparse
import shutil
from importlib import resources
from pathlib import Path

import torch as th

from sim2real.evaluate import run_episodes, stored_policy, summarize
from sim2real.io import read_json, write_json
from sim2real.runs import resolve_policy

POLICIES = Path(str(resources.files("sim2real.policies")))  # policies/ in a checkout (editable install)


def evaluate_everywhere(run: Path, episodes: int) -> dict[str, dict[str, float]]:
    src = resolve_policy(run)
    policy = stored_policy(src)
    out = {}
    for name, rand, dyn in (
        ("nominal", None, None),
        ("default_randomization", "default", None),
        ("real", None, "real"),
    ):
        s = summarize(run_episodes(policy, src.task, episodes, 0, rand, dyn))
        out[name] = {"success_rate": s["success_rate"], "mean_return": s["mean_return"], "episodes": episodes}
    return out


def ship(run: Path, name: str, episodes: int) -> Path:
    th.set_num_threads(1)
    src = resolve_policy(run)
    dest = POLICIES / name
    dest.mkdir(parents=True, exist_ok=True)
    for f in ("model.zip", "normalization.npz"):
        shutil.copyfile(src.path / f, dest / f)
    meta = read_json(src.path / "run.json")
    meta["shipped_evaluation"] = evaluate_everywhere(src.path, episodes)
    meta["source_run"] = str(src.path)
    write_json(dest / "run.json", meta)
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("name")
    parser.add_argument("--episodes", type=int, default=100)
    args = parser.parse_args()
    dest = ship(args.run, args.name, args.episodes)
    ev = read_json(dest / "run.json")["shipped_evaluation"]
    print(f"shipped {args.run} as {dest}: " + ", ".join(f"{k} {v['success_rate']:.0%}" for k, v in ev.items()))


if __name__ == "__main__":
    main()
