"""The shared MuJoCo env: dynamics selection, per-episode resampling, action/observation channels,
physics-divergence guard and named reward terms. Tasks subclass it (``grasp.py``, ``navigate.py``)."""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import mujoco
import numpy as np

from sim2real.sim.dynamics import Values, plain_spec, resolve_dynamics, resolve_randomization
from sim2real.sim.perturb import EpisodeDynamics, ModelIndex, Nominal, command_or_rest

_SENSOR_OFF = int(mujoco.mjtDisableBit.mjDSBL_SENSOR)


class Sim2RealEnv(gym.Env, ABC):
    """Base class. Subclasses set the class attributes and implement the ``_task_*`` hooks.

    Args:
        randomization: ``None``/``"none"`` (nominal), a preset name of the task (``"default"``,
            ``"wide"``) or ``{name: [low, high]}``; resampled at every ``reset``.
        dynamics: ``None``/``"nominal"``, a target profile of the task (``"real"``) or
            ``{name: value}``. Randomised names override the profile's values.
        model_path: the MJCF file (defaults to the task's packaged asset).
        render_mode: ``None`` or ``"rgb_array"``.
        task: the registered task this env is (a task YAML that extends another passes its own name in
            ``kwargs``, so that presets, profiles and layouts come from its spec); defaults to the class's.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"]}
    task: ClassVar[str]
    asset: ClassVar[str]
    params: ClassVar[tuple[str, ...]]  # canonical parameters this task accepts
    frame_skip: ClassVar[int]
    rest_action: ClassVar[np.ndarray]

    def __init__(
        self,
        randomization: str | dict | None = None,
        dynamics: str | dict | None = None,
        model_path: str | None = None,
        render_mode: str | None = None,
        task: str | None = None,
    ) -> None:
        if task is not None:
            self.task = str(task)
        self.ranges = resolve_randomization(plain_spec(randomization), self.task, self.params)
        self.profile = resolve_dynamics(plain_spec(dynamics), self.task, self.params)
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode={render_mode!r} is not supported; use None or 'rgb_array'")
        self.render_mode = render_mode
        self.model = self._load_model(model_path)
        self.data = mujoco.MjData(self.model)
        self.index = self._model_index()
        self._task_setup()
        self.dt = self.model.opt.timestep * self.frame_skip
        self.metadata = {**self.metadata, "render_fps": int(round(1.0 / self.dt))}
        self.action_space = gym.spaces.Box(-1.0, 1.0, shape=(len(self.rest_action),), dtype=np.float32)
        self._last_action = np.asarray(self.rest_action, dtype=np.float64)
        obs_dim = self._task_observe().shape[0]
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(obs_dim,), dtype=np.float32)
        self.dyn = EpisodeDynamics(
            self.model, self.index, self.ranges, self.profile, len(self.rest_action), obs_dim, self.rest_action
        )
        self.unstable_episodes = 0  # count of episodes ended by a physics blow-up
        self._renderer: mujoco.Renderer | None = None

    # -- hooks for tasks ---------------------------------------------------------------------
    def _load_model(self, model_path: str | None) -> mujoco.MjModel:
        """The MuJoCo model: ``model_path``, else ``asset``: an absolute path, a path beside the subclass's
        own module (a user's package), or a file in sim2real's packaged assets (a task may compose its own)."""
        if model_path:
            return mujoco.MjModel.from_xml_path(str(model_path))
        asset = Path(self.asset).expanduser()
        beside = Path(inspect.getfile(type(self))).parent / asset
        packaged = Path(str(resources.files("sim2real.envs").joinpath("assets", str(asset))))
        path = next((p for p in (asset, beside, packaged) if p.is_absolute() and p.is_file()), None)
        if path is None:
            raise FileNotFoundError(
                f"{type(self).__name__}.asset={self.asset!r}: no such file (looked at {beside} and {packaged}); give "
                "an absolute path, a path beside the env's module, or model_path= in the task's kwargs"
            )
        return mujoco.MjModel.from_xml_path(str(path))

    @abstractmethod
    def _model_index(self) -> ModelIndex:
        """Which bodies/geoms/dofs/actuators the canonical parameters act on."""

    def _task_setup(self) -> None:
        """Cache ids and addresses from ``self.model`` (called once, after the model loads)."""

    @abstractmethod
    def _task_reset(self, rng: np.random.Generator) -> None:
        """Place robot, object, obstacles and goal in ``self.data`` (after ``mj_resetData``)."""

    @abstractmethod
    def _task_command(self, action: np.ndarray) -> None:
        """Turn a normalised action in [-1, 1] into ``self.data.ctrl``."""

    @abstractmethod
    def _task_observe(self) -> np.ndarray:
        """The true (noise-free) observation, float64."""

    @abstractmethod
    def _task_evaluate(self) -> tuple[dict[str, float], bool, dict[str, Any]]:
        """Reward terms, whether the episode terminated, and task info (with ``is_success``)."""

    # -- Gymnasium API -------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        rng = self.np_random
        self.dyn.resample(rng)
        mujoco.mj_resetData(self.model, self.data)
        self._task_reset(rng)
        mujoco.mj_forward(self.model, self.data)
        self.dyn.begin(self.data, rng)
        self._last_action = np.asarray(self.rest_action, dtype=np.float64)
        return self._observe(), {"dynamics": dict(self.values)}

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        a = np.asarray(action, dtype=np.float64)
        if a.shape != self.action_space.shape:
            a = a.reshape(-1)
            if a.shape != self.action_space.shape:
                raise ValueError(f"action has shape {np.shape(action)}, expected {self.action_space.shape}")
        a = command_or_rest(a, self.rest_action).clip(-1.0, 1.0)
        self._last_action = a
        self._task_command(self.dyn.action_channel(a, self.np_random))
        self._physics_step()
        if self._diverged():
            return self._on_divergence()
        terms, terminated, info = self._task_evaluate()
        info["reward_terms"] = terms
        return self._observe(), float(sum(terms.values())), terminated, False, info

    def render(self) -> np.ndarray | None:
        if self.render_mode != "rgb_array":
            return None
        if self._renderer is None:
            self._renderer = mujoco.Renderer(self.model, 240, 320)
        self._renderer.update_scene(self.data, camera=0 if self.model.ncam else -1)
        return self._renderer.render()

    def close(self) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    # -- internals -------------------------------------------------------------------------------
    def _observe(self) -> np.ndarray:
        obs = self.dyn.obs_channel(self._task_observe(), self.np_random)
        return obs.astype(np.float32)

    def _physics_step(self) -> None:
        """``frame_skip`` physics steps; sensors (lidar rays, contact flags) are computed on the last one only,
        since observations are read at the control rate."""
        m, opt = self.model, self.model.opt
        opt.disableflags |= _SENSOR_OFF
        mujoco.mj_step(m, self.data, nstep=self.frame_skip - 1)
        opt.disableflags &= ~_SENSOR_OFF
        mujoco.mj_step(m, self.data)

    def _diverged(self) -> bool:
        return self.dyn.guard(self.data)

    def _on_divergence(self) -> tuple[np.ndarray, float, bool, bool, dict]:
        """End the episode: reset the physics to a finite state so the last observation is finite."""
        self.unstable_episodes += 1
        mujoco.mj_resetData(self.model, self.data)
        self._task_reset(self.np_random)
        mujoco.mj_forward(self.model, self.data)
        info = {"is_success": False, "physics_unstable": True, "reward_terms": {}}
        return self._observe(), 0.0, True, False, info

    # -- replay of logged data (calibration) -----------------------------------------------------
    def set_values(self, values: Values) -> None:
        """Apply ``values`` to the model now (outside ``reset``; used to replay logs under candidate parameters)."""
        self.dyn.set_values(values)

    def replay_context(self, observations: np.ndarray, applied: np.ndarray) -> Any:
        """Controller state per step that the observations do not carry, rebuilt from a logged episode.

        ``observations`` (T + 1, obs_dim) and the actions the actuators received (T, act_dim), after
        latency and deadzone. Default: none."""
        return None

    # ``restore(obs, context, t)``, ``replay_compared`` and ``kinematic_residuals(obs)`` are optional: a task
    # that calibrates defines them (signatures and shapes: sim2real.sim.task_check.CALIBRATION_HOOKS and
    # docs/adding_a_robot.md); ``calibrate`` names the ones a task lacks.

    def replay_step(self, applied: np.ndarray, sent: np.ndarray) -> np.ndarray | None:
        """One control step: ``applied`` reaches the actuators (already delayed), ``sent`` is what the policy
        sent this step (the observation's previous-action entries). The true observation, or None on a blow-up."""
        self._last_action = sent
        self._task_command(applied)
        self._physics_step()
        if self._diverged():
            return None
        return self._task_observe().copy()

    @property
    def values(self) -> Values:
        """The parameter values of the current episode (canonical names)."""
        return self.dyn.values

    @property
    def nominal(self) -> Nominal:
        """The model fields as loaded, before any parameter was applied."""
        return self.dyn.nominal

    @property
    def dynamics_values(self) -> Values:
        """The parameter values of the current episode (canonical names)."""
        return dict(self.values)


__all__ = ["Sim2RealEnv"]
