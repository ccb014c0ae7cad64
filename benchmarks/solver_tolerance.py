"""How tight must the least-squares solver's stop be? Calibration at several ``xtol`` on development profiles.

Development only: the profiles are ``benchmarks/identification_coverage.py``'s ``cov_*``, ``sub_*`` and ``hold_*``
sets, which have been seen; its ``test_*`` (held out when this ran) and ``final_*`` profiles and the task's
named profiles are refused. For each
profile: 12 excitation episodes (collected once, reused), then for each ``--xtol`` one ``sim2real calibrate`` (the
coverage benchmark's settings, ``sim2real.ident.lsq.XTOL`` set to that value) in its own process. Prints the
minimum's replay error (the solver's objective), each parameter's error against the profile's truth, the
replays spent and the wall-clock, side by side. The rule it serves: a tighter stop is adopted where it lowers
the replay error on these profiles at a small cost.

    .venv/bin/python benchmarks/solver_tolerance.py --xtol 1e-3 1e-4 --profiles hold_g hold_h hold_i cov_b
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from identification_coverage import HELD, PROFILES, TASK, collect  # noqa: E402

DEV = {**PROFILES, **HELD}
RUN = (
    "import sys; import sim2real.ident.lsq as lsq; lsq.XTOL = float(sys.argv[1]);"
    " from sim2real.commands.cli import main; sys.exit(main(sys.argv[2:]))"
)


def cli(*cmd: str, xtol: float | None = None) -> float:
    t0 = time.perf_counter()
    head = ["-c", RUN, str(xtol)] if xtol is not None else ["-m", "sim2real.commands.cli"]
    subprocess.run([sys.executable, *head, *cmd], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def one(name: str, xtol: float, args: argparse.Namespace) -> dict:
    true, params = DEV[name]
    data = collect(name, args.out, args.episodes)  # main() collected it before any calibration: kept
    run = args.out / name / f"xtol{xtol:g}"
    s = cli("calibrate", f"data={data}", "params=[" + ",".join(params) + "]", "horizon=30", "stride=30",
            f"bootstrap={args.bootstrap}", "threads=1", f"hydra.run.dir={run}", xtol=xtol)  # fmt: skip
    return {"name": name, "xtol": xtol, "true": true, "params": params, "s": s,
            "result": json.loads((run / "calibration.json").read_text())}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--xtol", type=float, nargs="+", default=[1e-3, 1e-4])
    ap.add_argument("--profiles", nargs="+", default=["hold_g", "hold_h", "hold_i", "cov_b"], choices=list(DEV))
    ap.add_argument("--episodes", type=int, default=12)
    ap.add_argument("--bootstrap", type=int, default=4)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path, default=Path("runs/bench/solver_tolerance"))
    args = ap.parse_args()
    t0 = time.perf_counter()
    for name in args.profiles:
        collect(name, args.out, args.episodes)
    todo = [(n, x) for n in args.profiles for x in args.xtol]
    with ThreadPoolExecutor(args.jobs) as pool:
        runs = list(pool.map(lambda t: one(*t, args), todo))
    print(f"{TASK}: {args.episodes} excitation episodes per development profile, horizon 30, stride 30, "
          f"bootstrap {args.bootstrap}, one thread per calibration")  # fmt: skip
    for name in args.profiles:
        rows = [r for r in runs if r["name"] == name]
        params = rows[0]["params"]
        print(f"\n== {name}")
        print(f"   {'xtol':>7s} {'minimum rms':>11s} {'replays':>8s} {'wall s':>7s}  "
              + " ".join(f"{p[:14]:>14s}" for p in params))  # fmt: skip
        for r in rows:
            res, true = r["result"], r["true"]
            spent = sum(ph["replays"] for ph in res["cost"]["phases"].values())
            minimum = res["replay_error_after"]  # the minimum's, before the bootstrap's correction
            errs = []
            for p in params:
                t = float(true.get(p, 1.0 if p.endswith("_scale") else 0.0))
                e = res["estimate"][p]
                errs.append(f"{(e - t) / t:+.1%}" if t else f"{e - t:+.3f}")
            head = f"   {r['xtol']:7.0e} {minimum:11.4f} {spent:8d} {r['s']:7.0f}  "
            print(head + " ".join(f"{e:>14s}" for e in errs))
    print(f"\nwall-clock {time.perf_counter() - t0:.0f} s ({args.jobs} jobs at a time)")


if __name__ == "__main__":
    main()
