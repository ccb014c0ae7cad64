"""The ``sim2real`` command: ``sim2real <subcommand> [hydra overrides] [-m]``.

Each subcommand is a Hydra app over the packaged ``configs/`` (so ``hydra.run.dir=...``, ``-m``
sweeps and launchers work as usual); bad inputs end with a one-line ``error:`` and exit code 2.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sim2real.commands import cli_help
from sim2real.commands.resolve import arg, config_dirs, group_files, load_config_dirs, search_path, with_task
from sim2real.learn import schemas
from sim2real.learn.config import ConfigError
from sim2real.sim.dynamics import DynamicsError

# BundleError, DatasetError, CalibrationError and InUseError are ValueErrors
USER_ERRORS = (ConfigError, DynamicsError, FileNotFoundError, FileExistsError, ValueError)


@contextlib.contextmanager
def one_line_errors(*extra: type[BaseException]) -> Any:
    """A user's mistake (a bad value, file or task) ends the command with one ``error:`` line and exit code 2."""
    try:
        yield
    except (*USER_ERRORS, *extra) as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def _train(cfg: Any) -> None:
    from sim2real.learn.config import build_spec
    from sim2real.learn.train import train

    run_dir = train(build_spec(cfg))  # parse and validate, then the library takes the typed spec
    print(f"train: run directory {run_dir}")


def _finetune(cfg: Any) -> None:
    from sim2real.learn.finetune import build_finetune_spec, finetune

    spec = build_finetune_spec(cfg)
    logged = None
    if spec.data is not None:  # logged target data: read (and checked) here, fine-tuned on in the learning layer
        from sim2real.data.datasets import read

        logged = read(spec.data, spec.run.task)
    run_dir = finetune(spec, logged)
    print(f"finetune: run directory {run_dir}")


def _evaluate(cfg: Any) -> None:
    from sim2real.commands.evaluate_cmd import evaluate

    evaluate(cfg)


def _compare(cfg: Any) -> None:
    from sim2real.transfer.compare import compare

    compare(cfg)


def _sweep(cfg: Any) -> None:
    from sim2real.transfer.sweep import sweep

    sweep(cfg)


def _export(cfg: Any) -> None:
    from sim2real.commands.deploy_cmd import export_cmd

    export_cmd(cfg)


def _deploy(cfg: Any) -> None:
    from sim2real.commands.deploy_cmd import deploy_cmd

    deploy_cmd(cfg)


def _collect(cfg: Any) -> None:
    from sim2real.data.collect import collect

    collect(cfg)


def _design(cfg: Any) -> None:
    from sim2real.commands.design_cmd import design_cmd

    design_cmd(cfg)


def _calibrate(cfg: Any) -> None:
    from sim2real.commands.calibrate_cmd import calibrate_cmd

    calibrate_cmd(cfg)


COMMANDS: dict[str, tuple[str, Callable[[Any], None]]] = {
    "train": ("train", _train),
    "finetune": ("finetune", _finetune),
    "evaluate": ("evaluate", _evaluate),
    "export": ("export", _export),
    "deploy": ("deploy", _deploy),
    "compare": ("compare", _compare),
    "sweep": ("sweep", _sweep),
    "collect": ("collect", _collect),
    "calibrate": ("calibrate", _calibrate),
    "design": ("design", _design),
}


GROUPS = ("task", "dr", "dynamics", "algo")


