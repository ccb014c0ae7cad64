"""Statistics for reported numbers: IQM with stratified-bootstrap confidence intervals (rliable), the
transfer metrics of Taylor & Stone (2009) on learning curves, and the probability of improvement.

Curves are success rates (0-1) at increasing target steps; every metric is computed per seed and
aggregated over seeds.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np
from rliable import metrics

CI_REPS = 2000
SMALL_SAMPLE = 5  # below this many seeds a percentile-bootstrap CI is little more than the range of the data
VERDICTS = ("negative", "not detected", "positive")
logging.getLogger("absl").setLevel(logging.WARNING)  # rliable logs every estimate at INFO


def iqm(x: np.ndarray) -> float:
    """Interquartile mean of a sample: rliable's ``aggregate_iqm``, the 25 % trimmed mean (``int(n / 4)`` values
    cut from each end of the ``n`` sorted values, the rest averaged), in plain numpy (scipy's ``trim_mean``
    wrapper costs about 0.7 ms a call; ``tests/test_stats.py`` holds the two equal)."""
    a = np.sort(np.asarray(x, dtype=float), axis=None)
    cut = int(0.25 * a.size)
    return float(a[cut : a.size - cut].mean())


def iqm_ci(x: Sequence[float], seed: int = 0, reps: int = CI_REPS) -> tuple[float, float, float]:
    """IQM over seeds and its 95 % stratified-bootstrap confidence interval (one task: plain bootstrap).

    rliable's ``get_interval_estimates`` (percentile method) with its IQM, computed at once: the same draws
    from numpy's global generator seeded with ``seed`` (one ``choice(n, (n, 1))`` per resample, as rliable's
    ``StratifiedBootstrap`` makes them, here in one call), every resample's IQM vectorised, and arch's
    percentiles; ``tests/test_stats.py`` holds it to :func:`interval` with rliable's own ``aggregate_iqm`` to
    1e-12. It runs for every cell of every report, where the per-resample Python calls cost about 0.5 s an
    interval."""
    data = np.asarray(x, dtype=float).reshape(-1)
    n = len(data)
    np.random.seed(seed)
    draws = np.random.choice(n, (reps, n), replace=True)
    cut = int(0.25 * n)
    resampled = np.sort(data[draws], axis=1)[:, cut : n - cut].mean(axis=1)
    alpha = (1.0 - 0.95) / 2  # arch's conf_int, tail "two", size 0.95, in its own arithmetic
    low, high = np.percentile(resampled, [100 * alpha, 100 * (1.0 - alpha)])
    return iqm(data), float(low), float(high)


def interval(
    x: np.ndarray, stat: Callable[[np.ndarray], float], seed: int = 0, reps: int = CI_REPS
) -> tuple[float, float, float]:
    """Point estimate and 95 % percentile-bootstrap CI of any ``stat`` over runs (rows of ``x``), by rliable's
    own stratified bootstrap: the reference :func:`iqm_ci` is held to."""
    from rliable import library as rly  # (imports arch: seconds; iqm_ci, the reports' path, does without it)

    scores = {"x": np.asarray(x, dtype=float).reshape(len(x), -1)}
    np.random.seed(seed)  # rliable draws from numpy's global generator
    point, ci = rly.get_interval_estimates(scores, lambda s: np.array([stat(s)]), reps=reps)
    return float(point["x"][0]), float(ci["x"][0, 0]), float(ci["x"][1, 0])


def resampled_means(a: np.ndarray, b: np.ndarray, seed: int, reps: int) -> tuple[np.ndarray, np.ndarray]:
    """``reps`` bootstrap means of ``a`` and of ``b``, each resampled independently, drawn at once: the same
    numbers as ``rng.choice(a, len(a)).mean()`` then ``rng.choice(b, len(b)).mean()`` per resample from
    ``default_rng(seed)`` (the draws' order is kept; a test holds it to that loop)."""
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, np.array([len(a)] * len(a) + [len(b)] * len(b)), (reps, len(a) + len(b)))
    return a[draws[:, : len(a)]].mean(axis=1), b[draws[:, len(a) :]].mean(axis=1)


