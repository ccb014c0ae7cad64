"""Export a trained policy to a self-contained deploy bundle (no torch, no SB3, no pickle needed to run it).

A bundle directory holds:

- ``policy.onnx``: the deterministic actor with observation normalisation (mean/std, clipping),
  action squashing (SAC: tanh), unscaling to the action bounds and clipping inside the graph;
  input ``obs`` float32 (batch, obs_dim), output ``action`` float32 (batch, action_dim); weights
  embedded (one file);
- ``policy.json``: task, observation and action layouts with units and bounds, control rate,
  the latency and randomisation the policy was trained with, the safe action, source run, commit,
  library versions and the export parity figure;
- ``manifest.json``: SHA-256 of both files, verified by :mod:`sim2real.deploy` on load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from sim2real_runtime.bundle import BUNDLE_FORMAT, OBSERVATION_MARGIN
from stable_baselines3 import PPO, SAC
from stable_baselines3.common.base_class import BaseAlgorithm

import sim2real.envs  # noqa: F401  (registers the built-in tasks)
from sim2real.io import versions, write_json
from sim2real.learn.evaluate import stored_policy
from sim2real.learn.runs import PolicySource, load_model, policy_digest, policy_input_dim, resolve_policy
from sim2real.learn.vec import read_normalization
from sim2real.sim import tasks

BUNDLE_FILES = ("policy.onnx", "policy.json", "manifest.json")
PARITY_TOLERANCE = 1e-5  # max abs action difference between the bundle and SB3 predict


class _Bounded(th.nn.Module):
    """The observation normalisation (mean, std, clip) and the action bounds an exported actor applies."""

    def __init__(self, model: BaseAlgorithm, norm: dict[str, np.ndarray]) -> None:
        super().__init__()
        eps = float(norm["epsilon"])
        self.register_buffer("mean", th.as_tensor(norm["obs_mean"], dtype=th.float32))
        self.register_buffer("std", th.as_tensor(np.sqrt(norm["obs_var"] + eps), dtype=th.float32))
        self.clip_obs = float(norm["clip_obs"])
        self.register_buffer("low", th.as_tensor(model.action_space.low, dtype=th.float32))
        self.register_buffer("high", th.as_tensor(model.action_space.high, dtype=th.float32))


class DeterministicActor(_Bounded):
    """obs -> action exactly as SB3's ``predict(normalised obs, deterministic=True)`` computes it."""

    def __init__(self, model: BaseAlgorithm, norm: dict[str, np.ndarray]) -> None:
        super().__init__(model, norm)
        if isinstance(model, PPO):
            p = model.policy
            self.features, self.body, self.head, self.squash = (
                p.pi_features_extractor,
                p.mlp_extractor.policy_net,
                p.action_net,
                False,
            )
        elif isinstance(model, SAC):
            a = model.actor
            self.features, self.body, self.head, self.squash = a.features_extractor, a.latent_pi, a.mu, True
        else:
            raise TypeError(f"cannot export {type(model).__name__}; supported: PPO, SAC")

    def forward(self, obs: th.Tensor) -> th.Tensor:
        x = th.clamp((obs - self.mean) / self.std, -self.clip_obs, self.clip_obs)
        a = self.head(self.body(self.features(x)))
        if self.squash:  # SAC: tanh into [-1, 1], then unscale to the bounds
            a = self.low + (th.tanh(a) + 1.0) * 0.5 * (self.high - self.low)
        return th.minimum(th.maximum(a, self.low), self.high)


