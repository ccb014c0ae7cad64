"""The dynamics layer's cost on stock Gymnasium envs: steps/s of the bare env against the same env as a
sim2real task (DynamicsWrapper: randomisation resampled at every reset, the blow-up and NaN-action guards,
the action/observation channels when active), side by side in one run, interleaved, medians of repeats.

    .venv/bin/python benchmarks/wrapper_overhead.py [--steps 5000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import sim2real.envs  # noqa: F401

from sim2real.sim import tasks


def rate(env: gym.Env, steps: int, seed: int) -> float:
    """Env steps/s with uniform random actions, resets included."""
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    low, high = env.action_space.low, env.action_space.high
    actions = rng.uniform(low, high, size=(steps, *low.shape)).astype(np.float32)
    t = time.perf_counter()
    for a in actions:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    print(f"{args.steps} steps x {args.repeats} repeats, interleaved, medians; one process")
    print(f"{'task':8s} {'bare env/s':>10s} {'nominal/s':>10s} {'ratio':>6s} {'randomised/s':>12s} {'ratio':>6s}")
    for task in ("hopper", "pusher"):
        spec = tasks.get(task)
        envs = {
            "bare": gym.make(spec.stock),
            "nominal": tasks.make(task),
            "randomised": tasks.make(task, randomization="default"),
        }
        runs: dict[str, list[float]] = {k: [] for k in envs}
        for r in range(args.repeats):
            for k, env in envs.items():
                runs[k].append(rate(env, args.steps, r))
        med = {k: float(np.median(v)) for k, v in runs.items()}
        print(
            f"{task:8s} {med['bare']:10.0f} {med['nominal']:10.0f} {med['nominal'] / med['bare']:6.0%} "
            f"{med['randomised']:12.0f} {med['randomised'] / med['bare']:6.0%}"
        )


if __name__ == "__main__":
    main()
