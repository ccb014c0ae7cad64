"""sim2real's deploy runtime: verify a policy bundle (or an excitation routine) and run it at its control rate
against a robot.

numpy and onnxruntime only (no torch, gymnasium, MuJoCo or pickle). The full ``sim2real`` package
re-exports it as ``sim2real.deploy``.
"""

from sim2real_runtime.bundle import BUNDLE_FORMAT, Bundle, BundleError
from sim2real_runtime.episodes import EpisodeLog, write_npz
from sim2real_runtime.excite import Excitation, ExcitationError
from sim2real_runtime.loop import RATE_TOLERANCE, CallbackRobot, ControlLoop, LoopStats, Robot, check_rate
from sim2real_runtime.memory import History, PolicyState

__all__ = [
    "BUNDLE_FORMAT",
    "RATE_TOLERANCE",
    "Bundle",
    "BundleError",
    "CallbackRobot",
    "ControlLoop",
    "EpisodeLog",
    "Excitation",
    "ExcitationError",
    "History",
    "LoopStats",
    "PolicyState",
    "Robot",
    "check_rate",
    "write_npz",
]
