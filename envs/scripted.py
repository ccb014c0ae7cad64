"""Scripted controllers: proof that the tasks are solvable, and demonstrators for logged data.

Each is built on an env (``gymnasium.make(...)``; the unwrapped env is used for privileged state
where a real system would have a map) and called as ``action = controller(obs)`` after
``controller.reset()`` following each ``env.reset``.
"""

from __future__ import annotations

import heapq

import gymnasium as gym
import numpy as np
from sim2real.envs import grasp as G
from sim2real.envs import navigate as N


class GraspScript:
    """Move above the box, descend, close, lift: a four-phase state machine on the observation."""

    MIN_GRASP_Z = 0.038  # m, lowest pinch-point height: the pads' lower edge stays above the table

    def __init__(self, env: gym.Env, gain: float = 0.5) -> None:
        self.env = env
        self.gain = gain  # P gain on position error, in units of MAX_STEP per m of error
        self.reset()

    def reset(self) -> None:
        self.phase = "approach"
        self.count = 0

    def _move(self, pinch: np.ndarray, target: np.ndarray) -> np.ndarray:
        return np.clip(self.gain * (target - pinch) / G.MAX_STEP, -1.0, 1.0)

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        pinch, gap, obj, half = obs[0:3], obs[6], obs[7:10], obs[16:19]
        grasp_z = max(obj[2], self.MIN_GRASP_Z)
        above = np.array([obj[0], obj[1], grasp_z + 0.07])
        if self.phase == "approach":
            a = np.append(self._move(pinch, above), -1.0)
            if np.linalg.norm((above - pinch)[:2]) < 0.008 and abs(above[2] - pinch[2]) < 0.02:
                self.phase = "descend"
        elif self.phase == "descend":
            target = np.array([obj[0], obj[1], grasp_z])
            a = np.append(self._move(pinch, target), -1.0)
            if abs(pinch[2] - grasp_z) < 0.006:
                self.phase, self.count = "close", 0
        elif self.phase == "close":
            a = np.array([0.0, 0.0, 0.0, 1.0])
            self.count += 1
            if self.count >= 6 or gap < 2 * half[1] + 0.002 and self.count >= 3:
                self.phase = "lift"
        else:
            target = np.array([pinch[0], pinch[1], 0.22])
            a = np.append(self._move(pinch, target), 1.0)
        return a.astype(np.float32)


class NavigateScript:
    """Plan on a 5 cm occupancy grid of the known map (Dijkstra with a clearance cost), then follow
    the path with pure pursuit."""

    RES = 0.05  # m per grid cell
    INFLATE = 0.24  # m, hard clearance from obstacle/wall surfaces (base half-width 0.185 m)
    SOFT = 0.55  # m, clearance below which cells cost extra
    LOOKAHEAD = 0.35  # m

    def __init__(self, env: gym.Env) -> None:
        self.env = env
        n = int(round(4.0 / self.RES))
        c = (np.arange(n) + 0.5) * self.RES - 2.0
        self.xs, self.ys = np.meshgrid(c, c, indexing="ij")
        self.path: np.ndarray | None = None

    def reset(self) -> None:
        self.path = None

    def _clearance(self, obstacles: np.ndarray) -> np.ndarray:
        walls = 2.0 - np.maximum(np.abs(self.xs), np.abs(self.ys))
        d = [np.hypot(self.xs - o[0], self.ys - o[1]) - N.OBSTACLE_RADIUS for o in obstacles]
        return np.minimum(walls, np.min(d, axis=0))

    def _cell(self, p: np.ndarray) -> tuple[int, int]:
        n = self.xs.shape[0]
        i, j = ((p + 2.0) / self.RES).astype(int)
        return int(np.clip(i, 0, n - 1)), int(np.clip(j, 0, n - 1))

    def plan(self, start: np.ndarray, goal: np.ndarray, obstacles: np.ndarray) -> np.ndarray:
        """Waypoints (k, 2) in m from start to goal."""
        clear = self._clearance(obstacles)
        cost = 1.0 + 8.0 * np.clip(self.SOFT - clear, 0.0, None)
        blocked = clear < self.INFLATE
        s, g = self._cell(start), self._cell(goal)
        blocked[s] = blocked[g] = False
        n = blocked.shape[0]
        dist = np.full(blocked.shape, np.inf)
        prev: dict[tuple[int, int], tuple[int, int]] = {}
        dist[s] = 0.0
        heap = [(0.0, s)]
        steps = [(di, dj, np.hypot(di, dj)) for di in (-1, 0, 1) for dj in (-1, 0, 1) if di or dj]
        while heap:
            d0, u = heapq.heappop(heap)
            if u == g:
                break
            if d0 > dist[u]:
                continue
            for di, dj, step in steps:
                v = (u[0] + di, u[1] + dj)
                if not (0 <= v[0] < n and 0 <= v[1] < n) or blocked[v]:
                    continue
                nd = d0 + step * cost[v]
                if nd < dist[v]:
                    dist[v] = nd
                    prev[v] = u
                    heapq.heappush(heap, (nd, v))
        if g not in prev and g != s:
            return np.array([start, goal])
        cells = [g]
        while cells[-1] != s:
            cells.append(prev[cells[-1]])
        pts = np.array([[self.xs[c], self.ys[c]] for c in reversed(cells)])
        pts[-1] = goal
        return pts

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        env = self.env.unwrapped
        pos, yaw = env.pose()
        if self.path is None:
            self.path = self.plan(pos, env.goal, env.obstacles)
        k = int(np.argmin(np.linalg.norm(self.path - pos, axis=1)))
        ahead = np.linalg.norm(self.path[k:] - pos, axis=1)
        far = np.flatnonzero(ahead >= self.LOOKAHEAD)
        target = self.path[k + far[0]] if len(far) else self.path[-1]
        rel = target - pos
        err = np.arctan2(rel[1], rel[0]) - yaw
        err = (err + np.pi) % (2 * np.pi) - np.pi
        w = np.clip(2.0 * err / N.W_MAX, -1.0, 1.0)
        v = np.clip(np.cos(err), 0.0, 1.0) ** 3
        return np.array([v, w], dtype=np.float32)


def scripted_policy(env: gym.Env) -> object:
    """The scripted controller of ``env``'s task, as its task spec names it (``scripted: module:attr``)."""
    from sim2real.sim import tasks

    task = tasks.core(env).task  # a stock env's task lives on its DynamicsWrapper, not on the Gymnasium env
    ref = tasks.get(task).scripted
    if ref is None:
        raise tasks.TaskError(f"task '{task}' has no scripted controller (its spec's 'scripted' is empty)")
    return tasks.resolve(ref)(env)
