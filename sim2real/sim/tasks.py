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
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from importlib import resources
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


def register(spec: TaskSpec, replace: bool = False) -> TaskSpec:
    """Add ``spec`` to the registry and to Gymnasium's (as ``spec.env_id``); returns it."""
    if not isinstance(spec, TaskSpec):
        raise TaskError(f"register() takes a TaskSpec, got {type(spec).__name__}; use spec_from_dict for a dict")
    old = _REGISTRY.get(spec.name)
    if old is not None and old != spec and not replace:
        raise TaskError(f"task '{spec.name}' is registered already (as {old.env_id}); pass replace=True to redefine it")
    _REGISTRY[spec.name] = spec
    _register_gym(spec, replace)
    return spec


def _register_gym(spec: TaskSpec, replace: bool) -> None:
    import gymnasium as gym

    if spec.env_id in gym.registry and not replace:
        return
    if spec.stock is not None:
        gym.register(id=spec.env_id, entry_point="sim2real.sim.wrappers:make_stock", kwargs={"task": spec.name})
    else:
        gym.register(
            id=spec.env_id,
            entry_point=spec.entry_point,
            max_episode_steps=spec.max_episode_steps,
            kwargs=dict(spec.kwargs),
        )


@functools.cache
def load_builtin() -> None:
    """The packaged task YAMLs (``configs/task/*.yaml``), registered once per process."""
    root = resources.files("sim2real.configs").joinpath("task")
    docs = [
        yaml.safe_load(f.read_text()) for f in sorted(root.iterdir(), key=lambda p: p.name) if f.name.endswith(".yaml")
    ]
    for d in sorted(docs, key=lambda d: "defaults" in d):  # the tasks others extend first
        spec = spec_from_dict(d)
        _REGISTRY.setdefault(spec.name, spec)
        _register_gym(spec, False)


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
        register(spec, replace=True)


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
    return resources.files("sim2real.configs").joinpath("task", f"{name}.yaml").is_file()


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
        return register(spec_from_dict(d))
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
    """``gymnasium.make`` of task ``name`` with the dynamics layer."""
    import gymnasium as gym

    return gym.make(env_id(name), randomization=randomization, dynamics=dynamics, **kwargs)


__all__ = ["TaskSpec", "TaskError", "register", "spec_from_dict", "get", "names", "ensure", "make", "core"]
