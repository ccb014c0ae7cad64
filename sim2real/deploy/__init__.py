"""Export and the robot adapters; the deploy runtime itself is the ``sim2real-runtime`` distribution
(``runtime/``, import name ``sim2real_runtime``), re-exported here. A robot's computer installs that alone
(numpy and onnxruntime).

    bundle = Bundle.load("bundles/navigate-dr")
    loop = ControlLoop(bundle, robot)           # robot: any Robot implementation
    stats = loop.run(steps=1000, realtime=True)
"""

import sim2real_runtime
from sim2real_runtime import *  # noqa: F403  (the runtime's public names, listed once in its __all__)

__all__ = sim2real_runtime.__all__
