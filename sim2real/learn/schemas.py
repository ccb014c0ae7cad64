"""Typed schemas of the command configs: Hydra structured configs (dataclasses in the ConfigStore, ``MISSING``
for what the user must give), and the ranges of their values, in one place.

Each ``configs/<command>.yaml`` lists ``<command>_schema`` first in its defaults, so Hydra types every value
while composing (``seed=abc`` or ``realtime=maybe`` are refused with the key named) and the YAML keeps the
defaults and their comments. :func:`check` then applies the ranges declared here (``metadata``) before any
work starts. The ``task``, ``dr``, ``dynamics`` and ``algo`` groups have their own checks (the task registry,
the dynamics parameter table, :data:`sim2real.learn.config.ALGO_RANGES`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields, is_dataclass
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf


def _f(
    lo: float | None = None,
    hi: float | None = None,
    *,
    open_lo: bool = False,
    open_hi: bool = False,
    choices: tuple[Any, ...] | None = None,
) -> Any:
    """A typed field whose value comes from the YAML (``MISSING`` here), with its range or choices."""
    meta = {"lo": lo, "hi": hi, "open_lo": open_lo, "open_hi": open_hi, "choices": choices}
    return field(default=MISSING, metadata=meta)


GROUP: Any = MISSING  # a config group (task, dr, dynamics, algo): its own checks apply


@dataclass
class Eval:
    interval: int = _f(0)  # env steps between evaluations (0: none)
    episodes: int = _f(1)
    targets: list[str] = field(default_factory=list)
    seed_range: str = _f(choices=("development", "test"))


@dataclass
class WarmStart:
    demos: int = _f(0)
    epochs: int = _f(1)
    lr: float = _f(0, 1, open_lo=True, open_hi=True)
    batch_size: int = _f(1)
    log_std: float | None = None
    shuffle_action_history: bool = False


@dataclass
class FinetuneWarmStart:
    demos: int = _f(0, 0)  # fine-tuning starts from a policy: no demonstrations


@dataclass
class Adr:
    """Automatic domain randomisation (``dr=adr``; sim2real/learn/adr.py)."""

    init: str = MISSING
    boundary_prob: float = _f(0, 1, open_lo=True)
    buffer: int = _f(1)
    t_low: float = MISSING
    t_high: float = MISSING
    step: float = _f(0, open_lo=True)
    params: list[str] | None = None


@dataclass
class Policy:
    """What the policy sees: its observation history and the critic's privileged inputs."""

    history: int = _f(1, 64)  # the current observation and the K-1 previous (observation, action) pairs
    privileged_critic: bool = MISSING  # the value function also sees the episode's dynamics values (PPO)


@dataclass
class Run:
    """What train and finetune share."""

    task: Any = GROUP
    dr: Any = GROUP
    dynamics: Any = GROUP
    algo: Any = GROUP
    command: str = _f(choices=("train", "finetune"))
    seed: int = _f(0)
    steps: int = _f(0)  # env steps (all envs together)
    n_envs: int = _f(1)
    threads: int = _f(1)
    resume: Any = False  # false, true (with hydra.run.dir) or a run directory
    checkpoint_interval: int = _f(0)
    progress: Any = _f(choices=("auto", True, False))  # a bar: auto (on a terminal), true, false
    eval: Eval = field(default_factory=Eval)
    adr: Adr = field(default_factory=Adr)
    policy: Policy = field(default_factory=Policy)
    out_dir: str = MISSING


@dataclass
class Train(Run):
    warm_start: WarmStart = field(default_factory=WarmStart)


@dataclass
class FinetuneControls:
    lr: float = _f(0, 1, open_lo=True, open_hi=True)
    scope: str = _f(choices=("all", "last", "features"))
    head_lr: float = _f(0, 1, open_lo=True, open_hi=True)
    l2sp: float = _f(0)
    l2sp_anchor: str | None = None
    reset_head: bool = MISSING
    update_norm: bool = MISSING
    keep_buffer: bool = MISSING


@dataclass
class CompareOffline:
    """The offline settings compare passes to its ``logged`` units (the episode count is the unit's budget)."""

    gradient_steps: int = _f(1)
    batch_size: int = _f(1)
    bc_weight: float = _f(0)
    epochs: int = _f(1)
    lr: float = _f(0, 1, open_lo=True, open_hi=True)


@dataclass
class Offline(CompareOffline):
    episodes: int | None = None  # only the first N logged episodes (None: all)


