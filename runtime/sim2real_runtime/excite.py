"""Excitation routines: open-loop identification signals per action channel, run by the same control loop,
watchdog and safe-stop rules as a policy, with guards that keep the robot inside its limits.

An excitation is an artefact of its own, ``excite.json`` + ``manifest.json`` (SHA-256, as a bundle's): the
task, control rate, action bounds and safe action, each channel's signal (chirp, multisine, PRBS, random
steps or hold) with its amplitude and frequency band, the ramps and rate limit, the guards, and the
per-step command table those produce. ``sim2real collect policy=excite`` writes it; ``sim2real-deploy run
<dir>`` runs it on a robot and logs ``.npz`` for ``sim2real data import``. numpy only.

Safety, in the order it is applied to the table (at build time) and to each command (at run time):

1. each channel's signal is scaled to its amplitude around its offset, and clipped to the action bounds;
2. a raised-cosine ramp over ``ramp_steps`` blends from the safe action in and back to it at the end;
3. a rate limit: no command moves more than ``rate_limit`` action units from the previous one;
4. guards (at run time, on the observation): a guard zeroes one channel's command in one direction while any
   of its observation entries is past its threshold, e.g. the forward speed while a front rangefinder reads
   less than 0.4 m, or ``+dx`` while the gripper is past the workspace's +x edge; each intervention is counted
   and listed (``stops``);
5. the control loop then applies the policy rules: non-finite observation -> safe action, deadline miss ->
   safe action, clip to bounds, safe stop at the end or on any failure.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim2real_runtime.safeio import MAX_JSON_BYTES, inside, loads_strict, read_json_strict

EXCITE_FORMAT = 1
SIGNALS = ("chirp", "multisine", "prbs", "steps", "hold")


class ExcitationError(ValueError):
    """A bad excitation spec or artefact; the message names the field and the fix."""


@dataclass(frozen=True)
class ChannelSignal:
    """One action channel's signal: ``signal`` in :data:`SIGNALS`, peak ``amplitude`` (action units) around
    ``offset``, frequency band ``band_hz`` = (low, high) in Hz, ``seed`` for the random signals (PRBS, steps,
    multisine phases are deterministic: Schroeder's)."""

    signal: str
    amplitude: float = 0.5
    offset: float = 0.0
    band_hz: tuple[float, float] = (0.2, 2.0)
    seed: int = 0

    def check(self, where: str, rate_hz: float) -> None:
        if self.signal not in SIGNALS:
            raise ExcitationError(f"{where}.signal={self.signal!r}: choose one of {', '.join(SIGNALS)}")
        if not (math.isfinite(self.amplitude) and 0 <= self.amplitude <= 1):
            raise ExcitationError(f"{where}.amplitude={self.amplitude!r}: a peak in action units, 0..1")
        if not (math.isfinite(self.offset) and -1 <= self.offset <= 1):
            raise ExcitationError(f"{where}.offset={self.offset!r}: must lie in the action range -1..1")
        lo, hi = self.band_hz
        if not (0 < lo < hi <= rate_hz / 2):
            raise ExcitationError(
                f"{where}.band_hz=[{lo:g}, {hi:g}]: need 0 < low < high <= {rate_hz / 2:g} Hz (half the control rate)"
            )

    def generate(self, n: int, rate_hz: float) -> np.ndarray:
        """``n`` samples of the signal (action units, before the ramp, rate limit and bounds)."""
        t = np.arange(n) / rate_hz
        lo, hi = self.band_hz
        a = self.amplitude
        if self.signal == "hold" or n == 0:
            s = np.zeros(n)
        elif self.signal == "chirp":  # logarithmic sweep lo -> hi over the whole duration
            dur = n / rate_hz
            k = hi / lo
            s = np.sin(2 * np.pi * lo * dur / math.log(k) * (k ** (t / dur) - 1.0))
        elif self.signal == "multisine":  # the period's harmonics inside the band, Schroeder phases, peak 1
            f0 = rate_hz / n
            harmonics = np.arange(max(1, math.ceil(lo / f0)), math.floor(hi / f0) + 1)
            if len(harmonics) == 0:
                raise ExcitationError(f"multisine: no harmonic of {f0:g} Hz in band_hz=[{lo:g}, {hi:g}]; widen it")
            j = np.arange(1, len(harmonics) + 1)
            phases = -np.pi * j * (j - 1) / len(harmonics)
            s = np.sin(2 * np.pi * np.outer(t, harmonics * f0) + phases).sum(axis=1)
            s = s / max(np.abs(s).max(), 1e-12)
        else:  # prbs (+-1) or steps (levels uniform in [-1, 1]), dwell times between 1/(2 hi) and 1/(2 lo)
            rng = np.random.default_rng(self.seed)
            shortest, longest = max(1, round(rate_hz / (2 * hi))), max(1, round(rate_hz / (2 * lo)))
            s = np.empty(n)
            i = 0
            while i < n:  # a pair: one level, then its opposite for as long (no drift; a constant bias cancels)
                dwell = int(rng.integers(shortest, longest + 1))
                level = 1.0 if self.signal == "prbs" else float(rng.uniform(0.0, 1.0))  # small ones find deadzones
                level *= float(rng.choice((-1.0, 1.0)))
                s[i : i + dwell] = level
                s[i + dwell : i + 2 * dwell] = -level
                i += 2 * dwell
        return self.offset + a * s


@dataclass(frozen=True)
class Guard:
    """Zero ``channel``'s command in direction ``blocks`` (+1 or -1) while any of the ``observation`` entries is
    below ``below`` (or above ``above``); ``name`` says what it protects (it is listed with each stop)."""

    name: str
    observation: tuple[int, ...]
    channel: int
    blocks: float
    below: float | None = None
    above: float | None = None
    velocity: tuple[int, ...] = ()  # rates of the observation entries (one each): the guard looks ahead ...
    lookahead_s: float = 0.0  # ... by this many seconds (stopping distance: latency, lead, deceleration)

    def triggered(self, obs: np.ndarray) -> bool:
        v = obs[list(self.observation)]
        if self.velocity:
            v = v + self.lookahead_s * obs[list(self.velocity)]
        return bool(
            (self.below is not None and (v < self.below).any()) or (self.above is not None and (v > self.above).any())
        )


@dataclass
class Excitation:
    """A verified excitation routine; called like a policy (observation -> action) by the control loop.

    Attributes mirror a :class:`~sim2real_runtime.bundle.Bundle`'s (``obs_dim``, ``low``, ``high``,
    ``safe_action``, ``previous_action_index``, ``control_rate_hz``), so :class:`ControlLoop` runs either."""

    meta: dict[str, Any]
    table: np.ndarray  # (steps, action_dim) commands, safety steps 1-3 applied
    low: np.ndarray
    high: np.ndarray
    safe_action: np.ndarray
    guards: list[Guard]
    previous_action_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    path: Path | None = None
    step: int = 0
    stops: list[dict[str, Any]] = field(default_factory=list)  # guard interventions: step, guard name

    # -- the policy interface -----------------------------------------------------------------
    @property
    def obs_dim(self) -> int:
        return int(self.meta["obs_dim"])

    @property
    def action_dim(self) -> int:
        return int(self.table.shape[1])

    @property
    def control_rate_hz(self) -> float:
        return float(self.meta["control_rate_hz"])

    @property
    def steps(self) -> int:
        """Control steps per episode."""
        return int(self.table.shape[0])

    @property
    def done(self) -> bool:
        """The episode's table has been played out (the safe action follows)."""
        return self.step >= self.steps

    def new_episode(self) -> None:
        self.step = 0

    def reset(self) -> None:  # the collect/evaluate convention for stateful policies
        self.new_episode()

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """This step's command, with the guards applied to ``obs``; the safe action once the table is done."""
        if self.step >= self.steps:
            self.step += 1
            return self.safe_action.copy()
        a = self.table[self.step].astype(np.float64)
        obs = np.asarray(obs, dtype=np.float64)
        if obs.shape == (self.obs_dim,) and np.isfinite(obs).all():
            for g in self.guards:
                if a[g.channel] * g.blocks > 0 and g.triggered(obs):
                    a[g.channel] = 0.0
                    self.stops.append({"step": self.step, "guard": g.name})
        self.step += 1
        return a.astype(np.float32)

    # -- the artefact --------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        return {**self.meta, "format": EXCITE_FORMAT, "table": np.round(self.table, 6).tolist()}

    def save(self, directory: str | Path) -> Path:
        """Write ``excite.json`` and ``manifest.json`` into a new directory ``directory`` (never overwritten)."""
        d = Path(directory)
        if d.exists():
            raise FileExistsError(f"excitation {d} exists; choose a new directory (an artefact is never overwritten)")
        d.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=d.parent, prefix=f".{d.name}."))
        try:
            body = json.dumps(self.to_json(), indent=1).encode()
            (tmp / "excite.json").write_bytes(body)
            manifest = {"files": {"excite.json": hashlib.sha256(body).hexdigest()}}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
            os.rename(tmp, d)  # atomic; fails if d appeared meanwhile
        except BaseException:
            for f in tmp.iterdir():
                f.unlink()
            tmp.rmdir()
            raise
        self.path = d
        return d

    @classmethod
    def load(cls, directory: str | Path) -> Excitation:
        """Read and verify an excitation artefact: manifest hash, format, finite bounds, the table inside them."""
        d = Path(directory)
        try:
            manifest = read_json_strict(d / "manifest.json")
            digest = manifest["files"]["excite.json"]
            f = inside(d, "excite.json", f"excitation {d}")
            if f.stat().st_size > MAX_JSON_BYTES:
                raise ExcitationError(f"excitation {d}: excite.json is larger than {MAX_JSON_BYTES >> 20} MiB; refused")
            body = f.read_bytes()
        except FileNotFoundError as e:
            name = "manifest.json" if "manifest" in str(e) else "excite.json"
            raise ExcitationError(f"excitation {d}: {name} is missing; rebuild it with collect") from None
        except ExcitationError:
            raise
        except (ValueError, KeyError, TypeError):
            raise ExcitationError(f"excitation {d}: manifest.json is malformed; rebuild it with collect") from None
        if hashlib.sha256(body).hexdigest() != digest:
            raise ExcitationError(f"excitation {d}: excite.json does not match its SHA-256 in manifest.json")
        try:
            meta = loads_strict(body, f"excitation {d}: excite.json")
        except ValueError as e:
            raise ExcitationError(str(e)) from None
        if not isinstance(meta, dict) or meta.get("format") != EXCITE_FORMAT:
            meta = meta if isinstance(meta, dict) else {}
            raise ExcitationError(f"excitation {d}: format {meta.get('format')!r}, this runtime reads {EXCITE_FORMAT}")
        ex = from_meta(meta)
        ex.path = d
        return ex


