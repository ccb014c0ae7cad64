"""What a policy remembers within an episode, and the one implementation of it that training, evaluation and the
robot share.

- ``history``: the policy's input is the current observation and the K-1 previous (observation, action) pairs,
  ``[o_t, o_t-1, ..., o_t-K+1, a_t-1, ..., a_t-K+1]``. At an episode's first step every observation slot holds
  that first observation and every action slot the bundle's safe action. :class:`History` keeps the buffer for
  one or many episodes at once (``sim2real`` trains and evaluates with it; the deploy loop runs it).
- ``recurrent``: an LSTM's hidden and cell state, zero at an episode's start, passed through ``policy.onnx`` as
  explicit inputs and outputs (``state_h``, ``state_c``: ``(layers, batch, hidden)``).

A bundle declares which in ``policy.json``'s ``memory``; :func:`policy_state` gives the deploy loop the matching
per-episode state. numpy only.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np


class History:
    """``k`` observations and ``k - 1`` actions for ``slots`` episodes run side by side (float32)."""

    def __init__(self, k: int, obs_dim: int, act_dim: int, fill_action: np.ndarray, slots: int = 1) -> None:
        if k < 1:
            raise ValueError(f"history k={k}: must be at least 1")
        self.k, self.obs_dim, self.act_dim = int(k), int(obs_dim), int(act_dim)
        self.fill = np.asarray(fill_action, dtype=np.float32).reshape(self.act_dim)
        self.obs = np.zeros((slots, self.k, self.obs_dim), dtype=np.float32)  # [:, 0] is the newest
        self.act = np.zeros((slots, self.k - 1, self.act_dim), dtype=np.float32)

    @property
    def width(self) -> int:
        """The policy's input size: k x obs_dim + (k - 1) x act_dim."""
        return history_width(self.k, self.obs_dim, self.act_dim)

    def start(self, slot: int, obs: np.ndarray) -> None:
        """An episode begins in ``slot`` with observation ``obs``."""
        self.obs[slot] = np.asarray(obs, dtype=np.float32).reshape(self.obs_dim)
        self.act[slot] = self.fill

    def advance(self, slot: int, action: np.ndarray, obs: np.ndarray) -> None:
        """``action`` was applied in ``slot`` and ``obs`` came back."""
        if self.k > 1:
            self.obs[slot, 1:] = self.obs[slot, :-1].copy()
            self.act[slot, 1:] = self.act[slot, :-1].copy()
            self.act[slot, 0] = np.asarray(action, dtype=np.float32).reshape(self.act_dim)
        self.obs[slot, 0] = np.asarray(obs, dtype=np.float32).reshape(self.obs_dim)

    def input(self, slots: Any = None) -> np.ndarray:
        """The stacked inputs of ``slots`` (all by default), ``(n, width)``."""
        idx = slice(None) if slots is None else np.asarray(slots, dtype=np.int64)
        o, a = self.obs[idx], self.act[idx]
        return np.concatenate([o.reshape(len(o), -1), a.reshape(len(a), -1)], axis=1)


def history_width(k: int, obs_dim: int, act_dim: int) -> int:
    """The input size of a history-``k`` policy."""
    return int(k) * int(obs_dim) + (int(k) - 1) * int(act_dim)


class Network(Protocol):
    def run(self, output_names: Any, inputs: dict[str, np.ndarray]) -> list[np.ndarray]: ...


class PolicyState:
    """One episode's memory in the deploy loop: :meth:`act` on each observation, :meth:`sent` with what reached
    the robot, :meth:`reset` when an episode (or a fault) interrupts it. The base class remembers nothing."""

    def __init__(self, session: Network) -> None:
        self.session = session

    def reset(self) -> None:
        """The next observation starts a new episode."""

    def act(self, obs: np.ndarray) -> np.ndarray:
        """One observation (obs_dim,) -> one action (action_dim,), float32."""
        return self.session.run(None, {"obs": np.asarray(obs, dtype=np.float32).reshape(1, -1)})[0][0]

    def sent(self, action: np.ndarray) -> None:
        """The action the loop sent after :meth:`act` (clipped, or the safe action)."""


class HistoryState(PolicyState):
    """A history-``k`` bundle: the ring buffer of :class:`History`, fed with the observations the loop reads and
    the actions it sends."""

    def __init__(self, session: Network, k: int, obs_dim: int, act_dim: int, fill_action: np.ndarray) -> None:
        super().__init__(session)
        self.history = History(k, obs_dim, act_dim, fill_action)
        self.fresh = True
        self.last: np.ndarray | None = None

    def reset(self) -> None:
        self.fresh, self.last = True, None

    def act(self, obs: np.ndarray) -> np.ndarray:
        if self.fresh or self.last is None:
            self.history.start(0, obs)
            self.fresh = False
        else:
            self.history.advance(0, self.last, obs)
        self.last = None
        return self.session.run(None, {"obs": self.history.input()})[0][0]

    def sent(self, action: np.ndarray) -> None:
        self.last = np.asarray(action, dtype=np.float32)


class RecurrentState(PolicyState):
    """A recurrent bundle: the LSTM's (hidden, cell) state, zero at an episode's start, carried across steps."""

    def __init__(self, session: Network, layers: int, hidden: int) -> None:
        super().__init__(session)
        self.shape = (int(layers), 1, int(hidden))
        self.reset()

    def reset(self) -> None:
        self.h = np.zeros(self.shape, dtype=np.float32)
        self.c = np.zeros(self.shape, dtype=np.float32)

    def act(self, obs: np.ndarray) -> np.ndarray:
        x = np.asarray(obs, dtype=np.float32).reshape(1, -1)
        action, self.h, self.c = self.session.run(None, {"obs": x, "state_h": self.h, "state_c": self.c})[:3]
        return action[0]


def check_memory(where: str, memory: Any, obs_dim: int, act_dim: int) -> dict[str, Any]:
    """``policy.json``'s ``memory`` (absent: none), checked; the message names the field."""
    if memory is None:
        return {"kind": "none"}
    if not isinstance(memory, dict) or memory.get("kind") not in ("none", "history", "recurrent"):
        raise ValueError(f"{where}: memory.kind must be none, history or recurrent")
    if memory["kind"] == "history":
        k, fill = memory.get("k"), memory.get("fill_action")
        if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= 64:
            raise ValueError(f"{where}: memory.k={k!r} must be an integer in [1, 64]")
        ok = isinstance(fill, list) and len(fill) == act_dim
        if not ok or not all(isinstance(x, (int, float)) and np.isfinite(x) for x in fill):
            raise ValueError(f"{where}: memory.fill_action must be {act_dim} finite numbers")
    if memory["kind"] == "recurrent":
        for key in ("layers", "hidden"):
            v = memory.get(key)
            if not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= 4096:
                raise ValueError(f"{where}: memory.{key}={v!r} must be a positive integer")
    return memory


def input_width(memory: dict[str, Any], obs_dim: int, act_dim: int) -> int:
    """The width of ``policy.onnx``'s ``obs`` input."""
    if memory.get("kind") == "history":
        return history_width(memory["k"], obs_dim, act_dim)
    return obs_dim


def policy_state(session: Network, memory: dict[str, Any], obs_dim: int, act_dim: int) -> PolicyState:
    """A fresh per-episode state for a bundle with ``memory``."""
    if memory.get("kind") == "history":
        return HistoryState(session, memory["k"], obs_dim, act_dim, np.asarray(memory["fill_action"]))
    if memory.get("kind") == "recurrent":
        return RecurrentState(session, memory["layers"], memory["hidden"])
    return PolicyState(session)
