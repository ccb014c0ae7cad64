"""The ``dr`` and ``dynamics`` Hydra config groups, generated from the parameter table and the task registry
(never copied by hand): ``dr/none``, ``dynamics/nominal``, and one option per randomisation preset and target
profile that any registered task names (``dr=default``, ``dr=torso``, ``dynamics=real``, ``dynamics=heavy``).

Each option lists every canonical parameter, so any of them can be overridden without Hydra's ``+``
(``dynamics.friction_scale=0.6``); a preset's value comes from the selected task's spec
(``${oc.select:task.targets.<profile>.<name>,null}``). Per-body values (``body_mass_scale.<body>``) are a
mapping under ``body_mass_scale``; the CLI adds the ``+`` they need.
"""

from __future__ import annotations

from typing import Any

from sim2real.sim import tasks
from sim2real.sim.dynamics import BODY_MASS, PARAMS

NONE_PRESET, NOMINAL_PROFILE, ADR_PRESET = "none", "nominal", "adr"  # adr: ranges set by ADR (learn/adr.py)


def _option(section: str, preset: str) -> dict[str, Any]:
    node: dict[str, Any] = {"name": preset}
    for name in [*PARAMS, BODY_MASS.name]:
        node[name] = f"${{oc.select:task.{section}.{preset}.{name},null}}"
    return node


def group_nodes() -> dict[tuple[str, str], dict[str, Any]]:
    """``{(group, option): node}`` for every preset and profile of the registered tasks."""
    specs = [tasks.get(n) for n in tasks.names()]
    nodes: dict[tuple[str, str], dict[str, Any]] = {
        ("dr", NONE_PRESET): {"name": NONE_PRESET, **{p: None for p in PARAMS}, BODY_MASS.name: None},
        ("dr", ADR_PRESET): {"name": ADR_PRESET, **{p: None for p in PARAMS}, BODY_MASS.name: None},
        ("dynamics", NOMINAL_PROFILE): {
            "name": NOMINAL_PROFILE,
            **{p: s.nominal for p, s in PARAMS.items()},
            BODY_MASS.name: None,
        },
    }
    for spec in specs:
        for preset in spec.randomization:
            nodes.setdefault(("dr", preset), _option("randomization", preset))
        for profile in spec.targets:
            nodes.setdefault(("dynamics", profile), _option("targets", profile))
    return nodes


def store() -> None:
    """Put the generated options into Hydra's ConfigStore (called when ``sim2real.configs`` is imported, and
    again by whoever registers a task later): the ``dr`` and ``dynamics`` options, and a ``task/<name>`` option
    for each task that is not packaged (registered in Python, by an entry point, by a task YAML, or from a run's
    record; a later command in the same process may not have that YAML on its search path)."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    for (group, option), node in group_nodes().items():
        cs.store(group=group, name=option, node=node)
    for name in tasks.names():
        if not tasks.packaged(name):
            cs.store(group="task", name=name, node=tasks.to_config(tasks.get(name)))


def check_named(node: Any, task: str, group: str) -> None:
    """A named preset or profile must exist for ``task``: ``dynamics=heavy`` on a task without a ``heavy``
    profile would otherwise be the nominal sim in silence."""
    name = node.get("name") if hasattr(node, "get") else None
    spec = tasks.get(task)
    own = spec.targets if group == "dynamics" else spec.randomization
    generated = {o for g, o in group_nodes() if g == group} - {NONE_PRESET, NOMINAL_PROFILE, ADR_PRESET}
    if name in generated and name not in own:
        kind = "target profile" if group == "dynamics" else "randomisation preset"
        options = ", ".join([NOMINAL_PROFILE if group == "dynamics" else NONE_PRESET, *own])
        raise ValueError(f"{group}={name}: task {task} has no {kind} '{name}'; its options: {options}")
