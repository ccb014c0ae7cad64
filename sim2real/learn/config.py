"""From a composed Hydra config to a validated run specification (every bad input fails here,
with a one-line message, before any training starts)."""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from stable_baselines3.common.utils import LinearSchedule

import sim2real.envs  # noqa: F401  (registers the built-in tasks)
from sim2real.io import command_line, git_commit, versions
from sim2real.learn.adr import ADR, ADRSettings
from sim2real.learn.model_spec import ACTIVATIONS, ALGOS  # one table: configs and checkpoints
from sim2real.learn.vec import SEED_RANGES
from sim2real.sim import tasks
from sim2real.sim.groups import ADR_PRESET

NON_SB3_KEYS = ("name", "norm_reward", "policy", "lr_schedule")


class ConfigError(ValueError):
    """A bad config value; the message names the key and how to fix it."""


def plain(node: Any) -> Any:
    """A resolved plain Python object from an OmegaConf node (or the value itself)."""
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def dynamics_spec(node: Any) -> dict[str, Any] | None:
    """A ``dr``/``dynamics`` config group node as ``{name: value-or-range}`` without nulls and the label."""
    d = plain(node)
    if d is None:
        return None
    if isinstance(d, str):
        return d  # a preset name, resolved by the env
    out = {k: v for k, v in d.items() if k != "name" and v is not None}
    return out or None


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# The admissible values of every SB3 hyperparameter the configs set, in one place: (check, what it must be).
ALGO_RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "learning_rate": (lambda v: _num(v) and 0 < v < 1, "a number in (0, 1)"),
    "gamma": (lambda v: _num(v) and 0 < v < 1, "a number in (0, 1), e.g. 0.99"),
    "gae_lambda": (lambda v: _num(v) and 0 <= v <= 1, "a number in [0, 1]"),
    "n_steps": (lambda v: _int(v) and v >= 1, "a positive integer (steps per env per rollout)"),
    "batch_size": (lambda v: _int(v) and v >= 1, "a positive integer"),
    "n_epochs": (lambda v: _int(v) and v >= 1, "a positive integer"),
    "clip_range": (lambda v: _num(v) and 0 < v <= 1, "a number in (0, 1]"),
    "ent_coef": (lambda v: (_num(v) and v >= 0) or (isinstance(v, str) and v.startswith("auto")), "a number >= 0"),
    "vf_coef": (lambda v: _num(v) and v >= 0, "a number >= 0"),
    "max_grad_norm": (lambda v: _num(v) and v > 0, "a positive number"),
    "buffer_size": (lambda v: _int(v) and v >= 1, "a positive integer"),
    "learning_starts": (lambda v: _int(v) and v >= 0, "a non-negative integer"),
    "tau": (lambda v: _num(v) and 0 < v <= 1, "a number in (0, 1]"),
    "train_freq": (lambda v: _int(v) and v >= 1, "a positive integer"),
    "gradient_steps": (lambda v: _int(v) and (v >= 1 or v == -1), "a positive integer (or -1)"),
    "norm_reward": (lambda v: isinstance(v, bool), "true or false"),
}
SAC_ONLY = ("buffer_size", "learning_starts", "tau", "train_freq", "gradient_steps")
PPO_ONLY = ("n_steps", "n_epochs", "gae_lambda", "clip_range", "vf_coef", "max_grad_norm")


def check_algo(algo_cfg: dict[str, Any]) -> None:
    """Every hyperparameter in range and of its type, and none that the algorithm does not take."""
    name = algo_cfg.get("name")
    wrong = PPO_ONLY if name == "sac" else SAC_ONLY
    for key, value in algo_cfg.items():
        if key in wrong and value is not None:
            raise ConfigError(f"algo.{key} is not a {name} setting; drop it")
        if key in ALGO_RANGES and not ALGO_RANGES[key][0](value):
            raise ConfigError(f"algo.{key}={value!r}: must be {ALGO_RANGES[key][1]}")


