"""``sim2real calibrate``: calibration.json, a randomisation centred on the estimate (``dr.yaml``) and the
point estimate as a target profile (``dynamics.yaml``) in the run directory."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import yaml
from omegaconf import DictConfig

from sim2real.data.datasets import read
from sim2real.ident.calibrate import calibrate, randomization_from
from sim2real.ident.replay import CalibrationError, envs_params, replay_env
from sim2real.ident.result_check import check_result
from sim2real.io import atomic_write, write_json
from sim2real.learn.config import plain
from sim2real.learn.schemas import check
from sim2real.sim import tasks
from sim2real.sim.dynamics import resolve_dynamics


def write_yaml(path: Path, data: dict[str, Any], header: str) -> None:
    """``header`` then ``data`` as YAML, written atomically."""
    atomic_write(path, lambda p: Path(p).write_text(header + yaml.safe_dump(data, sort_keys=False)))


def calibrate_cmd(cfg: DictConfig) -> dict[str, Any]:
    """Validate every input, calibrate, write the three files and print the one-line summary."""
    check(cfg, "calibrate")  # types and ranges, from the schema
    task = cfg.task.name
    replay_env(task)  # a task without replay hooks is refused before anything else
    params = plain(cfg.params) or list(tasks.get(task).calibrate_params)
    if not params:
        raise CalibrationError(f"params=[]: task {task} names no default parameters to calibrate; give params=[...]")
    if not isinstance(params, list):
        raise CalibrationError(f"params={params!r}: give a list, e.g. params=[mass_scale,action_latency]")
    budget, seed, horizon, stride = int(cfg.budget), int(cfg.seed), int(cfg.horizon), int(cfg.stride)
    bootstrap = int(cfg.bootstrap)
    weight = float(cfg.prior_weight)
    default = plain(cfg.task.randomization).get(str(cfg.base_dr))
    if default is None:
        raise CalibrationError(f"base_dr='{cfg.base_dr}' is not a preset of task {task}")
    profiles = {}
    for spec in plain(cfg.gap_of) or []:
        values = yaml.safe_load(Path(spec).read_text()) if str(spec).endswith((".yaml", ".yml")) else spec
        if isinstance(values, dict):
            values = {k: v for k, v in values.items() if k != "name"}
        profiles[str(spec)] = resolve_dynamics(values, task, envs_params(task))
    logged = read(cfg.data, task)
    rounds, restarts = int(cfg.newton_rounds), int(cfg.restarts)
    threads = cfg.get("threads")
    result = calibrate(
        logged,
        list(params),
        budget,
        seed,
        horizon,
        stride,
        float(weight),
        profiles,
        bootstrap,
        rounds,
        restarts,
        solver=str(cfg.solver),
        start_budget=int(cfg.start_budget),
        threads=None if threads is None else int(threads),
        default_params=list(tasks.get(task).calibrate_params),
        hop=float(cfg.hop),
        sigma_hop=float(cfg.sigma_hop),
        identified_rel_std=float(cfg.identified_rel_std),
    )
    ranges = randomization_from(result, default)
    check_result(result, ranges, task, cfg.data)  # nothing is written unless the result is usable
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "calibration.json", result)
    write_yaml(
        out / "dr.yaml",
        {"name": "calibrated", **ranges},
        f"# Randomisation centred on the calibration in {out / 'calibration.json'} (base preset: {cfg.base_dr}).\n"
        "# Use it as dr=<this file or its directory>.\n",
    )
    write_yaml(
        out / "dynamics.yaml",
        {
            "name": "calibrated",
            **{k: int(v) if k == "action_latency" else float(v) for k, v in result["estimate"].items()},
        },
        "# The calibrated point estimate as a target profile: dynamics=<this file>.\n",
    )
    ident = [p for p, ok in result["identified"].items() if ok]
    parts = []
    for p, v in result["estimate"].items():
        s = result["std"][p]
        std = f" +- {s:.2g}" if isinstance(s, float) and math.isfinite(s) else ""
        parts.append(f"{p}={v:.3g}{std}" + ("" if p in ident else " (not identified)"))
    gaps = "".join(f"; replay error of {k}: {v:.3f}" for k, v in result["replay_error_of"].items())
    verdict = result["misfit_check"]
    misfit = (
        f"; MISFIT ({verdict['cause']}): no parameter is flagged identified"
        if result["misfit"]
        else f"; fit consistent with the measured noise ({result['misfit_ratio']:.2f}x its replay error)"
    )
    cost = result["cost"]["total"]
    print(
        f"calibrate: {task} from {logged.episodes} episodes: replay error {result['replay_error_before']:.3f} -> "
        f"{result['replay_error_after']:.3f}; "
        + ", ".join(parts)
        + gaps
        + misfit
        + f"; {cost['replays']} replays, {cost['mujoco_steps']:,} MuJoCo steps, {result['wall_s']:.0f} s"
        + f" -> {out / 'calibration.json'}"
    )
    return result
