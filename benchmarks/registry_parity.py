"""The built-in tasks through the task registry give the shipped numbers: each shipped policy re-evaluated with
``ship.py``'s protocol (100 test episodes, evaluation seed 0, on nominal, the default randomisation and
``real``) and compared with the ``shipped_evaluation`` recorded in its ``run.json``.

    .venv/bin/python benchmarks/registry_parity.py [--names navigate-dr grasp-dr] > docs/benchmarks/registry_parity.txt
"""

from __future__ import annotations

import argparse

from sim2real.learn.runs import resolve_policy
from sim2real.learn.ship import evaluate_everywhere


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--names", nargs="+", default=["navigate-dr", "grasp-dr"])
    args = ap.parse_args()
    for name in args.names:
        src = resolve_policy(name)
        now, shipped = evaluate_everywhere(src.path, 100), src.meta["shipped_evaluation"]
        for target, ev in now.items():
            old = shipped[target]
            same = ev["success_rate"] == old["success_rate"] and abs(ev["mean_return"] - old["mean_return"]) < 1e-9
            print(
                f"{name:14s} {target:22s} success now {ev['success_rate']:.2f} shipped {old['success_rate']:.2f}; "
                f"return now {ev['mean_return']:.6f} shipped {old['mean_return']:.6f}; "
                + ("same" if same else "DIFFERENT")
            )


if __name__ == "__main__":
    main()
