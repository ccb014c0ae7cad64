"""Navigation's wheel contact: the two simulator artefacts the README's Limits name, measured on `slippery`'s
excitation logs (the identification benchmark's: 20 episodes, collection seed 0).

1. Wheel friction below 1 is inert (MuJoCo takes the larger friction of wheel and floor, both 1): the replay
   error at friction 0.45 / 0.3 / 1 as the env is, and with the wheels given contact priority.
2. The pyramidal friction cone is anisotropic: the largest yaw-rate difference between the same commands from
   rest at headings 0 and 45 degrees, pyramidal and elliptic.
3. What that does to calibration: the replay error at the true values of the logs, of a twin started at heading
   0 and of twins at random headings; the gain / mass / damping fits (Newton steps from the truth) of the logs,
   of a twin at the logged episodes' own headings, of one with every heading 10 degrees on, and of a random one.

    .venv/bin/python benchmarks/navigation_contact.py     # about 5 min on one core
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

import mujoco
import numpy as np

from sim2real.data.collect import COLLECT_SEED_BASE, make_env, policy_factory, rollout
from sim2real.data.datasets import read, write
from sim2real.ident import replay as C
from sim2real.ident import uncertainty as U
from sim2real.ident.bootstrap import curved_inverse, newton_refit, twin

CONT = ["actuator_gain_scale", "mass_scale", "damping_scale"]
TRUTH = {p: 1.0 for p in CONT}


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        run(Path(tmp))


def run(tmp: Path) -> None:
    t0 = time.perf_counter()
    logs = rollout(policy_factory("excite", "navigate", {"seed": 0}), "navigate", 20, 0, None, "slippery", 0.0)
    logged = read(write(tmp / "d" / "slippery-v0", "navigate", logs, {"source": "bench"}), "navigate")
    replay = C.Replay(logged, 30, 30)
    env, m = replay.env, replay.env.model
    wheels = [m.geom(g).id for g in ("wheel_left", "wheel_right")]

    print("1. replay error of slippery's logs at wheel friction 0.45 / 0.3 / 1")

    def errors() -> str:
        return " / ".join(f"{replay({'friction_scale': f}).rms:.3f}" for f in (0.45, 0.3, 1.0))

    print("   as the env is:        " + errors())
    m.geom_priority[wheels] = 2
    print("   wheels with priority: " + errors())
    m.geom_priority[wheels] = 0

    def yaw_rates(heading: float, cone: int, ep: int = 12) -> np.ndarray:
        m.opt.cone = cone
        env.set_values({})
        env._place(logged.observations[ep][0], heading)
        mujoco.mj_forward(m, env.data)
        return np.array([env.replay_step(a, a)[5] for a in logged.actions[ep].astype(float)])

    print("2. largest yaw-rate difference, same commands from rest, headings 0 and 45 degrees (episode 12)")
    for name, cone in (("pyramidal", mujoco.mjtCone.mjCONE_PYRAMIDAL), ("elliptic", mujoco.mjtCone.mjCONE_ELLIPTIC)):
        print(f"   {name:9s}: {np.abs(yaw_rates(0.0, cone) - yaw_rates(math.pi / 4, cone)).max():.4f} rad/s")
    m.opt.cone = mujoco.mjtCone.mjCONE_PYRAMIDAL

    core = make_env("navigate", None, "slippery").unwrapped
    headings = []
    for ep in range(20):  # each logged episode's start heading, from its reset seed
        core.reset(seed=COLLECT_SEED_BASE + ep)
        q = core.data.qpos[core._base_q : core._base_q + 7]
        headings.append(2 * math.atan2(q[6], q[3]))

    def twin_at(heads: list[float] | None, seed: int = 0):
        if heads is not None:
            it = iter(heads)
            env.twin_start = lambda obs, ctx, rng: (env._place(obs, next(it)), mujoco.mj_forward(m, env.data))
        try:
            return C.Replay(twin(replay, logged, TRUTH, {}, np.random.default_rng(seed)), 30, 30)
        finally:
            if heads is not None:
                del env.twin_start

    print(
        "3. replay error at the true values: the logs",
        f"{replay(TRUTH).rms:.3f};",
        f"a twin at heading 0 {twin_at([0.0] * 20)(TRUTH).rms:.3f};",
        "twins at random headings " + " / ".join(f"{twin_at(None, s)(TRUTH).rms:.3f}" for s in range(3)),
    )
    inv = curved_inverse(U._sensitivity(replay, TRUTH, CONT)["hessian"])
    bounds = {p: C.PRIOR[p] for p in CONT}
    for name, r in (
        ("the logs", replay),
        ("twin, the logs' headings", twin_at(headings)),
        ("twin, headings + 10 deg", twin_at([h + math.radians(10) for h in headings])),
        ("twin, random headings", twin_at(None, 3)),
    ):
        fit, _ = newton_refit(r, TRUTH, CONT, inv, bounds, steps=4)
        print(f"   fit of {name:26s}: " + " / ".join(f"{fit[p] - 1:+.1%}" for p in CONT) + " (gain / mass / damping)")
    print(f"wall-clock {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
