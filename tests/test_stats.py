"""Statistics against known answers."""

import numpy as np
import pytest

from sim2real import stats


def test_iqm_known_values():
    assert stats.iqm(np.arange(8)) == pytest.approx(3.5)  # mean of 2, 3, 4, 5
    assert stats.iqm([1, 1, 1, 100]) == pytest.approx(1.0)  # robust to one outlier among four
    assert stats.iqm([0, 10, 20, 30, 40]) == pytest.approx(20.0)


def test_bootstrap_ci_contains_point_and_covers_the_truth():
    rng = np.random.default_rng(0)
    hits = 0
    for k in range(40):
        x = rng.normal(0.5, 0.1, size=20)
        point, lo, hi = stats.iqm_ci(x, seed=k, reps=500)
        assert lo <= point <= hi
        hits += lo <= 0.5 <= hi
    assert hits >= 34  # nominal 95 %: well above 85 % of 40 intervals cover the true centre


def test_difference_ci_excludes_zero_for_a_clear_gap():
    mean, lo, hi = stats.difference_ci([0.9, 0.95, 1.0, 0.9, 0.95], [0.1, 0.2, 0.15, 0.1, 0.2])
    assert mean == pytest.approx(0.79) and lo > 0


def test_probability_of_improvement():
    assert stats.probability_of_improvement([1, 1, 1], [0, 0, 0]) == pytest.approx(1.0)
    assert stats.probability_of_improvement([0, 1], [0, 1]) == pytest.approx(0.5)
    assert stats.probability_of_improvement([0, 0], [1, 1]) == pytest.approx(0.0)


def test_transfer_metrics_on_hand_made_curves():
    steps = [0, 10, 20, 30, 40]
    ft = [0.5, 0.7, 0.9, 1.0, 1.0]
    sc = [0.0, 0.1, 0.3, 0.5, 0.6]
    m = stats.transfer_metrics(steps, ft, sc, threshold=0.8)
    assert m["jumpstart"] == pytest.approx(0.5)
    assert m["asymptotic"] == pytest.approx(0.4)
    assert m["auc_finetuned"] == pytest.approx((0.6 + 0.8 + 0.95 + 1.0) / 4)
    assert m["auc_scratch"] == pytest.approx((0.05 + 0.2 + 0.4 + 0.55) / 4)
    assert m["transfer_ratio"] == pytest.approx((3.35 - 1.2) / 1.2)
    assert m["time_to_threshold_finetuned"] == 20 and m["time_to_threshold_scratch"] is None


def test_transfer_ratio_undefined_when_scratch_never_learns():
    m = stats.transfer_metrics([0, 10], [0.5, 1.0], [0.0, 0.0], 0.8)
    assert m["transfer_ratio"] is None
    assert stats.transfer_ratio_ci([0.7, 0.8], [0.0, 0.0]) == (None, None, None)
    point, lo, hi = stats.transfer_ratio_ci([0.8, 0.7, 0.9], [0.3, 0.2, 0.4])
    assert point == pytest.approx(5 / 3) and lo <= point <= hi
