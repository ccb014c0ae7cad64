"""Choose one of several finished runs by a stated rule and copy it into ``policies/<name>/`` as a shipped
policy, with measured evaluation figures.

    python -m sim2real.learn.ship <name> <run dir> [<run dir> ...] [--episodes 100]

**Selection rule** (:data:`RULE`): the highest success rate (then mean return, then the lowest seed) on
``--episodes`` *development* episodes of the run's own training distribution. No target profile and no test
episode is looked at before the choice, so the published figures are not selected on. The candidates and
their scores go into the shipped ``run.json`` under ``selection``.

The published figures (success rate and mean return on the nominal sim, the default randomisation and the
``real`` target, ``--episodes`` **test** episodes each, seeds disjoint from training and from development)
go under ``shipped_evaluation``.
"""

from __future__ import annotations

import argparse
import shutil
from importlib import resources
from pathlib import Path

import torch as th

from sim2real.io import read_json, write_json
from sim2real.learn.checkpoint import NORM_FILE, POLICY_FILE, TRAINING_FILE
from sim2real.learn.evaluate import run_episodes, stored_policy, summarize
from sim2real.learn.runs import resolve_policy

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


RULE = (
    "highest success rate (then mean return, then lowest seed) on development episodes of the run's own "
    "training distribution; no target profile and no test episode is seen before the choice"
)


def select(runs: list[Path], episodes: int) -> tuple[Path, dict]:
    """The run :data:`RULE` picks, and the record of the choice (every candidate's development score)."""
    candidates = []
    for run in runs:
        src = resolve_policy(run)
        rand = (src.meta.get("randomization") or {}).get("ranges") or None
        dyn = (src.meta.get("dynamics") or {}).get("values") or None
        s = summarize(run_episodes(stored_policy(src), src.task, episodes, 0, rand, dyn, "development"))
        candidates.append(
            {
                "run": src.path.name,
                "seed": src.meta.get("seed"),
                "development_success_rate": s["success_rate"],
                "development_mean_return": s["mean_return"],
                "path": src.path,
            }
        )
    best = max(
        candidates,
        key=lambda c: (c["development_success_rate"] or 0.0, c["development_mean_return"], -(c["seed"] or 0)),
    )
    record = {
        "rule": RULE,
        "episodes": episodes,
        "candidates": [{k: v for k, v in c.items() if k != "path"} for c in candidates],
        "chosen": best["run"],
    }
    return best["path"], record


def ship(runs: list[Path], name: str, episodes: int, replace: bool = False) -> Path:
    th.set_num_threads(1)
    run, selection = select(runs, episodes)
    src = resolve_policy(run)
    dest = POLICIES / name
    if dest.exists() and not replace:
        raise FileExistsError(f"{dest} exists; pass --replace to ship over the policy shipped there")
    dest.mkdir(parents=True, exist_ok=True)
    files = (POLICY_FILE, TRAINING_FILE, NORM_FILE)  # the optimisers too: fine-tuning continues them
    for f in files:
        shutil.copyfile(src.path / f, dest / f)
    meta = read_json(src.path / "run.json")
    meta["checkpoint"]["files"] = {f: meta["checkpoint"]["files"][f] for f in files}
    meta["selection"] = selection
    meta["shipped_evaluation"] = evaluate_everywhere(src.path, episodes)
    meta["source_run"] = str(src.path)
    write_json(dest / "run.json", meta)
    return dest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("name")
    parser.add_argument("runs", type=Path, nargs="+", help="the candidate runs (one per pretraining seed)")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--replace", action="store_true", help="replace the policy shipped under this name")
    args = parser.parse_args()
    dest = ship(args.runs, args.name, args.episodes, args.replace)
    ev = read_json(dest / "run.json")["shipped_evaluation"]
    print(
        f"shipped {read_json(dest / 'run.json')['selection']['chosen']} as {dest}: "
        + ", ".join(f"{k} {v['success_rate']:.0%}" for k, v in ev.items())
    )


if __name__ == "__main__":
    main()
