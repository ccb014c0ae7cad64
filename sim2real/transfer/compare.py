"""``sim2real compare``: zero-shot vs fine-tuned vs from-scratch on a target, over seeds and budgets.

The grid is expanded into *units*, each described by a small JSON file and identified by a hash of
that description, so a finished unit is found again by its config and an interrupted or extended
compare runs only what is missing. Units run as a Hydra multirun of the worker
:mod:`sim2real.transfer.worker` (one Hydra job and directory per unit), through any Hydra launcher: joblib
locally, submitit on SLURM, Ray (:mod:`sim2real.transfer.launch` starts them, :mod:`sim2real.transfer.units`
runs one).

Conditions:

- ``zero_shot``: the pretrained (randomised-sim) policy evaluated on the target;
- ``nominal_zero_shot``: the nominal-sim baseline policy evaluated on the target;
- ``finetune`` / ``finetune_last`` / ``finetune_features``: the pretrained policy trained on the
  target (fine-tuning scope all / last / features), evaluated on the target at fixed step
  intervals up to the largest budget, and back in the randomised sim (retention);
- ``scratch``: a fresh policy trained on the target (tuned algorithm, no demonstrations);
- ``calibrated``: a policy pretrained in the calibrated sim (``calibrated=<run>``: ``sim2real train
  dr=<calibration run>``), evaluated zero-shot on the target;
- ``finetune_l2sp``: fine-tuning with an L2-SP pull toward the pretrained weights, one condition per strength;
- ``finetune_reset``: fine-tuning (scope all) after re-initialising the output layers and the exploration noise
  (a negative-transfer mitigation: keep the trunk, drop the head's habits);
- ``finetune_fallback``: fine-tuning and scratch each train ``fallback.decide_at`` target steps, the one with the
  better score on development episodes of the target continues (a negative-transfer mitigation); its curve
  counts the steps of both branches, so it starts at ``2 * decide_at``;
- ``sequence`` / ``sequence_l2sp``: lifelong fine-tuning through a sequence of target profiles
  (:mod:`sim2real.transfer.lifelong`);
- ``logged``: the pretrained policy fine-tuned offline on the first N episodes of a logged target
  dataset (``data=<dataset>``, ``logged_episodes=[N, ...]``: the budget is logged episodes, not target
  steps), then evaluated on the target.

With a constant learning rate (the fine-tuning default), the run for the largest budget passes
through every smaller budget, so one run per (condition, seed) gives every budget's figure.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
from omegaconf import DictConfig, OmegaConf

from sim2real.io import exclusive, read_json, write_json
from sim2real.learn.config import ConfigError, check_env_spec, check_task, checked_group, plain
from sim2real.learn.runs import policy_digest, resolve_policy, shipped_policies
from sim2real.learn.vec import EVAL_SEED_BASE
from sim2real.sim import tasks
from sim2real.transfer.conditions import CONDITIONS, CURVE_CONDITIONS, EVAL_CONDITIONS, L2SP, SEQUENCES
from sim2real.transfer.launch import launch


def _unit_id(spec: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


def validate(cfg: DictConfig) -> dict[str, Any]:
    """Check the grid; every problem is a one-line ConfigError before any unit runs."""
    from sim2real.learn.schemas import check

    check(cfg, "compare")  # types and ranges, from the schema
    task = check_task(cfg.task)
    tasks.check_shareable(task, "compare's workers (other nodes under SLURM)")
    seeds = int(cfg.seeds)
    budgets = plain(cfg.budgets)
    if not budgets:
        raise ConfigError("budgets=[]: give at least one target-step budget, e.g. budgets=[10000,30000]")
    if any(b <= 0 for b in budgets):
        raise ConfigError(f"budgets={budgets}: each budget must be a positive integer number of target steps")
    interval = int(cfg.eval.interval)
    if any(b % interval for b in budgets):
        raise ConfigError(f"eval.interval={interval}: must be a positive integer that divides every budget {budgets}")
    conditions = plain(cfg.conditions)
    if not isinstance(conditions, list):
        raise ConfigError(f"conditions={conditions!r}: give a list, e.g. conditions=[zero_shot,finetune,scratch]")
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown or not conditions:
        raise ConfigError(f"conditions={conditions}: unknown {unknown}; choose from {', '.join(CONDITIONS)}")
    strengths = plain(OmegaConf.select(cfg, "l2sp", default=[]))
    if L2SP in conditions and (
        not isinstance(strengths, list)
        or not strengths
        or any(not isinstance(x, (int, float)) or isinstance(x, bool) or not 0 < x < 1e6 for x in strengths)
    ):
        raise ConfigError(f"l2sp={strengths!r}: give the L2-SP strengths to compare, e.g. l2sp=[0.01,0.1,1]")
    if any(c in SEQUENCES for c in conditions):
        _check_sequence(cfg, task)
    if "finetune_fallback" in conditions:
        decide = int(cfg.fallback.decide_at)
        if decide % interval or min(budgets) < 2 * decide:
            raise ConfigError(
                f"fallback.decide_at={decide}: must be a multiple of eval.interval={interval}, and every budget at "
                f"least 2 * decide_at (both branches train decide_at steps first); budgets={budgets}"
            )
    dyn = checked_group(cfg, task)
    check_env_spec(task, None, dyn)
    pretrained = _sources(cfg, "pretrained", task)
    if pretrained != TRAIN and len(pretrained) not in (1, seeds):
        raise ConfigError(
            f"pretrained: {len(pretrained)} runs for seeds={seeds}; give one run per seed (paired seeds), "
            "a single run, or pretrained=train"
        )
    baseline = _sources(cfg, "baseline", task) if "nominal_zero_shot" in conditions else None
    if baseline == TRAIN or pretrained == TRAIN:
        _check_pretrain(cfg)
    calibrated = None
    if "calibrated" in conditions:
        if OmegaConf.select(cfg, "calibrated") is None:
            raise ConfigError("conditions has calibrated: add calibrated=<run trained with dr=<calibration run>>")
        calibrated = _sources(cfg, "calibrated", task)
        if calibrated == TRAIN:
            raise ConfigError("calibrated=train: give the run(s) trained with dr=<calibration run>")
    data, logged_episodes = None, []
    if "logged" in conditions:
        from sim2real.data.datasets import read

        if OmegaConf.select(cfg, "data") is None:
            raise ConfigError("conditions has logged: add data=<logged target dataset>")
        n_logged = read(cfg.data, task).episodes
        logged_episodes = plain(cfg.logged_episodes)
        if (
            not isinstance(logged_episodes, list)
            or not logged_episodes
            or any(not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= n_logged for n in logged_episodes)
        ):
            raise ConfigError(
                f"logged_episodes={logged_episodes}: give episode counts between 1 and {n_logged} (the dataset's size)"
            )
        data = str(Path(cfg.data).resolve())
    return {
        "task": task,
        "dynamics_name": str(OmegaConf.select(cfg, "dynamics.name", default="custom")),
        "seeds": seeds,
        "budgets": sorted(set(budgets)),
        "conditions": conditions,
        "dynamics": dyn or {},
        "pretrained": pretrained,
        "baseline": baseline,
        "calibrated": calibrated,
        "data": data,
        "logged_episodes": sorted(set(logged_episodes)),
        "interval": interval,
        "episodes": int(cfg.eval.episodes),
        "episode_seeds": f"test range: {EVAL_SEED_BASE} + 10000 * seed + k",
        "digests": _digests(pretrained, baseline, calibrated),
    }


TRAIN = "train"  # pretrained=train / baseline=train: compare pretrains the runs itself (pretraining units)


def _sources(cfg: DictConfig, key: str, task: str) -> list[str] | str:
    """``cfg[key]`` as a list of resolved policy paths (a run, shipped policy or list of them), or ``train``."""
    value = plain(OmegaConf.select(cfg, key))
    if value == TRAIN:
        return TRAIN
    items = value if isinstance(value, list) else [value]
    if not items or any(not isinstance(v, str) or not v for v in items):
        raise ConfigError(f"{key}={value!r}: give a run directory or shipped policy, a list of them, or {key}=train")
    paths = []
    for v in items:
        if key in ("pretrained", "baseline") and v == f"{task}-{'dr' if key == 'pretrained' else 'nominal'}":
            if v not in shipped_policies():  # the default names a shipped policy a user's task does not have
                raise ConfigError(
                    f"{key}={v}: task {task} has no shipped {key} policy; give {key}=train (compare pretrains it), "
                    f"{key}=<run dir or list of runs>"
                    + (", or drop nominal_zero_shot from conditions" if key == "baseline" else "")
                )
        src = resolve_policy(v)
        if src.task != task:
            raise ConfigError(f"{key}='{v}' is a {src.task} policy, not {task}")
        paths.append(str(src.path.resolve()))  # one spelling per run: a unit's id must not depend on the cwd
    return paths


def _check_sequence(cfg: DictConfig, task: str) -> None:
    seq = plain(OmegaConf.select(cfg, "sequence"))
    targets = tasks.get(task).targets
    profiles = seq.get("profiles") if isinstance(seq, dict) else None
    if not isinstance(profiles, list) or len(profiles) < 2 or any(p not in targets for p in profiles):
        raise ConfigError(
            f"sequence.profiles={profiles!r}: give two or more of {task}'s target profiles in order "
            f"({', '.join(targets)}), e.g. [real,heavy,slippery,real]"
        )
    strength = seq.get("l2sp")
    if "sequence_l2sp" in plain(cfg.conditions) and (
        not isinstance(strength, (int, float)) or isinstance(strength, bool) or not strength > 0
    ):
        raise ConfigError(f"sequence.l2sp={strength!r}: sequence_l2sp needs a positive L2-SP strength")


def _check_pretrain(cfg: DictConfig) -> None:
    overrides = plain(OmegaConf.select(cfg, "pretrain.overrides"))
    if not isinstance(overrides, list) or any(not isinstance(o, str) or "=" not in o for o in overrides):
        raise ConfigError(f"pretrain.overrides={overrides!r}: give a list of train overrides, e.g. [steps=300000]")
    bad = [o for o in overrides if o.split("=")[0].lstrip("+~") in ("task", "seed", "dr", "out_dir", "resume")]
    if bad:
        raise ConfigError(f"pretrain.overrides: {bad[0]} is set by compare (task, seed, dr, out_dir, resume); drop it")


def _digests(*groups: list[str] | str | None) -> dict[str, str]:
    return {p: policy_digest(Path(p)) for g in groups if isinstance(g, list) for p in g}


def pretraining_units(cfg: DictConfig, grid: dict[str, Any]) -> list[dict[str, Any]]:
    """The pretraining runs compare trains itself: one randomised-sim run per seed (``pretrained=train``) and
    ``baseline_runs`` nominal-sim runs (``baseline=train``), each ``sim2real train`` with the task's tuned
    settings, evaluated on development episodes only."""
    units = []
    overrides = [str(o) for o in plain(cfg.pretrain.overrides)]
    if grid["pretrained"] == TRAIN:
        dr = str(cfg.pretrain.randomization)
        units += [{"condition": "pretrain", "seed": i, "randomization": dr} for i in range(grid["seeds"])]
    if grid["baseline"] == TRAIN:
        n = int(cfg.baseline_runs)
        units += [{"condition": "pretrain_nominal", "seed": i, "randomization": "none"} for i in range(n)]
    for u in units:
        u.update(kind="pretrain", task=grid["task"], overrides=overrides)
        u["id"] = _unit_id(u)
    return units


def pretraining_protocol(grid: dict[str, Any], pre: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    """How the seeds relate to pretraining runs, for the report: paired, or one shared run (no pretraining
    variance in the CIs); and the pretraining runs' wall-clock when compare trained them."""
    n, seeds = len(grid["pretrained"]), grid["seeds"]
    paired = n == seeds and n > 1
    return {
        "pretrained_runs": n,
        "baseline_runs": len(grid["baseline"]) if grid["baseline"] else 0,
        "paired": paired,
        "trained_by_compare": bool(pre),
        "design": (
            f"paired seeds: seed i = pretraining run i, its zero-shot evaluation, fine-tuning seed i started from "
            f"it and scratch seed i ({seeds} independent units per condition; the CIs include pretraining variance)"
            if paired
            else f"{n} pretraining run shared by all {seeds} seeds: zero-shot seeds are batches of episodes of that "
            "one policy and every fine-tuning seed starts from it, so the CIs leave out pretraining variance"
        ),
        "wall_time_s": {
            f"{u['condition']} seed {u['seed']}": read_json(out / "units" / u["id"] / "result.json")["wall_time_s"]
            for u in pre
        },
        "commits": sorted({str(read_json(out / "units" / u["id"] / "result.json").get("commit")) for u in pre}),
    }


