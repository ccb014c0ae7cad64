"""Policies with memory in training and evaluation: an observation history (``policy.history=K``) and, for
evaluation, the recurrent policy's LSTM state (``algo=recurrent_ppo``).

The history buffer is the deploy runtime's own :class:`sim2real_runtime.memory.History`, so training, evaluation
and the robot stack observations and actions the same way: ``[o_t, ..., o_t-K+1, a_t-1, ..., a_t-K+1]``, filled
at an episode's start with its first observation and the task's rest action.

Stateful policies take a batch with the slots it belongs to, ``policy(obs, slots=[...])``, and are told when an
episode starts in a slot (``begin(slot)``); ``reset()`` + ``policy(obs)`` is the one-episode form.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from sim2real_runtime.memory import History, history_width

from sim2real.sim import tasks


def fill_action(env: gym.Env) -> np.ndarray:
    """The action the history holds before an episode's first step: the task's rest action."""
    return np.asarray(tasks.core(env).rest_action, dtype=np.float32)


class HistoryWrapper(gym.Wrapper):
    """Training's view with ``K`` > 1: the env's observation becomes the stacked history (see the module)."""

    def __init__(self, env: gym.Env, k: int) -> None:
        super().__init__(env)
        self.obs_dim = int(np.prod(env.observation_space.shape))
        self.act_dim = int(np.prod(env.action_space.shape))
        self.history = History(k, self.obs_dim, self.act_dim, fill_action(env))
        width = history_width(k, self.obs_dim, self.act_dim)
        self.observation_space = gym.spaces.Box(-np.inf, np.inf, shape=(width,), dtype=np.float32)
        self._low, self._high = env.action_space.low, env.action_space.high

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict]:
        obs, info = self.env.reset(**kwargs)
        self.history.start(0, obs)
        return self.history.input()[0], info

    def step(self, action: np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        a = np.clip(np.asarray(action, dtype=np.float32).reshape(self.act_dim), self._low, self._high)
        obs, reward, terminated, truncated, info = self.env.step(a)
        self.history.advance(0, a, obs)
        return self.history.input()[0], reward, terminated, truncated, info


class HistoryPolicy:
    """A deterministic batched ``input -> action`` function (``inner``) run on the stacked history of each slot.

    Args:
        inner: takes ``(n, width)`` inputs, returns ``(n, act_dim)`` actions.
        k: the history length; ``obs_dim``/``act_dim``: the env's sizes; ``fill``: the rest action.
        low, high: the action bounds (the history holds the clipped action, as the env applies it).
    """

    batched = True
    stateful = True

    def __init__(
        self, inner: Any, k: int, obs_dim: int, act_dim: int, fill: np.ndarray, low: np.ndarray, high: np.ndarray
    ) -> None:
        self.inner, self.k, self.obs_dim, self.act_dim = inner, k, obs_dim, act_dim
        self.fill, self.low, self.high = np.asarray(fill, np.float32), low, high
        self.reset()

    def reset(self, slots: int = 1) -> None:
        """Forget every slot; ``slots`` episodes may run side by side."""
        self.history = History(self.k, self.obs_dim, self.act_dim, self.fill, slots)
        self.last: dict[int, np.ndarray | None] = {}

    def begin(self, slot: int) -> None:
        """An episode starts in ``slot``: its next observation fills the history."""
        self.last[slot] = None

    def _grow(self, slots: int) -> None:
        """Room for ``slots`` slots, the histories held so far kept."""
        old = self.history
        self.history = History(self.k, self.obs_dim, self.act_dim, self.fill, slots)
        self.history.obs[: len(old.obs)], self.history.act[: len(old.act)] = old.obs, old.act

    def __call__(self, obs: np.ndarray, slots: Any = None) -> np.ndarray:
        single = np.ndim(obs) == 1
        batch = np.atleast_2d(np.asarray(obs, dtype=np.float32))
        slots = [0] if single and slots is None else list(range(len(batch))) if slots is None else list(slots)
        if max(slots) >= len(self.history.obs):
            self._grow(max(slots) + 1)
        for row, slot in zip(batch, slots, strict=True):
            if self.last.get(slot) is None:  # the slot's first step (begin() or never seen): fill the history
                self.history.start(slot, row)
            else:
                self.history.advance(slot, self.last[slot], row)
        actions = np.asarray(self.inner(self.history.input(slots)))
        for slot, a in zip(slots, actions, strict=True):
            self.last[slot] = np.clip(a, self.low, self.high).astype(np.float32)
        return actions[0] if single else actions


class RecurrentPolicy:
    """A recurrent (sb3-contrib ``RecurrentPPO``) policy's deterministic actions, with each slot's LSTM state
    carried across steps and zeroed when an episode starts there (as ``predict(..., episode_start)`` does).

    Args:
        inner: the :class:`~sim2real.learn.evaluate.NormalizedPolicy` of the model (its frozen normalisation).
    """

    batched = True
    stateful = True

    def __init__(self, inner: Any) -> None:
        self.inner, self.model = inner, inner.model
        lstm = self.model.policy.lstm_actor
        self.layers, self.hidden = int(lstm.num_layers), int(lstm.hidden_size)
        self.reset()

    @staticmethod
    def fits(model: Any) -> bool:
        return hasattr(getattr(model, "policy", None), "lstm_actor")

    def reset(self, slots: int = 1) -> None:
        self.h = np.zeros((self.layers, slots, self.hidden), dtype=np.float32)
        self.c = np.zeros_like(self.h)
        self.first = np.ones(slots, dtype=bool)

    def begin(self, slot: int) -> None:
        if slot >= self.h.shape[1]:
            grow = slot + 1 - self.h.shape[1]
            pad = np.zeros((self.layers, grow, self.hidden), dtype=np.float32)
            self.h, self.c = np.concatenate([self.h, pad], 1), np.concatenate([self.c, pad], 1)
            self.first = np.concatenate([self.first, np.ones(grow, dtype=bool)])
        self.h[:, slot], self.c[:, slot], self.first[slot] = 0.0, 0.0, True

    def __call__(self, obs: np.ndarray, slots: Any = None) -> np.ndarray:
        single = np.ndim(obs) == 1
        batch = np.atleast_2d(np.asarray(obs, dtype=np.float32))
        idx = np.arange(len(batch)) if slots is None else np.asarray(list(slots), dtype=np.int64)
        x = np.clip((batch - self.inner.mean) / self.inner.std, -self.inner.clip, self.inner.clip).astype(np.float32)
        state = (self.h[:, idx], self.c[:, idx])
        actions, (h, c) = self.model.predict(x, state=state, episode_start=self.first[idx], deterministic=True)
        self.h[:, idx], self.c[:, idx], self.first[idx] = h, c, False
        return actions[0] if single else actions
