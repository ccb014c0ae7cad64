"""Rollout videos: frames from MuJoCo's offscreen renderer (``render_mode="rgb_array"``; headless through EGL,
``MUJOCO_GL=egl``, which ``import sim2real`` sets on a Linux machine without a display), encoded to MP4 by
imageio-ffmpeg's bundled ffmpeg (no system ffmpeg). The file name carries the episode's outcome and the
dynamics values that differ from nominal, so a video is never separated from what it shows."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from sim2real.sim.dynamics import PARAMS

MAX_NAME = 180  # characters of the dynamics part of a file name


def dynamics_label(values: dict[str, Any]) -> str:
    """``mass_scale=1.3,action_latency=2``: the values that differ from nominal, rounded (``nominal`` if none)."""
    parts = []
    for k, v in sorted(values.items()):
        spec = PARAMS.get(k)
        if isinstance(v, dict):  # body_mass_scale: {body: scale}
            parts += [f"{k}.{b}={float(x):.3g}" for b, x in sorted(v.items()) if float(x) != 1.0]
        elif isinstance(v, (int, float)) and (spec is None or float(v) != float(spec.nominal)):
            parts.append(f"{k}={float(v):.3g}")
    label = ",".join(parts) or "nominal"
    return re.sub(r"[^A-Za-z0-9_.,=+-]", "_", label)[:MAX_NAME]


def outcome_label(success: bool | None, ret: float) -> str:
    """``success``, ``failure``, or ``return=<R>`` for a task without a success signal."""
    return f"return={ret:.0f}" if success is None else ("success" if success else "failure")


def write_mp4(frames: list[np.ndarray], path: Path, fps: float) -> Path:
    """Encode RGB ``frames`` (H, W, 3) uint8 as H.264 MP4 at ``fps`` frames per second (at most 30: a faster
    control rate is shown every k-th step). Written to a temporary name and moved into place."""
    import imageio.v2 as imageio

    if not frames:
        raise ValueError(f"video {path}: no frames to write")
    stride = max(1, int(round(fps / 30.0)))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial.mp4")
    with imageio.get_writer(tmp, fps=fps / stride, codec="libx264", quality=6, macro_block_size=8) as w:
        for f in frames[::stride]:
            w.append_data(np.ascontiguousarray(f))
    tmp.replace(path)
    return path


class EpisodeRecorder:
    """Collects the frames of one episode of ``env`` (made with ``render_mode="rgb_array"``) and writes them as
    ``<prefix>-ep<k>-<outcome>-<dynamics>.mp4`` in ``out_dir``."""

    def __init__(self, env: Any, out_dir: Path, prefix: str, fps: float) -> None:
        self.env, self.out_dir, self.prefix, self.fps = env, Path(out_dir), prefix, fps
        self.frames: list[np.ndarray] = []
        self.written: list[Path] = []

    def frame(self) -> None:
        f = self.env.render()
        if f is None:
            raise ValueError("video: the env renders nothing; build it with render_mode='rgb_array'")
        self.frames.append(np.asarray(f, dtype=np.uint8))

    def finish(self, k: int, success: bool | None, ret: float, dynamics: dict[str, Any]) -> Path:
        name = f"{self.prefix}-ep{k}-{outcome_label(success, ret)}-{dynamics_label(dynamics)}.mp4"
        path = write_mp4(self.frames, self.out_dir / name, self.fps)
        self.frames = []
        self.written.append(path)
        return path