def _trained(units: list[dict[str, Any]], out: Path, condition: str) -> list[str]:
    return [str(out / "units" / u["id"]) for u in units if u["condition"] == condition]


def expand(cfg: DictConfig, grid: dict[str, Any]) -> list[dict[str, Any]]:
    """The unit specs of the grid (plain JSON-able dicts)."""
    common = {
        "task": grid["task"],
        "dynamics": grid["dynamics"],
        "dynamics_name": grid["dynamics_name"],
        "episodes": int(cfg.eval.episodes),
    }
    units = []
    spec = tasks.get(grid["task"])
    sim_preset = "default" if "default" in spec.randomization else None

    def pick(key: str, seed: int) -> str | None:  # seed i's policy: run i of a list (paired), or the one run
        runs = grid[key]
        return runs[seed % len(runs)] if runs else None

    for seed in range(grid["seeds"]):
        if not spec.success:  # the lower anchor of the normalised return: a uniformly random policy on the target
            units.append({**common, "kind": "random", "condition": "random", "seed": seed})
        units.append(
            {
                **common,
                "kind": "eval",
                "condition": "sim",
                "seed": seed,
                "policy": pick("pretrained", seed),
                "randomization": sim_preset,
                "dynamics": {},
                "dynamics_name": "nominal",
            }
        )
        for cond in grid["conditions"]:
            if cond in EVAL_CONDITIONS:
                source = {"zero_shot": "pretrained", "nominal_zero_shot": "baseline", "calibrated": "calibrated"}[cond]
                units.append({**common, "kind": "eval", "condition": cond, "seed": seed, "policy": pick(source, seed)})
            elif cond == "logged":
                for n in grid["logged_episodes"]:
                    units.append(
                        {
                            **common,
                            "kind": "logged",
                            "condition": cond,
                            "seed": seed,
                            "init": pick("pretrained", seed),
                            "data": grid["data"],
                            "logged_episodes": n,
                            "offline": plain(cfg.offline),
                        }
                    )
            elif cond in SEQUENCES:
                seq = plain(cfg.sequence)
                units.append(
                    {
                        **common,
                        "kind": "sequence",
                        "condition": cond,
                        "seed": seed,
                        "init": pick("pretrained", seed),
                        "profiles": seq["profiles"],
                        "values": {p: dict(spec.targets[p]) for p in seq["profiles"]},
                        "randomization": sim_preset,
                        "steps": int(seq["steps"]),
                        "lr": float(cfg.finetune.lr),
                        "l2sp": float(seq["l2sp"]) if cond == "sequence_l2sp" else 0.0,
                        "n_envs": int(cfg.n_envs),
                    }
                )
            elif cond == L2SP:
                for strength in plain(cfg.l2sp):
                    units.append(
                        {
                            **_curve_unit(cfg, grid, common, "finetune", seed, pick("pretrained", seed)),
                            "condition": f"{L2SP}@{float(strength):g}",
                            "l2sp": float(strength),
                        }
                    )
            else:
                unit = _curve_unit(cfg, grid, common, cond, seed, pick("pretrained", seed))
                if cond == "finetune_features":  # only where it acts: the other units' ids stay as they were
                    unit["head_lr"] = float(cfg.finetune.head_lr)
                elif cond == "finetune_reset":
                    unit["reset_head"] = True
                elif cond == "finetune_fallback":
                    unit.update(
                        kind="fallback",
                        decide_at=int(cfg.fallback.decide_at),
                        decide_episodes=int(cfg.fallback.episodes),
                    )
                units.append(unit)
    for u in units:
        u["policy_digest"] = grid["digests"].get(u.get("policy") or u.get("init") or "")
        u["id"] = _unit_id(u)
        if bool(cfg.get("video")) and u["seed"] == 0 and u["kind"] in ("eval", "curve") and u["condition"] != "sim":
            u["video"] = True  # after the id: a video is an extra file of the unit, not another unit
    return units


