"""Never confidently wrong: is the fitted model able to explain the data at all?

Two checks, both by simulation and replay rather than by formula:

- **Noise floor.** Twins of the dataset are simulated at the estimate with the measured observation noise and
  bias only (:func:`sim2real.ident.bootstrap.twin`) and replayed at the estimate: their replay error is what a
  right model with that noise would leave. The data's replay error over it is the *misfit ratio*; above
  :data:`MISFIT_RATIO` the model leaves out something the data shows (a parameter held at nominal, process
  noise, an effect no canonical parameter carries).
- **The task's full set.** A calibration of a subset of the task's default parameters also fits the full set
  from its estimate (one least-squares iteration) and compares the two fits episode by episode: when the full
  set lowers the error by :data:`SUBSET_Z` standard errors over the episodes or more, the subset is
  misspecified, and the parameters it held at nominal are named as the likely cause.

A misfit leaves every searched parameter unflagged: its std measures the spread around a wrong minimum.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from sim2real.ident.bootstrap import twin_error
from sim2real.ident.uncertainty import episode_z
from sim2real.learn.logged import Logged
from sim2real.sim.dynamics import Values

MISFIT_RATIO = 2.5  # data's replay error / the noise-only twins': above this the model does not explain the data
SUBSET_Z = 3.0  # the full set fits better by this many standard errors over episodes: the subset is misspecified
DRAWS = 3  # noise-only twins (one is noisy: a few segments carry much of the error)


def noise_floor(
    make_replay: Callable[[Logged], Any],
    replay: Any,
    logged: Logged,
    est: Values,
    measured: dict[str, float],
    seed: int = 0,
) -> float:
    """The replay error (rms) that the measured observation noise and bias alone leave at ``est``: the mean
    squared error of :data:`DRAWS` twins simulated and replayed at ``est``, square-rooted."""
    noise = {k: float(measured.get(k, 0.0)) for k in ("obs_noise_std", "obs_bias")}
    return float(
        math.sqrt(twin_error(make_replay, replay, logged, est, {**noise, "action_noise_std": 0.0}, seed, DRAWS))
    )


def subset_check(
    replay: Any,
    est: Values,
    params: list[str],
    default: list[str],
    refit: Callable[[Values, list[str]], Any],
) -> dict[str, Any]:
    """Compare a subset calibration with the task's ``default`` set refitted from its estimate
    (``refit(start, cont)`` returns a :class:`~sim2real.ident.lsq.Fit`). Only continuous parameters are refitted;
    the held ones start at nominal."""
    from sim2real.sim.dynamics import param_spec

    held = [p for p in default if p not in params]
    if not held:
        return {"checked": False, "why": "the calibration searched the task's whole default set"}
    cont = [p for p in default if p not in ("action_latency", "actuator_deadzone")]
    start = {**{p: float(param_spec(p).nominal) for p in held}, **est}
    full = refit(start, cont)
    base = replay(est)
    after = replay(full.values)
    z = episode_z(base.segments, after.segments, replay.episode_of)
    return {
        "checked": True,
        "held_at_nominal": held,
        "replay_error_subset": base.rms,
        "replay_error_full": after.rms,
        "full_estimate": {p: full.values[p] for p in default if p in full.values},
        "improvement_z": z,
        "misspecified": bool(z >= SUBSET_Z),
    }


def verdict(ratio: float, subset: dict[str, Any], accepted: list[str], params: list[str]) -> dict[str, Any]:
    """The misfit record: ``misfit``, the ratio, and the likely cause in words."""
    causes = []
    if subset.get("misspecified"):
        causes.append(
            f"parameters held at nominal that the task's default set includes ({', '.join(subset['held_at_nominal'])}):"
            f" fitting them lowers the replay error from {subset['replay_error_subset']:.3g} to"
            f" {subset['replay_error_full']:.3g} ({subset['improvement_z']:.1f} standard errors over episodes)"
        )
    if math.isfinite(ratio) and ratio > MISFIT_RATIO:
        missing = [p for p in accepted if p not in params and p not in ("obs_noise_std", "obs_bias")]
        causes.append(
            f"the replay error is {ratio:.2f}x what the measured sensor noise alone leaves (threshold"
            f" {MISFIT_RATIO:g}x): process noise, or an effect no searched parameter carries"
            + (f" (not searched: {', '.join(missing)})" if missing else "")
        )
    return {
        "misfit": bool(causes),
        "ratio": ratio,
        "ratio_threshold": MISFIT_RATIO,
        "cause": "; ".join(causes) if causes else None,
        "subset": subset,
    }
