"""Calibration cost, before and after, on the same data: the README's ``navigate_v1`` ``real`` row.

Collects 20 excitation episodes on ``navigate_v1`` ``real`` (``sim2real collect policy=excite action_noise=0
seed=0``, as ``benchmarks/identification.py`` does) once, then calibrates them:

- **after**: today's ``sim2real calibrate`` (batched ``mujoco.rollout`` replays, the least-squares solver);
- **before** (``--before <commit>``): ``sim2real.data.calibrate.calibrate`` of that commit, run from a git worktree
  of it on the same dataset, with ``mujoco.mj_step`` counted (every physics step, restores and twins included);
- **thread scaling**: one batched replay of ``--candidates`` candidates on 1 and on 2 threads, best of 3.

Prints each run's estimates against the profile's true values (read from the dataset here only, to score), the
replays and MuJoCo steps spent and the wall-clock. A finished run's record is kept in ``--out`` (``before.json``,
``after.json``) and reused unless ``--fresh``; the printed table says when each was measured.

    .venv/bin/python benchmarks/calibration_speed.py --before b00dedb
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARAMS = ["actuator_gain_scale", "mass_scale", "damping_scale", "friction_scale", "actuator_deadzone", "action_latency"]

BEFORE = r"""
import json, sys, time, mujoco
count = [0]
step = mujoco.mj_step
def counted(m, d, nstep=1):
    count[0] += nstep
    return step(m, d, nstep=nstep)
