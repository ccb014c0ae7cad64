"""Training in (randomised) simulation with SB3: run directory, periodic atomic checkpoints,
evaluation on named dynamics at intervals, TensorBoard, resume after a kill, save on SIGINT/SIGTERM."""

from __future__ import annotations

import json
import shutil
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
import yaml
from omegaconf import OmegaConf
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv, VecNormalize

from sim2real.io import atomic_write, exclusive, read_json
from sim2real.learn.adr import ADR
from sim2real.learn.bc import behaviour_clone, collect_demonstrations, decorrelate_action_history
from sim2real.learn.checkpoint import BUFFER_FILE, load_replay_buffer
from sim2real.learn.config import ConfigError, RunSpec, algo_kwargs
from sim2real.learn.evaluate import make_policy, run_episodes, summarize
from sim2real.learn.model_spec import POLICIES
from sim2real.learn.privileged import AsymmetricPolicy, VecPrivileged
from sim2real.learn.runs import (
    ALGOS,
    PolicySource,
    check_fresh,
    latest_checkpoint,
    load_model,
    save_checkpoint,
    save_policy,
)
from sim2real.learn.vec import load_normalization, make_vec_env, normalize
from sim2real.sim import tasks

ADR_PRESET_FILE = "adr_dr.yaml"  # the ADR bounds at the last checkpoint, as a preset: sim2real train dr=<this file>