def from_meta(meta: dict[str, Any]) -> Excitation:
    """An :class:`Excitation` from ``excite.json``'s fields, checked."""
    try:
        table = np.asarray(meta["table"], dtype=np.float64)
        low = np.asarray(meta["low"], dtype=np.float32)
        high = np.asarray(meta["high"], dtype=np.float32)
        safe = np.asarray(meta["safe_action"], dtype=np.float32)
        guards = [
            Guard(
                str(g["name"]),
                tuple(int(i) for i in g["observation"]),
                int(g["channel"]),
                float(g["blocks"]),
                None if g.get("below") is None else float(g["below"]),
                None if g.get("above") is None else float(g["above"]),
                tuple(int(i) for i in g.get("velocity", ())),
                float(g.get("lookahead_s", 0.0)),
            )
            for g in meta.get("guards", [])
        ]
        prev = np.asarray(meta.get("previous_action_index", []), dtype=np.int64)
        obs_dim, rate = int(meta["obs_dim"]), float(meta["control_rate_hz"])
    except (KeyError, TypeError, ValueError) as e:
        raise ExcitationError(f"excite.json: malformed or missing field ({e}); rebuild it with collect") from None
    n_act = len(low)
    if table.ndim != 2 or table.shape[1] != n_act or not np.isfinite(table).all():
        raise ExcitationError(f"excite.json: table must be finite, (steps, {n_act}); rebuild it with collect")
    if not (np.isfinite(low).all() and np.isfinite(high).all() and np.isfinite(safe).all()) or not (low <= high).all():
        raise ExcitationError("excite.json: action bounds and safe action must be finite, low <= high")
    if (table < low - 1e-6).any() or (table > high + 1e-6).any():
        raise ExcitationError("excite.json: the table leaves the action bounds; rebuild it with collect")
    if not (math.isfinite(rate) and rate > 0):
        raise ExcitationError(f"excite.json: control_rate_hz={rate!r} must be a positive number of Hz")
    for g in guards:
        indices = (*g.observation, *g.velocity)
        if not 0 <= g.channel < n_act or any(not 0 <= i < obs_dim for i in indices) or g.blocks not in (1, -1):
            raise ExcitationError(f"excite.json: guard {g.name!r} names a channel or observation out of range")
        if (
            g.velocity
            and len(g.velocity) != len(g.observation)
            or not (math.isfinite(g.lookahead_s) and g.lookahead_s >= 0)
        ):
            raise ExcitationError(
                f"excite.json: guard {g.name!r}: one velocity entry per observation, lookahead_s >= 0"
            )
    fields_ = {k: v for k, v in meta.items() if k != "table"}
    return Excitation(fields_, table, low, high, np.clip(safe, low, high), guards, prev)


