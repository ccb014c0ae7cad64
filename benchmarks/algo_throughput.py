"""Training throughput of PPO and SAC on each task, side by side in one run (one process, one torch thread).

Env steps per second of ``model.learn`` with the project's algo configs (PPO: 8 envs, n_steps 256,
10 epochs; SAC: 1 env, one gradient step per env step), randomised sim, no evaluation.

    .venv/bin/python benchmarks/algo_throughput.py [--ppo-steps 16384] [--sac-steps 3000]
"""

from __future__ import annotations

import argparse
import time

import torch as th
from hydra import compose, initialize_config_module

from sim2real.learn.config import build_spec
from sim2real.learn.train import build_model
from sim2real.learn.vec import make_vec_env, normalize


def rate(task: str, algo: str, steps: int) -> float:
    with initialize_config_module(config_module="sim2real.configs", version_base="1.3"):
        cfg = compose(
            "train",
            overrides=[f"task={task}", f"algo={algo}", "out_dir=/tmp/sim2real-throughput"]
            + (["n_envs=1"] if algo == "sac" else []),
        )
    spec = build_spec(cfg)
    norm = normalize(
        make_vec_env(task, spec.n_envs, 0, spec.randomization, spec.dynamics), spec.gamma, spec.norm_reward
    )
    model = build_model(spec, norm)
    if algo == "sac":
        model.learn(model.learning_starts)  # fill the warm-up buffer outside the timed part
    t = time.perf_counter()
    model.learn(steps, reset_num_timesteps=False)
    return steps / (time.perf_counter() - t)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ppo-steps", type=int, default=16384)
    parser.add_argument("--sac-steps", type=int, default=3000)
    args = parser.parse_args()
    th.set_num_threads(1)
    budget = f"PPO {args.ppo_steps} steps, SAC {args.sac_steps} after warm-up"
    print(f"{'task':9s} {'algo':4s} {'env steps/s':>11s}  ({budget})")
    for task in ("navigate", "grasp"):
        for algo, steps in (("ppo", args.ppo_steps), ("sac", args.sac_steps)):
            print(f"{task:9s} {algo:4s} {rate(task, algo, steps):11.0f}", flush=True)


if __name__ == "__main__":
    main()
