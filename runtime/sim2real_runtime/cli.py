"""``sim2real-deploy``: verify a bundle, print its metadata, run it against your robot's driver.

Torch-free: this command imports numpy, onnxruntime and the driver module you name, nothing else.
Every bad input is one ``error:`` line and exit code 2, before the robot moves.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from sim2real_runtime.bundle import Bundle, BundleError
from sim2real_runtime.episodes import EpisodeLog, write_npz
from sim2real_runtime.excite import Excitation, ExcitationError
from sim2real_runtime.loop import CallbackRobot, ControlLoop, Robot

EXAMPLES = """examples:
  sim2real-deploy verify bundles/navigate-dr
  sim2real-deploy info bundles/navigate-dr
  sim2real-deploy run bundles/navigate-dr --driver my_robot:make_driver --steps 600 --log runs/robot-0.npz
  sim2real-deploy run runs/collect/<run>/excite --driver my_robot:make_driver --steps 4000 --episodes 20 --log ex.npz

A driver factory returns a sim2real_runtime.Robot, or a dict of callables: observe() -> observation
(the bundle's layout and units; previous-action entries are filled by the loop), act(action),
safe_stop(), and optionally reward() -> float, done() -> bool, success() -> bool, reset()."""


class UsageError(ValueError):
    """A bad command-line value or driver; printed as one ``error:`` line."""


@dataclass
class Driver:
    """The robot behind the loop, and the optional episode hooks of a callable driver."""

    robot: Robot
    reward: Callable[[], float] | None = None
    done: Callable[[], bool] | None = None
    success: Callable[[], bool] | None = None
    reset: Callable[[], None] | None = None


def load_driver(spec: str, args: list[str]) -> Driver:
    """``module:factory`` (the module importable from the current directory), called with ``key=value``
    arguments (strings); returns the driver it builds."""
    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        raise UsageError(f"--driver {spec!r}: give module:factory, e.g. --driver my_robot:make_driver")
    kwargs = {}
    for a in args:
        key, eq, value = a.partition("=")
        if not eq or not key.isidentifier():
            raise UsageError(f"--driver-arg {a!r}: give key=value, e.g. --driver-arg port=/dev/ttyUSB0")
        kwargs[key] = value
    sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise UsageError(f"--driver {spec!r}: cannot import {module_name} ({e}); run from its directory") from None
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise UsageError(f"--driver {spec!r}: {module_name} has no callable {attr}")
    made = factory(**kwargs)
    if isinstance(made, Robot):
        return Driver(made)
    if isinstance(made, dict):
        missing = [k for k in ("observe", "act", "safe_stop") if not callable(made.get(k))]
        unknown = sorted(set(made) - {"observe", "act", "safe_stop", "reward", "done", "success", "reset"})
        if missing or unknown:
            raise UsageError(
                f"--driver {spec!r}: the factory's dict lacks callables {missing} or has unknown keys {unknown}"
            )
        robot = CallbackRobot(made["observe"], made["act"], made["safe_stop"])
        return Driver(robot, made.get("reward"), made.get("done"), made.get("success"), made.get("reset"))
    raise UsageError(f"--driver {spec!r}: the factory returned {type(made).__name__}, not a Robot or a dict")


class Recorder:
    """Logs what the loop sent and saw, episode by episode (the driver's ``done()`` ends one)."""

    def __init__(self, loop: ControlLoop, driver: Driver, episodes: int | None) -> None:
        self.loop, self.driver, self.max_episodes = loop, driver, episodes
        self.episodes: list[EpisodeLog] = []
        self.current = EpisodeLog(seed=0)

    def on_step(self, obs: np.ndarray, action: np.ndarray) -> None:
        ep = self.current
        ep.observations.append(np.array(obs, np.float32))
        ep.actions.append(np.array(action, np.float32))
        ep.rewards.append(float(self.driver.reward()) if self.driver.reward else 0.0)
        ep.terminations.append(False)
        ep.truncations.append(False)

    def until(self) -> bool:
        """After each tick: close the episode when the driver says it is done, or an excitation routine has played
        its table out (then the episode is truncated, not terminated); True once enough were run."""
        driver_done = self.driver.done is not None and self.driver.done()
        routine_done = bool(getattr(self.loop.bundle, "done", False))
        if not (driver_done or routine_done):
            return False
        self._close(terminated=driver_done)
        if self.max_episodes is not None and len(self.episodes) >= self.max_episodes:
            return True
        if self.driver.reset is not None:
            self.driver.reset()
        self.loop.new_episode()
        if hasattr(self.loop.bundle, "new_episode"):
            self.loop.bundle.new_episode()
        self.current = EpisodeLog(seed=len(self.episodes))
        return False

    def finish(self) -> list[EpisodeLog]:
        """The episodes, the last one cut off (truncated) if the loop stopped in its middle."""
        if self.current.actions:
            self._close(terminated=False)
        return self.episodes

    def _close(self, terminated: bool) -> None:
        ep = self.current
        obs = np.array(self.loop.robot.observe(), np.float32)
        if obs.shape == (self.loop.bundle.obs_dim,) and len(self.loop.bundle.previous_action_index):
            obs[self.loop.bundle.previous_action_index] = self.loop.last_action
        ep.observations.append(obs)
        ep.terminations[-1], ep.truncations[-1] = terminated, not terminated
        ep.success = bool(self.driver.success()) if self.driver.success else False
        self.episodes.append(ep)
        self.current = EpisodeLog(seed=len(self.episodes))


def info_text(bundle: Bundle) -> str:
    """A bundle's metadata as a robot engineer reads it: rate, safety, the layouts with units and bounds."""
    m = bundle.meta
    lines = [
        f"bundle {bundle.path}: task {m['task']} ({m.get('env_id', '?')}), {m.get('algo', '?')} policy, "
        f"format {m['format']}",
        f"control rate {bundle.control_rate_hz:g} Hz; trained with action latency "
        f"{m.get('trained_action_latency_steps')} steps; safe action {[float(x) for x in bundle.safe_action]}",
    ]
    if m.get("conventions"):
        lines.append(f"conventions: {m['conventions']}")
    lines.append(f"observations ({bundle.obs_dim}): index name [unit] low..high")
    prev = set(bundle.previous_action_index.tolist())
    for o in m["observation"]:
        note = "  (filled by the loop: the last action sent)" if o["index"] in prev else ""
        lines.append(f"  {o['index']:>3} {o['name']} [{o.get('unit')}] {o.get('low')}..{o.get('high')}{note}")
    lines.append(f"actions ({bundle.action_dim}): index name [unit] low..high, scale")
    for a in m["action"]:
        lines.append(f"  {a['index']:>3} {a['name']} [{a.get('unit')}] {a['low']}..{a['high']}, {a.get('scale')}")
    lines.append(f"source: {m.get('source_run')} (commit {m.get('commit')}), parity {m.get('parity_max_abs_diff')}")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="sim2real-deploy",
        description="Run a sim2real policy bundle on a robot (numpy + onnxruntime only).",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="{verify,info,run}")
    v = sub.add_parser("verify", help="check a bundle: manifest hashes, format, finite bounds and safe action")
    v.add_argument("bundle")
    i = sub.add_parser("info", help="print a bundle's metadata: task, rate, layouts with units and bounds")
    i.add_argument("bundle")
    i.add_argument("--json", action="store_true", help="print policy.json as it is")
    r = sub.add_parser(
        "run", help="run a bundle or an excitation routine against your driver at its rate, with the safety rules"
    )
    r.add_argument("bundle")
    r.add_argument("--driver", required=True, help="module:factory building your robot (see the examples)")
    r.add_argument("--driver-arg", action="append", default=[], help="key=value passed to the factory (repeat)")
    r.add_argument("--steps", type=int, required=True, help="control ticks to run at most")
    r.add_argument("--episodes", type=int, default=None, help="stop after this many episodes (driver's done())")
    r.add_argument("--rate-hz", type=float, default=None, help="loop rate (default: the bundle's; within +-10%%)")
    r.add_argument("--deadline-ms", type=float, default=None, help="watchdog per tick (default: one period)")
    r.add_argument("--no-realtime", action="store_true", help="do not pace the ticks (a simulator driver)")
    r.add_argument("--log", default=None, help="write the episodes to this new .npz (sim2real data import format)")
    return p


def load_artefact(path: str) -> Bundle | Excitation:
    """A policy bundle, or an excitation routine (a directory holding ``excite.json``), verified."""
    return Excitation.load(path) if (Path(path) / "excite.json").is_file() else Bundle.load(path)


def excitation_text(ex: Excitation) -> str:
    """An excitation routine as a robot engineer reads it: rate, length, signals, limits and guards."""
    m = ex.meta
    names = [a.get("name", str(i)) for i, a in enumerate(m.get("action", []))] or [str(i) for i in range(ex.action_dim)]
    lines = [
        f"excitation {ex.path}: task {m['task']}, {ex.control_rate_hz:g} Hz, {ex.steps} steps an episode "
        f"({ex.steps / ex.control_rate_hz:g} s); ramps {m['ramp_steps']} steps; rate limit {m['rate_limit']:g} "
        f"action units a step; safe action {[float(x) for x in ex.safe_action]}",
    ]
    for j, c in enumerate(m["channels"]):
        lines.append(
            f"  channel {j} ({names[j]}): {c['signal']}, amplitude {c['amplitude']:g} around {c['offset']:g}, "
            f"band {c['band_hz'][0]:g}-{c['band_hz'][1]:g} Hz"
        )
    for g in ex.guards:
        bound = f"< {g.below:g}" if g.below is not None else f"> {g.above:g}"
        ahead = f" (looking {g.lookahead_s:g} s ahead)" if g.velocity else ""
        lines.append(
            f"  guard {g.name!r}: observation {list(g.observation)} {bound}{ahead} stops channel {g.channel} "
            f"moving {'+' if g.blocks > 0 else '-'}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        bundle = load_artefact(args.bundle)
        kind = "excitation" if isinstance(bundle, Excitation) else "bundle"
        if args.command == "verify":
            print(f"{kind} {bundle.path}: OK ({bundle.meta['task']}, {bundle.control_rate_hz:g} Hz, manifest verified)")
            return 0
        if args.command == "info":
            text = excitation_text(bundle) if kind == "excitation" else info_text(bundle)
            print(json.dumps(bundle.meta, indent=2) if args.json else text)
            return 0
        return _run(bundle, args)
    except (BundleError, ExcitationError, UsageError, ValueError, FileExistsError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _run(bundle: Bundle | Excitation, args: Any) -> int:
    if args.steps < 1:
        raise UsageError(f"--steps {args.steps}: must be a positive number of control ticks")
    if args.episodes is not None and args.episodes < 1:
        raise UsageError(f"--episodes {args.episodes}: must be positive")
    if args.log is not None and (Path(args.log).suffix != ".npz" or Path(args.log).exists()):
        raise UsageError(f"--log {args.log}: give a new .npz file (an existing log is never overwritten)")
    driver = load_driver(args.driver, args.driver_arg)
    deadline = None if args.deadline_ms is None else args.deadline_ms / 1000.0
    loop = ControlLoop(bundle, driver.robot, rate_hz=args.rate_hz, deadline_s=deadline)
    recorder = Recorder(loop, driver, args.episodes)
    loop.on_step = recorder.on_step
    try:
        stats = loop.run(args.steps, realtime=not args.no_realtime, until=recorder.until)
    except KeyboardInterrupt:
        print("interrupted: safe stop sent", file=sys.stderr)
        stats = loop.stats
    episodes = recorder.finish()
    summary = stats.summary()
    if isinstance(bundle, Excitation):  # what the guards did (each stop: step and guard)
        summary["guard_stops"] = len(bundle.stops)
    print(json.dumps({"episodes": len(episodes), **summary}))
    if args.log is not None and episodes:
        print(
            f"log: {write_npz(args.log, episodes)} ({len(episodes)} episodes); import it with "
            f"`sim2real data import {args.log} task={bundle.meta['task']} out=<dataset>`"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
