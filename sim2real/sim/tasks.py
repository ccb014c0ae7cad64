"""The task registry: one :class:`TaskSpec` per task, and nothing else in sim2real keys on a task name.

A task spec says how to build the env (a Gymnasium id, an env class or factory by import path, or a
stock Gymnasium MuJoCo env to wrap in :class:`~sim2real.sim.wrappers.DynamicsWrapper`), which canonical
parameters it takes, its randomisation presets and target profiles, the robot's bodies, the
observation and action layouts with units, whether it reports success, and its scripted controller.

Robots enter three ways (see ``docs/adding_a_robot.md``):

- ``register(TaskSpec(...))`` or ``register(spec_from_dict({...}))`` in Python;
- a task YAML in a ``task/`` folder on Hydra's search path (``--config-dir``), the same keys as the
  packaged ``configs/task/*.yaml``;
- an entry point in the ``sim2real.tasks`` group of an installed package, resolving to a TaskSpec, a
  dict of its keys, or a callable returning either.

A YAML spec carries no code: the reward and the success signal live in the env. A task YAML may extend
another task with a Hydra defaults list (``defaults: [<task>, _self_]``): the registry merges it the way
Hydra composes it (``configs/task/navigate_v1.yaml``: navigation with the faithful wheel contact).
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

ENTRY_POINT_GROUP = "sim2real.tasks"
HOW_TO_ADD = (
    "add one with sim2real.sim.tasks.register(...), a task YAML on Hydra's search path (--config-dir), "
    f"or a '{ENTRY_POINT_GROUP}' entry point (docs/adding_a_robot.md)"
)


class TaskError(ValueError):
    """An unknown or malformed task; the message lists the registered tasks and how to add one."""


@dataclass(frozen=True)
class TaskSpec:
    """Everything sim2real knows about one task.

    Exactly one of ``entry_point`` (a ``module:attr`` env class or factory that takes ``randomization=``
    and ``dynamics=``) and ``stock`` (a Gymnasium id of a stock MuJoCo env, wrapped in
    ``DynamicsWrapper``) says how to build it; the result is registered with Gymnasium as ``env_id``.
    """

    name: str
    env_id: str
    entry_point: str | None = None
    stock: str | None = None
    kwargs: Mapping[str, Any] = field(default_factory=dict)  # keyword arguments of the env (e.g. model_path)
    max_episode_steps: int | None = None
    description: str = ""
    randomization: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # preset -> {param: [lo, hi]}
    targets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # profile -> {param: value}
    robot_bodies: tuple[str, ...] = ()  # stock envs: roots of the robot's subtrees (not objects, goals)
    friction_geoms: tuple[str, ...] | None = None  # stock envs: the robot's contact geoms (default: all)
    bodies: tuple[str, ...] = ()  # bodies addressable by body_mass_scale.<body>
    payload_body: str | None = None  # where payload_mass (kg) is added
    observation: tuple[tuple[str, str], ...] = ()  # stock envs: (name, unit) per entry
    action: tuple[tuple[str, str, str], ...] = ()  # stock envs: (name, unit, scale) per entry
    success: bool = True  # the env reports info["is_success"]; otherwise tasks compare on returns
    scripted: str | None = None  # "module:function(env) -> policy", a demonstrator
    calibrate_params: tuple[str, ...] = ()  # what ``calibrate`` estimates by default (needs replay hooks)
    conventions: str = ""  # frames and sign conventions a robot engineer needs to wire the observations
    observation_bounds: Mapping[str, tuple[float, float]] = field(default_factory=dict)  # name or glob -> (lo, hi)
    excite: Mapping[str, Any] = field(default_factory=dict)  # identification signals and guards (sim2real.data.excite)

    def bounds_of(self, name: str) -> tuple[float, float] | tuple[None, None]:
        """The physical range of observation ``name`` (exact name first, then glob patterns), or (None, None)."""
        import fnmatch

        if name in self.observation_bounds:
            return tuple(self.observation_bounds[name])
        for pattern, b in self.observation_bounds.items():
            if fnmatch.fnmatchcase(name, pattern):
                return tuple(b)
        return None, None

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise TaskError(f"task spec: name must be a non-empty string, got {self.name!r}")
        if (self.entry_point is None) == (self.stock is None):
            raise TaskError(
                f"task '{self.name}': give exactly one of entry_point (an env class) or stock (a Gymnasium id)"
            )
        for ref in (self.entry_point, self.scripted):
            if ref is not None and ":" not in ref:
                raise TaskError(f"task '{self.name}': '{ref}' must be an import path 'module:attr'")


_FIELDS = {f.name for f in fields(TaskSpec)}
_TUPLES = ("robot_bodies", "friction_geoms", "bodies", "calibrate_params")


def spec_from_dict(d: Mapping[str, Any]) -> TaskSpec:
    """A TaskSpec from the keys of a task YAML (unknown keys are refused, with the valid ones named)."""
    d = dict(d)
    if "defaults" in d:
        d = _extended(d)
    unknown = sorted(set(d) - _FIELDS - {"tuning"})
    if unknown:
        raise TaskError(
            f"task spec '{d.get('name')}': unknown keys {unknown}; valid keys: {', '.join(sorted(_FIELDS))}"
        )
    d.pop("tuning", None)
    for key in _TUPLES:
        if d.get(key) is not None:
            d[key] = tuple(d[key])
    if d.get("observation"):
        d["observation"] = tuple((str(o["name"]), str(o.get("unit", "-"))) for o in d["observation"])
    if d.get("action"):
        d["action"] = tuple((str(a["name"]), str(a.get("unit", "-")), str(a.get("scale", "-"))) for a in d["action"])
    bounds = d.get("observation_bounds") or {}
    if not isinstance(bounds, Mapping) or any(
        not isinstance(b, (list, tuple))
        or len(b) != 2
        or not all(isinstance(x, (int, float)) for x in b)
        or b[0] > b[1]
        for b in bounds.values()
    ):
        raise TaskError(
            f"task spec '{d.get('name')}': observation_bounds maps names to [low, high] numbers, low <= high"
        )
    d["observation_bounds"] = {str(k): (float(b[0]), float(b[1])) for k, b in bounds.items()}
    if "name" not in d or "env_id" not in d:
        raise TaskError(f"task spec {d}: needs at least name and env_id")
    return TaskSpec(**d)


def _extended(d: dict[str, Any]) -> dict[str, Any]:
    """A task YAML with a Hydra defaults list (``defaults: [<base task>, _self_]``) merged onto its base's spec
    as Hydra composes it (mappings merge key by key, other values replace), so that the registry and the
    composed ``task`` node agree."""
    from omegaconf import OmegaConf

    entries = d.pop("defaults")
    bases = [e for e in entries if e != "_self_"] if isinstance(entries, list) else [entries]
    if len(bases) != 1 or not isinstance(bases[0], str) or bases[0] not in _REGISTRY:
        known = ", ".join(sorted(_REGISTRY)) or "none yet"
        raise TaskError(
            f"task spec '{d.get('name')}': defaults={entries!r} must name one registered task to extend (registered: "
            f"{known}), as 'defaults: [<task>, _self_]'"
        )
    base = _REGISTRY[bases[0]]
    if d.get("name") in (None, base.name) or d.get("env_id") in (None, base.env_id):
        raise TaskError(f"task spec '{d.get('name')}' extends '{base.name}': give it a name and an env_id of its own")
    return OmegaConf.to_container(OmegaConf.merge(to_config(base), d))


_REGISTRY: dict[str, TaskSpec] = {}
_ORIGIN: dict[str, str] = {}  # name -> where the spec came from: "package", "python", a file, an entry point
_YAML: set[str] = set()  # the tasks registered from a task YAML on Hydra's search path


def register(spec: TaskSpec, replace: bool = False, origin: str = "python") -> TaskSpec:
    """Add ``spec`` to the registry and to Gymnasium's (as ``spec.env_id``); returns it. Registering the same
    spec again is a no-op (an entry point that also registers itself on import loads once)."""
    if not isinstance(spec, TaskSpec):
        raise TaskError(f"register() takes a TaskSpec, got {type(spec).__name__}; use spec_from_dict for a dict")
    old = _REGISTRY.get(spec.name)
    if old == spec:
        return old
    if old is not None and not replace:
        raise TaskError(f"task '{spec.name}' is registered already (as {old.env_id}); pass replace=True to redefine it")
    _REGISTRY[spec.name] = spec
    _ORIGIN[spec.name] = origin
    _YAML.discard(spec.name)
    _register_gym(spec, replace)
    return spec


def origin(name: str) -> str:
    """Where task ``name`` was registered from: ``package``, ``python``, ``entry point <name = value>``, a task
    YAML's path, or the run, bundle or dataset whose recorded spec registered it."""
    get(name)
    return _ORIGIN.get(name, "python")