def build(
    task: str,
    rate_hz: float,
    obs_dim: int,
    safe_action: np.ndarray,
    channels: list[ChannelSignal],
    steps: int,
    ramp_steps: int,
    rate_limit: float,
    guards: list[Guard] = (),
    previous_action_index: np.ndarray | list[int] = (),
    extra: dict[str, Any] | None = None,
) -> Excitation:
    """Build the command table (safety steps 1-3 of the module docstring) and the routine around it."""
    n_act = len(safe_action)
    if len(channels) != n_act:
        raise ExcitationError(f"excite.channels: {len(channels)} given, the task has {n_act} action channels")
    if steps < 2 * ramp_steps + 1:
        raise ExcitationError(f"excite: {steps} steps cannot hold two ramps of {ramp_steps} steps; lengthen it")
    if not (0 < rate_limit <= 2):
        raise ExcitationError(f"excite.rate_limit={rate_limit!r}: action units per step, in (0, 2]")
    for j, c in enumerate(channels):
        c.check(f"excite.channels[{j}]", rate_hz)
    low, high = -np.ones(n_act), np.ones(n_act)
    safe = np.clip(np.asarray(safe_action, dtype=np.float64), low, high)
    raw = np.stack([np.clip(c.generate(steps, rate_hz), low[j], high[j]) for j, c in enumerate(channels)], axis=1)
    env = np.ones(steps)
    if ramp_steps:
        r = 0.5 - 0.5 * np.cos(np.pi * np.arange(ramp_steps) / ramp_steps)
        env[:ramp_steps], env[steps - ramp_steps :] = r, r[::-1]
    table = safe + env[:, None] * (raw - safe)
    prev = safe.copy()
    for k in range(steps):  # the rate limit, forward; the ramp's end already approaches the safe action
        table[k] = prev = prev + np.clip(table[k] - prev, -rate_limit, rate_limit)
    meta = {
        "task": task,
        "control_rate_hz": float(rate_hz),
        "obs_dim": int(obs_dim),
        "low": low.tolist(),
        "high": high.tolist(),
        "safe_action": safe.tolist(),
        "steps": int(steps),
        "ramp_steps": int(ramp_steps),
        "rate_limit": float(rate_limit),
        "channels": [
            {
                "signal": c.signal,
                "amplitude": c.amplitude,
                "offset": c.offset,
                "band_hz": list(c.band_hz),
                "seed": c.seed,
            }
            for c in channels
        ],
        "guards": [
            {
                "name": g.name,
                "observation": list(g.observation),
                "channel": g.channel,
                "blocks": g.blocks,
                "below": g.below,
                "above": g.above,
                "velocity": list(g.velocity),
                "lookahead_s": g.lookahead_s,
            }
            for g in guards
        ],
        "previous_action_index": [int(i) for i in previous_action_index],
        **(extra or {}),
    }
    # rounded as the artefact stores it: the routine run in simulation is the one a robot will run
    return from_meta({**meta, "format": EXCITE_FORMAT, "table": np.round(table, 6).tolist()})
