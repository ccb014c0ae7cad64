"""The canonical dynamics parameters: names, bounds, validation, sampling and named presets.

One vocabulary is used by randomisation ranges, target profiles, calibration and reports
(see docs/development/architecture.md). A scale is a multiplier on the nominal model (1.0 = nominal). Randomisation is
a pure function ``sample(ranges, rng) -> values``; applying values to a model lives in
:mod:`sim2real.sim.perturb`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ParamSpec:
    """One canonical parameter: its nominal value, its admissible interval and how it is sampled."""

    name: str
    nominal: float
    low: float  # smallest admissible value (inclusive)
    high: float  # largest admissible value (inclusive)
    kind: str  # "scale" (log-uniform), "int" (uniform integer) or "linear" (uniform)
    doc: str
    unit: float = 1.0  # a typical size of a change, in the parameter's units: ADR moves a bound by adr.step x unit


PARAMS: dict[str, ParamSpec] = {
    p.name: p
    for p in (
        ParamSpec("mass_scale", 1.0, 0.05, 20.0, "scale", "robot body masses and inertias"),
        ParamSpec("friction_scale", 1.0, 0.01, 10.0, "scale", "sliding friction of the robot's contact geoms"),
        ParamSpec("object_mass_scale", 1.0, 0.05, 20.0, "scale", "grasped object's mass and inertia"),
        ParamSpec("object_friction_scale", 1.0, 0.01, 10.0, "scale", "grasped object's sliding friction"),
        ParamSpec("object_size_scale", 1.0, 0.5, 1.5, "scale", "grasped object's dimensions"),
        ParamSpec("damping_scale", 1.0, 0.0, 20.0, "scale", "joint damping"),
        ParamSpec("actuator_gain_scale", 1.0, 0.05, 20.0, "scale", "actuator gain and bias together"),
        ParamSpec("action_latency", 0, 0, 20, "int", "control steps between an action and its effect"),
        ParamSpec("obs_noise_std", 0.0, 0.0, 10.0, "linear", "std of Gaussian observation noise, obs units", 0.01),
        ParamSpec("action_noise_std", 0.0, 0.0, 2.0, "linear", "std of Gaussian action noise, action units", 0.1),
        ParamSpec("actuator_deadzone", 0.0, 0.0, 0.99, "linear", "|command| below this fraction is zeroed", 0.1),
        ParamSpec("obs_bias", 0.0, 0.0, 10.0, "linear", "max |per-episode constant observation offset|", 0.01),
        ParamSpec("payload_mass", 0.0, 0.0, 100.0, "linear", "kg added at the task's payload body (its COM)"),
    )
}
# The per-body family: ``body_mass_scale.<body>`` scales one named body's mass and inertia (the task spec
# lists its addressable bodies).
BODY_MASS = ParamSpec("body_mass_scale", 1.0, 0.05, 20.0, "scale", "one named body's mass and inertia")
NOMINAL: dict[str, float] = {name: spec.nominal for name, spec in PARAMS.items()}


def param_spec(name: str) -> ParamSpec | None:
    """The spec of a canonical name, ``body_mass_scale.<body>`` included; ``None`` for an unknown name."""
    if name.startswith(BODY_MASS.name + ".") and len(name) > len(BODY_MASS.name) + 1:
        return BODY_MASS
    return PARAMS.get(name)


def nominal(name: str) -> float:
    spec = param_spec(name)
    return spec.nominal if spec else 0.0


def flatten(values: Mapping[str, Any]) -> dict[str, Any]:
    """``{"body_mass_scale": {"torso": 1.6}}`` (as Hydra composes it) -> ``{"body_mass_scale.torso": 1.6}``."""
    out: dict[str, Any] = {}
    for name, value in values.items():
        if name == BODY_MASS.name and isinstance(value, Mapping):
            out.update({f"{name}.{body}": v for body, v in value.items()})
        else:
            out[name] = value
    return out


OBJECT_PARAMS = ("object_mass_scale", "object_friction_scale", "object_size_scale")

Ranges = dict[str, tuple[float, float]]
Values = dict[str, float]


class DynamicsError(ValueError):
    """A bad dynamics parameter, range or profile; the message names the field and the fix."""


def _check_name(name: str, where: str, allowed: tuple[str, ...], at_nominal: bool) -> bool:
    """True if ``name`` applies; a name that does not apply is accepted only at its nominal value."""
    if param_spec(name) is None:
        raise DynamicsError(
            f"{where}: unknown dynamics parameter '{name}'; valid names: {', '.join(PARAMS)}, {BODY_MASS.name}.<body>"
        )
    if name in allowed:
        return True
    if at_nominal:
        return False
    raise DynamicsError(f"{where}.{name} does not apply to this task (leave it null); it accepts: {', '.join(allowed)}")


def _check_value(name: str, value: Any, where: str) -> float:
    spec = param_spec(name)
    if isinstance(value, (bool, str, bytes)):  # true would be read as 1.0 and "1.5" as 1.5: neither is meant
        raise DynamicsError(f"{where}.{name}: expected a number, got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise DynamicsError(f"{where}.{name}: expected a number, got {value!r}") from None
    if not math.isfinite(v):
        raise DynamicsError(f"{where}.{name}: must be finite, got {value!r}")
    if not spec.low <= v <= spec.high:
        raise DynamicsError(f"{where}.{name}={v:g} is outside [{spec.low:g}, {spec.high:g}] ({spec.doc})")
    if spec.kind == "int" and v != int(v):
        raise DynamicsError(f"{where}.{name}={v:g} must be a whole number of control steps")
    return int(v) if spec.kind == "int" else v


def validate_values(values: Mapping[str, Any], allowed: tuple[str, ...], where: str = "dynamics") -> Values:
    """Check a ``{name: value}`` profile; returns a complete profile (missing names are nominal)."""
    out = {name: nominal(name) for name in allowed}
    for name, value in flatten(values).items():
        if name == "name":  # a profile's label, not a parameter
            continue
        if _check_name(name, where, allowed, value is None or value == nominal(name)) and value is not None:
            out[name] = _check_value(name, value, where)
    return out


def validate_ranges(ranges: Mapping[str, Any], allowed: tuple[str, ...], where: str = "randomization") -> Ranges:
    """Check ``{name: [low, high]}`` (a scalar means a fixed value; ``None`` means not randomised)."""
    out: Ranges = {}
    for name, rng in flatten(ranges).items():
        if name == "name":
            continue
        fixed_nominal = rng is None or (isinstance(rng, (list, tuple)) and set(rng) == {nominal(name)})
        if not _check_name(name, where, allowed, fixed_nominal) or rng is None:
            continue
        if isinstance(rng, (int, float)):
            rng = (rng, rng)
        if not isinstance(rng, (list, tuple)) or len(rng) != 2:
            raise DynamicsError(f"{where}.{name}: expected [low, high], got {rng!r}")
        lo, hi = (_check_value(name, v, where) for v in rng)
        if lo > hi:
            raise DynamicsError(f"{where}.{name}: low {lo:g} > high {hi:g}; write [low, high]")
        if param_spec(name).kind == "scale" and lo <= 0:
            raise DynamicsError(f"{where}.{name}: a scale range must be > 0 for log-uniform sampling, got {lo:g}")
        out[name] = (lo, hi)
    return out


def sample(ranges: Ranges, rng: np.random.Generator) -> Values:
    """Draw one value per range: log-uniform for scales, uniform integers for latency, else uniform."""
    out: Values = {}
    for name, (lo, hi) in ranges.items():
        kind = param_spec(name).kind
        if lo == hi:
            out[name] = lo
        elif kind == "scale":
            out[name] = float(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        elif kind == "int":
            out[name] = int(rng.integers(int(lo), int(hi) + 1))
        else:
            out[name] = float(rng.uniform(lo, hi))
    return out


def task_tables(task: str) -> dict[str, Any]:
    """The task's named randomisation presets and target profiles, from the task registry."""
    from sim2real.sim import tasks

    try:
        spec = tasks.get(task)
    except tasks.TaskError as e:
        raise DynamicsError(str(e)) from None
    return {"randomization": dict(spec.randomization), "targets": dict(spec.targets)}