class TrainCallback(BaseCallback):
    """Checkpoints, evaluations on each named dynamics, and the sampled dynamics in TensorBoard."""

    def __init__(self, spec: RunSpec, meta: dict[str, Any], norm: VecNormalize, adr: ADR | None = None) -> None:
        super().__init__()
        self.spec, self.meta, self.norm, self.adr = spec, meta, norm, adr
        self.has_success = tasks.get(spec.task).success
        self.t0 = time.time()
        self.wall_before = float(meta.get("wall_time_s", 0.0))
        self.next_ckpt = self.next_eval = 0
        self.dyn: dict[str, list[float]] = {}
        self.last_row: dict[str, Any] | None = None
        # wall-clock by phase (s), summed over resumes: rollout (env steps and action sampling), update (the
        # algorithm's gradient steps: the rest of learn()), evaluation, checkpoint
        prev = meta.get("time_breakdown_s") or {}
        self.times = {k: float(prev.get(k, 0.0)) for k in ("rollout", "update", "evaluation", "checkpoint")}
        self._rollout_t0 = self._side = 0.0
        self._mark()  # again at training start; a resume past its steps never starts training, and still reports

    def _mark(self) -> None:
        self._before = self.times["rollout"] + self.times["evaluation"] + self.times["checkpoint"]
        self._update_before = self.times["update"]

    def _on_rollout_start(self) -> None:
        self._rollout_t0, self._side = time.time(), 0.0

    def _timed(self, phase: str, fn: Callable[[], Any]) -> Any:
        t = time.time()
        try:
            return fn()
        finally:
            dt = time.time() - t
            self.times[phase] += dt
            self._side += dt

    def breakdown(self, learn_s: float) -> dict[str, float]:
        """The phases' wall-clock (s); ``update`` is ``learn_s`` (this process's learn()) less the others."""
        own = self.times["rollout"] + self.times["evaluation"] + self.times["checkpoint"] - self._before
        self.times["update"] = self._update_before + max(0.0, learn_s - own)
        return dict(self.times)

    def _on_training_start(self) -> None:
        n = self.model.num_timesteps
        self._mark()
        self.next_ckpt = n + self.spec.checkpoint_interval
        self.next_eval = n + self.spec.eval_interval if n else 0

    def _on_step(self) -> bool:
        moved = False
        for info in self.locals.get("infos", []):
            for k, v in info.get("episode_dynamics", {}).items():
                self.dyn.setdefault(k, []).append(float(v))
            if self.adr is not None and "episode" in info:
                moved |= self.adr.observe(info, self.has_success)
        if moved:  # every env samples the new bounds from its next reset on
            self.training_env.env_method("set_adr", self.adr.ranges(), self.adr.settings.boundary_prob)
        n = self.model.num_timesteps
        if self.spec.eval_interval and n >= self.next_eval:
            self._timed("evaluation", self.evaluate)
            self.next_eval = n + self.spec.eval_interval
        if self.spec.checkpoint_interval and n >= self.next_ckpt:
            self._timed("checkpoint", self.checkpoint)
            self.next_ckpt = n + self.spec.checkpoint_interval
        return True

    def _on_rollout_end(self) -> None:
        self.times["rollout"] += time.time() - self._rollout_t0 - self._side
        for k, v in self.dyn.items():
            self.logger.record(f"dynamics/{k}", float(np.mean(v)))
        self.dyn.clear()
        if self.adr is not None:
            for k, (lo, hi) in self.adr.bounds.items():
                self.logger.record(f"adr/{k}/low", lo)
                self.logger.record(f"adr/{k}/high", hi)
            self.logger.record("adr/entropy_nats_per_dim", self.adr.entropy())
            self.logger.record("adr/updates", self.adr.updates)

    def wall_time(self) -> float:
        return self.wall_before + time.time() - self.t0

    def checkpoint(self) -> Path:
        self.meta["wall_time_s"] = self.wall_time()
        self.meta["time_breakdown_s"] = dict(self.times)
        self.record_adr()
        return save_checkpoint(self.spec.run_dir, self.model, self.norm, self.meta)

    def record_adr(self) -> None:
        """ADR's bounds and buffers into the run record (resume continues from them) and as a plain preset file
        (``dr=<run dir>/adr_dr.yaml`` reruns the final ranges as ordinary DR)."""
        if self.adr is None:
            return
        self.meta["adr"] = self.adr.state()
        preset = self.adr.preset(f"adr_{self.spec.task}_s{self.spec.seed}")
        atomic_write(self.spec.run_dir / ADR_PRESET_FILE, lambda p: Path(p).write_text(yaml.safe_dump(preset)))

    def evaluate(self) -> dict[str, float]:
        rms = self.norm.obs_rms
        policy = make_policy(self.model, rms.mean, rms.var, self.norm.clip_obs, 1e-8, self.spec.task, self.spec.history)
        row: dict[str, Any] = {
            "timesteps": int(self.model.num_timesteps),
            "wall_time_s": self.wall_time(),
            "seed_range": self.spec.eval_seed_range,
        }
        for name, (rand, dyn) in self.spec.eval_targets.items():
            if name == "train" and self.adr is not None:
                rand = self.adr.ranges()  # ADR's current bounds, sampled within (no episode pinned)
            eps = run_episodes(
                policy, self.spec.task, self.spec.eval_episodes, self.spec.seed, rand, dyn, self.spec.eval_seed_range
            )
            s = summarize(eps)
            if s["success_rate"] is not None:
                self.logger.record(f"eval/{name}/success_rate", s["success_rate"])
            self.logger.record(f"eval/{name}/mean_return", s["mean_return"])
            row[f"{name}/success_rate"] = s["success_rate"]
            row[f"{name}/mean_return"] = s["mean_return"]
        self.logger.dump(self.model.num_timesteps)
        with open(self.spec.run_dir / "evaluations.jsonl", "a") as f:
            f.write(json.dumps(row) + "\n")
        self.last_row = row
        return row


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def model_env(spec: RunSpec, norm: VecNormalize) -> VecEnv:
    """The env the model learns on: the normalised envs, with the privileged values added for an asymmetric
    critic (``policy.privileged_critic``; :mod:`sim2real.learn.privileged`)."""
    if not spec.privileged_critic:
        return norm
    return VecPrivileged(norm, tasks.core(tasks.make(spec.task)).params)


def build_model(spec: RunSpec, norm: VecNormalize) -> BaseAlgorithm:
    """A fresh SB3 model from the algo config."""
    kwargs, policy_kwargs = algo_kwargs(spec.algo_cfg)
    return ALGOS[spec.algo](
        AsymmetricPolicy if spec.privileged_critic else POLICIES["lstm" if spec.algo == "recurrent_ppo" else "mlp"],
        model_env(spec, norm),
        seed=spec.seed,
        device="cpu",
        verbose=0,
        policy_kwargs=policy_kwargs,
        tensorboard_log=str(spec.run_dir / "tb"),
        **kwargs,
    )


