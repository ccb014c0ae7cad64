"""Identification experiments against task logs: what calibration recovers from the task's excitation routine
and from the scripted controller's own motions, on named target profiles, with the design step's prediction.

For each profile and each source (``excite``: ``sim2real collect policy=excite action_noise=0``; ``scripted``:
the task's controller with 0.1 exploration noise), ``--episodes`` episodes are logged on the profile (its
noise, bias, latency and deadzone included), then ``sim2real calibrate params=[...]`` estimates the parameters.
The profile's true values are read from the dataset's episode metadata *here only*, to score the estimates.
``sim2real design`` first predicts, from the simulator alone at the profile's values, each source's relative
std (and the episodes that would reach 10 %). Runs ``--jobs`` (2) jobs at a time.

    .venv/bin/python benchmarks/identification.py --task navigate --profiles real heavy slippery \\
        --params actuator_gain_scale mass_scale damping_scale action_latency

``--excite <design candidate>`` (``excite:multisine``, ``excite@0.25``) collects that routine instead of the task's
(the one ``sim2real design`` ranks first for the profile).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def cli(*cmd: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sim2real.commands.cli", *cmd], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def excite_overrides(candidate: str) -> list[str]:
    """``collect`` overrides for a design candidate name (``excite``, ``excite:<signal>``, ``...@<amplitude>``)."""
    from sim2real.ident.design import parse_candidate

    _, signal, amplitude = parse_candidate(candidate)
    out = [f"excite.signal={signal}"] if signal is not None else []
    return out + ([f"excite.amplitude={amplitude}"] if amplitude is not None else [])


def one(task: str, profile: str, source: str, args: argparse.Namespace) -> dict:
    out = args.out / task / profile / source
    data = args.out / "data" / f"{task}-{profile}-{source}-v0"
    noise = "0" if source == "excite" else str(args.action_noise)
    collect_s = cli(
        "collect",
        f"policy={source}",
        f"task={task}",
        f"dynamics={profile}",
        f"episodes={args.episodes}",
        f"action_noise={noise}",
        f"seed={args.seed}",
        f"out={data}",
        f"hydra.run.dir={out / 'collect'}",
        *(excite_overrides(args.excite) if source == "excite" else []),
    )
    params = "[" + ",".join(args.params) + "]"
    cal_s = cli(
        "calibrate",
        f"data={data}",
        f"params={params}",
        f"seed={args.seed}",
        f"budget={args.budget}",
        f"horizon={args.horizon}",
        f"stride={args.stride}",
        f"bootstrap={args.bootstrap}",
        f"newton_rounds={args.newton_rounds}",
        f"restarts={args.restarts}",
        f"hydra.run.dir={out / 'calibrate'}",
    )
    from sim2real.data.datasets import read

    result = json.loads((out / "calibrate" / "calibration.json").read_text())
    true = read(data, task).true_dynamics[0]  # scoring only
    return {
        "profile": profile,
        "source": source,
        "result": result,
        "true": true,
        "collect_s": collect_s,
        "calibrate_s": cal_s,
    }


def predict(task: str, profile: str, args: argparse.Namespace) -> dict:
    out = args.out / task / profile / "design"
    params = "[" + ",".join(p for p in args.params if p != "action_latency") + "]"
    s = cli(
        "design",
        f"task={task}",
        f"dynamics={profile}",
        f"params={params}",
        "candidates=[" + ",".join(args.design_candidates) + "]",
        f"episodes={args.design_episodes}",
        f"horizon={args.horizon}",
        f"stride={args.stride}",
        f"hydra.run.dir={out}",
    )
    return {"profile": profile, "design": json.loads((out / "design.json").read_text()), "seconds": s}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--task", default="navigate")
    ap.add_argument("--profiles", nargs="+", default=["real"])
    ap.add_argument("--sources", nargs="+", default=["excite", "scripted"])
    ap.add_argument("--params", nargs="+", default=["actuator_gain_scale", "mass_scale"])
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--design-episodes", type=int, default=8)
    ap.add_argument("--design-candidates", nargs="+", default=["excite", "scripted"], help="sim2real design candidates")
    ap.add_argument("--excite", default="excite", help="the routine collected, as a design candidate name")
    ap.add_argument("--action-noise", type=float, default=0.1)
    ap.add_argument("--budget", type=int, default=200)
    ap.add_argument("--horizon", type=int, default=10, help="calibrate/design horizon (control steps)")
    ap.add_argument("--stride", type=int, default=20, help="calibrate/design stride (control steps)")
    ap.add_argument("--bootstrap", type=int, default=0, help="simulated twins calibrated per calibration (0: off)")
    ap.add_argument("--newton-rounds", type=int, default=4, help="calibrate's newton_rounds (1: before this option)")
    ap.add_argument("--restarts", type=int, default=1, help="calibrate's restarts (CMA-ES runs, the lowest kept)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("runs/bench/identification"))
    ap.add_argument("--jobs", type=int, default=2, help="parallel jobs (one per core)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    jobs = [(p, s) for p in args.profiles for s in args.sources]
    with ThreadPoolExecutor(args.jobs) as pool:
        designs = list(pool.map(lambda p: predict(args.task, p, args), args.profiles))
        outs = list(pool.map(lambda j: one(args.task, j[0], j[1], args), jobs))
    print(
        f"task {args.task}: {args.episodes} episodes per source, CMA-ES budget {args.budget}, seed {args.seed},"
        f" horizon {args.horizon}, stride {args.stride}, bootstrap {args.bootstrap},"
        f" Newton rounds {args.newton_rounds}, restarts {args.restarts}, routine {args.excite}"
    )
    for d in designs:
        n = d["design"]["episodes_simulated"]
        print(
            f"\n== design ({d['profile']}, {n} simulated episodes, {d['seconds']:.0f} s): "
            f"std at {args.episodes} episodes"
        )
        for row in d["design"]["ranked"]:
            k = d["design"]["episodes_simulated"] / args.episodes
            cells = [f"{p} {v['rel_std'] * math.sqrt(k):.1%}" for p, v in row["parameters"].items()]
            print(f"  {row['candidate']:9s} " + "; ".join(cells))
            for f in row["flat_directions"]:
                print(f"  {'':9s} flat: {f['direction']}")
    for o in outs:
        r = o["result"]
        print(
            f"\n== {o['profile']} / {o['source']}: replay error {r['replay_error_before']:.3f} -> "
            f"{r['replay_error_after']:.3f}; collect {o['collect_s']:.0f} s, calibrate {o['calibrate_s']:.0f} s"
        )
        boot = r.get("bootstrap", {})
        if boot.get("replicates"):
            twin = boot["twin_replay_error"]
            print(
                f"bootstrap: {boot['replicates']} twins; matched action noise {boot['action_noise_std']:.3f}; replay"
                f" error of the data {boot['data_replay_error']:.3f}, of the twins at their fits"
                f" {min(twin):.3f}-{max(twin):.3f} (without action noise"
                f" {boot['twin_replay_error_without_action_noise']:.3f})"
            )
        print(
            f"{'parameter':22s} {'true':>7s} {'estimate':>9s} {'std':>7s} {'error':>7s} {'err/std':>7s}"
            f" {'uncorr.':>8s} {'bias':>7s}  identified"
        )
        for p in args.params:
            est, t, std = r["estimate"][p], o["true"].get(p, math.nan), r["std"][p]
            absolute = p in ("action_latency", "actuator_deadzone", "payload_mass")
            err = est - t if absolute else (est / t - 1 if t else math.nan)
            fmt = f"{err:+7.3f}" if absolute else f"{err:+7.1%}"
            z = (est - t) / std if std and math.isfinite(std) else math.nan
            row = r["parameters"][p]
            unc, bias = row.get("estimate_uncorrected", math.nan), row.get("bootstrap_bias", math.nan)
            print(
                f"{p:22s} {t:7.3f} {est:9.3f} {std:7.3f} {fmt} {z:+7.2f} {unc:8.3f} {bias:+7.3f}  {r['identified'][p]}"
            )
        for p in ("obs_noise_std", "obs_bias"):  # measured from kinematic consistency, not searched
            if p in r["estimate"]:
                est, t = r["estimate"][p], o["true"].get(p, math.nan)
                print(f"{p:22s} {t:7.3f} {est:9.3f} {'':>7s} {est / t - 1 if t else math.nan:+7.1%}  (measured)")
        for c in r.get("flat_directions", []):
            print(f"  flat (not identifiable): {c['direction']}")
        for c in r.get("identified_combinations", []):
            print(f"  identifiable combination: {c['direction']} (std {c['std']:.1%})")
    print(f"\nwall-clock {time.perf_counter() - t0:.0f} s")
    summary = {"designs": designs, "calibrations": outs}
    (args.out / f"{args.task}-summary.json").write_text(json.dumps(summary, indent=2, default=str))


if __name__ == "__main__":
    main()