def _curve_unit(
    cfg: DictConfig, grid: dict[str, Any], common: dict[str, Any], cond: str, seed: int, init: str | None
) -> dict[str, Any]:
    """A learning-curve unit of ``cond`` (a fine-tuning scope or scratch) for ``seed``."""
    return {
        **common,
        "kind": "curve",
        "condition": cond,
        "seed": seed,
        "init": None if cond == "scratch" else init,
        "scope": CURVE_CONDITIONS[cond],
        "steps": grid["budgets"][-1],
        "interval": grid["interval"],
        "lr": float(cfg.finetune.lr),
        "update_norm": bool(cfg.finetune.update_norm),
        "n_envs": int(cfg.n_envs),
        "scratch_lr": float(cfg.scratch.lr),
    }


def _write_units(units: list[dict[str, Any]], out: Path) -> None:
    """Each unit's spec file; a task that is not packaged travels with it (``task_spec``, outside the unit's id),
    so that a worker in another process or on another node knows it as compare did."""
    for u in units:
        path = out / "units" / f"{u['id']}.json"
        if not path.is_file():
            spec = u if tasks.packaged(u["task"]) else {**u, "task_spec": tasks.record(u["task"])}
            write_json(path, spec)


def compare(cfg: DictConfig) -> Path:
    """Validate, expand, run what is missing, aggregate; returns the report directory."""
    grid = validate(cfg)
    out = Path(cfg.out).resolve()  # absolute: the pretraining units' paths enter the later units' ids
    with exclusive(out, "compare directory"):
        return _compare_locked(cfg, grid, out)