def _gym_kwargs(spec: TaskSpec) -> tuple[str, dict[str, Any], int | None]:
    if spec.stock is not None:
        return "sim2real.sim.wrappers:make_stock", {"task": spec.name}, None
    return str(spec.entry_point), dict(spec.kwargs), spec.max_episode_steps


def _register_gym(spec: TaskSpec, replace: bool) -> None:
    import gymnasium as gym

    entry, kwargs, steps = _gym_kwargs(spec)
    old = gym.registry.get(spec.env_id)
    if old is not None and (
        not replace or (old.entry_point, old.kwargs, old.max_episode_steps) == (entry, kwargs, steps)
    ):
        return  # the same env already (no "Overriding environment" warning), or kept
    if old is not None:
        del gym.registry[spec.env_id]  # redefined on purpose (replace=True): no warning either
    gym.register(id=spec.env_id, entry_point=entry, max_episode_steps=steps, kwargs=kwargs)


@functools.cache
def _packaged_dir() -> Path:
    """``sim2real/configs/task`` found without importing ``sim2real.configs`` (whose ``__init__`` builds the
    Hydra groups from the learning layer's schemas: the registry stays at the bottom layer)."""
    found = importlib.util.find_spec("sim2real.configs")
    if found is None or not found.submodule_search_locations:
        raise TaskError("sim2real.configs is missing from this installation; reinstall sim2real")
    return Path(next(iter(found.submodule_search_locations))) / "task"


