"""The deploy runtime, from the ``sim2real-runtime`` distribution (``runtime/``, import name
``sim2real_runtime``): a robot's computer installs that alone (numpy and onnxruntime); the full package
re-exports it here.

    bundle = Bundle.load("bundles/navigate-dr")
    loop = ControlLoop(bundle, robot)           # robot: any Robot implementation
    stats = loop.run(steps=1000, realtime=True)
"""

from sim2real_runtime import (
    BUNDLE_FORMAT,
    RATE_TOLERANCE,
    Bundle,
    BundleError,
    CallbackRobot,
    ControlLoop,
    EpisodeLog,
    LoopStats,
    Robot,
    check_rate,
    write_npz,
)

__all__ = [
    "BUNDLE_FORMAT",
    "RATE_TOLERANCE",
    "Bundle",
    "BundleError",
    "CallbackRobot",
    "ControlLoop",
    "EpisodeLog",
    "LoopStats",
    "Robot",
    "check_rate",
    "write_npz",
]
