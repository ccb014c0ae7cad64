"""sim2real: sim-to-real robot learning. One folder per stage of the pipeline, layers running one way
(commands -> transfer -> data / deploy -> learn -> sim):

- :mod:`sim2real.sim`: canonical dynamics parameters, their application, the stock-env wrapper, the task registry;
- :mod:`sim2real.learn`: SB3 glue: run specs, vectorised envs, train, fine-tune, evaluation, run directories;
- :mod:`sim2real.data`: Minari datasets, collection, import, calibration;
- :mod:`sim2real.transfer`: the comparison grid, statistics, reports, sweeps;
- :mod:`sim2real.deploy`: export and the robot adapters; the runtime itself is ``sim2real_runtime``;
- :mod:`sim2real.commands`: the ``sim2real`` CLI.

``from sim2real import tasks`` is the registry (:mod:`sim2real.sim.tasks`), for bringing your own robot.
"""

import os
import sys

if sys.platform.startswith("linux") and not os.environ.get("DISPLAY"):  # headless: MuJoCo renders through EGL
    os.environ.setdefault("MUJOCO_GL", "egl")  # (Mesa's software EGL where there is no GPU); read at import

from sim2real.sim import tasks  # noqa: E402

__all__ = ["tasks"]
