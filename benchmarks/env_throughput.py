"""Env throughput against raw MuJoCo, measured side by side in one run.

For each task, nominal and randomised (``randomization="default"``), with uniform random actions and
resets included:

- env steps/s and physics steps/s (env steps/s x substeps per control step);
- raw ``mujoco.mj_step`` on the same model, called once per physics step from Python (as
  ``../shared/checks/env_contract.py`` does), two ways: (a) from a fresh ``MjData`` at rest and
  (b) replaying the control inputs the env sent, each episode from the env's start state and with that
  episode's dynamics values, so the contacts and joint limits match the env's;
- the ratios env / raw. Each figure is the median of ``--repeats`` runs of ``--steps`` control steps.

    .venv/bin/python benchmarks/env_throughput.py [--steps 2000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import mujoco
import numpy as np
import sim2real.envs  # noqa: F401

from sim2real.sim import tasks


def episode_start(env: gym.Env) -> tuple:
    """The state and dynamics values an episode starts from (after ``reset``)."""
    u = env.unwrapped
    return u.data.qpos.copy(), u.data.qvel.copy(), dict(tasks.core(env).dynamics_values)


def measure(env_id: str, kwargs: dict, steps: int, repeats: int) -> dict[str, float]:
    env = gym.make(env_id, **kwargs)
    u = env.unwrapped
    env.reset(seed=0)
    env.action_space.seed(0)
    actions = [env.action_space.sample() for _ in range(steps)]
    substeps = u.frame_skip
    env_rates, rest_rates, replay_rates = [], [], []
    for _ in range(repeats):
        ctrls = []
        t = time.perf_counter()
        for a in actions:
            _, _, terminated, truncated, _ = env.step(a)
            if terminated or truncated:
                env.reset()
        env_rates.append(steps / (time.perf_counter() - t))
        # record the controls the env produced, and each episode's start (state and dynamics), outside the timed loop
        starts = {}
        env.reset(seed=1)
        starts[0] = episode_start(env)
        for k, a in enumerate(actions):
            _, _, terminated, truncated, _ = env.step(a)
            ctrls.append(u.data.ctrl.copy())
            if terminated or truncated:
                env.reset()
                starts[k + 1] = episode_start(env)
        model = u.model
        data = mujoco.MjData(model)
        t = time.perf_counter()
        for _ in range(steps * substeps):
            mujoco.mj_step(model, data)
        rest_rates.append(steps * substeps / (time.perf_counter() - t))
        data = mujoco.MjData(model)
        core = tasks.core(env)
        t = time.perf_counter()
        for k, c in enumerate(ctrls):
            if k in starts:  # the same workload: each episode from the env's start state, with its dynamics
                qpos, qvel, values = starts[k]
                core.set_values(values)
                data.qpos[:], data.qvel[:] = qpos, qvel
            data.ctrl[:] = c
            for _ in range(substeps):
                mujoco.mj_step(model, data)
        replay_rates.append(steps * substeps / (time.perf_counter() - t))
    env_sps = float(np.median(env_rates))
    return {
        "env_steps_s": env_sps,
        "physics_steps_s": env_sps * substeps,
        "raw_rest_s": float(np.median(rest_rates)),
        "raw_replay_s": float(np.median(replay_rates)),
        "substeps": substeps,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{args.steps} control steps x {args.repeats} repeats, medians; one process, one thread")
    header = (
        f"{'task':9s} {'dynamics':10s} {'env steps/s':>11s} {'physics/s':>10s} {'raw rest/s':>10s} "
        f"{'ratio':>6s} {'raw replay/s':>12s} {'ratio':>6s}"
    )
    print(header)
    for task in [t for t in tasks.names() if tasks.get(t).entry_point and tasks.packaged(t)]:
        env_id = tasks.env_id(task)
        for label, kwargs in (("nominal", {}), ("randomised", {"randomization": "default"})):
            r = measure(env_id, kwargs, args.steps, args.repeats)
            print(
                f"{task:9s} {label:10s} {r['env_steps_s']:11.0f} {r['physics_steps_s']:10.0f} "
                f"{r['raw_rest_s']:10.0f} {r['physics_steps_s'] / r['raw_rest_s']:6.0%} "
                f"{r['raw_replay_s']:12.0f} {r['physics_steps_s'] / r['raw_replay_s']:6.0%}"
            )


if __name__ == "__main__":
    main()
