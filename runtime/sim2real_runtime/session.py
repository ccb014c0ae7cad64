"""A session on a robot: the control loop, the episode log streamed to disk, and the signals that end it.

However a session ends (its steps or episodes done, a driver call raising, SIGINT, SIGTERM or SIGHUP), the
safe action is sent, ``safe_stop`` is called exactly once and the log is flushed with every step before the
end. A second signal during that shutdown is recorded and ignored: it cannot skip any of the three.

The log is rewritten whole and atomically after every episode and every ``flush_steps`` ticks, in the
``.npz`` layout ``sim2real data import`` reads (the episode in progress is written cut off, truncated), so a
crash, a kill or a full disk loses at most the steps since the last flush. A tick whose observation is refused
(unreadable, wrong shape, non-finite or outside the bundle's limits) ends the episode in progress there and is
listed in the log's ``fault_steps``; the next good observation starts a new episode.
"""

from __future__ import annotations

import json
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim2real_runtime.episodes import EpisodeLog, write_npz
from sim2real_runtime.loop import ControlLoop, Robot
from sim2real_runtime.safeio import check_writable

EXIT_OK, EXIT_DRIVER, EXIT_SAFE_STOP, EXIT_LOG = 0, 3, 4, 5
SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@dataclass
class Driver:
    """The robot behind the loop, and the optional episode hooks of a callable driver."""

    robot: Robot
    reward: Callable[[], float] | None = None
    done: Callable[[], bool] | None = None
    success: Callable[[], bool] | None = None
    reset: Callable[[], None] | None = None


class DriverError(RuntimeError):
    """A driver hook returned something unusable (a reward that is not a number)."""


class LogError(OSError):
    """The log could not be written (a read-only or full disk)."""


class Stop(BaseException):
    """Raised by the first signal: unwinds whatever the loop was doing (a blocking driver call included)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@dataclass
class LogWriter:
    """The session's ``.npz`` log: checked before the robot moves, then rewritten atomically at each flush."""

    path: Path
    flush_steps: int = 500
    written: bool = False
    bytes_per_step: int = 0

    def check(self, steps: int, obs_dim: int, act_dim: int) -> None:
        """A new ``.npz`` in an existing, writable folder with room for ``steps`` ticks (twice: a flush writes a
        temporary copy beside the log)."""
        p = self.path
        if p.suffix != ".npz" or p.exists() or p.is_symlink():
            raise ValueError(f"--log {p}: give a new .npz file (an existing log is never overwritten)")
        parent = p.parent if str(p.parent) else Path(".")
        if not parent.is_dir():
            raise ValueError(f"--log {p}: folder {parent} does not exist; create it first")
        self.bytes_per_step = 4 * (2 * obs_dim + act_dim) + 8 + 2 + 8
        check_writable(p, "--log", 2 * steps * self.bytes_per_step + 2**20)  # a flush writes a copy beside it

    def write(self, episodes: list[EpisodeLog], fault_steps: list[int]) -> None:
        if not any(e.actions for e in episodes):
            return
        try:
            write_npz(self.path, episodes, replace_own=self.written, fault_steps=fault_steps)
        except OSError as e:
            raise LogError(f"--log {self.path}: writing failed ({e.strerror or e})") from None
        self.written = True


