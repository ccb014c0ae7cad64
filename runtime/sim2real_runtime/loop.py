"""The fixed-rate control loop and the :class:`Robot` interface it drives.

bundle = Bundle.load("bundles/navigate-dr")
loop = ControlLoop(bundle, robot)           # robot: any Robot implementation
stats = loop.run(steps=1000, realtime=True)
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim2real_runtime.bundle import Bundle

RATE_TOLERANCE = 0.1  # a loop may run within +-10 % of the rate the policy was trained at


def check_rate(rate_hz: float | None, trained_hz: float) -> float:
    """The loop rate in Hz: ``None`` means the bundle's rate; anything else must be a number within
    ``RATE_TOLERANCE`` of it (a policy run at another rate meets other dynamics than it was trained on)."""
    if rate_hz is None:
        return float(trained_hz)
    if isinstance(rate_hz, bool) or not isinstance(rate_hz, (int, float)) or not np.isfinite(rate_hz) or rate_hz <= 0:
        raise ValueError(f"rate_hz={rate_hz!r}: must be a positive number of Hz (omit it for the bundle's rate)")
    if abs(rate_hz - trained_hz) > RATE_TOLERANCE * trained_hz:
        raise ValueError(
            f"rate_hz={rate_hz:g}: the policy was trained at {trained_hz:g} Hz; run within "
            f"+-{RATE_TOLERANCE:.0%} of it, or omit rate_hz"
        )
    return float(rate_hz)


class Robot(ABC):
    """What the control loop needs from a robot. Implement it around your driver (see CallbackRobot)."""

    @abstractmethod
    def observe(self) -> np.ndarray:
        """The latest observation, laid out as the bundle's ``policy.json`` says, in its units."""

    @abstractmethod
    def act(self, action: np.ndarray) -> None:
        """Send one action (already clipped to the bundle's bounds)."""

    @abstractmethod
    def safe_stop(self) -> None:
        """Bring the robot to a safe state (called when the loop ends or fails)."""


class CallbackRobot(Robot):
    """An adapter for a user's driver: pass three functions and the loop drives the hardware.

    Example (a ROS 2 node or a vendor SDK goes behind these callables)::

        robot = CallbackRobot(observe=driver.read_state_vector, act=driver.send_velocity_command,
                              safe_stop=driver.brake)
    """

    def __init__(
        self, observe: Callable[[], np.ndarray], act: Callable[[np.ndarray], None], safe_stop: Callable[[], None]
    ) -> None:
        self._observe, self._act, self._stop = observe, act, safe_stop

    def observe(self) -> np.ndarray:
        return self._observe()

    def act(self, action: np.ndarray) -> None:
        self._act(action)

    def safe_stop(self) -> None:
        self._stop()


@dataclass
class LoopStats:
    """What a control loop run did. Times in microseconds."""

    steps: int = 0
    deadline_misses: int = 0  # ticks whose observe+inference exceeded the deadline (safe action sent)
    late_ticks: int = 0  # realtime ticks that started after their scheduled time
    faults: list[str] = field(default_factory=list)  # non-finite observations / actions
    latency_us: list[float] = field(default_factory=list)  # inference
    jitter_us: list[float] = field(default_factory=list)  # |actual - scheduled tick start|, realtime only

    def summary(self) -> dict[str, Any]:
        def pct(v: list[float], q: float) -> float | None:
            return float(np.percentile(v, q)) if v else None

        return {
            "steps": self.steps,
            "deadline_misses": self.deadline_misses,
            "late_ticks": self.late_ticks,
            "faults": len(self.faults),
            "latency_us": {
                "p50": pct(self.latency_us, 50),
                "p99": pct(self.latency_us, 99),
                "max": max(self.latency_us, default=None),
            },
            "jitter_us": {
                "p50": pct(self.jitter_us, 50),
                "p99": pct(self.jitter_us, 99),
                "max": max(self.jitter_us, default=None),
            },
        }


def check_deadline(deadline_s: float | None, period_s: float) -> float:
    """The watchdog deadline in seconds: ``None`` means one control period; anything else must be a finite,
    positive number (NaN would switch the watchdog off, 0 or less would miss every tick)."""
    if deadline_s is None:
        return float(period_s)
    ok = isinstance(deadline_s, (int, float)) and not isinstance(deadline_s, bool) and math.isfinite(deadline_s)
    if not ok or deadline_s <= 0:
        raise ValueError(
            f"deadline {deadline_s * 1000!r} ms: must be a finite, positive time (omit it for one control period, "
            f"{period_s * 1000:g} ms)"
        )
    return float(deadline_s)