class RecurrentActor(_Bounded):
    """(obs, state_h, state_c) -> (action, state_h, state_c) as sb3-contrib's ``RecurrentPPO.predict`` computes it
    deterministically: normalisation, the actor's LSTM (one step), its MLP and action head, clipping. The state is
    explicit, ``(layers, batch, hidden)``; zero starts an episode."""

    def __init__(self, model: BaseAlgorithm, norm: dict[str, np.ndarray]) -> None:
        super().__init__(model, norm)
        p = model.policy
        self.features, self.lstm, self.body, self.head = (
            p.pi_features_extractor,
            p.lstm_actor,
            p.mlp_extractor.policy_net,
            p.action_net,
        )

    def forward(self, obs: th.Tensor, state_h: th.Tensor, state_c: th.Tensor) -> tuple[th.Tensor, ...]:
        x = th.clamp((obs - self.mean) / self.std, -self.clip_obs, self.clip_obs)
        out, (h, c) = self.lstm(self.features(x).unsqueeze(0), (state_h, state_c))
        a = self.head(self.body(out.squeeze(0)))
        return th.minimum(th.maximum(a, self.low), self.high), h, c


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def policy_metadata(src: PolicySource, parity: float, model: BaseAlgorithm | None = None) -> dict[str, Any]:
    env = tasks.core(tasks.make(src.task))
    spec = tasks.get(src.task)
    meta = src.meta
    names = [n for n, _ in env.observation_layout]
    previous = [i for i, n in enumerate(names) if n.startswith("previous_action_")]
    trained_latency = meta.get("randomization", {}).get("ranges", {}).get("action_latency") or meta.get(
        "dynamics", {}
    ).get("values", {}).get("action_latency", 0)
    return {
        "format": BUNDLE_FORMAT,
        "task": src.task,
        "task_spec": tasks.record(src.task),  # deploy on another machine needs no --config-dir (tasks.adopt)
        "env_id": tasks.env_id(src.task),
        "algo": src.algo,
        "control_rate_hz": 1.0 / env.dt,
        "conventions": spec.conventions or None,
        "observation": [
            {"index": i, "name": n, "unit": u, **dict(zip(("low", "high"), spec.bounds_of(n), strict=True))}
            for i, (n, u) in enumerate(env.observation_layout)
        ],
        "previous_action": {
            "indices": previous,
            "meaning": "the clipped action the loop last sent (the safe action at the start of an episode); "
            "ControlLoop fills these entries itself",
        }
        if len(previous) == len(env.action_layout)
        else {"indices": []},
        "action": [
            {
                "index": i,
                "name": n,
                "unit": u,
                "scale": s,
                "low": float(env.action_space.low[i]),
                "high": float(env.action_space.high[i]),
            }
            for i, (n, u, s) in enumerate(env.action_layout)
        ],
        "safe_action": [float(x) for x in env.rest_action],
        # the runtime's observation check (sim2real_runtime.bundle.observation_limits): a reading beyond an entry's
        # bounds by more than margin x their range is a fault; edit it here (and re-sign the manifest) to change
        "observation_check": {"enabled": True, "margin": OBSERVATION_MARGIN},
        "trained_action_latency_steps": trained_latency,
        "randomization": meta.get("randomization"),
        "dynamics": meta.get("dynamics"),
        "source_run": src.path.name,  # the run's name, not the exporter's local path
        "source_sha256": policy_digest(src.path),
        "commit": meta.get("commit"),
        "trained_steps": meta.get("num_timesteps"),
        "versions": {**meta.get("versions", {}), "export": versions()},
        "parity_max_abs_diff": parity,
        "memory": memory_section(src.meta, env, model),
        "onnx": {"input": "obs", "output": "action", "opset": 18},
    }


def memory_section(run_meta: dict[str, Any], env: Any, model: BaseAlgorithm | None = None) -> dict[str, Any]:
    """``policy.json``'s ``memory``: what the runtime keeps per episode (sim2real_runtime.memory)."""
    lstm = getattr(getattr(model, "policy", None), "lstm_actor", None)
    if lstm is not None:
        return {
            "kind": "recurrent",
            "layers": int(lstm.num_layers),
            "hidden": int(lstm.hidden_size),
            "layout": "policy.onnx takes obs (batch, obs_dim), state_h and state_c (layers, batch, hidden) and returns "
            "action, state_h, state_c; the state is zero at an episode's first step and carried across steps",
        }
    k = int(run_meta.get("history", 1))
    if k > 1:
        return {
            "kind": "history",
            "k": k,
            "fill_action": [float(x) for x in env.rest_action],
            "layout": "obs is [o_t, ..., o_t-K+1, a_t-1, ..., a_t-K+1]: the observations, newest first, then the "
            "actions sent, newest first; at an episode's first step every slot holds its first observation and "
            "every action slot fill_action",
        }
    return {"kind": "none"}


