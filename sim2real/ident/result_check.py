"""Whether a calibration result is any use, before ``calibrate`` writes a file."""

from __future__ import annotations

import math
from typing import Any

from sim2real.ident.replay import CalibrationError, envs_params
from sim2real.sim.dynamics import DynamicsError, validate_ranges, validate_values


def check_result(result: dict[str, Any], ranges: dict[str, Any], task: str, data: str) -> None:
    """Refuse a calibration that is no use: replays that diverge, a replay error that did not drop, or a
    randomisation or profile that the config checks would refuse (e.g. data logged in other units)."""
    hint = "are the logged observations and actions in the task's units (docs/datasets.md)?"
    if result["diverged_segments_after"]:
        raise CalibrationError(
            f"calibrate: {result['diverged_segments_after']} replayed segments of {data} diverge in the simulator "
            f"even at the estimate; {hint}"
        )
    before, after = result["replay_error_before"], result["replay_error_after"]
    if not (math.isfinite(after) and after < before):
        raise CalibrationError(
            f"calibrate: the replay error of {data} did not drop ({before:.4g} -> {after:.4g}); {hint}"
        )
    allowed = envs_params(task)
    try:
        validate_ranges(ranges, allowed, "calibrated randomisation")
        validate_values(result["estimate"], allowed, "calibrated dynamics")
    except DynamicsError as e:
        raise CalibrationError(f"calibrate: the result is not a valid config ({e}); {hint}") from None