def algo_kwargs(algo_cfg: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """SB3 constructor keywords and ``policy_kwargs`` from an ``algo`` config (checked by :func:`check_algo`)."""
    check_algo(algo_cfg)
    kwargs = {k: v for k, v in algo_cfg.items() if k not in NON_SB3_KEYS}
    schedule = algo_cfg.get("lr_schedule", "constant")
    if schedule == "linear":  # anneal to zero over the run (SB3 calls it with the remaining progress, 1 -> 0)
        kwargs["learning_rate"] = LinearSchedule(float(algo_cfg["learning_rate"]), 0.0, 1.0)
    elif schedule != "constant":
        raise ConfigError(f"algo.lr_schedule='{schedule}' is unknown; choose constant or linear")
    pol = dict(algo_cfg.get("policy", {}))
    act = pol.pop("activation", "tanh")
    if act not in ACTIVATIONS:
        raise ConfigError(f"algo.policy.activation='{act}' is unknown; choose one of: {', '.join(ACTIVATIONS)}")
    pol["activation_fn"] = ACTIVATIONS[act]
    if "net_arch" in pol:
        pol["net_arch"] = list(pol["net_arch"])
    return kwargs, pol


def positive_int(cfg: DictConfig, key: str, allow_zero: bool = False) -> int:
    v = OmegaConf.select(cfg, key)
    if not isinstance(v, int) or isinstance(v, bool) or v < 0 or (v == 0 and not allow_zero):
        need = "a non-negative integer" if allow_zero else "a positive integer"
        raise ConfigError(f"{key}={v!r}: must be {need}")
    return v


def check_task(task: Any) -> str:
    """The name of a registered task, from a name or a composed ``task`` node (a user's task YAML on Hydra's
    search path is registered here); an unknown task is one line listing the registered ones."""
    try:
        return tasks.ensure(task).name
    except tasks.TaskError as e:
        raise ConfigError(str(e)) from None


def check_env_spec(task: str, randomization: Any, dynamics: Any) -> None:
    """Build the env once so that bad dynamics values fail now, not after minutes of work."""
    tasks.make(task, randomization=randomization, dynamics=dynamics).close()


def checked_group(cfg: DictConfig, task: str, group: str = "dynamics") -> Any:
    """The ``dr`` or ``dynamics`` group as a spec, after checking that a named preset or profile is the task's."""
    from sim2real.sim.groups import check_named

    try:
        check_named(cfg[group], task, group)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    command = OmegaConf.select(cfg, "command", default=None)
    if group == "dr" and OmegaConf.select(cfg, "dr.name") == ADR_PRESET and command not in ("train", "finetune"):
        raise ConfigError(
            "dr=adr adapts ranges while a policy trains (train, finetune); to use a run's final ADR ranges here, "
            "pass dr=<run dir>/adr_dr.yaml"
        )
    return dynamics_spec(cfg[group])


def groups_of(cfg: DictConfig, task: str) -> tuple[Any, Any]:
    """The ``dr`` and ``dynamics`` groups as specs, each checked against the task."""
    return checked_group(cfg, task, "dr"), checked_group(cfg, task, "dynamics")


def episodes_and_dynamics(cfg: DictConfig, task: str) -> tuple[int, Any, Any]:
    """``episodes`` (a positive int) and the ``dr``/``dynamics`` groups of an evaluate/deploy config, checked."""
    episodes = int(cfg.episodes)  # its range: the command's schema
    rand, dyn = groups_of(cfg, task)
    check_env_spec(task, rand, dyn)
    return episodes, rand, dyn


@dataclass
class RunSpec:
    """Everything one training (or fine-tuning) run needs, validated."""

    task: str
    algo: str
    algo_cfg: dict[str, Any]
    seed: int
    steps: int
    n_envs: int
    run_dir: Path
    randomization: dict[str, Any] | None
    dynamics: dict[str, Any] | None
    dr_name: str
    dynamics_name: str
    resume: bool = False
    checkpoint_interval: int = 0
    eval_interval: int = 0
    eval_episodes: int = 20
    eval_seed_range: str = "development"  # training-time evaluation: development episodes unless compare asks
    eval_targets: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    warm_start: dict[str, Any] = field(default_factory=dict)
    threads: int = 1
    progress: bool = False
    config: dict[str, Any] = field(default_factory=dict)  # the resolved config: saved, and checked on resume
    adr: Any = None  # ADRSettings with dr=adr (sim2real/learn/adr.py), else None
    history: int = 1  # observations the policy sees (policy.history)
    privileged_critic: bool = False  # the critic also sees the episode's dynamics values (policy.privileged_critic)

    @property
    def command(self) -> str:
        return str(self.config.get("command", "train"))

    @property
    def gamma(self) -> float:
        return float(self.algo_cfg.get("gamma", 0.99))

    @property
    def norm_reward(self) -> bool:
        return bool(self.algo_cfg.get("norm_reward", True))

    def meta(self) -> dict[str, Any]:
        """The ``run.json`` record of this run."""
        env = tasks.core(tasks.make(self.task))
        return {
            "task": self.task,
            "task_spec": tasks.record(self.task),  # evaluate/export elsewhere need no --config-dir (tasks.adopt)
            "algo": self.algo,
            "obs_dim": int(env.observation_space.shape[0]),
            "action_dim": int(env.action_space.shape[0]),
            "control_rate_hz": 1.0 / env.dt,
            "seed": self.seed,
            "steps": self.steps,
            "randomization": {"name": self.dr_name, "ranges": self.randomization or {}},
            "evaluation_episodes": {
                "seed_range": self.eval_seed_range,
                "seeds": f"{SEED_RANGES[self.eval_seed_range]} + 10000 * seed + k",
            },
            "dynamics": {"name": self.dynamics_name, "values": self.dynamics or {}},
            "history": self.history,
            "privileged_critic": self.privileged_critic,
            "commit": git_commit(),
            "command": command_line(),
            "versions": versions(),
            "config": self.config,
        }


def eval_targets(names: list[str], randomization: Any, dynamics: Any) -> dict[str, tuple[Any, Any]]:
    """``train`` = the training distribution; ``nominal``; ``dr:<preset>`` = that randomisation preset;
    any other name = that target profile."""
    out = {}
    for name in names:
        if name == "train":
            out[name] = (randomization, dynamics)
        elif name.startswith("dr:"):
            out[name] = (name[3:], None)
        elif name == "nominal":
            out[name] = (None, None)
        else:
            out[name] = (None, name)
    return out


def _offline_only(cfg: DictConfig) -> bool:
    """A fine-tuning run on logged data alone may take zero target steps."""
    return OmegaConf.select(cfg, "data") is not None and OmegaConf.select(cfg, "mode") == "offline"


def build_spec(cfg: DictConfig) -> RunSpec:
    """Validate a ``train``/``finetune`` config and turn it into a :class:`RunSpec`."""
    from sim2real.learn.schemas import check

    check(cfg, str(cfg.command))  # types and ranges, from the schema
    task = check_task(cfg.task)
    algo_cfg = plain(cfg.algo)
    if algo_cfg.get("name") not in ALGOS:
        raise ConfigError(f"algo='{algo_cfg.get('name')}' is unknown; choose one of: {', '.join(ALGOS)}")
    algo_kwargs(algo_cfg)  # every hyperparameter checked before any env is built
    randomization, dynamics = groups_of(cfg, task)
    if OmegaConf.select(cfg, "policy.privileged_critic", default=False) and algo_cfg["name"] != "ppo":
        raise ConfigError("policy.privileged_critic=true needs algo=ppo (the asymmetric actor-critic is PPO's)")
    if OmegaConf.select(cfg, "policy.history", default=1) > 1 and algo_cfg["name"] == "recurrent_ppo":
        raise ConfigError("policy.history>1 with algo=recurrent_ppo: the LSTM is the memory; drop one of them")
    adr = adr_settings(cfg, task, randomization)
    if adr is not None:
        randomization = ADR.start(task, adr).ranges()  # the training distribution at step 0
    check_env_spec(task, randomization, dynamics)
    targets = list(plain(OmegaConf.select(cfg, "eval.targets", default=[])) or [])
    for rand, dyn in eval_targets(targets, randomization, dynamics).values():
        check_env_spec(task, rand, dyn)
    resume = OmegaConf.select(cfg, "resume", default=False)
    if not isinstance(resume, bool):
        raise ConfigError(f"resume={resume!r}: use resume=true (with hydra.run.dir=<run dir>) or resume=<run dir>")
    progress = OmegaConf.select(cfg, "progress", default="auto")
    return RunSpec(
        task=task,
        algo=algo_cfg["name"],
        algo_cfg=algo_cfg,
        seed=int(cfg.seed),
        steps=positive_int(cfg, "steps", allow_zero=_offline_only(cfg)),  # 0 only for an offline-only fine-tune
        n_envs=int(cfg.n_envs),
        run_dir=Path(cfg.out_dir),
        randomization=randomization,
        dynamics=dynamics,
        dr_name=str(OmegaConf.select(cfg, "dr.name", default="custom")),
        dynamics_name=str(OmegaConf.select(cfg, "dynamics.name", default="custom")),
        resume=resume,
        checkpoint_interval=int(cfg.checkpoint_interval),
        eval_interval=int(cfg.eval.interval),
        eval_episodes=int(cfg.eval.episodes),
        eval_seed_range=str(cfg.eval.seed_range),
        eval_targets=eval_targets(targets, randomization, dynamics),
        warm_start=plain(OmegaConf.select(cfg, "warm_start", default={})) or {},
        threads=int(cfg.threads),
        progress=sys.stderr.isatty() if progress == "auto" else bool(progress),
        config=plain(cfg),
        adr=adr,
        history=int(OmegaConf.select(cfg, "policy.history", default=1)),
        privileged_critic=bool(OmegaConf.select(cfg, "policy.privileged_critic", default=False)),
    )


def adr_settings(cfg: DictConfig, task: str, randomization: Any) -> ADRSettings | None:
    """The ``adr`` block as checked settings with ``dr=adr`` (ranges given beside it are refused), else None."""
    if OmegaConf.select(cfg, "dr.name") != ADR_PRESET:
        return None
    if randomization:
        raise ConfigError(
            f"dr=adr sets its own ranges; drop dr.{next(iter(randomization))}=... (start from a preset with adr.init=)"
        )
    a = plain(cfg.adr)
    settings = ADRSettings(**{**a, "params": tuple(a["params"]) if a.get("params") is not None else None})
    try:
        ADR.start(task, settings)
    except ValueError as e:
        raise ConfigError(str(e)) from None
    return settings


def compose_config(
    command: str, groups: dict[str, str], values: dict[str, Any] | None = None, user_overrides: Sequence[str] = ()
) -> DictConfig:
    """The config of ``command`` (``train``, ``finetune``, ...) with the config ``groups`` chosen by name (e.g.
    ``{"task": "grasp", "algo": "ppo"}``: what a YAML file holds) and typed ``values`` set by dotted key (a
    mapping value merges into the node: ``{"dynamics": {"mass_scale": 1.3}}``); no value travels as a string.
    ``user_overrides`` are a user's own command-line overrides (compare's ``pretrain.overrides``), applied
    before ``values``. The library's callers (compare's units, sequences) build their run specs here."""
    from hydra import compose, initialize_config_module
    from hydra.core.global_hydra import GlobalHydra

    from sim2real.sim.groups import store

    store()  # tasks registered since sim2real.configs was imported (a unit's recorded task) become options
    overrides = [*(f"{k}={v}" for k, v in groups.items()), *user_overrides]  # a group choice names a file
    if GlobalHydra.instance().is_initialized():
        cfg = compose(command, overrides=overrides)
    else:
        with initialize_config_module(config_module="sim2real.configs", version_base="1.3"):
            cfg = compose(command, overrides=overrides)
    for key, value in (values or {}).items():
        OmegaConf.update(cfg, key, value, merge=isinstance(value, dict))
    return cfg