@functools.cache
def load_builtin() -> None:
    """The packaged task YAMLs (``configs/task/*.yaml``), registered once per process."""
    docs = [yaml.safe_load(f.read_text()) for f in sorted(_packaged_dir().glob("*.yaml"))]
    for d in sorted(docs, key=lambda d: "defaults" in d):  # the tasks others extend first
        spec = spec_from_dict(d)
        if spec.name not in _REGISTRY:
            _REGISTRY[spec.name] = spec
            _ORIGIN[spec.name] = "package"
        _register_gym(spec, False)


def load_dirs(dirs: Iterable[str | Path]) -> list[str]:
    """Register the task YAMLs in ``<dir>/task/*.yaml`` of each directory (Hydra's ``--config-dir``), so that
    every command, and compare's workers, know them by name; returns their names. A file must name the task it
    defines (``name:`` equals the file's stem, as Hydra selects it) and must not redefine a packaged or
    installed task; every problem is one line naming the file."""
    _load_builtin_and_plugins()
    docs: list[tuple[Path, dict[str, Any]]] = []
    for d in dirs:
        folder = Path(d).expanduser() / "task"
        for f in sorted(folder.glob("*.yaml")) if folder.is_dir() else []:
            try:
                data = yaml.safe_load(f.read_text())
            except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
                first = (getattr(e, "problem", None) or str(e)).splitlines()[0]
                raise TaskError(f"{f}: {first}; fix or remove that file (a task YAML holds data only)") from None
            if not isinstance(data, dict):
                raise TaskError(f"{f}: a task YAML is a mapping of spec keys (name, env_id, ...)")
            if data.get("name") != f.stem:
                raise TaskError(
                    f"{f}: name={data.get('name')!r} must equal the file's name '{f.stem}' (Hydra selects "
                    "task=<file name>)"
                )
            docs.append((f, data))
    loaded = []
    for f, data in sorted(docs, key=lambda fd: "defaults" in fd[1]):  # the tasks others extend first
        try:
            spec = spec_from_dict(data)
        except TaskError as e:
            raise TaskError(f"{f}: {e}") from None
        if spec.name in _REGISTRY and spec.name not in _YAML and _REGISTRY[spec.name] != spec:
            raise TaskError(f"{f}: task '{spec.name}' is already registered ({_ORIGIN.get(spec.name)}); rename yours")
        register(spec, replace=True, origin=str(f))
        _YAML.add(spec.name)
        loaded.append(spec.name)
    return loaded


