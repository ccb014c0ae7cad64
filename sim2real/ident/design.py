"""Experiment design: which excitation makes the wanted parameters identifiable, and how much robot time it needs,
from the simulator alone (``sim2real design``).

For each candidate experiment (the task's scripted controller with exploration noise, the task's excitation
routine, the routine with another signal or amplitude on every excited channel) the simulator produces ``episodes``
episodes on the *assumed* dynamics (a target profile or the nominal model, observation noise and bias
included), and calibration's own sensitivity analysis (:func:`sim2real.ident.calibrate._sensitivity`: the
response-surface Hessian of the replay error and its Laplace covariance) is evaluated at the assumed values.
That is the accuracy calibration would report from that much data, before any robot time is spent:

- per parameter: its relative standard deviation, and the episodes needed to bring it to ``target_rel_std``
  (the Laplace std falls as 1 / sqrt(episodes));
- the flat directions: combinations of log-parameters the data cannot see (e.g. ``log gain - log mass`` when
  only their ratio acts), named with the parameters that load on them, and the directions the data does pin
  down;
- the candidates ranked by the worst relative std over the wanted parameters.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from sim2real.data.collect import policy_factory, rollout
from sim2real.ident.calibrate import check_params
from sim2real.ident.replay import measured_values
from sim2real.ident.rollout import BatchedReplay
from sim2real.ident.uncertainty import MAX_REL_STD, THRESHOLDS, _sensitivity
from sim2real.learn.logged import Logged
from sim2real.sim import tasks
from sim2real.sim.dynamics import Values, param_spec

DESIGN_SEED_BASE = 1_700_000_000  # simulated design episodes: disjoint from every other seed range


SIGNALS = ("chirp", "multisine", "prbs", "steps")
CANDIDATE_FORMS = (
    "scripted, excite, excite:<chirp|multisine|prbs|steps>, excite@<amplitude>, excite:<signal>@<amplitude>"
)


def parse_candidate(name: str) -> tuple[str, str | None, float | None]:
    """``(kind, signal, amplitude)`` of a candidate name: ``scripted`` (the task's controller), ``excite`` (the
    task's routine), ``excite:<signal>`` (another signal on every excited channel), ``...@<amplitude>`` (every
    excited channel at that amplitude, action units in (0, 1]: gentle accelerations that stay under a traction
    or force limit); a ValueError names the valid forms."""
    if name == "scripted":
        return "scripted", None, None
    head, at, amp = name.partition("@")
    kind, _, signal = head.partition(":")
    amplitude = None
    try:
        amplitude = float(amp) if at else None
    except ValueError:
        pass
    if (
        kind != "excite"
        or (signal and signal not in SIGNALS)
        or (at and (amplitude is None or not 0.0 < amplitude <= 1.0))
    ):
        raise ValueError(f"candidates: {name!r} is not one of {CANDIDATE_FORMS} (amplitude in (0, 1])")
    return kind, signal or None, amplitude


def candidate_factory(name: str, task: str, seed: int) -> Any:
    """The policy factory of candidate ``name`` (:func:`parse_candidate`)."""
    kind, signal, amplitude = parse_candidate(name)
    if kind == "scripted":
        return policy_factory("scripted", task)
    return policy_factory("excite", task, {"signal": signal, "amplitude": amplitude, "seed": seed})


def simulate(task: str, candidate: str, episodes: int, seed: int, dynamics: Values, noise: float) -> Logged:
    """The candidate's logs on ``dynamics`` (as a robot's logger would record them), as calibration reads them."""
    factory = candidate_factory(candidate, task, seed)
    logs = rollout(factory, task, episodes, DESIGN_SEED_BASE // 10_000 + seed, None, dynamics, noise)
    return Logged(
        task=task,
        path=Path(f"<design {candidate}>"),
        observations=[np.asarray(e.observations, dtype=np.float64) for e in logs],
        actions=[np.asarray(e.actions, dtype=np.float64) for e in logs],
        rewards=[np.asarray(e.rewards, dtype=np.float64) for e in logs],
        terminations=[np.asarray(e.terminations, dtype=bool) for e in logs],
        truncations=[np.asarray(e.truncations, dtype=bool) for e in logs],
        success=[bool(e.success) for e in logs],
        metadata={"source": f"design {candidate}"},
    )


def _direction(vec: np.ndarray, names: list[str]) -> dict[str, float]:
    v = vec * np.sign(vec[np.argmax(np.abs(vec))])
    return {
        (f"log {p}" if param_spec(p).kind == "scale" else p): round(float(c), 2)
        for p, c in zip(names, v, strict=True)
        if abs(c) > 0.15
    }


def assess(
    logged: Logged, params: list[str], truth: Values, episodes: int, target: float, horizon: int = 10, stride: int = 20
) -> dict[str, Any]:
    """Calibration's Laplace accuracy for ``params`` at ``truth`` from ``logged``, and the flat directions."""
    replay = BatchedReplay(logged, horizon, stride)  # as calibrate will replay it
    replay.fixed = measured_values(replay.env, logged)
    est = {p: float(truth.get(p, param_spec(p).nominal)) for p in params}
    replay.fixed.update({k: v for k, v in truth.items() if k not in params and k in replay.env.params})
    sens = _sensitivity(replay, est, params)
    out: dict[str, Any] = {"parameters": {}, "flat_directions": sens["flat"], "pinned_directions": sens["combinations"]}
    for p in params:
        std = sens["std"].get(p, math.nan)
        scale = est[p] if param_spec(p).kind == "scale" or est[p] > 0 else 1.0
        rel = std / scale if math.isfinite(std) and scale > 0 else math.inf
        needed = math.ceil(episodes * (rel / target) ** 2) if math.isfinite(rel) else None
        out["parameters"][p] = {
            "value": est[p],
            "std": std,
            "rel_std": rel,
            "rise": sens["rise"][p],
            "episodes_for_target": needed,
        }
    rels = [v["rel_std"] for v in out["parameters"].values()]
    out["worst_rel_std"] = max(rels) if rels else math.nan
    return out