def onnx_metadata(meta: dict[str, Any]) -> dict[str, str]:
    """What a C++ or ROS node needs from ``policy.json``, as the ONNX file's ``metadata_props`` (strings; the
    layouts as JSON), so the ``.onnx`` alone is usable."""
    keep = ("format", "task", "env_id", "control_rate_hz", "safe_action", "trained_action_latency_steps", "memory")
    props = {f"sim2real.{k}": json.dumps(meta[k]) for k in keep}
    props["sim2real.observation"] = json.dumps(
        [{k: o[k] for k in ("name", "unit", "low", "high")} for o in meta["observation"]]
    )
    props["sim2real.action"] = json.dumps(
        [{k: a[k] for k in ("name", "unit", "scale", "low", "high")} for a in meta["action"]]
    )
    props["sim2real.previous_action_indices"] = json.dumps(meta["previous_action"]["indices"])
    props["sim2real.conventions"] = meta.get("conventions") or ""
    return props


def parity(src: PolicySource, model: BaseAlgorithm, onnx_path: Path, obs: np.ndarray) -> float:
    """Max |bundle action - SB3 predict action| over the network inputs ``obs`` (stacked, for a history)."""
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    feed = {"obs": obs.astype(np.float32)}
    ref = stored_policy(src, model)
    if hasattr(ref, "first"):  # recurrent: every observation as an episode's first (zero state)
        lstm = model.policy.lstm_actor
        zero = np.zeros((lstm.num_layers, len(obs), lstm.hidden_size), np.float32)
        feed.update(state_h=zero, state_c=zero)
        ref.reset(len(obs))
        return float(np.max(np.abs(sess.run(None, feed)[0] - ref(obs))))
    ours = sess.run(None, feed)[0]
    ref = getattr(ref, "inner", ref)(obs)  # the network alone: the inputs are stacked already
    return float(np.max(np.abs(ours - ref)))


def privileged_check(model: BaseAlgorithm, onnx_path: Path, width: int) -> dict[str, Any]:
    """For an asymmetric actor-critic: the bundle's one input is the actor's observation (``width`` values, no
    privileged entry), and the SB3 actor's action does not move when the privileged values do (while the value
    does). Raises if either fails; ``{"trained_with": false}`` for any other policy."""
    from sim2real.learn.privileged import AsymmetricPolicy

    if not isinstance(model.policy, AsymmetricPolicy):
        return {"trained_with": False}
    import onnx

    inputs = [
        (i.name, [d.dim_value for d in i.type.tensor_type.shape.dim][1:]) for i in onnx.load(str(onnx_path)).graph.input
    ]
    if inputs != [("obs", [width])]:
        raise RuntimeError(f"export: the bundle of an asymmetric actor-critic takes {inputs}, not only obs ({width})")
    n = model.observation_space["privileged"].shape[0]
    gen = th.Generator().manual_seed(0)
    obs = th.randn(64, width, generator=gen)
    a = {"obs": obs, "privileged": th.zeros(64, n)}
    b = {"obs": obs, "privileged": 3.0 * th.randn(64, n, generator=gen)}
    with th.no_grad():
        act_diff = float((model.policy._predict(a, True) - model.policy._predict(b, True)).abs().max())
        value_diff = float((model.policy.predict_values(a) - model.policy.predict_values(b)).abs().max())
    if act_diff != 0.0:
        raise RuntimeError(f"export: the actor's action moves with the privileged values (by {act_diff:.2e})")
    return {
        "trained_with": True,
        "in_bundle": False,
        "check": f"bundle input is obs ({width}) only; the actor's action moved by {act_diff:g} and the value by "
        f"{value_diff:.3g} when the {n} privileged values were resampled on 64 observations",
    }


