"""The search space of calibration: each parameter's interval and the search units (0-10, log-scaled for scales)
in which optimisers move."""

from __future__ import annotations

import math

from sim2real.sim.dynamics import param_spec

# Search interval of each parameter (log-scaled for scales): wider than the `wide` presets.
PRIOR: dict[str, tuple[float, float]] = {
    "mass_scale": (0.3, 3.0),
    "friction_scale": (0.2, 3.0),
    "object_mass_scale": (0.2, 6.0),
    "object_friction_scale": (0.2, 3.0),
    "damping_scale": (0.2, 5.0),
    "actuator_gain_scale": (0.2, 3.0),
    "actuator_deadzone": (0.0, 0.3),
    "payload_mass": (0.0, 3.0),  # kg
    "action_latency": (0, 5),
}


def _encode(name: str, value: float) -> float:
    lo, hi = PRIOR[name]
    if name == "action_latency":
        return float(value)
    if param_spec(name).kind == "scale":
        return 10.0 * (math.log(value) - math.log(lo)) / (math.log(hi) - math.log(lo))
    return 10.0 * (value - lo) / (hi - lo)


def _decode(name: str, x: float) -> float:
    lo, hi = PRIOR[name]
    if name == "action_latency":
        return float(min(max(round(x), lo), hi))
    x = min(max(x, 0.0), 10.0)
    if param_spec(name).kind == "scale":
        return math.exp(math.log(lo) + x / 10.0 * (math.log(hi) - math.log(lo)))
    return lo + x / 10.0 * (hi - lo)


def unit_scale(name: str, value: float) -> float:
    """d value / d search unit at ``value`` (parameter units per search unit)."""
    lo, hi = PRIOR[name]
    if param_spec(name).kind == "scale":
        return value * (math.log(hi) - math.log(lo)) / 10.0
    return (hi - lo) / 10.0


def cma_options(params: list[str], seed: int, budget: int) -> dict:
    """CMA-ES options over ``params`` in search units: the interval as bounds, latency as an integer coordinate
    (its own interval, step 1), the others started 2.5 units wide; seed ``seed + 1``, ``budget`` evaluations."""
    return {
        "bounds": [
            [PRIOR[p][0] if p == "action_latency" else 0.0 for p in params],
            [PRIOR[p][1] if p == "action_latency" else 10.0 for p in params],
        ],
        "CMA_stds": [1.0 if p == "action_latency" else 2.5 for p in params],
        "integer_variables": [i for i, p in enumerate(params) if p == "action_latency"],
        "seed": seed + 1,
        "maxfevals": budget,
        "verbose": -9,
    }
