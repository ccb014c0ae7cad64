"""One rollout video per built-in task for the documentation (docs/videos/, embedded in docs/videos.md): the
shipped randomised-sim policy on the task's `real` profile, first test episode (seed 0). Hopper and Pusher ship
no policy: their videos show uniformly random actions, and their names say so.

    .venv/bin/python benchmarks/videos.py        # about a minute; prints each file's size and wall-clock
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import sim2real  # noqa: F401  (MUJOCO_GL=egl on a headless machine, before MuJoCo loads)
from sim2real.learn.evaluate import record_videos, stored_policy
from sim2real.learn.runs import resolve_policy
from sim2real.transfer.units import random_policy

OUT = Path(__file__).resolve().parents[1] / "docs" / "videos"
SHOWN = {  # task -> (policy or None for random actions, target profile)
    "navigate": ("navigate-dr", "real"),
    "navigate_v1": ("navigate-dr", "real"),
    "grasp": ("grasp-dr", "real"),
    "panda_lift": ("panda_lift-dr", "real"),
    "hopper": (None, "real"),
    "pusher": (None, "real"),
}


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for task, (policy, profile) in SHOWN.items():
        t0 = time.perf_counter()
        fn = stored_policy(resolve_policy(policy)) if policy else random_policy(task, 0)
        tmp = OUT / f".{task}"
        (path,) = record_videos(fn, task, 1, tmp, 0, None, profile, prefix=f"{task}-{policy or 'random'}-{profile}")
        final = OUT / f"{task}.mp4"
        shutil.move(path, final)
        (OUT / f"{task}.txt").write_text(path.name + "\n")  # the outcome and dynamics the name carried
        tmp.rmdir()
        size, wall = final.stat().st_size / 1e6, time.perf_counter() - t0
        print(f"{final.name}: {size:.2f} MB, {path.name[:90]}..., {wall:.1f} s")


if __name__ == "__main__":
    main()
