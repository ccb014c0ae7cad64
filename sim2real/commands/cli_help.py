"""Help and shell completion for ``sim2real``: the subcommand list, each subcommand's own help, and Hydra's
completion routed through the subcommand.

Descriptions and examples come from the first comment lines of each command's config
(``configs/<command>.yaml``), so they live in one place.
"""

from __future__ import annotations

import os
import sys
from importlib import resources

HIDDEN_GROUPS = ("tuning", "hydra")  # chosen by sim2real itself (tuning: from task and algo), not options
EXTRA = {
    "data": ("inspect or import logged data", "sim2real data import robot_log.npz task=navigate out=data/nav-v0"),
    "convert": (
        "re-save an SB3 model.zip run without pickle (only with --trust)",
        "sim2real convert policy=old_run --trust",
    ),
    "task": (
        "list the registered tasks, or check a task's spec against its env",
        "sim2real task check my_robot --config-dir cfg",
    ),
    "demo": ("a small transfer comparison on navigation with the shipped policies", "sim2real demo"),
}


def describe(command: str) -> tuple[str, str]:
    """(one-line description, example) of ``command``, from its config's header comment."""
    if command in EXTRA:
        return EXTRA[command]
    text = resources.files("sim2real.configs").joinpath(f"{command}.yaml").read_text()
    comments = [ln.lstrip("# ").rstrip() for ln in text.splitlines()[:3] if ln.startswith("#")]
    desc = comments[0].split(":", 1)[1].strip() if comments and ":" in comments[0] else command
    example = next((c for c in comments[1:] if c.startswith("sim2real ")), f"sim2real {command}")
    return desc, example


def overview(commands: list[str]) -> str:
    """``sim2real --help``: every subcommand with a description and an example, like ``git help``."""
    lines = ["usage: sim2real <subcommand> [key=value ...] [-m]", "", "subcommands:"]
    for name in commands:
        desc, example = describe(name)
        lines += [f"  {name:<10} {desc}", f"  {'':<10} e.g. {example}"]
    lines += [
        "",
        "`sim2real <subcommand> --help` lists its options and settings; `--cfg job` prints its full config.",
        "On the robot's computer: `sim2real-deploy` (pip install ./runtime; numpy and onnxruntime only).",
        'Shell completion (bash, zsh): eval "$(sim2real -sc install=bash)"',
    ]
    return "\n".join(lines)


def _yaml_text(config_name: str) -> str:
    from importlib import resources

    f = resources.files("sim2real.configs").joinpath(f"{config_name}.yaml")
    return f.read_text() if f.is_file() else ""


def command_help(command: str, config_name: str, overrides: list[str]) -> str:
    """``sim2real <command> --help``: what it does, an example, the config groups it takes with their options,
    and its settings with their defaults (the tuning group and Hydra's internals left out)."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra
    from omegaconf import OmegaConf

    desc, example = describe(command)
    with initialize_config_module(config_module="sim2real.configs", version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        given = [o for o in overrides if "=" in o and not o.startswith("-")]
        if not any(o.startswith("task=") for o in given) and "task: ???" in _yaml_text(config_name):
            given.append("task=navigate")  # a command whose task is required: show its settings for navigation
        cfg = compose(config_name, overrides=given)
        groups = {}
        for group in loader.list_groups(""):
            if group in HIDDEN_GROUPS or group not in cfg:
                continue
            groups[group] = loader.get_group_options(group)
    lines = [f"sim2real {command}: {desc}", f"  e.g. {example}", ""]
    if groups:
        lines.append("choose with <group>=<option>:")
        lines += [f"  {g}: {', '.join(opts)}" for g, opts in groups.items()]
        lines.append("")
    settings = {k: v for k, v in OmegaConf.to_container(cfg, resolve=False).items() if k not in groups}
    task = OmegaConf.select(cfg, "task.name")
    where = f" for task={task}, its tuned values included" if task and command in ("train", "finetune") else ""
    lines.append(f"settings{where} (override with key=value; nested keys with dots, e.g. eval.episodes=10):")
    lines += ["  " + ln for ln in OmegaConf.to_yaml(OmegaConf.create(settings)).rstrip().splitlines()]
    lines += ["", "Hydra's own flags: --hydra-help; the full composed config: --cfg job"]
    return "\n".join(lines)


def completion_query(commands: list[str]) -> tuple[str, list[str]] | None:
    """Route Hydra's ``-sc query=bash`` through the subcommand. The completion script calls ``sim2real -sc
    query=bash`` with the typed line in ``COMP_LINE``: with no subcommand yet, print the subcommands that match;
    otherwise drop the subcommand from ``COMP_LINE`` (and ``COMP_POINT``) and return it for Hydra to complete."""
    line = os.environ.get("COMP_LINE", "")
    words = line.split()
    if len(words) < 2 or (len(words) == 2 and not line.endswith(" ")):
        prefix = words[1] if len(words) == 2 else ""
        print(" ".join(c for c in [*commands, *EXTRA] if c.startswith(prefix)))
        return None
    command = words[1]
    if command not in commands:
        return None
    start = line.index(command)
    os.environ["COMP_LINE"] = line[:start] + line[start + len(command) :].lstrip(" ")
    point = int(os.environ.get("COMP_POINT", len(line)))
    os.environ["COMP_POINT"] = str(max(0, point - (len(line) - len(os.environ["COMP_LINE"]))))
    return command, ["-sc", "query=bash"]


def is_completion(argv: list[str]) -> bool:
    return any(a in ("-sc", "--shell-completion") for a in argv)


def completion_args(argv: list[str]) -> list[str]:
    """The ``-sc <action>`` pair of ``argv`` (install=bash, uninstall=bash, query=bash)."""
    i = next(i for i, a in enumerate(argv) if a in ("-sc", "--shell-completion"))
    return argv[i : i + 2]


def program_name() -> None:
    """Completion scripts name the program: ``sim2real``, never ``sim2real train``."""
    sys.argv[0] = "sim2real"