PARITY_EPISODE_SEED = 7  # the seeded episode on which a bundle must act as its policy, step by step


def episode_parity(src: PolicySource, model: BaseAlgorithm, onnx_path: Path, meta: dict[str, Any]) -> tuple[int, float]:
    """Run one seeded episode on the task's nominal sim with the policy as evaluation runs it, feeding the same
    observations to the runtime's per-episode state over the exported network (its history or LSTM state carried
    as on the robot); returns (steps, max |runtime action - policy action|)."""
    import onnxruntime as ort
    from sim2real_runtime.memory import check_memory, policy_state

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    n_obs, n_act = len(meta["observation"]), len(meta["action"])
    state = policy_state(sess, check_memory("export", meta.get("memory"), n_obs, n_act), n_obs, n_act)
    policy = stored_policy(src, model)
    env = tasks.make(src.task)
    low, high = env.action_space.low, env.action_space.high
    obs, _ = env.reset(seed=PARITY_EPISODE_SEED)
    if hasattr(policy, "reset"):
        policy.reset()
    state.reset()
    worst, steps, done = 0.0, 0, False
    while not done:
        ref = np.asarray(policy(obs), dtype=np.float32)
        ours = state.act(obs)
        worst = max(worst, float(np.max(np.abs(ours - ref))))
        sent = np.clip(ref, low, high)
        state.sent(sent)
        obs, _, terminated, truncated, _ = env.step(sent)
        done, steps = terminated or truncated, steps + 1
    env.close()
    return steps, worst


def sample_observations(task: str, n: int, seed: int = 0, history: dict[str, Any] | None = None) -> np.ndarray:
    """``n`` network inputs from random-action rollouts under the task's widest preset (varied inputs): the
    observations, or the stacked histories of a history-K run (``history``: its run.json)."""
    from sim2real.learn.vec import make_env

    presets = tasks.get(task).randomization
    k = int((history or {}).get("history", 1))
    env = make_env(task, randomization=next((p for p in ("wide", "default") if p in presets), None), history=k)
    env.action_space.seed(seed)
    obs, _ = env.reset(seed=seed)
    out = []
    while len(out) < n:
        out.append(obs)
        obs, _, term, trunc, _ = env.step(env.action_space.sample())
        if term or trunc:
            obs, _ = env.reset()
    return np.asarray(out, dtype=np.float32)


def _onnx_export(actor: th.nn.Module, dummy: th.Tensor, path: Path) -> None:
    """The dynamo exporter (needs onnxscript), weights embedded, a dynamic batch dimension; a recurrent actor's
    LSTM state as explicit inputs and outputs."""
    batch = th.export.Dim("batch", min=1, max=65536)
    args, names, outputs, shapes = (dummy,), ["obs"], ["action"], {"obs": {0: batch}}
    if isinstance(actor, RecurrentActor):
        lstm = actor.lstm
        zero = th.zeros(lstm.num_layers, 2, lstm.hidden_size)  # batch 2: a batch of 1 would be specialised
        args, names = (dummy.expand(2, -1).clone(), zero, zero.clone()), ["obs", "state_h", "state_c"]
        outputs = ["action", "state_h_out", "state_c_out"]
        shapes = {"obs": {0: batch}, "state_h": {1: batch}, "state_c": {1: batch}}
    th.onnx.export(
        actor,
        args,
        str(path),
        input_names=names,
        output_names=outputs,
        dynamo=True,
        external_data=False,
        opset_version=18,
        verbose=False,
        dynamic_shapes=shapes,
    )


