"""``sim2real-deploy``: verify a bundle, print its metadata, run it against your robot's driver.

Torch-free: this command imports numpy, onnxruntime and the driver module you name, nothing else.
Every bad input is one ``error:`` line and exit code 2, before the robot moves.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from sim2real_runtime.bundle import Bundle, BundleError
from sim2real_runtime.excite import Excitation, ExcitationError
from sim2real_runtime.loop import CallbackRobot, ControlLoop, Robot, check_deadline, check_rate
from sim2real_runtime.session import Driver, LogWriter, run_session

EXAMPLES = """examples:
  sim2real-deploy verify bundles/navigate-dr
  sim2real-deploy info bundles/navigate-dr
  sim2real-deploy run bundles/navigate-dr --driver my_robot:make_driver --steps 600 --log runs/robot-0.npz
  sim2real-deploy run runs/collect/<run>/excite --driver my_robot:make_driver --steps 4000 --episodes 20 --log ex.npz

A driver factory returns a sim2real_runtime.Robot, or a dict of callables: observe() -> observation
(the bundle's layout and units; previous-action entries are filled by the loop), act(action),
safe_stop(), and optionally reward() -> float, done() -> bool, success() -> bool, reset().

However a run ends, the safe action is sent and safe_stop() called once, and the log holds every step
before the end. Exit status: 0 done; 2 bad input (the robot never moved); 3 a driver call failed;
4 safe_stop() failed; 5 the log could not be written; 128+N signal N (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP)."""


class UsageError(ValueError):
    """A bad command-line value or driver; printed as one ``error:`` line."""


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
    try:
        made = factory(**kwargs)
    except Exception as e:  # noqa: BLE001  (a driver that cannot start: one line, the robot never moved)
        raise UsageError(f"--driver {spec!r}: the factory failed ({type(e).__name__}: {e})") from None
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
    check = "off" if bundle.obs_low is None else "on: a reading beyond these limits is a fault, the safe action sent"
    lines.append(f"observation check {check}")
    lines.append(f"observations ({bundle.obs_dim}): index name [unit] low..high")
    prev = set(bundle.previous_action_index.tolist())
    for o in m["observation"]:
        note = "  (filled by the loop: the last action sent)" if o["index"] in prev else ""
        limit = ""
        if bundle.obs_low is not None and o["index"] not in prev and np.isfinite(bundle.obs_low[o["index"]]):
            limit = f" (fault beyond {bundle.obs_low[o['index']]:g}..{bundle.obs_high[o['index']]:g})"
        lines.append(f"  {o['index']:>3} {o['name']} [{o.get('unit')}] {o.get('low')}..{o.get('high')}{limit}{note}")
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
    r.add_argument(
        "--flush-steps", type=int, default=500, help="rewrite the log (atomically) at least every this many ticks"
    )
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
    if args.flush_steps < 1:
        raise UsageError(f"--flush-steps {args.flush_steps}: must be a positive number of ticks")
    deadline = None if args.deadline_ms is None else args.deadline_ms / 1000.0
    rate = check_rate(args.rate_hz, bundle.control_rate_hz)
    check_deadline(deadline, 1.0 / rate)  # before the driver is built: NaN, 0 and negative deadlines refused
    log = None
    if args.log is not None:  # checked before the robot moves: a new .npz in a writable folder with room
        log = LogWriter(Path(args.log), args.flush_steps)
        log.check(args.steps, bundle.obs_dim, bundle.action_dim)
    driver = load_driver(args.driver, args.driver_arg)
    loop = ControlLoop(bundle, driver.robot, rate_hz=args.rate_hz, deadline_s=deadline)
    return run_session(loop, driver, args.steps, not args.no_realtime, args.episodes, log)


if __name__ == "__main__":
    raise SystemExit(main())
