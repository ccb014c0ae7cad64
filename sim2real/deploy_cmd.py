"""``sim2real export`` and ``sim2real deploy`` (the MuJoCo target as the robot)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from sim2real.config import ConfigError, episodes_and_dynamics
from sim2real.deploy import Bundle, BundleError, ControlLoop
from sim2real.io import write_json
from sim2real.sim_robot import SimRobot

DEPLOY_SEED_BASE = 2_000_000_000


def export_cmd(cfg: DictConfig) -> None:
    from sim2real.export import export

    n = cfg.parity_observations
    if not isinstance(n, int) or n < 1:
        raise ConfigError(f"parity_observations={n!r}: must be a positive integer")
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
    episodes, rand, dyn = episodes_and_dynamics(cfg, task)
    robot = SimRobot(task, dynamics=dyn, randomization=rand, seed=DEPLOY_SEED_BASE + 10_000 * int(cfg.seed))
    loop = ControlLoop(bundle, robot, rate_hz=cfg.rate_hz)
    max_steps = episodes * 10_000
    stats = loop.run(max_steps, realtime=bool(cfg.realtime), until=lambda: len(robot.episodes) >= episodes)
    eps = robot.episodes[:episodes]
    success = sum(e.success for e in eps) / len(eps)
    summary = {
        "bundle": str(cfg.bundle),
        "task": task,
        "dynamics": OmegaConf.select(cfg, "dynamics.name"),
        "episodes": len(eps),
        "success_rate": success,
        "realtime": bool(cfg.realtime),
        "rate_hz": loop.rate_hz,
        **stats.summary(),
    }
    if cfg.log:
        from sim2real.datasets import write_dataset

        path = write_dataset(
            cfg.log,
            cfg.data_dir,
            task,
            eps,
            {"source": f"deploy {cfg.bundle}", "dynamics_profile": str(summary["dynamics"])},
        )
        summary["dataset"] = str(path)
    write_json(Path(cfg.out_dir) / "deploy.json", summary)
    lat = summary["latency_us"]
    print(
        f"deploy: {task} on {summary['dynamics']}: success {success:.0%} over {len(eps)} episodes; inference "
        f"p50 {lat['p50']:.0f} us, p99 {lat['p99']:.0f} us; deadline misses {stats.deadline_misses}, "
        f"faults {len(stats.faults)}"
        + (f"; dataset {summary['dataset']}" if cfg.log else "")
        + f" -> {Path(cfg.out_dir) / 'deploy.json'}"
    )
    return summary