def difference_ci(
    a: Sequence[float], b: Sequence[float], seed: int = 0, reps: int = CI_REPS
) -> tuple[float, float, float]:
    """Mean(a) - mean(b) with a 95 % bootstrap CI, resampling the runs of a and b independently."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ma, mb = resampled_means(a, b, seed, reps)
    boots = ma - mb
    return float(a.mean() - b.mean()), float(np.percentile(boots, 2.5)), float(np.percentile(boots, 97.5))


def probability_of_improvement(a: Sequence[float], b: Sequence[float]) -> float:
    """P(X > Y) + 0.5 P(X = Y) for X from runs ``a`` and Y from runs ``b`` (rliable, one task)."""
    return float(
        metrics.probability_of_improvement(np.asarray(a, float).reshape(-1, 1), np.asarray(b, float).reshape(-1, 1))
    )


def auc(steps: Sequence[float], values: Sequence[float]) -> float:
    """Area under the curve by the trapezoid rule, divided by the step span (so 0-1 for success)."""
    s, v = np.asarray(steps, float), np.asarray(values, float)
    if len(s) < 2 or s[-1] == s[0]:
        return float(v[-1]) if len(v) else float("nan")
    return float(np.trapezoid(v, s) / (s[-1] - s[0]))


def time_to_threshold(steps: Sequence[float], values: Sequence[float], threshold: float) -> float | None:
    """The first step at which the curve reaches ``threshold``; ``None`` if it never does."""
    for s, v in zip(steps, values, strict=True):
        if v >= threshold:
            return float(s)
    return None


def verdict(ci_low: float, ci_high: float, n: int | None = None) -> str:
    """Three-way verdict on a difference CI (a - b): ``negative`` if the CI lies below 0, ``positive`` if above,
    ``not detected`` if it holds 0; ``not enough seeds`` when the CI comes from fewer than 2 seeds (``n``), whose
    bootstrap interval has zero width and says nothing. A non-finite bound is an error, never a silent "not
    detected"."""
    if n is not None and n < 2:
        return "not enough seeds"
    if not (np.isfinite(ci_low) and np.isfinite(ci_high)) or ci_low > ci_high:
        raise ValueError(f"verdict on a malformed interval [{ci_low}, {ci_high}]")
    if ci_high < 0:
        return "negative"
    if ci_low > 0:
        return "positive"
    return "not detected"


def transfer_metrics(
    steps: Sequence[float], ft: Sequence[float], scratch: Sequence[float], threshold: float
) -> dict[str, float | None]:
    """Taylor & Stone metrics of one fine-tuned curve against one from-scratch curve on the same steps."""
    auc_ft, auc_sc = auc(steps, ft), auc(steps, scratch)
    return {
        "jumpstart": float(ft[0] - scratch[0]),
        "at_budget": float(ft[-1] - scratch[-1]),  # the difference at the budget (not an asymptote)
        "auc_finetuned": auc_ft,
        "auc_scratch": auc_sc,
        "transfer_ratio": (auc_ft - auc_sc) / auc_sc if auc_sc > 0 else None,
        "time_to_threshold_finetuned": time_to_threshold(steps, ft, threshold),
        "time_to_threshold_scratch": time_to_threshold(steps, scratch, threshold),
    }


def transfer_ratio_ci(
    auc_ft: Sequence[float], auc_sc: Sequence[float], seed: int = 0, reps: int = CI_REPS
) -> tuple[float | None, float | None, float | None]:
    """(mean AUC_ft - mean AUC_scratch) / mean AUC_scratch with a 95 % bootstrap CI over seeds; ``None`` where
    the from-scratch AUC is not positive (the ratio is undefined). A resample whose scratch AUC is not positive
    has an unbounded ratio (+inf, or -inf when fine-tuned is lower): it is kept, never dropped, so a bound
    becomes infinite when more than 2.5 % of resamples are unbounded."""
    a, b = np.asarray(auc_ft, float), np.asarray(auc_sc, float)
    if b.mean() <= 0:
        return None, None, None
    aa, bb = resampled_means(a, b, seed, reps)
    with np.errstate(divide="ignore", invalid="ignore"):
        boots = np.where(bb > 0, (aa - bb) / np.where(bb > 0, bb, 1.0), np.where(aa > bb, np.inf, -np.inf))
    lo, hi = np.quantile(boots, [0.025, 0.975], method="inverted_cdf")  # no interpolation between infinities
    return float((a.mean() - b.mean()) / b.mean()), float(lo), float(hi)