def resume_args(argv: list[str]) -> list[str]:
    """``resume=<run dir>`` (or ``resume=true hydra.run.dir=<run dir>``): the overrides the run started with
    (``overrides.started.yaml``; Hydra's ``.hydra/overrides.yaml`` for runs from before it), then the new ones;
    the run then checks its config against ``config.started.yaml``."""
    target = arg(argv, "resume")
    if target is None or target.lower() == "false":
        return argv
    run_dir = arg(argv, "hydra.run.dir") if target.lower() == "true" else target
    if run_dir is None:
        raise ConfigError("resume=true needs hydra.run.dir=<run dir>; or write resume=<run dir>")
    saved = Path(run_dir) / "overrides.started.yaml"  # sim2real's copy; Hydra rewrites its own on every start
    if not saved.is_file():
        saved = Path(run_dir) / ".hydra" / "overrides.yaml"
    if not saved.is_file():
        raise ConfigError(
            f"resume={run_dir}: {saved} is missing; resume takes a run directory written by sim2real train/finetune"
        )
    import yaml

    old = [a for a in (yaml.safe_load(saved.read_text()) or []) if not str(a).startswith("resume=")]
    new = [a for a in argv if not a.startswith(("resume=", "hydra.run.dir="))]
    return [*old, *new, "resume=true", f"hydra.run.dir={run_dir}"]


def _hydra_message(e: Exception) -> str:
    """Hydra's multi-line composition errors as one line."""
    from hydra.errors import MissingConfigException

    if isinstance(e, MissingConfigException) and e.options is not None and e.missing_cfg_file:
        group, _, value = str(e.missing_cfg_file).rpartition("/")
        if group == "task":
            from sim2real.sim import tasks

            alias = [n for n in tasks.names() if value in (tasks.get(n).stock, tasks.get(n).env_id)]
            if tasks.broken(value):
                return f"task={value}: {tasks.broken(value)}; fix that package or uninstall it"
            if alias:
                return f"task={value} is the Gymnasium id of task '{alias[0]}': use task={alias[0]}"
            return f"task={value} is unknown; registered: {', '.join(e.options)}; {tasks.HOW_TO_ADD}"
        if group in GROUPS:
            return f"{group}={value} is unknown; choose one of: {', '.join(e.options)}"
    cause = e.__cause__ or e
    key = getattr(cause, "full_key", None)
    if key and type(cause).__name__ == "ValidationError":  # a typed schema refused a value (seed=abc)
        first = str(cause).splitlines()[0]
        return f"{key}: {first}; give a value of the type the schema declares (`--help` lists the settings)"
    text = str(e)
    if text.startswith("Could not override '"):
        key = text.split("'")[1]
        return f"{key}: no such config key; `--cfg job` after the subcommand lists the keys"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    lines = [ln for ln in lines if not ln.startswith(("Config search path", "provider=", "full_key", "object_type"))]
    return " ".join(lines)


def _per_body(arg: str) -> str:
    """``dynamics.body_mass_scale.<body>=v`` (and ``dr.``) need no ``+``: the generated groups hold per-body
    values as a mapping whose keys depend on the task, so the CLI adds Hydra's ``++`` itself."""
    if arg.startswith(("dynamics.body_mass_scale.", "dr.body_mass_scale.")):
        return "++" + arg
    return arg


def _precheck(config_name: str, argv: list[str]) -> None:
    """Compose the config once before Hydra runs it (with the ``--config-dir`` search path), so that an unknown
    group option, key, malformed override or broken YAML file is one ``error:`` line with exit code 2 (Hydra
    itself prints several lines and exits 1)."""
    dirs, argv = config_dirs(argv)
    if any(a in ("-m", "--multirun") for a in argv) or any(a.startswith("-") for a in argv):
        return  # sweeps and Hydra's flags: Hydra checks them itself
    import yaml
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    overrides = [a for a in argv if not a.startswith("hydra.")] + search_path(dirs)
    try:
        with initialize_config_module(config_module="sim2real.configs", version_base="1.3"):
            cfg = compose(config_name, overrides=overrides)
        schemas.check(cfg, config_name)  # the declared ranges, before Hydra makes a run directory
    except (HydraException, OmegaConfBaseException) as e:
        print(f"error: {_hydra_message(e)}", file=sys.stderr)
        raise SystemExit(2) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{mark.name}, line {mark.line + 1}" if mark else "a config file"
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        print(f"error: {where}: {problem}; fix or remove that file (a YAML config holds data only)", file=sys.stderr)
        raise SystemExit(2) from None
    except USER_ERRORS as e:
        print(f"error: {e}", file=sys.stderr)
        raise SystemExit(2) from None


