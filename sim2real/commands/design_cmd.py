"""``sim2real design``: rank identification experiments from the simulator alone (see :mod:`sim2real.ident.design`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from sim2real.ident.design import CANDIDATE_FORMS, design, parse_candidate, report_text
from sim2real.ident.replay import CalibrationError
from sim2real.io import write_json
from sim2real.learn.config import checked_group, plain
from sim2real.learn.schemas import check
from sim2real.sim import tasks
from sim2real.sim.dynamics import resolve_dynamics


def design_cmd(cfg: DictConfig) -> dict[str, Any]:
    """Validate, assess every candidate, print the ranking and write ``design.json``."""
    check(cfg, "design")
    task = cfg.task.name
    params = plain(cfg.params) or list(tasks.get(task).calibrate_params)
    if not isinstance(params, list) or not params:
        raise CalibrationError(
            f"params={params!r}: give a non-empty list, e.g. params=[mass_scale,actuator_gain_scale]"
        )
    candidates = [str(c) for c in plain(cfg.candidates)]
    try:
        for c in candidates:
            parse_candidate(c)
    except ValueError as e:
        raise CalibrationError(str(e)) from None
    if not candidates:
        raise CalibrationError(f"candidates=[]: give at least one of {CANDIDATE_FORMS}")
    core = tasks.core(tasks.make(task))
    dyn = resolve_dynamics(checked_group(cfg, task, "dynamics"), task, core.params)
    result = design(
        task,
        params,
        dyn,
        candidates,
        episodes=int(cfg.episodes),
        target_rel_std=float(cfg.target_rel_std),
        seed=int(cfg.seed),
        action_noise=float(cfg.action_noise),
        horizon=int(cfg.horizon),
        stride=int(cfg.stride),
    )
    result["dynamics_profile"] = str(OmegaConf.select(cfg, "dynamics.name"))
    write_json(Path(cfg.out_dir) / "design.json", result)
    print(report_text(result))
    print(f"design: -> {Path(cfg.out_dir) / 'design.json'}")
    return result
