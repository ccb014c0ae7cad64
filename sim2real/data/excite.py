"""Identification experiments: build a task's excitation routine (``sim2real collect policy=excite``).

The signals, ramps, rate limit and guards are the runtime's (:mod:`sim2real_runtime.excite`); this module
fills them in for a task: the defaults come from the task spec's ``excite`` entry (channels by action
index, guards by observation *name* and action name, thresholds in observation units), and the command line
can override the signal, amplitude, band and duration of every excited channel. A task without an
``excite`` entry (a user's robot, a stock env) gets a gentle default: a chirp of amplitude 0.3 around the
rest action on every channel, from 0.1 Hz to a quarter of the control rate, and no guards (said in a
warning: a guard needs the task's knowledge of its observation).
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Mapping
from typing import Any

import numpy as np
from sim2real_runtime.excite import ChannelSignal, Excitation, ExcitationError, Guard, build

from sim2real.sim import tasks

log = logging.getLogger(__name__)


def _layout_names(layout: Any) -> list[str]:
    return [str(entry[0]) for entry in layout]


def _indices(patterns: Any, names: list[str], where: str) -> tuple[int, ...]:
    """Observation indices of a name, a glob or a list of them (every pattern must match something)."""
    out: list[int] = []
    for p in [patterns] if isinstance(patterns, str) else list(patterns):
        hits = [i for i, n in enumerate(names) if fnmatch.fnmatchcase(n, str(p))]
        if not hits:
            raise ExcitationError(f"{where}: no observation named {p!r}; the task's are {', '.join(names)}")
        out.extend(h for h in hits if h not in out)
    return tuple(out)


def _channel(value: Any, names: list[str], where: str) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(names):
        return value
    if isinstance(value, str) and value in names:
        return names.index(value)
    raise ExcitationError(f"{where}: channel {value!r} is not an action of the task ({', '.join(names)})")


def task_defaults(task: str, n_act: int, rate_hz: float, rest: np.ndarray) -> dict[str, Any]:
    """The task spec's ``excite`` entry, or the generic gentle default."""
    spec = dict(tasks.get(task).excite or {})
    if spec:
        return spec
    log.warning("task %s has no excite entry in its spec: chirps of amplitude 0.3 on every channel, no guards", task)
    return {
        "channels": [
            {"signal": "chirp", "amplitude": 0.3, "offset": float(rest[j]), "band_hz": [0.1, rate_hz / 4]}
            for j in range(n_act)
        ],
        "ramp_s": 1.0,
        "rate_limit": 0.2,
    }


def _check_spec(spec: Mapping[str, Any], task: str, n_act: int, steps: int, rate: float) -> None:
    """The task spec's ``excite`` entry checked by name: its channels, and a ramp the episode can hold twice."""
    channels = spec.get("channels")
    if not isinstance(channels, list) or len(channels) != n_act or not all(isinstance(c, Mapping) for c in channels):
        raise ExcitationError(
            f"task {task}: excite.channels must list {n_act} channel(s), one per action (signal, amplitude, offset, "
            f"band_hz), got {channels!r}; see docs/adding_a_robot.md, the task spec"
        )
    try:
        ramp_s = float(spec.get("ramp_s", 0.5))
    except (TypeError, ValueError):
        raise ExcitationError(f"task {task}: excite.ramp_s={spec.get('ramp_s')!r} must be seconds") from None
    ramp = int(round(ramp_s * rate))
    if not ramp_s >= 0 or steps < 2 * ramp + 1:
        raise ExcitationError(
            f"task {task}: excite.ramp_s={ramp_s:g} s needs an episode of more than {2 * ramp_s:g} s (a ramp in and "
            f"out), and the excitation lasts {steps / rate:g} s; shorten excite.ramp_s or lengthen excite.duration_s "
            "(or the task's max_episode_steps)"
        )


def excitation_for(env: Any, overrides: Mapping[str, Any] | None = None) -> Excitation:
    """The excitation routine of ``env``'s task (a ``tasks.core`` env: layouts, rest action, rate, episode
    length), with ``overrides`` (``signal``, ``amplitude``, ``band_hz``, ``duration_s``, ``seed``; ``None``
    keeps the task's) applied to every excited channel (a ``hold`` channel stays held)."""
    core = tasks.core(env)
    task = core.task
    rate = 1.0 / core.dt
    obs_names = _layout_names(core.observation_layout)
    act_names = _layout_names(core.action_layout)
    rest = np.asarray(core.rest_action, dtype=np.float64)
    spec = task_defaults(task, len(act_names), rate, rest)
    o = {k: v for k, v in dict(overrides or {}).items() if v is not None}
    max_steps = env.spec.max_episode_steps if getattr(env, "spec", None) and env.spec.max_episode_steps else None
    steps = int(round(float(o["duration_s"]) * rate)) if "duration_s" in o else (max_steps or int(20 * rate))
    if max_steps and steps > max_steps:
        raise ExcitationError(
            f"excite.duration_s={o['duration_s']}: longer than the task's episode ({max_steps / rate:g} s); shorten it"
        )
    _check_spec(spec, task, len(act_names), steps, rate)
    channels = []
    for j, c in enumerate(spec["channels"]):
        c = dict(c)
        if c.get("signal", "hold") != "hold":
            for key in ("signal", "amplitude", "band_hz"):
                if key in o:
                    c[key] = o[key]
        c["seed"] = int(c.get("seed", 0)) + 1000 * int(o.get("seed", 0))
        try:
            channels.append(
                ChannelSignal(
                    signal=str(c.get("signal", "hold")),
                    amplitude=float(c.get("amplitude", 0.0)),
                    offset=float(c.get("offset", 0.0)),
                    band_hz=tuple(float(x) for x in c.get("band_hz", (0.2, min(2.0, rate / 2)))),
                    seed=int(c["seed"]),
                )
            )
        except (TypeError, ValueError):
            raise ExcitationError(f"excite.channels[{j}]={c!r}: signal, amplitude, offset, band_hz [lo, hi]") from None
    guards = [
        Guard(
            name=str(g["name"]),
            observation=_indices(g["observation"], obs_names, f"excite.guards[{g.get('name')}]"),
            channel=_channel(g["channel"], act_names, f"excite.guards[{g.get('name')}]"),
            blocks=float(g["blocks"]),
            below=g.get("below"),
            above=g.get("above"),
            velocity=_indices(g["velocity"], obs_names, f"excite.guards[{g.get('name')}]") if g.get("velocity") else (),
            lookahead_s=float(g.get("lookahead_s", 0.0)),
        )
        for g in spec.get("guards", [])
    ]
    previous = [i for i, n in enumerate(obs_names) if n.startswith("previous_action_")]
    return build(
        task=task,
        rate_hz=rate,
        obs_dim=len(obs_names),
        safe_action=rest,
        channels=channels,
        steps=steps,
        ramp_steps=int(round(float(spec.get("ramp_s", 0.5)) * rate)),
        rate_limit=float(spec.get("rate_limit", 0.5)),
        guards=guards,
        previous_action_index=previous if len(previous) == len(act_names) else [],
        extra={
            "observation": [{"index": i, "name": n} for i, n in enumerate(obs_names)],
            "action": [{"index": i, "name": n} for i, n in enumerate(act_names)],
            "overrides": o,
        },
    )