def export(policy: str | Path, out: Path, n_parity: int = 1000) -> dict[str, Any]:
    """Write the bundle for ``policy`` into ``out``; returns ``policy.json``'s content. Raises if parity fails."""
    for name in ("onnx_ir", "onnxscript", "torch.onnx"):  # pass-by-pass INFO lines, "torchvision is not installed"
        logging.getLogger(name).setLevel(logging.ERROR)
    out = Path(out)
    check_output(out)
    src = resolve_policy(policy)
    model = load_model(src)
    norm = read_normalization(src.norm_path, policy_input_dim(src.meta))
    actor = (RecurrentActor if src.algo == "recurrent_ppo" else DeterministicActor)(model, norm).eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        meta = _write_bundle(src, model, actor, tmp, n_parity)
        check_output(out)  # re-checked: something may have appeared at ``out`` while exporting
        if out.exists():  # an earlier bundle: replaced only after the new one is complete
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old)
        else:
            tmp.rename(out)
    finally:  # a failed export (parity, side files, a checker error) leaves no staging directory
        if tmp.exists():
            shutil.rmtree(tmp)
    return meta


def _write_bundle(
    src: PolicySource, model: BaseAlgorithm, actor: th.nn.Module, tmp: Path, n_parity: int
) -> dict[str, Any]:
    """policy.onnx (checked, self-contained, at parity with SB3), policy.json and manifest.json in ``tmp``."""
    import onnx

    dummy = th.zeros(1, policy_input_dim(src.meta))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _onnx_export(actor, dummy, tmp / "policy.onnx")
    meta = policy_metadata(src, float("nan"), model)
    model_proto = onnx.load(str(tmp / "policy.onnx"))
    onnx.helper.set_model_props(model_proto, onnx_metadata(meta))
    onnx.save(model_proto, str(tmp / "policy.onnx"))
    onnx.checker.check_model(onnx.load(str(tmp / "policy.onnx")), full_check=True)
    if any(p.name != "policy.onnx" for p in tmp.iterdir()):
        raise RuntimeError(
            f"export wrote side files {sorted(p.name for p in tmp.iterdir())}; expected one self-contained policy.onnx"
        )
    diff = parity(src, model, tmp / "policy.onnx", sample_observations(src.task, n_parity, history=src.meta))
    if not diff <= PARITY_TOLERANCE:
        raise RuntimeError(f"export parity failed: max |onnx - SB3| = {diff:.2e} > {PARITY_TOLERANCE:.0e}")
    meta["parity_max_abs_diff"] = diff
    meta["parity_observations"] = n_parity
    steps, ep_diff = episode_parity(src, model, tmp / "policy.onnx", meta)
    if not ep_diff <= PARITY_TOLERANCE:
        raise RuntimeError(
            f"export parity failed over an episode: max |runtime - SB3| = {ep_diff:.2e} > {PARITY_TOLERANCE:.0e}"
        )
    meta["episode_parity"] = {"steps": steps, "max_abs_diff": ep_diff, "episode_seed": PARITY_EPISODE_SEED}
    meta["privileged_critic"] = privileged_check(model, tmp / "policy.onnx", policy_input_dim(src.meta))
    write_json(tmp / "policy.json", meta)
    files = {name: _sha256(tmp / name) for name in ("policy.onnx", "policy.json")}
    (tmp / "manifest.json").write_text(json.dumps({"algorithm": "sha256", "files": files}, indent=2) + "\n")
    return meta


def is_bundle(path: Path) -> bool:
    """A directory that an export wrote: a manifest and only bundle files in it."""
    return path.is_dir() and (path / "manifest.json").is_file() and all(p.name in BUNDLE_FILES for p in path.iterdir())


def check_output(out: Path) -> None:
    """Refuse an ``out`` that exists and is not an earlier bundle: export never deletes what it did not write."""
    if out.exists() and not is_bundle(out):
        what = "a file" if not out.is_dir() else "a directory that is not a bundle (no manifest.json, or other files)"
        raise FileExistsError(
            f"out={out} is {what}; export writes a new bundle directory or replaces an earlier bundle only: "
            "choose another out="
        )
