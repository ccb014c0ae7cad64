"""Where a command's task comes from, in one place: the ``--config-dir`` task YAMLs, then the run, bundle,
dataset or excitation the command is given (their recorded task, and its spec: :func:`sim2real.sim.tasks.adopt`),
then ``task=`` on the command line. Every command, and compare's workers, go through here; a ``task=`` that
disagrees with its source is one line.
"""

from __future__ import annotations

from pathlib import Path

from sim2real.learn.config import ConfigError
from sim2real.sim import tasks
from sim2real.sim.dynamics import PARAMS

# the setting that names each command's source of truth for its task (a run, bundle, dataset or routine)
SOURCE = {
    "evaluate": "policy",
    "export": "policy",
    "collect": "policy",
    "finetune": "init",
    "deploy": "bundle",
    "calibrate": "data",
    "sweep": "policies",
    "compare": "pretrained",
}
NOT_RUNS = ("scripted", "excite", "train")  # collect policy=scripted|excite, compare pretrained=train


def arg(argv: list[str], key: str) -> str | None:
    """The value of ``key=`` on a command line (the last one given), or None."""
    found = None
    for a in argv:
        if a.startswith(f"{key}="):
            found = a.split("=", 1)[1]
    return found


def config_dirs(argv: list[str]) -> tuple[list[str], list[str]]:
    """(the ``--config-dir`` / ``-cd`` directories, the other arguments) of a command line."""
    dirs, rest, i = [], [], 0
    while i < len(argv):
        a = argv[i]
        if a in ("--config-dir", "-cd") and i + 1 < len(argv):
            dirs.append(argv[i + 1])
            i += 2
            continue
        if a.startswith("--config-dir="):
            dirs.append(a.split("=", 1)[1])
        else:
            rest.append(a)
        i += 1
    return dirs, rest


def search_path(dirs: list[str]) -> list[str]:
    """The override that puts ``dirs`` on Hydra's search path (for a ``compose`` outside ``hydra.main``)."""
    if not dirs:
        return []
    return ["hydra.searchpath=[" + ",".join(f"file://{Path(d).resolve()}" for d in dirs) + "]"]


def _items(value: str) -> list[str]:
    """``a`` or ``[a,b]`` as a list of plain names (an interpolation or a mapping: nothing to read)."""
    v = value.strip()
    if not v or "$" in v or "{" in v or ":" in v.split("/")[0]:
        return []
    items = (x.strip().strip("[]").strip().strip("'\"") for x in v.split(","))  # [a,b], nested [[a,b],c]
    return [x for x in items if x]


def _recorded(command: str, value: str) -> list[str]:
    """The task names the source ``value`` of ``command`` records, each adopted into the registry."""
    from sim2real.io import read_json

    if command == "deploy":
        from sim2real.deploy import Bundle

        meta = Bundle.load(value).meta
        tasks.adopt(meta["task"], meta.get("task_spec"), f"bundle {value}")
        return [meta["task"]]
    if command == "calibrate":
        from sim2real.data.datasets import read

        return [read(value).task]
    if command == "collect" and (Path(value) / "excite.json").is_file():
        try:
            return [str(read_json(Path(value) / "excite.json")["task"])]
        except (ValueError, KeyError, TypeError):
            raise ValueError(
                f"policy={value}: excite.json is malformed; rebuild it with collect policy=excite"
            ) from None
    from sim2real.learn.runs import resolve_policy

    return [resolve_policy(v).task for v in _items(value) if v not in NOT_RUNS]


def with_task(command: str, argv: list[str]) -> list[str]:
    """``argv`` with ``task=`` filled from the command's source when not given (and ``algo=`` for finetune);
    a given ``task=`` that is not the source's task is one line. Call :func:`load_config_dirs` first."""
    key = SOURCE.get(command)
    value = arg(argv, key) if key else None
    if value is None or "," in value and not value.startswith("["):
        return argv  # nothing to read, or a Hydra sweep over sources (each job checks its own)
    names = _recorded(command, value)
    if not names:
        return argv
    given = arg(argv, "task")
    if given is not None and given != names[0]:
        what = {"bundle": "bundle", "data": "dataset"}.get(key, "policy")
        if what == "policy":
            raise ConfigError(
                f"{key}={value} is a {names[0]} policy (trained on task '{names[0]}'), not {given}; drop task="
            )
        raise ConfigError(f"{key}={value} is a {names[0]} {what}, not {given}; drop task= or fix it")
    out = argv if given is not None else [*argv, f"task={names[0]}"]
    if command == "finetune" and arg(argv, "algo") is None:
        from sim2real.learn.runs import resolve_policy

        out = [*out, f"algo={resolve_policy(value).algo}"]
    return out


def load_config_dirs(argv: list[str]) -> list[str]:
    """Register the task YAMLs of the command line's ``--config-dir`` folders; returns the folders."""
    dirs, _ = config_dirs(argv)
    tasks.load_dirs(dirs)
    return dirs


def group_files(argv: list[str]) -> list[str]:
    """``dr=<file or dir>`` / ``dynamics=<file>``: a YAML written by ``calibrate`` (or by hand) becomes
    ``dr=none dr.<name>=[low,high] ...`` (``dynamics=nominal dynamics.<name>=value ...``), so every
    command, sweep and launcher takes it like a preset."""
    import yaml

    out = []
    for arg in argv:
        key, _, value = arg.partition("=")
        if key not in ("dr", "dynamics") or not ("/" in value or value.endswith((".yaml", ".yml"))) or "," in value:
            out.append(arg)
            continue
        path = Path(value)
        if path.is_dir():
            path = path / f"{key}.yaml"
        if not path.is_file():
            raise ConfigError(
                f"{key}={value}: no such file (a calibration run directory holds dr.yaml and dynamics.yaml)"
            )
        data = yaml.safe_load(path.read_text()) or {}
        if not isinstance(data, dict):
            raise ConfigError(f"{key}={value}: expected a mapping of parameter names")
        out += [f"{key}={'none' if key == 'dr' else 'nominal'}", f"{key}.name={data.pop('name', path.stem)}"]
        for name, v in data.items():
            if name not in PARAMS:
                raise ConfigError(
                    f"{key}={value}: unknown dynamics parameter '{name}'; valid names: {', '.join(PARAMS)}"
                )
            if isinstance(v, list):  # every entry kept: the range check refuses anything but [low, high]
                out.append(f"{key}.{name}=[{','.join(str(x) for x in v)}]")
            else:
                out.append(f"{key}.{name}={v}")
    return out