mujoco.mj_step = counted
from sim2real.data.calibrate import calibrate
from sim2real.data.datasets import read
data, params, budget, bootstrap = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3]), int(sys.argv[4])
t0 = time.perf_counter()
r = calibrate(read(data, "navigate_v1"), params, budget, 0, 30, 30, 1e-5, None, bootstrap)
r["bench"] = {"wall_s": time.perf_counter() - t0, "mujoco_steps": count[0]}
print(json.dumps(r))
"""


def sh(*cmd: str, env: dict | None = None, cwd: Path = ROOT) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, env=env, cwd=cwd).stdout


def collect(out: Path, episodes: int) -> Path:
    data = out / "data" / f"navigate_v1-real-excite{episodes}-v0"
    if not data.exists():
        sh(
            sys.executable, "-m", "sim2real.commands.cli", "collect", "policy=excite", "task=navigate_v1",
            "dynamics=real", f"episodes={episodes}", "action_noise=0", "seed=0", f"out={data}",
            f"hydra.run.dir={out / 'collect'}",
        )  # fmt: skip
    return data


def after(data: Path, out: Path, args: argparse.Namespace) -> dict:
    t0 = time.perf_counter()
    sh(
        sys.executable, "-m", "sim2real.commands.cli", "calibrate", f"data={data}", "params=[" + ",".join(PARAMS) + "]",
        f"budget={args.budget}", "horizon=30", "stride=30", f"bootstrap={args.bootstrap}", "seed=0",
        f"hydra.run.dir={out / 'after'}",
    )  # fmt: skip
    r = json.loads((out / "after" / "calibration.json").read_text())
    r["bench"] = {"wall_s": time.perf_counter() - t0, "mujoco_steps": r["cost"]["total"]["mujoco_steps"]}
    return r


def before(data: Path, commit: str, args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "before"
        sh("git", "worktree", "add", "--detach", str(tree), commit)
        try:
            env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
            outp = sh(
                sys.executable, "-c", BEFORE, str(data.resolve()), ",".join(PARAMS), str(args.budget),
                str(args.bootstrap), env=env, cwd=tree,
            )  # fmt: skip
        finally:
            sh("git", "worktree", "remove", "--force", str(tree))
    r = json.loads(outp.strip().splitlines()[-1])
    r["bench"]["commit"] = commit
    return r


def scaling(data: Path, args: argparse.Namespace) -> dict:
    from sim2real.data.datasets import read
    from sim2real.ident.rollout import BatchedReplay

    logged = read(data, "navigate_v1")
    cands = [{"mass_scale": 1.0 + 0.05 * i, "action_latency": 2} for i in range(args.candidates)]
    out = {}
    for threads in (1, 2):
        rep = BatchedReplay(logged, 30, 30, threads=threads)
        rep.batch(cands[:1])
        best = min(_timed(rep, cands) for _ in range(3))
        out[threads] = best
    steps = args.candidates * int(rep.lengths.sum()) * rep.frame_skip
    return {"one_thread_s": out[1], "two_threads_s": out[2], "speed_up": out[1] / out[2], "mujoco_steps": steps,
            "raw_replay_s": raw_physics(rep)}  # fmt: skip


def raw_physics(rep) -> float:
    """This machine's speed: one replay's worth of plain ``mj_step`` (the data's control steps x frame_skip,
    sensors off as the batched rollout runs them) on one thread, best of 3, in s. The issue measured 0.75 s."""
    import mujoco

    from sim2real.ident.rollout import physics

    model, _ = physics(rep.env)
    model = copy.copy(model)
    model.opt.disableflags |= int(mujoco.mjtDisableBit.mjDSBL_SENSOR)
    data = mujoco.MjData(model)
    n = int(rep.lengths.sum()) * rep.frame_skip
    best = float("inf")
    for _ in range(3):
        mujoco.mj_resetData(model, data)
        mujoco.mj_forward(model, data)
        t0 = time.perf_counter()
        mujoco.mj_step(model, data, nstep=n)
        best = min(best, time.perf_counter() - t0)
    return best


def _timed(rep, cands) -> float:
    t0 = time.perf_counter()
    rep.batch(cands)
    return time.perf_counter() - t0


def table(name: str, r: dict, true: dict) -> None:
    b = r["bench"]
    print(
        f"\n== {name}: {b['wall_s']:.0f} s, {b['mujoco_steps']:,} MuJoCo steps,"
        f" replay error {r['replay_error_after']:.3f}"
    )
    if "cost" in r:
        for phase, c in r["cost"]["phases"].items():
            print(
                f"   {phase:12s} {c['replays']:5d} replays {c['mujoco_steps']:>12,} MuJoCo steps {c['wall_s']:7.1f} s"
            )
        print(f"   misfit: {r['misfit']} (ratio {r['misfit_ratio']:.2f})")
    print(
        f"   {'parameter':22s} {'true':>7s} {'estimate':>9s} {'std':>7s} {'error':>7s} {'err/std':>7s} identified"
        "   (mujoco.sysid: std  err/std)"
    )

    def z(err: float, std: float) -> str:
        return f"{err / std:+.2f}" if std == std and 0 < std < float("inf") else "   -"

    for p in PARAMS:
        est, std = r["estimate"][p], r["std"][p]
        err = est - true[p]
        rel = f"{err / true[p]:+.1%}" if true[p] else f"{err:+.3f}"
        line = f"   {p:22s} {true[p]:7.3f} {est:9.4f} {std:7.4f} {rel:>7s} {z(err, std):>7s} {r['identified'][p]!s:10s}"
        sysid = r.get("parameters", {}).get(p, {}).get("std_sysid", float("nan"))
        if sysid == sysid:  # the toolbox's std about the same (uncorrected) minimum
            unc = r["parameters"][p].get("estimate_uncorrected", est) - true[p]
            line += f"   {sysid:7.4f} {z(unc, sysid):>7s}"
        print(line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--before", help="the commit whose calibration is 'before' (e.g. b00dedb)")
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--budget", type=int, default=400)
    ap.add_argument("--bootstrap", type=int, default=12)
    ap.add_argument("--candidates", type=int, default=8, help="candidates of the thread-scaling batch")
    ap.add_argument("--only", choices=["before", "after", "scaling"], nargs="+", default=["scaling", "after", "before"])
    ap.add_argument("--fresh", action="store_true", help="rerun what --out already holds")
    ap.add_argument("--out", type=Path, default=Path("runs/bench/calibration_speed"))
    args = ap.parse_args()
    os.environ["OMP_NUM_THREADS"] = "1"
    args.out.mkdir(parents=True, exist_ok=True)
    data = collect(args.out, args.episodes)
    from sim2real.data.datasets import read

    true = read(data, "navigate_v1").true_dynamics[0]  # scoring only
    results = {}
    for what in args.only:
        path = args.out / f"{what}.json"
        if path.exists() and not args.fresh:
            results[what] = json.loads(path.read_text())
            continue
        if what == "before" and not args.before:
            continue
        t0 = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        r = {"scaling": lambda: scaling(data, args), "after": lambda: after(data, args.out, args),
             "before": lambda: before(data, args.before, args)}[what]()  # fmt: skip
        r["measured"] = t0
        path.write_text(json.dumps(r))
        results[what] = r
    print(f"navigate_v1 real, {args.episodes} excitation episodes, horizon 30, stride 30, bootstrap {args.bootstrap}")
    if "scaling" in results:
        s = results["scaling"]
        print(
            f"\nthread scaling ({args.candidates} candidates, {s['mujoco_steps']:,} MuJoCo steps, best of 3,"
            f" measured {s['measured']}): 1 thread {s['one_thread_s']:.2f} s, 2 threads {s['two_threads_s']:.2f} s,"
            f" {s['speed_up']:.2f}x"
        )
        if "raw_replay_s" in s:
            print(f"machine speed: one replay's plain mj_step (sensors off, one thread) {s['raw_replay_s']:.2f} s")
    for what in ("before", "after"):
        if what in results:
            table(f"{what} (measured {results[what]['measured']})", results[what], true)
    if "before" in results and "after" in results:
        b, a = results["before"]["bench"], results["after"]["bench"]
        print(
            f"\nafter / before: wall-clock {a['wall_s']:.0f} / {b['wall_s']:.0f} s ({b['wall_s'] / a['wall_s']:.1f}x"
            f" faster), MuJoCo steps {a['mujoco_steps']:,} / {b['mujoco_steps']:,}"
            f" ({b['mujoco_steps'] / a['mujoco_steps']:.1f}x fewer)"
        )
        print("after against before (goal: within 1 % of before's estimate, or within after's own std):")
        ra, rb = results["after"], results["before"]
        for p in PARAMS:
            ea, eb, sa = ra["estimate"][p], rb["estimate"][p], ra["std"].get(p, float("nan"))
            rel = abs(ea - eb) / abs(eb) if eb else float("inf")
            z = abs(ea - eb) / sa if sa == sa and sa > 0 else float("nan")
            ok = rel <= 0.01 or z <= 1.0
            verdict = "met" if ok else "NOT met"
            print(f"   {p:22s} {eb:8.4f} -> {ea:8.4f}  {rel:6.1%} apart, {z:5.2f} of after's std  {verdict}")


if __name__ == "__main__":
    main()