def warm_start(spec: RunSpec, model: BaseAlgorithm, norm: VecNormalize) -> dict[str, Any]:
    """Behaviour-clone scripted demonstrations into the actor (``warm_start.demos`` > 0)."""
    ws = spec.warm_start
    t = time.time()
    demos = collect_demonstrations(
        spec.task, ws["demos"], spec.seed, spec.randomization, spec.dynamics, history=spec.history
    )
    norm.obs_rms.update(demos.obs)
    obs = np.clip((demos.obs - norm.obs_rms.mean) / np.sqrt(norm.obs_rms.var + norm.epsilon), -10, 10)
    if ws.get("shuffle_action_history"):
        obs = decorrelate_action_history(obs, spec.history, demos.actions.shape[1], spec.seed)
    loss = behaviour_clone(
        model, obs, demos.actions, ws["epochs"], ws["lr"], ws["batch_size"], spec.seed, ws.get("log_std"), demos.starts
    )
    out = {
        "episodes": demos.episodes,
        "successes": demos.successes,
        "transitions": len(demos.obs),
        "bc_mse": loss,
        "seconds": time.time() - t,
    }
    print(
        f"warm start: cloned {demos.successes}/{demos.episodes} scripted episodes "
        f"({len(demos.obs)} steps, MSE {loss:.4f}) in {out['seconds']:.0f} s"
    )
    return out


ModelFactory = Callable[[VecNormalize], tuple[BaseAlgorithm, dict[str, Any]]]


def train(spec: RunSpec) -> Path:
    """Train (or resume) the run ``spec`` describes (:func:`~sim2real.learn.config.build_spec` makes it from a
    config, validating every input before any work); returns the run directory."""

    def fresh(norm: VecNormalize) -> tuple[BaseAlgorithm, dict[str, Any]]:
        meta = spec.meta()
        model = build_model(spec, norm)
        if spec.warm_start.get("demos", 0) > 0:
            meta["warm_start"] = warm_start(spec, model, norm)
            meta["wall_time_s"] = meta["warm_start"]["seconds"]  # its cost counts in the wall-clock figures
        return model, meta

    return run(spec, fresh)


# keys a resumed run may change: how long it runs and how it reports, never what it learns
RESUMABLE_KEYS = ("resume", "steps", "progress", "threads", "out_dir")
STARTED_CONFIG = "config.started.yaml"  # the resolved config the run started with
STARTED_OVERRIDES = "overrides.started.yaml"  # its command-line overrides (Hydra's copy is rewritten on resume)


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict):
        return {prefix: d}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flat(v, f"{prefix}{k}."))
    return {k.rstrip("."): v for k, v in out.items()}


def check_resume_config(run_dir: Path, config: dict[str, Any]) -> None:
    """A resumed run must have the config it started with (``config.started.yaml``); any difference outside
    :data:`RESUMABLE_KEYS` is refused with the key, both values and the fix."""
    path = run_dir / STARTED_CONFIG
    if not path.is_file():
        return  # a run from before this file existed: nothing to compare against
    started = _flat(OmegaConf.to_container(OmegaConf.load(path), resolve=True))
    now = _flat(config)
    for key in sorted(set(started) | set(now)):
        if key.split(".")[0] in RESUMABLE_KEYS or started.get(key) == now.get(key):
            continue
        raise ConfigError(
            f"resume: {key}={now.get(key)!r} differs from the run's {key}={started.get(key)!r} ({path}); "
            "drop that override (a resumed run keeps its config), or start a new run in another directory"
        )


def _truncate_evaluations(run_dir: Path, step: int) -> None:
    """Drop evaluation rows written after the checkpoint a run resumes from (they are evaluated again)."""
    path = run_dir / "evaluations.jsonl"
    if not path.is_file():
        return
    rows = [line for line in path.read_text().splitlines() if line.strip()]
    keep = [line for line in rows if json.loads(line)["timesteps"] <= step]
    if len(keep) != len(rows):
        atomic_write(path, lambda p: Path(p).write_text("".join(f"{line}\n" for line in keep)))


def run(spec: RunSpec, factory: ModelFactory, prepare: Callable[[BaseAlgorithm], None] | None = None) -> Path:
    """The training loop shared by ``train`` and ``finetune``: lock the run directory, resume or build, learn,
    checkpoint, save. ``prepare`` runs on the model before learning, whether built or resumed (what a
    checkpoint does not carry: frozen layers, regulariser hooks)."""
    th.set_num_threads(spec.threads)
    with exclusive(spec.run_dir, "run directory"):
        return _run_locked(spec, factory, prepare)


