"""How the bootstrap matches its action noise: Illinois false position (4 steps, today's) against bisection (6
steps, before), side by side on the same data.

Two ``navigate`` excitation episodes at known values; a dataset with action noise of std 0.06 that the logs do not
show (one twin each of seeds 5, 6, 7); each method looks for the noise at which three twins' mean squared replay
error equals the data's. Prints each method's std, the twins' error there over the target, and the evaluations
spent (each: three twins simulated and replayed).

    .venv/bin/python benchmarks/noise_match.py
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np

from sim2real.data.collect import policy_factory, rollout
from sim2real.data.datasets import read, write
from sim2real.ident.bootstrap import illinois, twin, twin_error
from sim2real.ident.replay import Replay

TRUE = {"actuator_gain_scale": 0.7, "mass_scale": 1.4, "action_latency": 1, "actuator_deadzone": 0.05}


def one(logged, replay: Replay, seed: int) -> str:
    """Both methods on the dataset of ``seed``: the printed line."""
    noisy = twin(replay, logged, TRUE, {"action_noise_std": 0.06}, np.random.default_rng(seed))
    data = Replay(noisy, 10, 20)
    target = data(TRUE).rms ** 2
    calls = [0]

    def at(sigma: float) -> float:
        calls[0] += 1
        return twin_error(lambda d: Replay(d, 10, 20), data, noisy, TRUE, {"action_noise_std": sigma}, 0, 3)

    base = at(0.0)
    var = illinois(lambda v: at(math.sqrt(v)) - target, 0.0, base - target, 0.3**2, 4)
    fp, fp_calls = math.sqrt(var), calls[0]
    calls[0] = 1  # the error without noise, shared
    lo, hi = 0.0, 0.3
    at(hi)
    for _ in range(6):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if at(mid) < target else (lo, mid)
    bis, bis_calls = 0.5 * (lo + hi), calls[0]
    return (
        f"seed {seed}: Illinois (4 steps) std {fp:.4f}, error there / target {at(fp) / target:.3f}"
        f" ({fp_calls} evaluations); bisection (6 steps) std {bis:.4f}, error there / target"
        f" {at(bis) / target:.3f} ({bis_calls} evaluations)"
    )


def main() -> None:
    logs = rollout(policy_factory("excite", "navigate", {"seed": 0}), "navigate", 2, 0, None, TRUE, 0.0)
    with tempfile.TemporaryDirectory() as tmp:
        logged = read(write(Path(tmp) / "ex-v0", "navigate", logs, {"source": "benchmark"}), "navigate")
        replay = Replay(logged, 10, 20)
        for seed in (5, 6, 7):
            print(one(logged, replay, seed))


if __name__ == "__main__":
    main()
