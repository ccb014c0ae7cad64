"""Does the deadzone's staircase stall the search? Its profile with the continuous parameters re-fitted.

Reads a ``calibration.json`` and the dataset it was fitted to. At the search's minimum (the estimate before the
bootstrap's shift) it takes one least-squares iteration for the Jacobian of the continuous parameters, then replays
each deadzone on ``--grid`` (one batch) and prints its replay error with the others held and after a linearised
re-fit (one Gauss-Newton step with that Jacobian), with the re-fitted gain; then full least-squares re-fits from
the deadzones ``--refit``. Where the search stalled on a tread, a deadzone would re-fit clearly lower.

    .venv/bin/python benchmarks/deadzone_refit.py <calibration_speed out>/after/calibration.json \\
        <calibration_speed out>/data/navigate_v1-real-excite20-v0 navigate_v1
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from search_gap import minimum, replay_of, searched  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("calibration", type=Path)
    ap.add_argument("data", type=Path)
    ap.add_argument("task")
    ap.add_argument("--horizon", type=int, default=30)
    ap.add_argument("--stride", type=int, default=30)
    ap.add_argument("--grid", type=float, nargs="*", default=[round(0.06 + 0.01 * i, 2) for i in range(16)])
    ap.add_argument("--refit", type=float, nargs="*", default=[0.09, 0.10, 0.12, 0.134])
    args = ap.parse_args()
    from sim2real.ident import lsq

    a = json.loads(args.calibration.read_text())
    params, cont = searched(a)
    rep = replay_of(a, args.data, args.task, args.horizon, args.stride)
    est = minimum(a, params)
    f0 = lsq.fit(rep, est, cont, 0.0, 1)
    g = cont.index("actuator_gain_scale")
    print(f"search minimum, one iteration on: rms {f0.rms:.4f}, " + ", ".join(f"{p} {f0.values[p]:.4f}" for p in cont))
    errs = rep.batch([{**f0.values, "actuator_deadzone": float(x)} for x in args.grid])
    print("deadzone  held rms  re-fitted rms (linearised)  re-fitted gain")
    for x, e in zip(args.grid, errs, strict=True):
        d = np.linalg.lstsq(f0.jacobian, -e.residuals, rcond=1e-8)[0]
        r = e.residuals + f0.jacobian @ d
        print(f"{x:8.3f}  {e.rms:8.4f}  {np.sqrt(r @ r):26.4f}  {f0.values['actuator_gain_scale'] + d[g]:14.3f}")
    for x in args.refit:
        f = lsq.fit(rep, {**f0.values, "actuator_deadzone": x}, cont, 0.0)
        vals = ", ".join(f"{p} {f.values[p]:.4f}" for p in cont)
        print(f"full re-fit from deadzone {x:g}: rms {f.rms:.4f}, {vals} ({f.replays} replays)")


if __name__ == "__main__":
    main()
