"""A deploy bundle: ``policy.onnx`` + ``policy.json`` + ``manifest.json``, verified before anything is used.

Imports numpy and onnxruntime only; no pickle is ever loaded.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort

BUNDLE_FORMAT = 1  # the policy.json format this runtime reads (written by sim2real.deploy.export)
REQUIRED_KEYS = ("format", "task", "observation", "action", "control_rate_hz", "safe_action")


class BundleError(ValueError):
    """A missing, tampered or malformed bundle; the message says which file and what is wrong."""


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


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

    @classmethod
    def load(cls, path: str | Path) -> Bundle:
        path = Path(path)
        if not path.is_dir():
            raise BundleError(f"bundle {path}: not a directory; create one with `sim2real export`")
        manifest_path = path / "manifest.json"
        try:
            manifest = json.loads(manifest_path.read_text())
            files = manifest["files"]
        except FileNotFoundError:
            raise BundleError(f"bundle {path}: manifest.json is missing; re-export the bundle") from None
        except (json.JSONDecodeError, KeyError, TypeError):
            raise BundleError(f"bundle {path}: manifest.json is malformed; re-export the bundle") from None
        for name in ("policy.onnx", "policy.json"):
            if name not in files:
                raise BundleError(f"bundle {path}: manifest.json does not list {name}; re-export the bundle")
        for name, digest in files.items():
            f = path / name
            if not f.is_file():
                raise BundleError(f"bundle {path}: {name} is missing")
            if _sha256(f) != digest:
                raise BundleError(
                    f"bundle {path}: {name} does not match its SHA-256 in manifest.json (changed or corrupt)"
                )
        try:
            meta = json.loads((path / "policy.json").read_text())
        except json.JSONDecodeError as e:
            raise BundleError(f"bundle {path}: policy.json is not valid JSON ({e.msg} at line {e.lineno})") from None
        missing = [k for k in REQUIRED_KEYS if k not in meta]
        if missing:
            raise BundleError(f"bundle {path}: policy.json lacks {', '.join(missing)}; re-export the bundle")
        try:
            low = np.array([a["low"] for a in meta["action"]], dtype=np.float32)
            high = np.array([a["high"] for a in meta["action"]], dtype=np.float32)
            safe = np.array(meta["safe_action"], dtype=np.float32)
        except (KeyError, TypeError, ValueError):
            raise BundleError(f"bundle {path}: policy.json has a malformed action layout") from None
        if meta["format"] != BUNDLE_FORMAT:
            raise BundleError(
                f"bundle {path}: policy.json has format {meta['format']!r}, this runtime reads format {BUNDLE_FORMAT}; "
                "re-export the bundle with this version of sim2real"
            )
        _check_fields(path, meta)
        if not (np.isfinite(low).all() and np.isfinite(high).all()):
            raise BundleError(f"bundle {path}: policy.json's action bounds must be finite; re-export the bundle")
        if not np.isfinite(safe).all():
            raise BundleError(f"bundle {path}: policy.json's safe_action must be finite numbers; re-export the bundle")
        if safe.shape != low.shape or not np.all(low <= high):
            raise BundleError(f"bundle {path}: policy.json's safe_action or action bounds are inconsistent")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        session = ort.InferenceSession(str(path / "policy.onnx"), sess_options=opts, providers=["CPUExecutionProvider"])
        n_obs = session.get_inputs()[0].shape[-1]
        if n_obs != len(meta["observation"]):
            raise BundleError(
                f"bundle {path}: policy.onnx takes {n_obs} observations, policy.json lists {len(meta['observation'])}"
            )
        return cls(path, meta, session, low, high, np.clip(safe, low, high), _previous_action_index(path, meta))

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
        """One observation (obs_dim,) -> one action (action_dim,), float32."""
        x = np.asarray(obs, dtype=np.float32).reshape(1, self.obs_dim)
        return self.session.run(None, {"obs": x})[0][0]


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
