"""Deploy-path latency, side by side in one run: bundle inference (onnxruntime, one thread) against
SB3 ``model.predict`` on the same observations, then the control loop held at a fixed rate.

    .venv/bin/python benchmarks/inference.py --policy navigate-dr [--n 5000] [--loop-steps 10000] [--rate 50]

The loop runs the bundle against a robot stub that returns recorded observations instantly, so it
measures the runtime itself (observe, inference, watchdog, clip, act, pacing) at ``--rate`` Hz.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch as th

from sim2real.deploy import Bundle, CallbackRobot, ControlLoop
from sim2real.deploy.export import export, sample_observations
from sim2real.learn.evaluate import stored_policy
from sim2real.learn.runs import resolve_policy


def timed(fn, inputs: np.ndarray) -> np.ndarray:
    out = []
    for x in inputs:
        t = time.perf_counter()
        fn(x)
        out.append((time.perf_counter() - t) * 1e6)
    return np.array(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", default="navigate-dr")
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--loop-steps", type=int, default=10000)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    th.set_num_threads(1)
    src = resolve_policy(args.policy)
    with tempfile.TemporaryDirectory() as tmp:
        meta = export(args.policy, Path(tmp) / "bundle")
        bundle = Bundle.load(Path(tmp) / "bundle")
        obs = sample_observations(src.task, args.n, seed=1)
        sb3 = stored_policy(src)
        for fn in (bundle, sb3):  # warm-up
            timed(fn, obs[:200])
        ort_us, sb3_us = timed(bundle, obs), timed(sb3, obs)
        print(
            f"policy {args.policy} ({src.task}, {src.algo}), {args.n} observations, one thread; "
            f"export parity {meta['parity_max_abs_diff']:.1e}"
        )
        print(f"{'':22s} {'p50 us':>8s} {'p99 us':>8s} {'mean us':>8s}")
        for name, v in (("bundle (onnxruntime)", ort_us), ("SB3 model.predict", sb3_us)):
            print(f"{name:22s} {np.percentile(v, 50):8.1f} {np.percentile(v, 99):8.1f} {v.mean():8.1f}")
        print(f"speed-up at p50: {np.percentile(sb3_us, 50) / np.percentile(ort_us, 50):.1f}x")
        i = [0]

        def observe() -> np.ndarray:
            i[0] += 1
            return obs[i[0] % len(obs)]

        loop = ControlLoop(bundle, CallbackRobot(observe, lambda a: None, lambda: None), rate_hz=args.rate)
        s = loop.run(args.loop_steps, realtime=True).summary()
        print(
            f"control loop at {args.rate:g} Hz for {s['steps']} steps: deadline misses {s['deadline_misses']}, "
            f"late ticks {s['late_ticks']}, faults {s['faults']}; jitter p50 {s['jitter_us']['p50']:.0f} us, "
            f"p99 {s['jitter_us']['p99']:.0f} us, max {s['jitter_us']['max']:.0f} us; inference p99 "
            f"{s['latency_us']['p99']:.0f} us"
        )


if __name__ == "__main__":
    main()
