"""Sensor noise and bias measured from the logs alone, without any model: kinematic consistency."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from sim2real.learn.logged import Logged


def noise_and_bias(env: Any, logged: Logged) -> dict[str, float]:
    """Observation noise std and bias bound (obs units) from kinematic consistency, without any model.

    For white noise n (std s) and a per-episode constant offset c on each reading, step t's residual
    (the env's ``kinematic_residuals`` hook: a position reading's change minus the integral of its velocity
    readings) is n_(t+1) - n_t + S_t c, where S_t (the optional ``bias_sensitivity`` hook; default -dt on
    each residual's own velocity reading) says how the velocity readings' offsets enter it. Noise:
    s = 1.4826 MAD / sqrt(2) (robust to contact jolts). Bias: per episode, c is fitted by least squares on
    the directions the episode excites (eigenvectors of S'S); the fit's noise variance v follows exactly from
    the differenced noise. For c ~ U(-b, b) per reading, any unit direction's component has second moment
    b^2 / 3, so b^2 / 3 is the weighted mean of (fit^2 - v) (weights 1 / (b^2 / 3 + v)^2, iterated). A
    direction a turning robot keeps rotating (navigation: the velocity toward a goal) no longer cancels the
    offset, as a plain sum of residuals would."""
    res = [np.asarray(env.kinematic_residuals(o), dtype=np.float64) for o in logged.observations]  # (T, k)
    r = np.concatenate(res).ravel()
    noise = float(1.4826 * np.median(np.abs(r - np.median(r))) / math.sqrt(2))
    sensitivity = getattr(env, "bias_sensitivity", None)
    fits, variances = [], []
    for obs, e in zip(logged.observations, res, strict=True):
        t, k = e.shape
        if sensitivity:
            s = np.asarray(sensitivity(obs), dtype=np.float64)
        else:  # each residual sees its own velocity reading's offset
            s = -env.dt * np.broadcast_to(np.eye(k), (t, k, k))
        x = s.transpose(1, 0, 2).reshape(t * k, -1)  # rows channel-major: each channel's steps in time order
        lam, vec = np.linalg.eigh(x.T @ x)
        for j in np.flatnonzero(lam > 1e-9 * max(float(lam.max()), 1e-300)):
            w = (x @ vec[:, j] / lam[j]).reshape(k, t)  # the fit is w . residuals
            d = np.diff(np.pad(w, ((0, 0), (1, 1))), axis=1)  # each reading's noise enters twice, with opposite signs
            fits.append(float((w * e.T).sum()))
            variances.append(noise**2 * float((d * d).sum()))
    f, v = np.asarray(fits), np.asarray(variances)
    second = max(float(np.mean(f * f - v)), 0.0) if len(f) else 0.0
    for _ in range(5):
        wts = 1.0 / (second + v) ** 2 if (second + v).min() > 0 else np.ones_like(v)
        second = max(float(np.sum(wts * (f * f - v)) / np.sum(wts)), 0.0)
    return {"obs_noise_std": noise, "obs_bias": math.sqrt(3 * second)}