@dataclass
class Finetune(Run):
    init: str = MISSING
    finetune: FinetuneControls = field(default_factory=FinetuneControls)
    data: str | None = None
    mode: str = _f(choices=("offline", "mixed"))
    offline: Offline = field(default_factory=Offline)
    warm_start: FinetuneWarmStart = field(default_factory=FinetuneWarmStart)


@dataclass
class Evaluate:
    task: Any = GROUP
    dr: Any = GROUP
    dynamics: Any = GROUP
    policy: str = MISSING
    episodes: int = _f(1)
    seed: int = _f(0)
    threads: int = _f(1)
    video: bool = False
    video_episodes: int = _f(1)
    out_dir: str = MISSING


@dataclass
class Export:
    task: Any = GROUP
    policy: str = MISSING
    out: str = MISSING
    parity_observations: int = _f(1)


@dataclass
class Deploy:
    task: Any = GROUP
    dr: Any = GROUP
    dynamics: Any = GROUP
    bundle: str = MISSING
    episodes: int = _f(1)
    seed: int = _f(0)
    realtime: bool = MISSING
    rate_hz: float | None = None  # checked against the bundle's rate (sim2real_runtime.check_rate)
    log: str | None = None
    overwrite: bool = MISSING
    video: bool = False
    video_episodes: int = _f(1)
    out_dir: str = MISSING


@dataclass
class ExciteOverrides:
    signal: str | None = _f(choices=("chirp", "multisine", "prbs", "steps", None))
    amplitude: float | None = _f(0, 1)
    band_hz: list[float] | None = None
    duration_s: float | None = _f(0, open_lo=True)
    seed: int = _f(0)


@dataclass
class Collect:
    task: Any = GROUP
    dr: Any = GROUP
    dynamics: Any = GROUP
    policy: str = MISSING
    excite: ExciteOverrides = field(default_factory=ExciteOverrides)
    episodes: int = _f(1)
    action_noise: float = _f(0, 1)
    seed: int = _f(0)
    out: str = MISSING
    overwrite: bool = MISSING
    out_dir: str = MISSING


@dataclass
class Design:
    task: Any = GROUP
    dynamics: Any = GROUP
    params: list[str] | None = None
    candidates: list[str] = field(default_factory=list)
    episodes: int = _f(1)
    target_rel_std: float = _f(0, 1, open_lo=True)
    action_noise: float = _f(0, 1)
    horizon: int = _f(1)
    stride: int = _f(1)
    seed: int = _f(0)
    out_dir: str = MISSING


@dataclass
class Calibrate:
    task: Any = GROUP
    data: str = MISSING
    params: list[str] | None = None
    budget: int = _f(10)  # CMA-ES needs a population's worth
    seed: int = _f(0)
    horizon: int = _f(1)
    stride: int = _f(1)
    prior_weight: float = _f(0)
    bootstrap: int = _f(0)
    newton_rounds: int = _f(1)
    restarts: int = _f(1)
    hop: float = _f(0)
    sigma_hop: float = _f(0)
    identified_rel_std: float = _f(0, 1, open_lo=True)
    solver: str = _f(choices=("lm", "cma"))
    start_budget: int = _f(0)
    threads: Any = None  # null: every core; else a positive integer (checked by calibrate)
    base_dr: str = MISSING
    gap_of: list[str] = field(default_factory=list)
    out_dir: str = MISSING


@dataclass
class Pretrain:
    randomization: str = MISSING
    overrides: list[str] = field(default_factory=list)


@dataclass
class Sequence:
    profiles: list[str] = field(default_factory=list)
    steps: int = _f(1)
    l2sp: float = _f(0)


@dataclass
class Fallback:
    decide_at: int = _f(1)  # target steps each branch trains before the choice (a multiple of eval.interval)
    episodes: int = _f(1)  # development episodes on the target per branch for the choice


@dataclass
class CompareEval:
    interval: int = _f(1)
    episodes: int = _f(1)


@dataclass
class CompareFinetune:
    lr: float = _f(0, 1, open_lo=True, open_hi=True)
    head_lr: float = _f(0, 1, open_lo=True, open_hi=True)
    update_norm: bool = MISSING


@dataclass
class Scratch:
    lr: float = _f(0, 1, open_lo=True, open_hi=True)