class ControlLoop:
    """Fixed-rate loop: observe -> policy -> clip -> act, with a watchdog on each tick.

    The observation's previous-action entries (``Bundle.previous_action_index``) are filled by the loop with
    the clipped action it last sent, the bundle's safe action before the first tick and after
    :meth:`new_episode`: a driver reports only what its sensors measure. A tick whose observation plus
    inference takes longer than ``deadline`` (default: one control period) sends the safe action instead of
    the late one and counts a deadline miss. An observation that cannot be read as the bundle's layout, is
    non-finite, or lies outside the bundle's observation limits (``Bundle.obs_low``/``obs_high``), and a
    non-finite action, send the safe action and log a fault (``last_fault`` says which, for the tick just run).
    Every action is clipped to the bundle's bounds before it reaches the robot.

    However the loop ends (done, an exception from the driver, a signal), :meth:`stop` sends the safe action
    and calls ``safe_stop`` exactly once; a failure of either is recorded in ``stats.faults`` (and
    ``stop_error``), never skips the other.
    """

    def __init__(
        self,
        bundle: Bundle,
        robot: Robot,
        rate_hz: float | None = None,
        deadline_s: float | None = None,
        on_step: Callable[[np.ndarray, np.ndarray], None] | None = None,
    ) -> None:
        self.bundle, self.robot = bundle, robot
        self.rate_hz = check_rate(rate_hz, bundle.control_rate_hz)
        self.period = 1.0 / self.rate_hz
        self.deadline = check_deadline(deadline_s, self.period)
        self.on_step = on_step
        self.stats = LoopStats()
        self.last_action = bundle.safe_action.copy()
        self.state = bundle.new_state() if hasattr(bundle, "new_state") else None  # the episode's memory
        self.last_fault: str | None = None  # the observation fault of the tick just run (None: it was fine)
        self.stopping = False  # set as the safe stop begins: a signal handler must not interrupt it
        self.stopped = False
        self.stop_error: BaseException | None = None
        self.last_sent: np.ndarray | None = None

    def new_episode(self) -> None:
        """The robot was reset: the previous action the policy sees is the safe action again, and a policy with
        memory (history, LSTM state) starts afresh."""
        self.last_action = self.bundle.safe_action.copy()
        if self.state is not None:
            self.state.reset()

    def read_observation(self, raw: Any) -> tuple[np.ndarray, str | None]:
        """``raw`` as the policy's observation (previous-action entries filled), and what is wrong with it (None:
        nothing): unreadable (ragged, strings), the wrong shape, non-finite, or outside the bundle's limits."""
        n = self.bundle.obs_dim
        try:
            obs = np.array(raw, dtype=np.float32)
        except (ValueError, TypeError, OverflowError):
            return np.full(n, np.nan, np.float32), f"unreadable observation ({type(raw).__name__})"
        if obs.shape != (n,):
            return np.full(n, np.nan, np.float32), f"observation of shape {obs.shape}, the bundle needs ({n},)"
        if len(self.bundle.previous_action_index):
            obs[self.bundle.previous_action_index] = self.last_action
        if not np.isfinite(obs).all():
            return obs, "non-finite observation"
        lo, hi = getattr(self.bundle, "obs_low", None), getattr(self.bundle, "obs_high", None)  # none: excitation
        if lo is not None and hi is not None:
            out = np.flatnonzero((obs < lo) | (obs > hi))
            if len(out):
                i = int(out[0])
                name = self.bundle.meta["observation"][i].get("name", i)
                return obs, f"observation {i} ({name}) = {float(obs[i]):g} outside its limits [{lo[i]:g}, {hi[i]:g}]"
        return obs, None

    def tick(self) -> np.ndarray:
        """One control step; returns the action sent."""
        start = time.perf_counter()
        obs, self.last_fault = self.read_observation(self.robot.observe())
        if self.last_fault is not None:
            self.stats.faults.append(f"step {self.stats.steps}: {self.last_fault}")
            action = self.bundle.safe_action
            if self.state is not None:  # a memory never holds a faulty reading: it restarts at the next good one
                self.state.reset()
        else:
            t = time.perf_counter()
            action = self.state.act(obs) if self.state is not None else self.bundle(obs)
            self.stats.latency_us.append((time.perf_counter() - t) * 1e6)
            if not np.isfinite(action).all():
                self.stats.faults.append(f"step {self.stats.steps}: non-finite action")
                action = self.bundle.safe_action
            elif time.perf_counter() - start > self.deadline:
                self.stats.deadline_misses += 1
                action = self.bundle.safe_action
        action = np.clip(action, self.bundle.low, self.bundle.high)
        if not np.isfinite(action).all():  # unreachable with a loaded bundle's finite safe action; never sent
            raise RuntimeError(f"step {self.stats.steps}: non-finite action after the safety checks; not sent")
        self.last_sent = action
        self.robot.act(action)
        self.last_action = action
        if self.state is not None and self.last_fault is None:
            self.state.sent(action)
        if self.on_step is not None:
            self.on_step(obs, action)
        self.stats.steps += 1
        return action

    def run(self, steps: int, realtime: bool = True, until: Callable[[], bool] | None = None) -> LoopStats:
        """Run ``steps`` ticks (or until ``until()`` is true); ``realtime`` paces them at ``rate_hz``."""
        t0 = time.perf_counter()
        try:
            for i in range(steps):
                if realtime:
                    scheduled = t0 + i * self.period
                    now = time.perf_counter()
                    if now < scheduled:
                        time.sleep(max(0.0, scheduled - now - 0.0005))
                        while time.perf_counter() < scheduled:  # spin the last half millisecond
                            pass
                    now = time.perf_counter()
                    self.stats.jitter_us.append(abs(now - scheduled) * 1e6)
                    if now - scheduled > self.period:
                        self.stats.late_ticks += 1
                self.tick()
                if until is not None and until():
                    break
        finally:
            self.stop()
        return self.stats

    def stop(self) -> None:
        """Send the safe action, then call ``safe_stop``: each once, each whatever the other did (idempotent)."""
        self.stopping = True
        if self.stopped:
            return
        self.stopped = True
        safe = np.clip(self.bundle.safe_action, self.bundle.low, self.bundle.high)
        try:
            self.last_sent = safe
            self.robot.act(safe)
        except Exception as e:  # noqa: BLE001  (the robot must still get safe_stop)
            self.stats.faults.append(f"stop: sending the safe action failed ({type(e).__name__}: {e})")
        try:
            self.robot.safe_stop()
        except Exception as e:  # noqa: BLE001
            self.stats.faults.append(f"stop: safe_stop failed ({type(e).__name__}: {e})")
            self.stop_error = e
