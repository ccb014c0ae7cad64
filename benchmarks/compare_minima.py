"""Two calibrations of the same data side by side: how much lower one's minimum is, in chi-square units, and
what each spent. For a search change tried on development profiles (``docs/benchmarks/polish_dev.txt``): the
``calibration.json`` of each profile is found under ``<dir>/<profile>/`` (``benchmarks/identification_coverage.py``
writes ``<profile>/calibrate/``, ``benchmarks/solver_tolerance.py`` ``<profile>/xtol<x>/``).

    .venv/bin/python benchmarks/compare_minima.py --base <solver_tolerance out> --base-run xtol0.001 \\
        --new <identification_coverage out> --profiles hold_g hold_h hold_i cov_b
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def load(root: Path, profile: str, run: str) -> dict:
    return json.loads((root / profile / run / "calibration.json").read_text())


def main() -> None:
    from sim2real.ident.uncertainty import chi2_rise

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--base", type=Path, required=True)
    ap.add_argument("--base-run", default="calibrate", help="the run's folder under <base>/<profile>/")
    ap.add_argument("--new", type=Path, required=True)
    ap.add_argument("--new-run", default="calibrate")
    ap.add_argument("--profiles", nargs="+", required=True)
    args = ap.parse_args()
    print("profile   base minimum (replays)   new minimum (replays)   new below base   replays new/base")
    for p in args.profiles:
        a, b = load(args.base, p, args.base_run), load(args.new, p, args.new_run)
        segments = b["replay"]["segments"]
        ra, rb = (r["cost"]["total"]["replays"] for r in (a, b))
        ea, eb = a["replay_error_after"], b["replay_error_after"]  # the minimum's, before the bootstrap's shift
        print(f"{p:8s}  {ea:.4f} ({ra:4d})            {eb:.4f} ({rb:4d})           "
              f"{chi2_rise(ea**2, eb**2, segments):+6.2f} chi2      {rb / ra:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
