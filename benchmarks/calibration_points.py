"""Two calibration answers replayed under one objective: which fits the logs better, and along which parameter.

Reads the ``estimate`` of two ``calibration.json`` files (e.g. ``benchmarks/calibration_speed.py``'s ``before.json``
and ``after/calibration.json``), replays each, and each with the other's value of ``--swap``, on the same data with
the same horizon and stride and the first file's measured noise fixed; then sweeps ``--swap`` over ``--values`` at
the first answer. Prints each point's rms replay error (the calibration's objective).

    .venv/bin/python benchmarks/calibration_points.py runs/bench/calibration_speed/data/navigate_v1-real-excite20-v0 \\
        navigate_v1 runs/bench/calibration_speed/after/calibration.json runs/bench/calibration_speed/before.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", type=Path, help="the logged dataset both answers were fitted to")
    ap.add_argument("task")
    ap.add_argument("a", type=Path, help="the first calibration.json (its measured noise is held fixed)")
    ap.add_argument("b", type=Path, help="the second calibration.json")
    ap.add_argument("--horizon", type=int, default=30)
    ap.add_argument("--stride", type=int, default=30)
    ap.add_argument("--swap", default="actuator_deadzone", help="the parameter exchanged between the answers")
    ap.add_argument("--values", type=float, nargs="*", default=[0.06, 0.08, 0.09, 0.0925, 0.1, 0.12, 0.13, 0.14, 0.15])
    args = ap.parse_args()
    from sim2real.data.datasets import read
    from sim2real.ident.rollout import BatchedReplay

    a, b = (json.loads(p.read_text()) for p in (args.a, args.b))
    params = a["params"]
    fixed = {k: v for k, v in a["estimate"].items() if k not in params}  # the measured noise and bias
    rep = BatchedReplay(read(args.data, args.task), args.horizon, args.stride, fixed=fixed)
    ea, eb = ({k: r["estimate"][k] for k in params} for r in (a, b))
    points = {
        f"{args.a}": ea,
        f"{args.b}": eb,
        f"first, {args.swap} of the second": {**ea, args.swap: eb[args.swap]},
        f"second, {args.swap} of the first": {**eb, args.swap: ea[args.swap]},
        **{f"first, {args.swap}={v:g}": {**ea, args.swap: v} for v in args.values},
    }
    for (name, _), err in zip(points.items(), rep.batch(list(points.values())), strict=True):
        print(f"rms {err.rms:.4f}  {name}")


if __name__ == "__main__":
    main()
