"""The scripted controllers' success rates: proof that a task is solvable, and how much a demonstrator loses
under randomisation and on the target profiles. Test episode seeds (as the published tables), one process.

    .venv/bin/python benchmarks/scripted.py --task panda_lift [--episodes 100]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import sim2real.envs  # noqa: F401
from sim2real.envs.scripted import scripted_policy

from sim2real.learn.vec import SEED_RANGES, make_env


def success_rate(task: str, episodes: int, randomization: str | None, dynamics: str | None) -> tuple[float, int, float]:
    """Success rate, physics blow-ups, seconds."""
    env = make_env(task, randomization, dynamics)
    ctl = scripted_policy(env)
    wins = unstable = 0
    t0 = time.perf_counter()
    for k in range(episodes):
        obs, _ = env.reset(seed=SEED_RANGES["test"] + k)
        ctl.reset()
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(ctl(obs))
            done = terminated or truncated
        wins += bool(info.get("is_success"))
        unstable += bool(info.get("physics_unstable"))
    return wins / episodes, unstable, time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="panda_lift")
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--profiles", nargs="*", default=["nominal", "default", "real"])
    args = parser.parse_args()
    print(f"task={args.task}: scripted controller, {args.episodes} test episodes each")
    for name in args.profiles:
        rand, dyn = ("default", None) if name == "default" else (None, None if name == "nominal" else name)
        rate, unstable, secs = success_rate(args.task, args.episodes, rand, dyn)
        se = np.sqrt(rate * (1 - rate) / args.episodes)
        print(f"{name:10s} success {rate:6.1%} (+- {se:.1%} s.e.)  physics blow-ups {unstable:3d}  {secs:5.1f} s")


if __name__ == "__main__":
    main()