def _run_locked(spec: RunSpec, factory: ModelFactory, prepare: Callable[[BaseAlgorithm], None] | None) -> Path:
    ckpt = latest_checkpoint(spec.run_dir) if spec.resume else None
    if spec.resume and ckpt is None:
        raise ConfigError(f"resume: no checkpoint in {spec.run_dir}/checkpoints; start a new run without resume")
    if spec.resume:
        check_resume_config(spec.run_dir, spec.config)
    else:
        check_fresh(spec.run_dir)
        atomic_write(spec.run_dir / STARTED_CONFIG, lambda p: OmegaConf.save(OmegaConf.create(spec.config), p))
        hydra_overrides = spec.run_dir / ".hydra" / "overrides.yaml"  # the command line, for resume=<run dir>
        if hydra_overrides.is_file():
            atomic_write(spec.run_dir / STARTED_OVERRIDES, lambda p: shutil.copyfile(hydra_overrides, p))
    norm = normalize(
        make_vec_env(spec.task, spec.n_envs, spec.seed, spec.randomization, spec.dynamics, spec.history),
        spec.gamma,
        spec.norm_reward,
    )
    if ckpt is not None:
        meta = read_json(ckpt / "run.json")
        if not isinstance(meta, dict) or meta.get("task") != spec.task or meta.get("algo") != spec.algo:
            raise ConfigError(f"resume: {ckpt} is not a {spec.task}/{spec.algo} checkpoint (see its run.json)")
        load_normalization(ckpt / "normalization.npz", norm)
        norm.training = meta.get("update_norm", True)
        src = PolicySource(ckpt, meta)
        model = load_model(src, env=model_env(spec, norm), training=True, tensorboard_log=str(spec.run_dir / "tb"))
        if (ckpt / BUFFER_FILE).is_file():
            load_replay_buffer(ckpt / BUFFER_FILE, model)
        _truncate_evaluations(spec.run_dir, model.num_timesteps)
        print(f"resuming {spec.run_dir} from step {model.num_timesteps}")
    else:
        model, meta = factory(norm)
    if prepare is not None:
        prepare(model)
    adr = None
    if spec.adr is not None:  # a resumed run continues from the bounds its checkpoint saved
        adr = ADR.from_state(spec.task, meta["adr"]) if "adr" in meta else ADR.start(spec.task, spec.adr)
        norm.env_method("set_adr", adr.ranges(), adr.settings.boundary_prob)  # before learn()'s first reset
    callback = TrainCallback(spec, meta, norm, adr)
    remaining = spec.steps - model.num_timesteps
    old = {s: signal.signal(s, _interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
    learn_t0 = time.time()
    try:
        # learn(0) takes no step but still sets up the logger and the callback (offline-only runs, and a resume
        # asked for no more steps than its checkpoint already took: the final save needs the callback's model)
        model.learn(
            max(remaining, 0),
            callback=callback,
            reset_num_timesteps=False,
            tb_log_name="run",
            progress_bar=spec.progress,
        )
    except KeyboardInterrupt:
        path = callback.checkpoint()
        print(
            f"interrupted: saved {path}; continue with: sim2real {spec.command} resume={spec.run_dir}",
            file=sys.stderr,
        )
        raise SystemExit(130) from None
    finally:
        for s, h in old.items():
            signal.signal(s, h)
    meta["time_breakdown_s"] = callback.breakdown(time.time() - learn_t0)
    last = callback.last_row
    if spec.eval_interval and not (last and last["timesteps"] == model.num_timesteps):
        last = callback._timed("evaluation", callback.evaluate)  # the last periodic one is reused at this step
    meta["time_breakdown_s"] = dict(callback.times)
    meta["wall_time_s"] = callback.wall_time()
    meta["final_evaluation"] = last if spec.eval_interval else None
    meta["timesteps"] = int(model.num_timesteps)  # env steps taken: PPO rounds `steps` up to whole rollouts
    callback.record_adr()
    save_policy(spec.run_dir, model, norm, meta, replay_buffer=True)  # SAC's buffer: for finetune.keep_buffer=true
    callback.checkpoint()
    OmegaConf.save(OmegaConf.create(spec.config), spec.run_dir / "config.yaml")
    return spec.run_dir
