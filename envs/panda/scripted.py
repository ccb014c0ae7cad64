"""The Panda lift demonstrator: the Cartesian gripper's four-phase script (approach, descend, close, lift) on
the Panda's observation, whose first 23 entries have ``Grasp-v0``'s layout."""

from __future__ import annotations

from sim2real.envs.panda.model import PAD_HALF
from sim2real.envs.scripted import GraspScript


class PandaScript(GraspScript):
    """:class:`~sim2real.envs.scripted.GraspScript` with the Panda's pad height: the pinch point stays
    ``PAD_HALF[2]`` + 4 mm above the table so the fingertips clear it."""

    MIN_GRASP_Z = PAD_HALF[2] + 0.004  # m
