"""Automatic domain randomisation (``dr=adr``): ranges that grow where the policy copes and shrink where it fails.

OpenAI et al. 2019, "Solving Rubik's Cube with a Robot Hand", section 5 and Algorithm 1. Each randomised parameter
has a lower and an upper bound. At a reset, with probability ``boundary_prob`` one parameter, chosen uniformly, is
pinned to one of its bounds (:meth:`sim2real.sim.perturb.EpisodeDynamics.resample`); the others are sampled
within their bounds. The pinned episode's score (success where the task has it, else its return over the running
mean return of unpinned episodes) goes into that bound's buffer. When a buffer holds ``buffer`` episodes, its mean
is compared with the thresholds: at or above ``t_high`` the bound moves outward by ``step`` x the parameter's
unit (:attr:`sim2real.sim.dynamics.ParamSpec.unit`; a latency moves a whole step), below ``t_low`` it moves
inward; either way the buffer empties (as Algorithm 1 does, so a mean never mixes old and new bounds).

Bounds never cross their anchor (the nominal value, or the init preset's nearest value to it) and never leave the
parameter's admissible interval; a scale's lower bound stays above zero.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from sim2real.sim import tasks
from sim2real.sim.dynamics import BODY_MASS, DynamicsError, Ranges, nominal, param_spec, resolve_randomization

SCALE_FLOOR = 0.01  # the smallest lower bound of a scale (log-uniform sampling needs > 0)
WIDTH_FLOOR = 1e-6  # a zero-width dimension's width in the entropy (log of it: -13.8 nats)


@dataclass(frozen=True)
class ADRSettings:
    """The ``adr`` config block (defaults: configs/train.yaml, where each is explained)."""

    init: str = "none"  # a randomisation preset of the task to start from; none: every bound at its nominal value
    boundary_prob: float = 0.5  # chance that an episode pins one parameter to a bound
    buffer: int = 10  # pinned episodes per bound before its mean is compared with the thresholds
    t_low: float = 0.5  # below: the bound moves inward
    t_high: float = 0.8  # at or above: the bound moves outward
    step: float = 0.1  # a move, in units of the parameter's ParamSpec.unit (latency: one control step)
    params: tuple[str, ...] | None = None  # the adapted parameters; None: every one the task takes but per-body

    def check(self) -> None:
        """Each setting in range, with the key and the fix in the message."""
        if not 0.0 < self.boundary_prob <= 1.0:
            raise ValueError(f"adr.boundary_prob={self.boundary_prob}: must be in (0, 1] (OpenAI: 0.5)")
        if self.buffer < 1:
            raise ValueError(f"adr.buffer={self.buffer}: must be a positive number of episodes")
        if not self.t_low < self.t_high:
            raise ValueError(f"adr.t_low={self.t_low} must be below adr.t_high={self.t_high}")
        if not self.step > 0:
            raise ValueError(f"adr.step={self.step}: must be positive")


def _limits(name: str) -> tuple[float, float]:
    spec = param_spec(name)
    low = max(spec.low, SCALE_FLOOR) if spec.kind == "scale" else spec.low
    return low, spec.high


class ADR:
    """The bounds, their buffers and the update rule; lives in the training process (see the module docstring).

    Args:
        task: the registered task.
        settings: the ``adr`` block.
        bounds: ``{name: [low, high]}`` of the adapted parameters.
        anchors: ``{name: value}`` that no bound crosses.
        fixed: ranges randomised as given but not adapted (init preset names outside ``settings.params``).
    """

    def __init__(
        self,
        task: str,
        settings: ADRSettings,
        bounds: dict[str, list[float]],
        anchors: dict[str, float],
        fixed: Ranges | None = None,
    ) -> None:
        self.task, self.settings = task, settings
        self.bounds = {k: [float(v[0]), float(v[1])] for k, v in bounds.items()}
        self.anchors = dict(anchors)
        self.fixed = dict(fixed or {})
        self.buffers: dict[str, list[float]] = {}
        # running mean absolute return of unpinned episodes (tasks without success)
        self.return_scale: float | None = None
        self.updates = 0

    @classmethod
    def start(cls, task: str, settings: ADRSettings) -> ADR:
        """Bounds at the init preset's ranges (parameters it does not name: at their nominal value)."""
        settings.check()
        spec = tasks.get(task)
        accepted = tasks.core(tasks.make(task)).params
        params = settings.params or tuple(p for p in accepted if not p.startswith(BODY_MASS.name + "."))
        for p in params:
            if p not in accepted:
                raise DynamicsError(f"adr.params: '{p}' does not apply to task {task}; it takes: {', '.join(accepted)}")
            if p.startswith(BODY_MASS.name + "."):
                raise DynamicsError(f"adr.params: '{p}': per-body masses are not ADR dimensions; use mass_scale")
        if settings.init not in ("none", *spec.randomization):
            raise DynamicsError(
                f"adr.init='{settings.init}' is not a randomisation preset of task {task}; choose one of: "
                f"none, {', '.join(spec.randomization)}"
            )
        init = resolve_randomization(settings.init, task, accepted)
        bounds, anchors = {}, {}
        for p in params:
            lo, hi = init.get(p, (nominal(p), nominal(p)))
            bounds[p] = [lo, hi]
            anchors[p] = min(max(nominal(p), lo), hi)
        fixed = {p: r for p, r in init.items() if p not in params}
        return cls(task, settings, bounds, anchors, fixed)

    def ranges(self) -> dict[str, list[float]]:
        """What the envs sample from: the adapted bounds and the fixed ranges (latency as whole steps)."""
        out = {p: list(r) for p, r in self.fixed.items()}
        for p, (lo, hi) in self.bounds.items():
            out[p] = [int(lo), int(hi)] if param_spec(p).kind == "int" else [lo, hi]
        return out

    def score(self, info: dict[str, Any], success: bool) -> float | None:
        """An ended episode's score: its success (0 or 1), or its return over the running mean absolute return of
        unpinned episodes (``None`` until one has ended)."""
        if success:
            return float(bool(info.get("is_success", False)))
        ret = float(info.get("episode", {}).get("r", 0.0))
        if "episode_boundary" not in info:
            scale = abs(ret)
            self.return_scale = scale if self.return_scale is None else 0.95 * self.return_scale + 0.05 * scale
            return None
        if not self.return_scale:
            return None
        return ret / self.return_scale

    def observe(self, info: dict[str, Any], success: bool) -> bool:
        """Take one ended episode's info; True when a bound moved."""
        s = self.score(info, success)
        pinned = info.get("episode_boundary")
        if pinned is None or s is None or pinned[0] not in self.bounds:
            return False
        return self.record(str(pinned[0]), int(pinned[1]), s)

    def record(self, name: str, side: int, score: float) -> bool:
        """Add a pinned episode's score to bound (``name``, ``side``: 0 low, 1 high); True when it moved."""
        key = f"{name}:{'high' if side else 'low'}"
        buf = self.buffers.setdefault(key, [])
        buf.append(float(score))
        if len(buf) < self.settings.buffer:
            return False
        mean = sum(buf) / len(buf)
        buf.clear()
        if mean >= self.settings.t_high:
            return self._move(name, side, outward=True)
        if mean < self.settings.t_low:
            return self._move(name, side, outward=False)
        return False

    def _move(self, name: str, side: int, outward: bool) -> bool:
        spec = param_spec(name)
        delta = 1.0 if spec.kind == "int" else self.settings.step * spec.unit
        sign = (1 if side else -1) * (1 if outward else -1)
        lo_lim, hi_lim = _limits(name)
        old = self.bounds[name][side]
        new = old + sign * delta
        anchor = self.anchors[name]
        new = min(max(new, lo_lim), anchor) if side == 0 else max(min(new, hi_lim), anchor)
        if new == old:
            return False
        self.bounds[name][side] = new
        self.updates += 1
        return True

    def entropy(self) -> float:
        """OpenAI's "nats per dimension": the mean over adapted parameters of the log width of the sampled
        interval (log space for scales; the number of values for a latency; widths floored at 1e-6)."""
        if not self.bounds:
            return 0.0
        total = 0.0
        for p, (lo, hi) in self.bounds.items():
            kind = param_spec(p).kind
            if kind == "scale":
                width = math.log(hi) - math.log(lo)
            elif kind == "int":
                width = float(int(hi) - int(lo) + 1)
            else:
                width = hi - lo
            total += math.log(max(width, WIDTH_FLOOR))
        return total / len(self.bounds)

    def preset(self, name: str = "adr") -> dict[str, Any]:
        """The current ranges as a ``dr=<file>`` preset: an ADR run reproduced as a plain DR run."""
        return {"name": name, **self.ranges()}

    def state(self) -> dict[str, Any]:
        """Everything :meth:`from_state` needs (saved in every checkpoint's run.json, under ``adr``)."""
        s = asdict(self.settings)
        s["params"] = list(s["params"]) if s["params"] is not None else None
        return {
            "settings": s,
            "bounds": self.bounds,
            "anchors": self.anchors,
            "fixed": {p: list(r) for p, r in self.fixed.items()},
            "buffers": self.buffers,
            "return_scale": self.return_scale,
            "updates": self.updates,
            "entropy_nats_per_dim": self.entropy(),
        }

    @classmethod
    def from_state(cls, task: str, state: dict[str, Any]) -> ADR:
        """The ADR a checkpoint saved (``resume=`` continues from its bounds and buffers)."""
        s = dict(state["settings"])
        s["params"] = tuple(s["params"]) if s.get("params") is not None else None
        adr = cls(task, ADRSettings(**s), state["bounds"], state["anchors"], state.get("fixed"))
        adr.buffers = {k: list(v) for k, v in state.get("buffers", {}).items()}
        adr.return_scale = state.get("return_scale")
        adr.updates = int(state.get("updates", 0))
        return adr