@dataclass
class Compare:
    task: Any = GROUP
    dynamics: Any = GROUP
    pretrained: Any = MISSING  # a run, a list of runs (one per seed) or `train`
    baseline: Any = MISSING
    baseline_runs: int = _f(1)
    pretrain: Pretrain = field(default_factory=Pretrain)
    seeds: int = _f(1)
    budgets: list[int] = field(default_factory=list)
    conditions: list[str] = field(default_factory=list)
    l2sp: list[float] = field(default_factory=list)
    sequence: Sequence = field(default_factory=Sequence)
    fallback: Fallback = field(default_factory=Fallback)
    threshold: float = _f(0, 1, open_lo=True)
    n_envs: int = _f(1)
    eval: CompareEval = field(default_factory=CompareEval)
    finetune: CompareFinetune = field(default_factory=CompareFinetune)
    scratch: Scratch = field(default_factory=Scratch)
    calibrated: Any = None
    data: str | None = None
    logged_episodes: list[int] = field(default_factory=list)
    offline: CompareOffline = field(default_factory=CompareOffline)
    video: bool = False
    launcher: str = MISSING
    n_jobs: int = _f(1)
    launcher_overrides: list[str] = field(default_factory=list)
    out: str = MISSING


@dataclass
class Sweep:
    task: Any = GROUP
    dynamics: Any = GROUP
    policies: Any = MISSING  # runs, or groups of runs (lists)
    param: str = MISSING
    values: list[Any] = field(default_factory=list)  # numbers (ints for action_latency); checked per parameter
    seeds: int = _f(1)
    episodes: int = _f(1)
    n_jobs: int = _f(1)
    video: bool = False
    video_episodes: int = _f(1)
    out_dir: str = MISSING


@dataclass
class Unit:
    unit: str = MISSING


SCHEMAS: dict[str, type] = {
    "train": Train,
    "finetune": Finetune,
    "evaluate": Evaluate,
    "export": Export,
    "deploy": Deploy,
    "collect": Collect,
    "calibrate": Calibrate,
    "design": Design,
    "compare": Compare,
    "sweep": Sweep,
    "unit": Unit,
}


def store() -> None:
    """Register every schema as ``<command>_schema`` (each command's YAML lists it first in its defaults)."""
    from hydra.core.config_store import ConfigStore

    cs = ConfigStore.instance()
    for name, schema in SCHEMAS.items():
        cs.store(name=f"{name}_schema", node=schema)


def check(cfg: DictConfig, command: str) -> None:
    """The declared ranges and choices of ``command``'s schema, on ``cfg``: the first violation is a one-line
    ConfigError naming the key and what it must be."""
    from sim2real.learn.config import ConfigError  # (config imports the envs, whose registry imports the configs)

    try:
        _check(cfg, SCHEMAS[command], "")
    except _RangeError as e:
        raise ConfigError(str(e)) from None


class _RangeError(ValueError):
    pass


def _check(node: Any, schema: type, prefix: str) -> None:
    for f in fields(schema):
        key = f"{prefix}{f.name}"
        sub = f.default_factory() if f.default_factory is not dataclasses.MISSING else None
        m = f.metadata
        if not (m or is_dataclass(sub)) or not isinstance(node, DictConfig):
            continue  # untyped ranges (paths, groups, interpolations like out_dir) are not resolved here
        value = OmegaConf.select(node, f.name, default=None)
        if is_dataclass(sub):
            if isinstance(value, DictConfig):
                _check(value, type(sub), f"{key}.")
            continue
        if value is None:
            continue
        if m.get("choices") is not None and value not in m["choices"]:
            raise _RangeError(f"{key}={value!r}: choose one of {', '.join(str(c).lower() for c in m['choices'])}")
        lo, hi = m.get("lo"), m.get("hi")
        if lo is None and hi is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise _RangeError(f"{key}={value!r}: must be a finite number")
        below = lo is not None and (value <= lo if m["open_lo"] else value < lo)
        above = hi is not None and (value >= hi if m["open_hi"] else value > hi)
        if below or above:
            raise _RangeError(f"{key}={value!r}: must be {_range(m)}")


def _range(m: dict[str, Any]) -> str:
    """``>= 0``, ``> 0``, ``in (0, 1)``, ``in [0, 1]``: the declared range in words."""
    lo, hi = m["lo"], m["hi"]
    if hi is None:
        return f"{'>' if m['open_lo'] else '>='} {lo:g}"
    if lo is None:
        return f"{'<' if m['open_hi'] else '<='} {hi:g}"
    if lo == hi:
        return f"{lo:g}"
    return f"in {'(' if m['open_lo'] else '['}{lo:g}, {hi:g}{')' if m['open_hi'] else ']'}"
