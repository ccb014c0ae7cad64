"""Choose one of several finished runs by a stated rule and copy it into ``policies/<name>/`` as a shipped
policy, with measured evaluation figures.

    python -m sim2real.learn.ship <name> <run dir> [<run dir> ...] [--episodes 100]

**Selection rule** (:data:`RULE`): the highest success rate (then mean return, then the lowest seed) on
``--episodes`` *development* episodes of the run's own training distribution (an ADR run's: its final bounds)
and of each ``--dev-profiles`` profile (development-only profiles such as ``dev_a``, ``dev_b``; the rate is
their mean). No named target and no test episode is looked at before the choice, so the published figures are
not selected on. The candidates, which may be runs of different variants, and their scores go into the shipped
``run.json`` under ``selection``.

The published figures (success rate and mean return on the nominal sim, the default randomisation and the
``real`` target, ``--episodes`` **test** episodes each, seeds disjoint from training and from development)
go under ``shipped_evaluation``.
"""

from __future__ import annotations

import argparse
import shutil
from importlib import resources
from pathlib import Path

import numpy as np
import torch as th

from sim2real.io import read_json, write_json
from sim2real.learn.checkpoint import NORM_FILE, POLICY_FILE, TRAINING_FILE
from sim2real.learn.evaluate import run_episodes, stored_policy, summarize
from sim2real.learn.runs import PolicySource, resolve_policy

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
    "training distribution (ADR: its final bounds) and of the development-only profiles named, averaged; no "
    "named target and no test episode is seen before the choice"
)


def training_ranges(src: PolicySource) -> dict | None:
    """What the run trained on at its end: an ADR run's final bounds, else its randomisation ranges."""
    if "adr" in src.meta:
        from sim2real.learn.adr import ADR

        return ADR.from_state(src.task, src.meta["adr"]).ranges()
    return (src.meta.get("randomization") or {}).get("ranges") or None


def select(runs: list[Path], episodes: int, dev_profiles: tuple[str, ...] = ()) -> tuple[Path, dict]:
    """The run :data:`RULE` picks, and the record of the choice (every candidate's development scores)."""
    candidates = []
    for run in runs:
        src = resolve_policy(run)
        dyn = (src.meta.get("dynamics") or {}).get("values") or None
        policy = stored_policy(src)
        scores = {
            "training": summarize(run_episodes(policy, src.task, episodes, 0, training_ranges(src), dyn, "development"))
        }
        for profile in dev_profiles:
            if profile in _named_targets(src.task):
                raise ValueError(f"--dev-profiles {profile}: a named target is scored once at the end, never chosen on")
            scores[profile] = summarize(run_episodes(policy, src.task, episodes, 0, None, profile, "development"))
        candidates.append(
            {
                "run": src.path.name,
                "variant": src.path.name.rsplit("_s", 1)[0],
                "seed": src.meta.get("seed"),
                "development_success_rate": float(np.mean([s["success_rate"] or 0.0 for s in scores.values()])),
                "development_mean_return": float(np.mean([s["mean_return"] for s in scores.values()])),
                "development_scores": {k: s["success_rate"] for k, s in scores.items()},
                "path": src.path,
            }
        )
    best = max(
        candidates,
        key=lambda c: (c["development_success_rate"] or 0.0, c["development_mean_return"], -(c["seed"] or 0)),
    )
    record = {
        "rule": RULE,
        "dev_profiles": list(dev_profiles),
        "episodes": episodes,
        "candidates": [{k: v for k, v in c.items() if k != "path"} for c in candidates],
        "chosen": best["run"],
    }
    return best["path"], record


def _named_targets(task: str) -> set[str]:
    from sim2real.sim import tasks

    return {p for p in tasks.get(task).targets if not p.startswith("dev_")}


def ship(runs: list[Path], name: str, episodes: int, replace: bool = False, dev_profiles: tuple[str, ...] = ()) -> Path:
    th.set_num_threads(1)
    run, selection = select(runs, episodes, dev_profiles)
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
    parser.add_argument("--dev-profiles", nargs="*", default=[], help="development-only profiles scored too")
    args = parser.parse_args()
    dest = ship(args.runs, args.name, args.episodes, args.replace, tuple(args.dev_profiles))
    ev = read_json(dest / "run.json")["shipped_evaluation"]
    print(
        f"shipped {read_json(dest / 'run.json')['selection']['chosen']} as {dest}: "
        + ", ".join(f"{k} {v['success_rate']:.0%}" for k, v in ev.items())
    )


if __name__ == "__main__":
    main()