def _compare_locked(cfg: DictConfig, grid: dict[str, Any], out: Path) -> Path:
    from sim2real.transfer.report import write_report

    (out / "units").mkdir(parents=True, exist_ok=True)
    pre = pretraining_units(cfg, grid)
    if pre:  # stage 1: the pretraining runs every later unit starts from
        _write_units(pre, out)
        launch(pre, out, cfg, "pretraining")
        if grid["pretrained"] == TRAIN:
            grid["pretrained"] = _trained(pre, out, "pretrain")
        if grid["baseline"] == TRAIN:
            grid["baseline"] = _trained(pre, out, "pretrain_nominal")
        grid["digests"] = _digests(grid["pretrained"], grid["baseline"], grid["calibrated"])
    grid["pretraining"] = pretraining_protocol(grid, pre, out)
    units = expand(cfg, grid)
    _write_units(units, out)
    launch(units, out, cfg)
    results = [{**u, "result": read_json(out / "units" / u["id"] / "result.json")} for u in units]
    metric = score(results, grid["task"])
    from sim2real.transfer.html_report import command_line

    settings = OmegaConf.to_yaml({k: v for k, v in OmegaConf.to_container(cfg).items() if k != "hydra"})
    kept = [r for r in results if r["condition"] != "random"]
    write_report(out, grid, kept, float(cfg.threshold), metric, settings, command_line("compare"))
    return out