def _check_outputs(name: str, argv: list[str]) -> None:
    """Every folder the command will write (its run directory, ``out=``, ``out_dir=``; ``runs/`` by default) must
    be writable with room to spare, before Hydra creates anything and before any work."""
    from sim2real.io import check_writable

    targets = {k: arg(argv, k) for k in ("hydra.run.dir", "out_dir", "out")}
    if not targets["hydra.run.dir"] and not targets["out_dir"] and name != "compare":
        targets["hydra.run.dir"] = "runs"  # Hydra's default run directories live under ./runs
    with one_line_errors():
        for key, value in targets.items():
            if value:
                check_writable(Path(value), key)


def _hold_run_dir(argv: list[str], stack: contextlib.ExitStack) -> None:
    """Before Hydra writes its ``.hydra/`` files into a named run directory: take its lock and hold it (in
    ``stack``) until the command ends, refusing one that another process holds, and refuse a new run in one that
    holds a run (Hydra would overwrite that run's record)."""
    named = arg(argv, "out_dir") or arg(argv, "hydra.run.dir")
    if named is None:
        return
    from sim2real.io import exclusive
    from sim2real.learn.runs import check_fresh

    with one_line_errors():
        stack.enter_context(exclusive(Path(named), "run directory"))
        if arg(argv, "resume") != "true":
            check_fresh(Path(named))


REQUIRED = {
    "evaluate": "policy",
    "export": "policy",
    "finetune": "init",
    "deploy": "bundle",
    "collect": "policy",
    "calibrate": "data",
}


def _run_hydra(name: str, config_name: str, fn: Callable[[Any], None], argv: list[str]) -> None:
    import hydra

    from sim2real.sim.groups import store

    with one_line_errors():
        argv = resume_args(list(argv))
        dirs = load_config_dirs(argv)  # a user's task YAMLs are registered tasks from here on, in every command
    if any(a in ("-h", "--help") for a in argv):
        from sim2real.commands.cli_help import command_help

        store()
        with one_line_errors():
            print(command_help(name, config_name, [*config_dirs(argv)[1], *search_path(dirs)]))
        return
    if cli_help.is_completion(argv):
        cli_help.program_name()
        sys.argv[1:] = cli_help.completion_args(argv)
        store()
        hydra.main(config_path="pkg://sim2real.configs", config_name=config_name, version_base="1.3")(lambda c: None)()
        return
    if name == "compare" and arg(argv, "hydra.run.dir") is not None:
        print(
            "error: hydra.run.dir: compare writes its units, results and report to out=<dir>; "
            f"use out={arg(argv, 'hydra.run.dir')} instead",
            file=sys.stderr,
        )
        raise SystemExit(2)
    asks_hydra = any(a.startswith(("--hydra-help", "--cfg", "--info")) for a in argv)
    required = REQUIRED.get(name)
    if required and arg(argv, required) is None and not asks_hydra:
        print(f"error: {required} is required: add {required}=<value>", file=sys.stderr)
        raise SystemExit(2)
    with one_line_errors():
        argv = group_files(with_task(name, argv))  # the one place a command's task is resolved
    store()  # tasks registered by an entry point, in Python or from a run's record become task=<name> options
    argv = [_per_body(a) for a in argv]
    with contextlib.ExitStack() as stack:
        if not asks_hydra:
            _precheck(config_name, argv)
            _check_outputs(name, argv)
            if name in ("train", "finetune"):
                _hold_run_dir(argv, stack)
        _hydra_job(name, config_name, fn, argv)


