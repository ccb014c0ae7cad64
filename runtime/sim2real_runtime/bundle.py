"""A deploy bundle: ``policy.onnx`` + ``policy.json`` + ``manifest.json``, verified before anything is used.

Imports numpy and onnxruntime only; no pickle is ever loaded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

from sim2real_runtime.memory import PolicyState, check_memory, input_width, policy_state
from sim2real_runtime.safeio import inside, loads_strict, read_json_strict

BUNDLE_FORMAT = 1  # the policy.json format this runtime reads (written by sim2real.deploy.export)
REQUIRED_KEYS = ("format", "task", "observation", "action", "control_rate_hz", "safe_action")


class BundleError(ValueError):
    """A missing, tampered or malformed bundle; the message says which file and what is wrong."""


@dataclass
class Bundle:
    """A verified deploy bundle: ``policy.onnx`` + ``policy.json`` + ``manifest.json``."""

    path: Path
    meta: dict[str, Any]
    session: ort.InferenceSession
    low: np.ndarray  # action bounds
    high: np.ndarray
    safe_action: np.ndarray
    # observation entries that carry the last action sent (none: the loop leaves the observation as it is)
    previous_action_index: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    # the run-time observation check: a reading outside [obs_low, obs_high] is a fault (safe action sent)
    obs_low: np.ndarray | None = None
    obs_high: np.ndarray | None = None
    # what the policy remembers within an episode (sim2real_runtime.memory): none, history or recurrent
    memory: dict[str, Any] = field(default_factory=lambda: {"kind": "none"})

    @classmethod
    def load(cls, path: str | Path) -> Bundle:
        """Verify and open a bundle. Every file in it must be listed in ``manifest.json`` under a plain relative
        name with its SHA-256 (no ``..``, no absolute path, no link, nothing unlisted), and ONNX is given the
        verified bytes, so nothing unverified is ever read (external data has nowhere to come from)."""
        path = Path(path)
        if not path.is_dir():
            raise BundleError(f"bundle {path}: not a directory; create one with `sim2real export`")
        blobs = _verified_files(path)
        try:
            meta = loads_strict(blobs["policy.json"], f"bundle {path}: policy.json")
        except ValueError as e:
            raise BundleError(str(e)) from None
        if not isinstance(meta, dict):
            raise BundleError(f"bundle {path}: policy.json must be a JSON object; re-export the bundle")
        missing = [k for k in REQUIRED_KEYS if k not in meta]
        if missing:
            raise BundleError(f"bundle {path}: policy.json lacks {', '.join(missing)}; re-export the bundle")
        if meta["format"] != BUNDLE_FORMAT:
            raise BundleError(
                f"bundle {path}: policy.json has format {meta['format']!r}, this runtime reads format {BUNDLE_FORMAT}; "
                "re-export the bundle with this version of sim2real"
            )
        _check_fields(path, meta)
        low = np.array([a["low"] for a in meta["action"]], dtype=np.float32)
        high = np.array([a["high"] for a in meta["action"]], dtype=np.float32)
        raw = meta["safe_action"]
        if not isinstance(raw, list) or not all(_number(x) for x in raw):
            raise BundleError(f"bundle {path}: policy.json's safe_action must be a list of finite numbers")
        safe = np.array(raw, dtype=np.float32)
        if safe.shape != low.shape or not np.isfinite(safe).all():
            raise BundleError(
                f"bundle {path}: policy.json's safe_action must be {len(low)} finite numbers, one per action entry"
            )
        if (safe < low).any() or (safe > high).any():
            i = int(np.flatnonzero((safe < low) | (safe > high))[0])
            raise BundleError(
                f"bundle {path}: policy.json's safe_action[{i}]={float(safe[i]):g} lies outside the action bounds "
                f"[{float(low[i]):g}, {float(high[i]):g}]; a safe action must be one the robot accepts"
            )
        n_obs, n_act = len(meta["observation"]), len(meta["action"])
        try:
            memory = check_memory(f"bundle {path}: policy.json", meta.get("memory"), n_obs, n_act)
        except ValueError as e:
            raise BundleError(str(e)) from None
        session = _session(path, blobs["policy.onnx"], input_width(memory, n_obs, n_act), n_act, memory)
        prev = _previous_action_index(path, meta)
        obs_low, obs_high = observation_limits(path, meta)
        return cls(path, meta, session, low, high, safe, prev, obs_low, obs_high, memory)

    @property
    def action_dim(self) -> int:
        return len(self.meta["action"])

    @property
    def obs_dim(self) -> int:
        return len(self.meta["observation"])

    @property
    def control_rate_hz(self) -> float:
        return float(self.meta["control_rate_hz"])

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """One observation (obs_dim,) -> one action (action_dim,), float32; a bundle without memory only (one
        with memory acts through :meth:`new_state`, which keeps the episode's history or LSTM state)."""
        if self.memory["kind"] != "none":
            raise BundleError(
                f"bundle {self.path} remembers ({self.memory['kind']}): act through bundle.new_state(), per episode"
            )
        x = np.asarray(obs, dtype=np.float32).reshape(1, self.obs_dim)
        return self.session.run(None, {"obs": x})[0][0]

    def new_state(self) -> PolicyState:
        """A fresh per-episode policy state: ``act(obs)``, ``sent(action)``, ``reset()`` (memory.py)."""
        return policy_state(self.session, self.memory, self.obs_dim, self.action_dim)


OBSERVATION_MARGIN = 0.5  # default: a reading beyond its bounds by more than half their range is a fault


def observation_limits(path: Path, meta: dict[str, Any]) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The run-time limits on each observation entry: its ``policy.json`` bounds widened by ``margin`` times
    their range on each side (unbounded where the entry has null bounds). ``policy.json``'s
    ``observation_check``: absent (the default, margin 0.5), ``{"margin": m}`` or ``{"enabled": false}``."""
    check = meta.get("observation_check", {})
    if not isinstance(check, dict) or set(check) - {"enabled", "margin"}:
        raise BundleError(f"bundle {path}: policy.json's observation_check must be {{enabled: bool, margin: >= 0}}")
    enabled, margin = check.get("enabled", True), check.get("margin", OBSERVATION_MARGIN)
    if not isinstance(enabled, bool) or not _number(margin) or margin < 0:
        raise BundleError(f"bundle {path}: policy.json's observation_check must be {{enabled: bool, margin: >= 0}}")
    if not enabled:
        return None, None
    lo = np.array([-np.inf if o.get("low") is None else o["low"] for o in meta["observation"]], dtype=np.float64)
    hi = np.array([np.inf if o.get("high") is None else o["high"] for o in meta["observation"]], dtype=np.float64)
    span = np.where(np.isfinite(hi - lo), hi - lo, 0.0)
    return lo - margin * span, hi + margin * span


MAX_BUNDLE_FILE = 512 * 2**20  # a bundle file larger than this is refused before it is read


def _verified_files(path: Path) -> dict[str, bytes]:
    """The bytes of every file ``manifest.json`` lists, each checked against its SHA-256; refuses a malformed
    manifest, a name outside the bundle, a link, a subdirectory and any file the manifest does not list."""
    try:
        manifest = read_json_strict(path / "manifest.json")
    except FileNotFoundError:
        raise BundleError(f"bundle {path}: manifest.json is missing; re-export the bundle") from None
    except ValueError as e:
        raise BundleError(f"bundle {path}: manifest.json is malformed ({e}); re-export the bundle") from None
    files = manifest.get("files") if isinstance(manifest, dict) else None
    if not isinstance(files, dict):
        raise BundleError(
            f"bundle {path}: manifest.json's files must map file names to SHA-256 digests; re-export the bundle"
        )
    for name in ("policy.onnx", "policy.json"):
        if name not in files:
            raise BundleError(f"bundle {path}: manifest.json does not list {name}; re-export the bundle")
    blobs: dict[str, bytes] = {}
    for name, digest in files.items():
        try:
            f = inside(path, name, f"bundle {path}: manifest.json entry")
        except ValueError as e:
            raise BundleError(str(e)) from None
        if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise BundleError(f"bundle {path}: manifest.json's digest for {name} is not a SHA-256 hex string")
        if not f.is_file():
            raise BundleError(f"bundle {path}: {name} is missing")
        if f.stat().st_size > MAX_BUNDLE_FILE:
            raise BundleError(f"bundle {path}: {name} is larger than {MAX_BUNDLE_FILE >> 20} MiB; refused")
        data = f.read_bytes()
        if hashlib.sha256(data).hexdigest() != digest:
            raise BundleError(f"bundle {path}: {name} does not match its SHA-256 in manifest.json (changed or corrupt)")
        blobs[name] = data
    unlisted = sorted(p.name for p in path.iterdir() if p.name not in files and p.name != "manifest.json")
    if unlisted:
        raise BundleError(
            f"bundle {path}: {unlisted[0]} is not listed in manifest.json; a bundle holds only verified files "
            "(remove it, or re-export the bundle)"
        )
    return blobs


def _session(
    path: Path, onnx_bytes: bytes, n_obs: int, n_act: int, memory: dict[str, Any] | None = None
) -> ort.InferenceSession:
    """An ONNX Runtime session over the verified bytes, checked against the declared layout: an ``obs`` input
    of ``n_obs`` values (a recurrent bundle: ``state_h``/``state_c`` too), a first output of ``n_act`` actions."""
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(onnx_bytes, sess_options=opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for malformed models
        first = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        raise BundleError(f"bundle {path}: policy.onnx is not a loadable ONNX model ({first})") from None
    inputs = session.get_inputs()
    if not inputs or inputs[0].name != "obs" or inputs[0].shape[-1] != n_obs:
        got = (inputs[0].name, inputs[0].shape) if inputs else "none"
        raise BundleError(f"bundle {path}: policy.onnx takes {got}, policy.json lists {n_obs} observations ('obs')")
    feed = {"obs": np.zeros((1, n_obs), dtype=np.float32)}
    if memory and memory.get("kind") == "recurrent":
        names = [i.name for i in inputs]
        if names != ["obs", "state_h", "state_c"]:
            raise BundleError(f"bundle {path}: a recurrent policy.onnx takes obs, state_h, state_c; it takes {names}")
        shape = (memory["layers"], 1, memory["hidden"])
        feed.update(state_h=np.zeros(shape, np.float32), state_c=np.zeros(shape, np.float32))
    elif len(inputs) != 1:
        raise BundleError(f"bundle {path}: policy.onnx takes {len(inputs)} inputs; policy.json declares only 'obs'")
    try:
        probe = session.run(None, feed)[0]
    except Exception as e:  # noqa: BLE001  (any failure to run is the same refusal)
        raise BundleError(f"bundle {path}: policy.onnx fails on a zero observation ({str(e)[:120]})") from None
    if np.shape(probe) != (1, n_act):
        raise BundleError(
            f"bundle {path}: policy.onnx outputs shape {np.shape(probe)} for one observation; policy.json declares "
            f"{n_act} actions, so it must be (1, {n_act})"
        )
    return session


def _previous_action_index(path: Path, meta: dict[str, Any]) -> np.ndarray:
    """The observation entries holding the previous action: ``policy.json``'s ``previous_action.indices``, or
    (older bundles) the entries named ``previous_action_*``. Either none or one per action entry."""
    spec = meta.get("previous_action")
    if isinstance(spec, dict) and "indices" in spec:
        idx = spec["indices"]
    else:
        idx = [i for i, o in enumerate(meta["observation"]) if str(o.get("name", "")).startswith("previous_action_")]
    n_obs, n_act = len(meta["observation"]), len(meta["action"])
    if (
        not isinstance(idx, list)
        or any(not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < n_obs for i in idx)
        or len(idx) not in (0, n_act)
    ):
        raise BundleError(
            f"bundle {path}: policy.json's previous_action.indices must be {n_act} observation indices (or none)"
        )
    return np.array(idx, dtype=np.int64)


def _number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and bool(np.isfinite(x))


def _check_fields(path: Path, meta: dict[str, Any]) -> None:
    """policy.json's fields, typed: a positive finite rate, a name and unit per entry, finite bounds (or null
    observation bounds) with low <= high, entries indexed in order."""
    rate = meta["control_rate_hz"]
    if not _number(rate) or rate <= 0:
        raise BundleError(f"bundle {path}: policy.json's control_rate_hz={rate!r} must be a positive number of Hz")
    for key in ("observation", "action"):
        entries = meta[key]
        if not isinstance(entries, list) or not entries:
            raise BundleError(f"bundle {path}: policy.json's {key} must be a non-empty list of entries")
        for i, e in enumerate(entries):
            if not isinstance(e, dict) or e.get("index") != i or not isinstance(e.get("name"), str):
                raise BundleError(f"bundle {path}: policy.json's {key} {i} needs index {i} and a name")
            lo, hi = e.get("low"), e.get("high")
            if key == "observation" and lo is None and hi is None:
                continue
            if not (_number(lo) and _number(hi)) or lo > hi:
                raise BundleError(
                    f"bundle {path}: policy.json's {key} {i} ({e['name']}) bounds low={lo!r}, high={hi!r} must be "
                    "finite numbers with low <= high" + (" (or both null)" if key == "observation" else "")
                )