def design(
    task: str,
    params: list[str],
    dynamics: Values,
    candidates: list[str],
    episodes: int = 4,
    target_rel_std: float = MAX_REL_STD,
    seed: int = 0,
    action_noise: float = 0.1,
    horizon: int = 10,
    stride: int = 20,
) -> dict[str, Any]:
    """Assess every candidate experiment (replayed as ``calibrate horizon= stride=`` will); returns the
    ``design.json`` record (candidates ranked, best first)."""
    # action_latency is an integer and a deadzone a threshold (the error a staircase in it): calibration checks
    # them by probes, not through the Hessian
    params = [p for p in check_params(task, params) if p != "action_latency" and p not in THRESHOLDS]
    dt = tasks.core(tasks.make(task)).dt  # s per control step
    rows = []
    for name in candidates:
        t0 = time.perf_counter()
        noise = action_noise if name == "scripted" else 0.0
        logged = simulate(task, name, episodes, seed, dynamics, noise)
        row = {"candidate": name, **assess(logged, params, dynamics, episodes, target_rel_std, horizon, stride)}
        row["seconds"] = time.perf_counter() - t0
        row["robot_seconds_per_episode"] = float(np.mean([len(a) for a in logged.actions])) * dt
        rows.append(row)
    rows.sort(key=lambda r: (not math.isfinite(r["worst_rel_std"]), r["worst_rel_std"]))
    return {
        "task": task,
        "params": params,
        "assumed_dynamics": dynamics,
        "episodes_simulated": episodes,
        "target_rel_std": target_rel_std,
        "ranked": rows,
    }


def report_text(result: dict[str, Any]) -> str:
    """The ranking as a table, with the flat directions named."""
    lines = [
        f"design: task {result['task']}, {result['episodes_simulated']} simulated episodes per candidate; "
        f"relative std per parameter (episodes to reach {result['target_rel_std']:.0%}); best first"
    ]
    for r in result["ranked"]:
        cells = []
        for p, v in r["parameters"].items():
            need = "never" if v["episodes_for_target"] is None else str(v["episodes_for_target"])
            cells.append(f"{p} {v['rel_std']:.1%} ({need})")
        lines.append(f"  {r['candidate']:16s} " + "; ".join(cells))
        for f in r["flat_directions"]:
            lines.append(f"  {'':16s} flat (not identifiable): {f['direction']}")
        for c in r["pinned_directions"][:2]:
            lines.append(f"  {'':16s} identifiable combination: {c['direction']} (std {c['std']:.1%})")
    return "\n".join(lines)