def plain_spec(spec: Any) -> Any:
    """A preset name, mapping or ``None`` as plain Python (OmegaConf containers from Hydra converted)."""
    try:
        from omegaconf import DictConfig, OmegaConf

        if isinstance(spec, DictConfig):
            return OmegaConf.to_container(spec, resolve=True)
    except ImportError:  # pragma: no cover
        pass
    return spec


def resolve_randomization(spec: str | Mapping[str, Any] | None, task: str, allowed: tuple[str, ...]) -> Ranges:
    """A preset name (``"default"``, ``"wide"``, ``"none"``) or a ``{name: [low, high]}`` mapping."""
    if spec is None or spec == "none":
        return {}
    if isinstance(spec, str):
        presets = task_tables(task).get("randomization", {})
        if spec not in presets:
            raise DynamicsError(
                f"randomization='{spec}' is not a preset of task '{task}'; choose one of: "
                f"none, {', '.join(presets)} or pass {{name: [low, high]}}"
            )
        spec = presets[spec]
    return validate_ranges(spec, allowed)


def resolve_dynamics(spec: str | Mapping[str, Any] | None, task: str, allowed: tuple[str, ...]) -> Values:
    """A target profile name (``"real"``, ``"nominal"``) or a ``{name: value}`` mapping."""
    if spec is None or spec == "nominal":
        return validate_values({}, allowed)
    if isinstance(spec, str):
        targets = task_tables(task).get("targets", {})
        if spec not in targets:
            raise DynamicsError(
                f"dynamics='{spec}' is not a target profile of task '{task}'; choose one of: "
                f"nominal, {', '.join(targets)} or pass {{name: value}}"
            )
        spec = targets[spec]
    return validate_values(spec, allowed)
