"""``sim2real export`` and ``sim2real deploy`` (the MuJoCo target as the robot)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from sim2real.deploy import Bundle, BundleError, ControlLoop, check_rate
from sim2real.deploy.sim_robot import SimRobot, check_layout
from sim2real.io import write_json
from sim2real.learn.config import episodes_and_dynamics
from sim2real.learn.evaluate import success_text
from sim2real.learn.schemas import check
from sim2real.sim import tasks

DEPLOY_SEED_BASE = 2_000_000_000


def export_cmd(cfg: DictConfig) -> None:
    from sim2real.deploy.export import export

    check(cfg, "export")
    n = int(cfg.parity_observations)
    meta = export(cfg.policy, Path(cfg.out), n)
    print(
        f"export: {cfg.policy} -> {cfg.out} (parity max |onnx - SB3| = {meta['parity_max_abs_diff']:.1e} "
        f"over {n} observations)"
    )


def deploy_cmd(cfg: DictConfig) -> dict:
    bundle = Bundle.load(cfg.bundle)
    task = cfg.task.name
    if task != bundle.meta["task"]:
        raise BundleError(f"bundle {cfg.bundle} is a {bundle.meta['task']} policy, not {task}; drop task=")
    check(cfg, "deploy")  # types and ranges, from the schema
    episodes, rand, dyn = episodes_and_dynamics(cfg, task)
    seed = int(cfg.seed)
    check_rate(cfg.rate_hz, bundle.control_rate_hz)
    if cfg.log:
        from sim2real.data.datasets import check_new

        check_new(str(cfg.log), cfg.overwrite)  # before the loop runs
    video = (Path(cfg.out_dir) / "videos", int(cfg.video_episodes)) if cfg.video else None
    robot = SimRobot(task, dynamics=dyn, randomization=rand, seed=DEPLOY_SEED_BASE + 10_000 * seed, video=video)
    check_layout(bundle, tasks.core(robot.env))
    loop = ControlLoop(bundle, robot, rate_hz=cfg.rate_hz)
    max_steps = episodes * 10_000
    seen = [0]

    def until() -> bool:  # an episode ended and the sim reset: the previous action is the safe action again
        if len(robot.episodes) != seen[0]:
            seen[0] = len(robot.episodes)
            loop.new_episode()
        return len(robot.episodes) >= episodes

    stats = loop.run(max_steps, realtime=bool(cfg.realtime), until=until)
    eps = robot.episodes[:episodes]
    if not eps:
        raise RuntimeError(f"deploy: no episode finished in {stats.steps} steps ({len(stats.faults)} faults)")
    success = sum(e.success for e in eps) / len(eps) if tasks.get(task).success else None
    summary = {
        "bundle": str(cfg.bundle),
        "task": task,
        "dynamics": OmegaConf.select(cfg, "dynamics.name"),
        "episodes": len(eps),
        "success_rate": success,
        "mean_return": float(np.mean([sum(e.rewards) for e in eps])),
        "realtime": bool(cfg.realtime),
        "rate_hz": loop.rate_hz,
        **stats.summary(),
    }
    if cfg.log:
        from sim2real.data.datasets import write

        path = write(
            str(cfg.log),
            task,
            eps,
            {"source": f"deploy {cfg.bundle}", "dynamics_profile": str(summary["dynamics"])},
            cfg.overwrite,
            env_kwargs={"randomization": rand, "dynamics": dyn},
        )
        summary["dataset"] = str(path)
    if robot.recorder is not None:
        summary["videos"] = [p.name for p in robot.recorder.written]
    write_json(Path(cfg.out_dir) / "deploy.json", summary)
    lat = summary["latency_us"]
    inference = (
        f"inference p50 {lat['p50']:.0f} us, p99 {lat['p99']:.0f} us" if lat["p50"] is not None else "no inference"
    )
    print(
        f"deploy: {task} on {summary['dynamics']}: {success_text(success)} over {len(eps)} episodes, "
        f"mean return {summary['mean_return']:.1f}; {inference}; "
        f"deadline misses {stats.deadline_misses}, "
        f"faults {len(stats.faults)}"
        + (f"; dataset {summary['dataset']}" if cfg.log else "")
        + f" -> {Path(cfg.out_dir) / 'deploy.json'}"
    )
    return summary