# What a recorded spec must agree on with the registered one: what builds the env and what the policy sees.
INTERFACE_KEYS = (
    "env_id",
    "entry_point",
    "stock",
    "kwargs",
    "max_episode_steps",
    "observation",
    "action",
    "success",
    "robot_bodies",
    "friction_geoms",
    "bodies",
    "payload_body",
)


def record(name: str) -> dict[str, Any]:
    """Task ``name``'s spec as plain data, for a run's ``run.json``, a bundle's ``policy.json``, a dataset's
    metadata or a compare unit: what :func:`adopt` reads back elsewhere."""
    return to_config(get(name))


def adopt(name: str, recorded: Any, where: str) -> TaskSpec:
    """Task ``name`` for a run, bundle, dataset or unit that recorded its spec (``recorded``; None for files
    older than the record): the registered task when the two agree on :data:`INTERFACE_KEYS`, else one line; a
    task registered nowhere here is registered from the record, unless the record names code (``entry_point``,
    ``scripted``): a file never decides what is imported."""
    _load_builtin_and_plugins()
    if recorded is None:
        return get(name)
    if not isinstance(recorded, Mapping) or recorded.get("name") != name:
        raise TaskError(f"{where}: its recorded task spec is not task '{name}'s; the file is damaged")
    try:
        spec = spec_from_dict({k: v for k, v in recorded.items() if k != "defaults"})
    except (TaskError, TypeError, ValueError) as e:
        raise TaskError(f"{where}: its recorded task spec is malformed ({e})") from None
    if name in _REGISTRY:
        have, want = to_config(_REGISTRY[name]), to_config(spec)
        diff = [k for k in INTERFACE_KEYS if have.get(k) != want.get(k)]
        if diff:
            k = diff[0]
            raise TaskError(
                f"{where}: task '{name}' was recorded with {k}={want.get(k)!r}, but the registered one "
                f"({_ORIGIN.get(name, 'python')}) has {have.get(k)!r}; use the task the policy was made for"
            )
        return _REGISTRY[name]
    if spec.entry_point is not None or spec.scripted is not None:
        raise TaskError(
            f"{where}: task '{name}' is built by code ({spec.entry_point or spec.scripted}) and is not registered "
            f"here; install the package that registers it, or pass its task YAML with --config-dir (an import path "
            "in a file is never followed)"
        )
    return register(spec, origin=where)


_BROKEN: dict[str, str] = {}  # entry points that failed to load: name -> the one-line reason


@functools.cache
def _load_builtin_and_plugins() -> None:
    """The packaged tasks, then the ``sim2real.tasks`` entry points of installed packages (once per process)."""
    from importlib.metadata import entry_points

    load_builtin()
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        try:
            obj = ep.load()
            obj = obj() if callable(obj) and not isinstance(obj, TaskSpec) else obj
            spec = spec_from_dict(obj) if isinstance(obj, Mapping) else obj
            if not isinstance(spec, TaskSpec):
                raise TaskError(f"resolved to {type(spec).__name__}, not a TaskSpec")
        except Exception as e:  # a broken plugin names itself, once, and breaks no other task or command
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            _BROKEN[ep.name] = f"entry point '{ep.name} = {ep.value}' ({ENTRY_POINT_GROUP}) failed to load: {first}"
            print(f"warning: {_BROKEN[ep.name]}; its task is unavailable", file=sys.stderr)
            continue
        register(spec, replace=True, origin=f"entry point '{ep.name} = {ep.value}'")


def to_config(spec: TaskSpec) -> dict[str, Any]:
    """A spec as a plain ``task`` config node (what a task YAML holds)."""
    d: dict[str, Any] = {}
    for f in fields(TaskSpec):
        v = getattr(spec, f.name)
        if f.name == "observation":
            v = [{"name": n, "unit": u} for n, u in v]
        elif f.name == "action":
            v = [{"name": n, "unit": u, "scale": sc} for n, u, sc in v]
        elif isinstance(v, tuple):
            v = list(v)
        elif isinstance(v, Mapping):
            v = _plain_mapping(v)
        d[f.name] = v
    return d


def _plain_mapping(m: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: _plain_mapping(v) if isinstance(v, Mapping) else (list(v) if isinstance(v, tuple) else v)
        for k, v in m.items()
    }