SUCCESS_METRIC = {"name": "success", "label": "success rate", "definition": "episodes with info['is_success']"}


def score(results: list[dict[str, Any]], task: str) -> dict[str, Any]:
    """What the comparison scores. A task with a success signal: its success rate. A task without one: its
    normalised return, (R - R_random) / (R_sim - R_random), with R_random a uniformly random policy's mean
    return on the target and R_sim the pretrained policy's in the randomised sim (means over seeds), so that a
    constant reward offset (an alive bonus) cannot change any figure. Rewrites ``results`` in place."""
    if tasks.get(task).success:
        return SUCCESS_METRIC
    lo = float(np.mean([r["result"]["mean_return"] for r in results if r["condition"] == "random"]))
    hi = float(np.mean([r["result"]["mean_return"] for r in results if r["condition"] == "sim"]))
    if not hi > lo:
        raise ConfigError(
            f"compare: the pretrained policy's return in the randomised sim ({hi:.4g}) is not above a random "
            f"policy's on the target ({lo:.4g}); a normalised return needs a policy that learned the task"
        )

    def norm(x: float | None) -> float | None:
        return None if x is None else (x - lo) / (hi - lo)

    for r in results:
        res = r["result"]
        if r.get("kind") == "sequence":
            continue  # a sequence reports raw returns (its matrix) for tasks without a success signal
        for point in res.get("curve", []):
            point["success_rate"] = norm(point["mean_return"])
            point["sim_success_rate"] = norm(point.get("sim_mean_return"))
        if "curve" not in res:
            res["success_rate"] = norm(res["mean_return"])
    return {
        "name": "normalised return",
        "label": "normalised return",
        "definition": "(R - R_random) / (R_sim - R_random): 0 = a uniformly random policy on the target, "
        "1 = the pretrained policy in the randomised sim",
        "return_random_policy_on_target": lo,
        "return_pretrained_in_sim": hi,
    }
