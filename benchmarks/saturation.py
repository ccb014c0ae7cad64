"""How a policy acts on a target: its PPO exploration noise (log-std per action) and the share of its actions at
the bounds, over test episodes. Diagnoses a policy that learned to push at its limits (the negative-transfer
case of the README: Hopper pretrained with actuators at 0.3x their strength).

    .venv/bin/python benchmarks/saturation.py --task hopper --dynamics real <run dir> [<run dir> ...]
"""

from __future__ import annotations

import argparse

import numpy as np

from sim2real.learn.evaluate import stored_policy
from sim2real.learn.runs import load_model, resolve_policy
from sim2real.learn.vec import EVAL_SEED_BASE
from sim2real.sim import tasks


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--task", required=True)
    ap.add_argument("--dynamics", default=None, help="a target profile of the task (default: nominal)")
    ap.add_argument("--episodes", type=int, default=5)
    args = ap.parse_args()
    for run in args.runs:
        src = resolve_policy(run)
        model = load_model(src)
        log_std = model.policy.log_std.detach().numpy() if hasattr(model.policy, "log_std") else None
        policy = stored_policy(src, model)
        at_bound, steps = 0, 0
        for k in range(args.episodes):
            env = tasks.make(args.task, dynamics=args.dynamics)
            obs, _ = env.reset(seed=EVAL_SEED_BASE + k)
            done = False
            while not done:
                a = np.asarray(policy(obs[None] if getattr(policy, "batched", False) else obs)).reshape(-1)
                at_bound += int((np.abs(a) >= 0.99).sum())
                steps += a.size
                obs, _, term, trunc, _ = env.step(np.clip(a, -1.0, 1.0))
                done = term or trunc
            env.close()
        std = "n/a" if log_std is None else np.array2string(log_std, precision=2)
        print(f"{run}: log-std {std}; actions at the bounds: {at_bound / steps:.0%} of {steps} action entries")


if __name__ == "__main__":
    main()
