"""``sim2real task list`` and ``sim2real task check <name> [--config-dir DIR]``: what the registry knows, and a
task's spec checked against its env before any training (Gymnasium's and SB3's env checkers included)."""

from __future__ import annotations

import re
import sys
import warnings

from sim2real.commands.resolve import config_dirs
from sim2real.sim import tasks

USAGE = "usage: sim2real task list | sim2real task check <name> [--config-dir DIR]"


def task_main(argv: list[str]) -> int:
    """The ``task`` subcommand; returns the exit code (2: a bad task or spec, with one ``error:`` line)."""
    dirs, rest = config_dirs(argv)
    if (
        not rest
        or rest[0] in ("-h", "--help")
        or rest[0] not in ("list", "check")
        or len(rest) != (1 if rest[0] == "list" else 2)
    ):
        print(USAGE, file=sys.stdout if rest and rest[0] in ("-h", "--help") else sys.stderr)
        return 0 if rest and rest[0] in ("-h", "--help") else 2
    try:
        tasks.load_dirs(dirs)
        if rest[0] == "list":
            for name in tasks.names():
                print(f"{name:<14} {tasks.get(name).env_id:<28} {tasks.origin(name)}")
            return 0
        print(check_text(rest[1]))
    except (tasks.TaskError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


def check_text(name: str) -> str:
    """The report of ``task check``: spec checks, Gymnasium's and SB3's checkers, layouts, bodies, hooks."""
    import gymnasium as gym
    from gymnasium.utils.env_checker import check_env as gym_check
    from stable_baselines3.common.env_checker import check_env as sb3_check

    from sim2real.sim.task_check import inspect

    report = inspect(name)
    spec = tasks.get(name)
    env = gym.make(spec.env_id)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            gym_check(env.unwrapped, skip_render_check=True)
            sb3_check(env, warn=True)
    except Exception as e:  # a checker's refusal is the user's to fix: one line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise tasks.TaskError(f"task '{name}': the env checkers refuse it: {first}") from None
    finally:
        env.close()
    ansi = re.compile(r"\x1b\[[0-9;]*m")
    checker = sorted({ansi.sub("", str(w.message).splitlines()[0]).removeprefix("WARN: ") for w in caught})
    lines = [
        f"task {name}: {spec.env_id} ({tasks.origin(name)})",
        "  spec checks: passed (success signal, layout lengths, finite reset)",
        f"  gymnasium and SB3 env checkers: passed ({len(checker)} warning(s))",
        *(f"    {w}" for w in checker),
        f"  observation ({report.obs_dim}):",
        *(f"    [{i}] {n} ({u})" for i, (n, u, *_) in enumerate(report.observation)),
        f"  action ({report.action_dim}):",
        *(f"    [{i}] {a[0]} ({a[1]}{', scale ' + str(a[2]) if len(a) > 2 and a[2] != '-' else ''})"
          for i, a in enumerate(report.action)),
        f"  success signal: {'info[is_success]' if spec.success else 'none (compare scores the normalised return)'}",
        f"  parameters it takes: {', '.join(report.params) or 'none'}",
        f"  bodies the dynamics layer scales ({len(report.robot_bodies)}): {', '.join(report.robot_bodies) or 'none'}",
        f"  randomisation presets: {', '.join(spec.randomization) or 'none'}; "
        f"target profiles: {', '.join(spec.targets) or 'none'}",
        "  calibration hooks: "
        + ", ".join(f"{h} {'yes' if has else 'no'}" for h, has in report.hooks.items())
        + ("" if all(report.hooks.values()) else " (calibrate needs all; see docs/adding_a_robot.md)"),
        *(f"  warning: {w}" for w in report.warnings),
    ]  # fmt: skip
    return "\n".join(lines)