@dataclass
class Recorder:
    """Logs what the loop sent and saw, episode by episode (the driver's ``done()`` ends one)."""

    loop: ControlLoop
    driver: Driver
    max_episodes: int | None
    log: LogWriter | None = None
    episodes: list[EpisodeLog] = field(default_factory=list)
    fault_steps: list[int] = field(default_factory=list)
    current: EpisodeLog = field(default_factory=lambda: EpisodeLog(seed=0))
    since_flush: int = 0

    def on_step(self, obs: np.ndarray, action: np.ndarray) -> None:
        if self.loop.last_fault is not None:  # a refused observation: the episode in progress ends before it
            self.fault_steps.append(self.loop.stats.steps)
            self._cut()
            return
        reward = 0.0
        if self.driver.reward is not None:
            r = self.driver.reward()
            ok = isinstance(r, (int, float, np.integer, np.floating)) and not isinstance(r, bool)
            if not ok or not np.isfinite(r):
                raise DriverError(f"reward() returned {r!r}; it must return a finite number")
            reward = float(r)
        ep = self.current
        ep.observations.append(np.array(obs, np.float32))
        ep.actions.append(np.array(action, np.float32))
        ep.rewards.append(reward)
        ep.terminations.append(False)
        ep.truncations.append(False)
        self.since_flush += 1
        if self.log is not None and self.since_flush >= self.log.flush_steps:
            self.flush()

    def until(self) -> bool:
        """After each tick: close the episode when the driver says it is done, or an excitation routine has played
        its table out (then the episode is truncated, not terminated); True once enough were run."""
        driver_done = self.driver.done is not None and bool(self.driver.done())
        routine_done = bool(getattr(self.loop.bundle, "done", False))
        if not (driver_done or routine_done):
            return False
        self._close(terminated=driver_done)
        self.flush()
        if self.max_episodes is not None and len(self.episodes) >= self.max_episodes:
            return True
        if self.driver.reset is not None:
            self.driver.reset()
        self.loop.new_episode()
        if hasattr(self.loop.bundle, "new_episode"):
            self.loop.bundle.new_episode()
        return False

    def _cut(self) -> None:
        """End the episode in progress without a final observation: its last action is dropped (its outcome was
        never seen), the step before becomes the end, truncated."""
        ep = self.current
        if len(ep.actions) >= 2:
            for name in ("actions", "rewards", "terminations", "truncations"):
                getattr(ep, name).pop()
            ep.terminations[-1], ep.truncations[-1] = False, True
            self.episodes.append(ep)
        self.current = EpisodeLog(seed=len(self.episodes))

    def _close(self, terminated: bool) -> None:
        ep = self.current
        if not ep.actions:
            return
        try:
            obs, fault = self.loop.read_observation(self.loop.robot.observe())
        except Exception:  # noqa: BLE001  (no final observation: cut the episode instead)
            fault = "observe() failed"
        if fault is not None:
            self._cut()
            return
        ep.observations.append(obs)
        ep.terminations[-1], ep.truncations[-1] = terminated, not terminated
        ep.success = bool(self.driver.success()) if self.driver.success else False
        self.episodes.append(ep)
        self.current = EpisodeLog(seed=len(self.episodes))

    def pending(self) -> list[EpisodeLog]:
        """The closed episodes and the one in progress, cut off (truncated) where it stands."""
        ep = self.current
        if len(ep.actions) < 2:
            return list(self.episodes)
        cut = EpisodeLog(
            seed=ep.seed,
            observations=list(ep.observations),
            actions=ep.actions[:-1],
            rewards=ep.rewards[:-1],
            terminations=[False] * (len(ep.actions) - 1),
            truncations=[False] * (len(ep.actions) - 2) + [True],
        )
        return [*self.episodes, cut]

    def flush(self) -> None:
        self.since_flush = 0
        if self.log is not None:
            self.log.write(self.pending(), self.fault_steps)

    def finish(self, final_observation: bool) -> list[EpisodeLog]:
        """Close the episode in progress (with a last observation only when the robot can still give one)."""
        if self.current.actions:
            if final_observation:
                self._close(terminated=False)
            else:
                self._cut()
        return self.episodes


def run_session(
    loop: ControlLoop,
    driver: Driver,
    steps: int,
    realtime: bool,
    episodes: int | None,
    log: LogWriter | None,
    out: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
) -> int:
    """Run ``loop`` under the signal rules of this module; prints a JSON summary and returns the exit status."""
    rec = Recorder(loop, driver, episodes, log)
    loop.on_step = rec.on_step
    state: dict[str, Any] = {"signal": None, "later": []}

    def handler(signum: int, frame: Any) -> None:
        if state["signal"] is None and not loop.stopping:
            state["signal"] = signum
            raise Stop(signum)
        state["later"].append(signum)  # during shutdown: recorded, never interrupting it

    old = {s: signal.signal(s, handler) for s in SIGNALS}
    status, error = EXIT_OK, None
    try:
        try:
            loop.run(steps, realtime=realtime, until=rec.until)
        except Stop as e:
            state["signal"] = e.signum
        except LogError as e:  # a flush failed: the robot stops (a session must not run unlogged by surprise)
            status, error = EXIT_LOG, str(e)
        except Exception as e:  # noqa: BLE001  (any driver failure ends the session safely)
            status, error = EXIT_DRIVER, f"driver failed at step {loop.stats.steps}: {type(e).__name__}: {e}"
        finally:
            loop.stop()  # idempotent: a no-op when run() got to its own stop
        if loop.stop_error is not None and status == EXIT_OK:
            status, error = EXIT_SAFE_STOP, f"safe_stop() failed: {loop.stop_error}"
        if state["signal"] is not None:
            status = 128 + int(state["signal"])
            error = error or f"stopped by {signal.Signals(state['signal']).name}: safe action sent, safe_stop called"
        rec.finish(final_observation=status == EXIT_OK)
        try:
            rec.flush()
        except LogError as e:
            status, error = (status if status != EXIT_OK else EXIT_LOG), f"{error + '; ' if error else ''}{e}"
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    summary = {"episodes": len(rec.episodes), "fault_steps": len(rec.fault_steps), **loop.stats.summary()}
    if hasattr(loop.bundle, "stops"):  # an excitation routine: what its guards did
        summary["guard_stops"] = len(loop.bundle.stops)
    summary["exit"] = status
    if state["later"]:
        summary["signals_during_shutdown"] = [signal.Signals(s).name for s in state["later"]]
    print(json.dumps(summary))
    if log is not None and log.written:
        print(
            f"log: {log.path} ({len(rec.episodes)} episodes); import it with "
            f"`sim2real data import {log.path} task={loop.bundle.meta['task']} out=<dataset>`"
        )
    if error:
        out(f"error: {error}")
    return status
