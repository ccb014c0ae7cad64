"""The replay paths side by side on the same data and candidates: the Python replay (one candidate at a time),
and the batched replay (open-loop ``mujoco.rollout`` rows, or for a task with an inner control loop the
step-by-step rows of ``sim2real.ident.stepwise``) on one thread and on every core. Checks that all give the same
replay errors (1e-9) and prints each path's wall-clock (best of ``--repeats``) and the ratios.

    .venv/bin/python benchmarks/replay_paths.py --task panda_lift --episodes 4 --candidates 8
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from sim2real.data.collect import policy_factory, rollout
from sim2real.data.datasets import read, write
from sim2real.ident.replay import Replay
from sim2real.ident.rollout import BatchedReplay, default_threads


def _best(rep, cands: list[dict], repeats: int) -> tuple[float, list]:
    best, errs = float("inf"), []
    for _ in range(repeats):
        t0 = time.perf_counter()
        errs = rep.batch(cands)
        best = min(best, time.perf_counter() - t0)
    return best, errs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="panda_lift")
    ap.add_argument("--profile", default="dev_a", help="the logs' dynamics (a development profile by default)")
    ap.add_argument("--episodes", type=int, default=4)
    ap.add_argument("--candidates", type=int, default=8)
    ap.add_argument("--horizon", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    logs = rollout(policy_factory("excite", args.task, {"seed": 0}), args.task, args.episodes, 0, None, args.profile,
                   0.0)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        logged = read(write(Path(tmp) / f"{args.task}-v0", args.task, logs, {"source": "benchmark"}), args.task)
    rng = np.random.default_rng(0)
    accepted = set(BatchedReplay(logged, args.horizon, args.horizon, threads=1).env.params)
    names = [p for p in ("mass_scale", "damping_scale", "actuator_gain_scale") if p in accepted]
    cands = [{p: float(rng.uniform(0.7, 1.4)) for p in names} for _ in range(args.candidates)]
    cores = default_threads()
    rows = [("python (Replay)", Replay(logged, args.horizon, args.horizon))]
    rows += [(f"batched, {n} thread(s)", BatchedReplay(logged, args.horizon, args.horizon, threads=n))
             for n in sorted({1, cores})]  # fmt: skip
    kind = "step-by-step" if rows[1][1].stepwise else "open-loop" if rows[1][1].batched else "python fallback"
    steps = args.candidates * int(rows[0][1].lengths.sum())
    print(f"{args.task} on {args.profile}: {args.episodes} episodes, {rows[0][1].n_segments} segments of "
          f"{args.horizon} steps, {args.candidates} candidates ({steps:,} control steps a batch); batched path: "
          f"{kind}; best of {args.repeats}")  # fmt: skip
    times, ref = {}, None
    for name, rep in rows:
        t, errs = _best(rep, cands, args.repeats)
        rms = np.array([e.rms for e in errs])
        ref = rms if ref is None else ref
        times[name] = t
        print(f"  {name:24s} {t:7.2f} s   max |rms - python| {np.abs(rms - ref).max():.1e}")
    base = times[rows[0][0]]
    for name, _ in rows[1:]:
        print(f"  python / {name}: {base / times[name]:.2f}x")
    if cores > 1:
        one, many = times[rows[1][0]], times[rows[-1][0]]
        print(f"  thread scaling (1 -> {cores}): {one / many:.2f}x")


if __name__ == "__main__":
    main()
