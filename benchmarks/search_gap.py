"""Does the search stop above a lower minimum? Each calibration's minimum against a least-squares fit from the truth.

For each ``calibration.json`` of ``benchmarks/identification_coverage.py`` (``<out>/<profile>/calibrate/...``) or
of ``benchmarks/solver_tolerance.py`` (``<out>/<profile>/xtol<x>/...``), on a development profile (the truth is
read from that file's profile table, to score): the replay error at the search's minimum (the estimate before the
bootstrap's shift), at the truth (the continuous parameters; the deadzone and latency as found), and after a
least-squares fit started at the truth; then how far the search's minimum lies above that fit, in chi-square
units (``uncertainty.chi2_rise``). A positive figure above one is a lower minimum the search missed.

``--start-from <calibration.json>`` starts the fit from that file's minimum instead of the truth (any profile: the
README's ``real`` row against the old method's answer, ``benchmarks/calibration_speed.py``'s ``before.json``).

    .venv/bin/python benchmarks/search_gap.py runs/bench/solver_tolerance/*/xtol0.001/calibration.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from identification_coverage import ALL, TASK  # noqa: E402


def searched(result: dict) -> tuple[list[str], list[str]]:
    """A ``calibration.json``'s searched parameters, and the continuous ones among them (not the latency, not a
    threshold: what the least-squares fit moves)."""
    from sim2real.ident.space import PRIOR
    from sim2real.ident.uncertainty import THRESHOLDS

    params = [p for p in result["params"] if p in PRIOR]  # the measured noise and bias are not searched
    return params, [p for p in params if p != "action_latency" and p not in THRESHOLDS]


def minimum(result: dict, names: list[str]) -> dict[str, float]:
    """The search's minimum of ``names``: each estimate before the bootstrap's shift."""
    return {p: result["parameters"][p].get("estimate_uncorrected", result["estimate"][p]) for p in names}


def replay_of(result: dict, data: Path, task: str, horizon: int = 30, stride: int = 30, threads: int | None = None):
    """A batched replay of ``data`` as the calibration saw it: its measured noise and bias held fixed."""
    from sim2real.data.datasets import read
    from sim2real.ident.rollout import BatchedReplay

    params, _ = searched(result)
    fixed = {k: v for k, v in result["estimate"].items() if k not in params}
    return BatchedReplay(read(data, task), horizon, stride, fixed=fixed, threads=threads)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("calibrations", type=Path, nargs="+")
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--start-from", type=Path, help="a calibration.json whose minimum the fit starts from")
    args = ap.parse_args()
    from sim2real.ident import lsq
    from sim2real.ident.uncertainty import chi2_rise

    other = json.loads(args.start_from.read_text()) if args.start_from else None
    for cal in args.calibrations:
        a = json.loads(cal.read_text())
        profile = next((p for p in cal.parts if p in ALL), cal.parent.name)
        data = next(cal.parent.parent.glob("data/*-v0"))
        params, cont = searched(a)
        rep = replay_of(a, data, TASK, threads=args.threads)
        found = minimum(a, params)
        if other is not None:
            start = minimum(other, cont)
            name = str(args.start_from)
        else:
            start = {p: float(ALL[profile][0].get(p, 1.0)) for p in cont}
            name = "the truth"
        at_start = {**found, **start}
        e_found, e_start = rep.batch([found, at_start])
        fit = lsq.fit(rep, at_start, cont, 0.0)
        rise = chi2_rise(e_found.rms**2, fit.rms**2, rep.n_segments)
        print(
            f"{profile:8s} misfit {a['misfit']!s:5s}  search {e_found.rms:.4f}  {name} {e_start.rms:.4f}"
            f"  fit from {name} {fit.rms:.4f}  the search above it by {rise:5.2f} chi-square units"
        )


if __name__ == "__main__":
    main()
