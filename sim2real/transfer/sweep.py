"""``sim2real sweep``: robustness curves (EPOpt-style): success of each policy across one dynamics parameter.

    sim2real sweep task=navigate policies=[navigate-dr,navigate-nominal] param=friction_scale \
        values=[0.3,0.5,0.7,0.9,1.1,1.3,1.5] seeds=3 episodes=20

Every other parameter stays at the ``dynamics`` profile (``nominal`` by default). Each (policy,
value, seed) is ``episodes`` evaluation episodes on the test range; curves show the IQM over seeds with a 95 %
bootstrap band. Writes ``sweep.csv``, ``sweep.json`` and ``sweep.png``.

A policy entry may be a group of pretraining runs, a list inside the list (``policies=[[run0,run1,run2],
navigate-nominal]``): seed i then evaluates run i mod n, so with one run per seed the band covers pretraining
variance.
A single run per entry gives seeds that are batches of episodes of one policy; ``sweep.json`` says which.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch as th
from joblib import Parallel, delayed
from omegaconf import DictConfig, OmegaConf

from sim2real.io import write_json
from sim2real.learn.config import ConfigError, check_env_spec, check_task, checked_group, plain
from sim2real.learn.evaluate import run_episodes, stored_policy
from sim2real.learn.runs import resolve_policy
from sim2real.learn.schemas import check
from sim2real.sim import tasks
from sim2real.sim.dynamics import PARAMS, param_spec
from sim2real.transfer import stats


def policy_groups(policies: object, task: str) -> dict[str, list[str]]:
    """``policies`` as {name: [runs]}: a list of runs or shipped names (a nested list is one group named by its
    first run), or a mapping name -> run or list of runs. Every run must be a ``task`` policy."""
    if isinstance(policies, dict):
        groups = {str(k): v if isinstance(v, list) else [v] for k, v in policies.items()}
    elif isinstance(policies, list):
        groups = {_group_name(p): p if isinstance(p, list) else [p] for p in policies}
    else:
        groups = {}
    if not groups or any(not runs or any(not isinstance(r, str) or not r for r in runs) for runs in groups.values()):
        raise ConfigError(
            f"policies={policies!r}: give run directories or shipped policies, e.g. [navigate-dr,navigate-nominal], "
            "or groups of pretraining runs, e.g. [[run0,run1,run2],navigate-nominal]"
        )
    for runs in groups.values():
        for p in runs:
            other = resolve_policy(p).task
            if other != task:
                raise ConfigError(f"policy '{p}' is a {other} policy, not {task}")
    return groups


def _group_name(entry: object) -> str:
    if isinstance(entry, list) and entry:
        return str(entry[0]) + (f" (+{len(entry) - 1} runs)" if len(entry) > 1 else "")
    return str(entry)


def _point(
    name: str,
    policy: str,
    task: str,
    profile: dict,
    param: str,
    value: float,
    seed: int,
    episodes: int,
    where: tuple[str | None, dict | None] = (None, None),
) -> dict:
    th.set_num_threads(1)
    folder, recorded = where  # in a joblib worker: know the task as the sweep's own process does
    if folder is not None:
        tasks.load_dirs([folder])
    elif recorded is not None and task not in tasks.names():
        tasks.adopt(task, recorded, f"sweep of {task}")
    eps = run_episodes(stored_policy(resolve_policy(policy)), task, episodes, seed, None, {**profile, param: value})
    return {
        "policy": name,
        "run": policy,
        "value": value,
        "seed": seed,
        "success_rate": float(np.mean([e.success for e in eps])) if tasks.get(task).success else None,
        "mean_return": float(np.mean([e.ret for e in eps])),
    }


def sweep(cfg: DictConfig) -> Path:
    check(cfg, "sweep")  # types and ranges, from the schema
    task = check_task(cfg.task)
    param = cfg.param
    if param_spec(param) is None:
        raise ConfigError(f"param='{param}' is not a dynamics parameter; choose one of: {', '.join(PARAMS)}")
    values = plain(cfg["values"])  # (cfg.values is the mapping method)
    if not isinstance(values, list) or not values:
        raise ConfigError("values=[]: give the parameter values to sweep, e.g. values=[0.5,1.0,1.5]")
    groups = policy_groups(plain(cfg.policies), task)
    profile = checked_group(cfg, task) or {}
    for v in values:  # every value is checked before any evaluation
        check_env_spec(task, None, {**profile, param: v})
    jobs = [
        (name, runs[s % len(runs)], v, s) for name, runs in groups.items() for v in values for s in range(cfg.seeds)
    ]
    from tqdm import tqdm

    if int(cfg.n_jobs) != 1:
        tasks.check_shareable(task, f"sweep's n_jobs={cfg.n_jobs} workers (or give n_jobs=1)")
    folder = tasks.config_dir(task)
    where = (str(folder) if folder else None, None if tasks.packaged(task) else tasks.record(task))
    results = Parallel(n_jobs=int(cfg.n_jobs), return_as="generator")(
        delayed(_point)(name, run, task, profile, param, v, s, cfg.episodes, where) for name, run, v, s in jobs
    )  # in order; the bar (only on a terminal) counts points done, with an ETA
    rows = list(tqdm(results, total=len(jobs), desc="sweep", unit="point", disable=None))
    if cfg.video:  # each policy's first episodes at each value (seed 0), rendered in this process
        from sim2real.learn.evaluate import record_videos, stored_policy

        for name, runs in groups.items():
            for v in values:
                record_videos(
                    stored_policy(resolve_policy(runs[0])), task, int(cfg.video_episodes),
                    Path(cfg.out_dir) / "videos", 0, None, {**profile, param: v}, prefix=f"{name}-{param}={v}",
                )  # fmt: skip
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "sweep.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    key = "success_rate" if tasks.get(task).success else "mean_return"  # no success signal: the return carries it
    curves = {}
    for p in groups:
        curves[p] = []
        for v in values:
            point, lo, hi = stats.iqm_ci([r[key] for r in rows if r["policy"] == p and r["value"] == v])
            curves[p].append({"value": v, "iqm": point, "ci_low": lo, "ci_high": hi})
    write_json(
        out / "sweep.json",
        {
            "task": task,
            "param": param,
            "profile": OmegaConf.select(cfg, "dynamics.name"),
            "seeds": cfg.seeds,
            "episodes": cfg.episodes,
            "metric": key,
            "policies": groups,
            "seed_design": {
                name: f"seed i evaluates run i mod {len(runs)}: the band covers pretraining variance"
                if len(runs) >= cfg.seeds
                else f"{len(runs)} run(s) for {cfg.seeds} seeds: seeds are batches of episodes, the band leaves out "
                "most pretraining variance"
                for name, runs in groups.items()
            },
            "method": "IQM over seeds of each seed's mean over its episodes, 95 % stratified bootstrap CI",
            "curves": curves,
        },
    )
    _plot(out / "sweep.png", task, param, curves, cfg.seeds, cfg.episodes, key)
    _html(out, cfg, task, param, groups, curves, key)
    print(
        f"sweep: {task} over {param} for {len(groups)} policies -> {out} "
        "(report.html, sweep.csv, sweep.json, sweep.png)"
    )
    return out


def _html(out: Path, cfg: DictConfig, task: str, param: str, groups: dict, curves: dict, key: str) -> None:
    """report.html: the curves as a table (IQM [95 % CI] per policy and value), the plot, settings, command."""
    from sim2real.transfer.html_report import command_line, write_html

    values = [q["value"] for q in next(iter(curves.values()))]
    head = "| policy | runs | " + " | ".join(f"{param}={v}" for v in values) + " |"
    rows = [head, "|" + "---|" * (len(values) + 2)]
    for name, pts in curves.items():
        cells = " | ".join(f"{q['iqm']:.3g} [{q['ci_low']:.3g}, {q['ci_high']:.3g}]" for q in pts)
        rows.append(f"| `{name}` | {len(groups[name])} | {cells} |")
    body = "\n".join(
        [
            f"# Robustness sweep: {task} over `{param}`",
            "",
            f"{key.replace('_', ' ')}, IQM over {cfg.seeds} seeds of {cfg.episodes} test episodes each, "
            f"[95 % stratified-bootstrap CI]; every other parameter at the `{OmegaConf.select(cfg, 'dynamics.name')}` "
            "profile.",
            "",
            *rows,
        ]
    )
    settings = OmegaConf.to_yaml(
        {k: v for k, v in OmegaConf.to_container(cfg).items() if k not in ("hydra", "out_dir")}
    )
    write_html(
        out / "report.html",
        f"sim2real sweep: {task} {param}",
        body,
        [out / "sweep.png"],
        settings,
        command_line("sweep"),
    )


def _plot(path: Path, task: str, param: str, curves: dict, seeds: int, episodes: int, key: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    for p, pts in curves.items():
        x = [q["value"] for q in pts]
        ax.plot(x, [q["iqm"] for q in pts], marker="o", label="/".join(Path(p).parts[-2:]))
        ax.fill_between(x, [q["ci_low"] for q in pts], [q["ci_high"] for q in pts], alpha=0.2)
    ax.set_xlabel(f"{param} ({param_spec(param).doc})")
    ax.set_ylabel(f"{key.replace('_', ' ')} (IQM over seeds, 95 % CI)")
    if key == "success_rate":
        ax.set_ylim(-0.02, 1.02)
    ax.set_title(f"{task}: robustness to {param} ({seeds} seeds x {episodes} episodes)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
