"""Why `navigate_v1` `slippery`'s gain is 4.7 stds off (README, identification on Navigate-v1): on the logs the
gentle routine collects (`excite@0.25`, 20 episodes, collection seed 0),

1. the twin at the true values against the logs, and the replay error at the truth and at the calibrated
   estimate (the bootstrap-corrected one, `identification_navigate_v1_slippery_a25_h30_bootstrap.txt`);
2. Newton fits (four damped steps, the Hessian at the truth) of the logs and of the twin, from the truth;
3. rounds of calibration's Newton refit (three steps, the Hessian evaluated afresh each round) from the
   calibration's uncorrected estimate: where the replay error's minimum is, and how far three steps get.

    .venv/bin/python benchmarks/navigation_v1_slippery.py     # about 8 min on one core
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from sim2real.data.collect import policy_factory, rollout
from sim2real.data.datasets import read, write
from sim2real.ident import replay as C
from sim2real.ident import uncertainty as U
from sim2real.ident.bootstrap import curved_inverse, newton_refit, twin

TASK = "navigate_v1"
CONT = ["actuator_gain_scale", "mass_scale", "damping_scale", "friction_scale"]
TRUTH = {"actuator_gain_scale": 1.0, "mass_scale": 1.0, "damping_scale": 1.0, "friction_scale": 0.3}
ESTIMATE = {"actuator_gain_scale": 1.042, "mass_scale": 1.027, "damping_scale": 1.045, "friction_scale": 0.297}
UNCORRECTED = {"actuator_gain_scale": 1.038, "mass_scale": 1.029, "damping_scale": 1.061, "friction_scale": 0.288}


def errors(x: dict[str, float]) -> str:
    return " / ".join(f"{x[p] / TRUTH[p] - 1:+.1%}" for p in CONT)


def main() -> None:
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        factory = policy_factory("excite", TASK, {"seed": 0, "amplitude": 0.25})
        logs = rollout(factory, TASK, 20, 0, None, "slippery", 0.0)
        logged = read(write(Path(tmp) / "d" / "s-v0", TASK, logs, {"source": "bench"}), TASK)
        replay = C.Replay(logged, 30, 30)
        bounds = {p: C.PRIOR[p] for p in CONT}
        at_truth, at_estimate = replay(TRUTH).rms, replay(ESTIMATE).rms
        print(f"1. replay error of the logs at the truth {at_truth:.4f}, at the estimate {at_estimate:.4f}")
        tw = twin(replay, logged, TRUTH, {}, np.random.default_rng(0))
        d = max(
            float(np.abs(a[: len(b)] - b[: len(a)])[:, [0, 1, 3, 4, 5]].max())
            for a, b in zip(tw.observations, logged.observations, strict=True)
        )
        rt = C.Replay(tw, 30, 30)
        print(f"   the twin at the truth: largest difference from the logs {d:.2e}; replay error {rt(TRUTH).rms:.4f}")
        inv = curved_inverse(U._sensitivity(replay, TRUTH, CONT)["hessian"])
        for name, r in (("the logs", replay), ("the twin at the truth", rt)):
            fit, _ = newton_refit(r, TRUTH, CONT, inv, bounds, steps=4)
            print(f"2. fit of {name:21s} from the truth: {errors(fit)} (gain / mass / damping / friction)")
        x = dict(UNCORRECTED)
        print(f"3. from the uncorrected estimate ({errors(x)}): replay error {replay(x).rms:.5f}")
        for k in range(4):
            inv = curved_inverse(U._sensitivity(replay, x, CONT)["hessian"])
            x, f = newton_refit(replay, x, CONT, inv, bounds, steps=3)
            print(
                f"   round {k}: replay error {np.sqrt(f):.5f}; {errors(x)}; {time.perf_counter() - t0:.0f} s",
                flush=True,
            )
    print(f"wall-clock {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