def _hydra_job(name: str, config_name: str, fn: Callable[[Any], None], argv: list[str]) -> None:
    import hydra

    named = arg(argv, "out") if name == "compare" else arg(argv, "out_dir") or arg(argv, "hydra.run.dir")
    existed = named is not None and Path(named).exists()

    def guarded(cfg: Any) -> None:
        from omegaconf.errors import MissingMandatoryValue

        try:
            try:
                schemas.check(cfg, config_name)  # (again for sweeps, which the precheck leaves to Hydra)
                fn(cfg)
            except MissingMandatoryValue as e:
                raise ValueError(f"{e.full_key} is required: add {e.full_key}=<value>") from None
        except USER_ERRORS as e:
            if not existed:
                _drop_empty_run_dir(name)
            print(f"error: {e}", file=sys.stderr)
            raise SystemExit(2) from None
        except OSError as e:  # a disk that filled or turned read-only during the work: one line, not a traceback
            where = f"{e.filename}: " if e.filename else ""
            print(f"error: {where}{e.strerror or e}; free space or choose another output folder", file=sys.stderr)
            raise SystemExit(1) from None

    sys.argv = [f"sim2real {name}", *argv]
    hydra.main(config_path="pkg://sim2real.configs", config_name=config_name, version_base="1.3")(guarded)()


HYDRA_FILES = (".hydra/config.yaml", ".hydra/hydra.yaml", ".hydra/overrides.yaml")


def _drop_empty_run_dir(name: str) -> None:
    """A refused input leaves no run directory: remove the one Hydra made for this job when it holds nothing
    but Hydra's own files (its ``.hydra/`` record and the job's log); anything else in it is kept."""
    from hydra.core.hydra_config import HydraConfig

    try:
        out = Path(HydraConfig.get().runtime.output_dir)
    except ValueError:
        return
    own = {out / f for f in HYDRA_FILES} | {out / f"{HydraConfig.get().job.name}.log"}
    present = [p for p in out.rglob("*") if p.is_file() or p.is_symlink()]
    if any(p not in own for p in present):
        return
    for p in present:
        p.unlink()
    for d in (out / ".hydra", out):
        with contextlib.suppress(OSError):
            d.rmdir()  # only when empty


def demo() -> int:
    """A small transfer comparison on navigation with the shipped policies (2 seeds, small budgets)."""
    args = [
        "compare",
        "task=navigate",
        "dynamics=real",
        "seeds=2",
        "budgets=[5000,10000]",
        "eval.interval=5000",
        "eval.episodes=10",
        "out=runs/demo/compare-navigate-real",
    ]
    print("$ sim2real " + " ".join(args), flush=True)
    rc = subprocess.call([sys.executable, "-m", "sim2real.commands.cli", *args])
    if rc == 0:
        print("demo: the report is runs/demo/compare-navigate-real/report.md (plots and results.csv beside it)")
    return rc


PUBLIC = list(COMMANDS)  # compare's worker is sim2real.transfer.worker, not a subcommand


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(cli_help.overview([*PUBLIC, "data", "task", "convert", "demo"]), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] in ("-sc", "--shell-completion"):  # `sim2real -sc install=bash`, and the script's queries
        action = argv[1] if len(argv) > 1 else ""
        if action.startswith("query="):
            routed = cli_help.completion_query(PUBLIC)
            if routed is None:
                return 0
            cmd, rest = routed
        else:
            cmd, rest = "train", argv[:2]  # install/uninstall: the same script for every subcommand
        _run_hydra(cmd, COMMANDS[cmd][0], COMMANDS[cmd][1], rest)
        return 0
    cmd, rest = argv[0], argv[1:]
    if cmd == "demo":
        return demo()
    if cmd == "data":
        from sim2real.commands.data_cmd import data_main

        return data_main(rest)
    if cmd == "convert":
        from sim2real.commands.convert_cmd import convert_main

        return convert_main(rest)
    if cmd == "task":
        from sim2real.commands.task_cmd import task_main

        return task_main(rest)
    if cmd not in COMMANDS:
        print(
            f"error: unknown subcommand '{cmd}'; choose one of: "
            f"{', '.join([*PUBLIC, 'data', 'task', 'convert', 'demo'])}",
            file=sys.stderr,
        )
        return 2
    config_name, fn = COMMANDS[cmd]
    _run_hydra(cmd, config_name, fn, rest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