def packaged(name: str) -> bool:
    """Whether task ``name`` has a packaged YAML (``configs/task/<name>.yaml``)."""
    return (_packaged_dir() / f"{name}.yaml").is_file()


def check_shareable(name: str, who: str) -> None:
    """Refuse, in one line, a task that ``who`` (processes of their own: compare's units, sweep's joblib workers)
    could not know: one registered only by this process's Python code."""
    if origin(name) == "python":
        raise TaskError(
            f"task={name} was registered in Python by this process, and {who} run in processes of their own; "
            "register it with a task YAML (--config-dir) or a 'sim2real.tasks' entry point"
        )


def config_dir(name: str) -> Path | None:
    """The ``--config-dir`` folder whose ``task/<name>.yaml`` registered task ``name`` (None: not from one), so
    that a process compare or sweep launches can load it too."""
    where = Path(_ORIGIN.get(name, ""))
    return where.parent.parent if name in _YAML and where.suffix == ".yaml" and where.is_file() else None


def broken(name: str) -> str | None:
    """Why the entry point that would register task ``name`` failed to load (None: it did not fail)."""
    _load_builtin_and_plugins()
    return _BROKEN.get(name)


def names() -> list[str]:
    """The registered task names."""
    _load_builtin_and_plugins()
    return sorted(_REGISTRY)


def get(name: str) -> TaskSpec:
    """The spec of task ``name``; an unknown name is one line listing the registered tasks and how to add one."""
    _load_builtin_and_plugins()
    if name not in _REGISTRY and name in _BROKEN:
        raise TaskError(f"task='{name}': {_BROKEN[name]}; fix that package or uninstall it")
    if name not in _REGISTRY:
        raise TaskError(f"task='{name}' is unknown; registered: {', '.join(sorted(_REGISTRY))}; {HOW_TO_ADD}")
    return _REGISTRY[name]


def ensure(node: Any) -> TaskSpec:
    """The spec for a composed ``task`` config node: a registered name, or a user's task YAML (registered now)."""
    from omegaconf import OmegaConf

    d = OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node
    if isinstance(d, str):
        return get(d)
    if not isinstance(d, Mapping) or "name" not in d:
        raise TaskError(f"task={d!r}: a task config needs a name; {HOW_TO_ADD}")
    _load_builtin_and_plugins()
    if d["name"] not in _REGISTRY and "env_id" in d:
        spec = register(spec_from_dict(d), origin="a task YAML on Hydra's search path")
        _YAML.add(spec.name)
        return spec
    spec = get(str(d["name"]))
    registered = to_config(spec)
    for key, value in d.items():  # a task's settings come from its spec: an override would be silently ignored
        if key in registered and value != registered[key]:
            raise TaskError(
                f"task.{key}={value!r} differs from task '{spec.name}' ({registered[key]!r}); a task's settings are "
                "fixed by its spec: register a task of your own instead (docs/adding_a_robot.md)"
            )
    return spec


def env_id(name: str) -> str:
    return get(name).env_id


def resolve(ref: str) -> Any:
    """The object at import path ``module:attr``."""
    module, _, attr = ref.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def core(env: Any) -> Any:
    """The object in a wrapper chain that carries the task interface (``params``, ``observation_layout``,
    ``action_layout``, ``rest_action``, ``dt``): the ``DynamicsWrapper`` of a stock env, else the env itself."""
    e = env
    while not hasattr(e, "params") and hasattr(e, "env"):
        e = e.env
    if not hasattr(e, "params"):
        raise TaskError(f"{type(env.unwrapped).__name__} is not a sim2real task env (no params)")
    return e


def make(name: str, randomization: Any = None, dynamics: Any = None, **kwargs: Any) -> Any:
    """``gymnasium.make`` of task ``name`` with the dynamics layer. A task sim2real does not ship is checked
    against its spec the first time a process builds it (:mod:`sim2real.sim.task_check`)."""
    import gymnasium as gym

    from sim2real.sim.task_check import check_once

    check_once(name)
    return gym.make(env_id(name), randomization=randomization, dynamics=dynamics, **kwargs)


__all__ = [
    "TaskSpec",
    "TaskError",
    "register",
    "spec_from_dict",
    "get",
    "names",
    "ensure",
    "make",
    "core",
    "load_dirs",
    "adopt",
    "record",
    "origin",
]
