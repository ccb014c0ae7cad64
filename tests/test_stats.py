"""Statistics against known answers."""

import numpy as np
import pytest

from sim2real.transfer import stats


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
    assert m["at_budget"] == pytest.approx(0.4)
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


# --- known answers that a wrong statistic cannot pass (each was checked by breaking the code by hand) ---


def _curve_result(values, step=1000):
    return {
        "curve": [
            {"step": i * step + 2, "success_rate": v, "mean_return": v, "sim_success_rate": v}
            for i, v in enumerate(values)
        ]
    }


@pytest.mark.parametrize(
    "ft_final,expected",
    [
        ([0.1, 0.1, 0.15, 0.1, 0.12], "negative"),
        ([0.5, 0.7, 0.6, 0.4, 0.55], "not detected"),
        ([0.95, 1.0, 0.9, 0.95, 1.0], "positive"),
    ],
)
def test_verdict_on_constructed_curves(ft_final, expected):
    from sim2real.transfer.report import _transfer

    ft = [{"result": _curve_result([0.5, f])} for f in ft_final]
    sc = [{"result": _curve_result([0.0, s])} for s in (0.5, 0.6, 0.55, 0.5, 0.6)]
    zero_shot = [0.5] * 5
    e = _transfer(ft, sc, [1000], 1000, 0.8, zero_shot)["1000"]
    assert e["verdict_vs_scratch"] == expected
    lo, hi = e["finetuned_minus_scratch"]["ci_low"], e["finetuned_minus_scratch"]["ci_high"]
    assert np.isfinite(lo) and np.isfinite(hi) and lo <= e["finetuned_minus_scratch"]["mean"] <= hi
    assert e["verdict_vs_zero_shot"] == stats.verdict(
        e["finetuned_minus_zero_shot"]["ci_low"], e["finetuned_minus_zero_shot"]["ci_high"]
    )


def test_one_seed_gives_no_verdict():
    """One seed: a zero-width interval that would read as a sure positive; the report says not enough seeds."""
    from sim2real.transfer.report import _transfer

    ft = [{"result": _curve_result([0.5, 1.0])}]
    sc = [{"result": _curve_result([0.0, 0.1])}]
    e = _transfer(ft, sc, [1000], 1000, 0.8, [0.5])["1000"]
    assert e["verdict_vs_scratch"] == "not enough seeds" and e["verdict_vs_zero_shot"] == "not enough seeds"
    assert stats.verdict(0.2, 0.4, n=2) == "positive"


def test_verdict_refuses_a_nan_bound():
    with pytest.raises(ValueError):
        stats.verdict(-0.1, float("nan"))
    assert stats.verdict(-0.3, -0.1) == "negative" and stats.verdict(-0.1, 0.1) == "not detected"


def test_difference_ci_has_finite_bounds_that_hold_the_difference():
    mean, lo, hi = stats.difference_ci([0.6, 0.7, 0.65, 0.6, 0.7], [0.1, 0.2, 0.15, 0.1, 0.2])
    assert np.isfinite(lo) and np.isfinite(hi) and lo <= 0.5 <= hi and lo > 0.3 and hi < 0.7
    assert stats.difference_ci([1, 1, 1], [0, 0, 0]) == (1.0, 1.0, 1.0)


def test_iqm_ci_contains_and_excludes_known_values():
    point, lo, hi = stats.iqm_ci([0.40, 0.42, 0.44, 0.46, 0.48])
    assert point == pytest.approx(0.44) and 0.40 <= lo <= 0.44 <= hi <= 0.48
    assert not lo <= 0.0 <= hi and not lo <= 1.0 <= hi  # a CI of [0, 1] would hold both
    assert stats.iqm_ci([0, 10, 20, 30, 40])[0] == pytest.approx(20.0)  # not the max, not the mean of all


def test_iqm_ci_is_rliables_interval_with_rliables_iqm():
    """The numpy trimmed mean inside iqm_ci gives rliable's point and bounds on the same resamples."""
    from rliable import metrics

    rng = np.random.default_rng(3)
    for n in (1, 2, 3, 4, 5, 7, 10):
        x = rng.random(n)
        want = stats.interval(x, lambda s: metrics.aggregate_iqm(s), seed=n, reps=300)
        assert stats.iqm_ci(x, seed=n, reps=300) == pytest.approx(want, abs=1e-12)
        assert stats.iqm(x) == pytest.approx(float(metrics.aggregate_iqm(x.reshape(-1, 1))), abs=1e-12)


def test_resampled_means_are_the_per_resample_loops_numbers():
    """The vectorised draws behind difference_ci and transfer_ratio_ci equal the loop they replace."""
    for na, nb in [(5, 5), (5, 6), (3, 5), (1, 4)]:
        a, b = np.random.default_rng(na).random(na), np.random.default_rng(nb + 9).random(nb)
        rng = np.random.default_rng(4)
        loop = np.array([(rng.choice(a, na).mean(), rng.choice(b, nb).mean()) for _ in range(500)])
        ma, mb = stats.resampled_means(a, b, 4, 500)
        np.testing.assert_array_equal(np.stack([ma, mb], axis=1), loop)


def test_transfer_ratio_ci_keeps_unbounded_resamples():
    # scratch AUC is 0 in (4/5)^5 = 33 % of resamples: the upper bound is unbounded, not 57 from the rest
    r, lo, hi = stats.transfer_ratio_ci([0.5, 0.6, 0.55, 0.5, 0.6], [0, 0, 0, 0, 0.05])
    assert r == pytest.approx((0.55 - 0.01) / 0.01) and hi == float("inf") and np.isfinite(lo) and lo < r
    r, lo, hi = stats.transfer_ratio_ci([0.6, 0.7, 0.65], [0.3, 0.35, 0.32])
    assert lo < r < hi and np.isfinite(hi)


def test_probability_of_improvement_counts_ties_as_half():
    assert stats.probability_of_improvement([1, 1], [1, 1]) == pytest.approx(0.5)
    assert stats.probability_of_improvement([1, 0], [0, 0]) == pytest.approx(0.75)


def test_summary_iqms_equal_rliables_on_the_per_seed_values():
    from rliable import metrics

    from sim2real.transfer.report import summarize

    zs = [0.2, 0.9, 0.5, 0.6, 0.3]
    results = [
        {"condition": "zero_shot", "seed": i, "result": {"success_rate": v, "mean_return": 10 * v}}
        for i, v in enumerate(zs)
    ]
    grid = {"task": "navigate", "budgets": [1000], "interval": 1000, "seeds": 5, "dynamics": {}}
    s = summarize(grid, results, 0.8)
    assert s["conditions"]["zero_shot"]["success"]["iqm"] == pytest.approx(
        float(metrics.aggregate_iqm(np.array(zs).reshape(-1, 1)))
    )


def test_retention_is_the_fine_tuned_policys_score_back_in_the_randomised_sim():
    from sim2real.transfer.report import summarize

    results = [{"condition": "sim", "seed": i, "result": {"success_rate": 0.9, "mean_return": 1.0}} for i in range(5)]
    results += [
        {
            "condition": "finetune",
            "seed": i,
            "result": {
                "curve": [
                    {"step": 2, "success_rate": 0.5, "mean_return": 1.0, "sim_success_rate": 0.9},
                    {"step": 1000, "success_rate": 0.8, "mean_return": 1.0, "sim_success_rate": 0.6},
                ]
            },
        }
        for i in range(5)
    ]
    grid = {"task": "navigate", "budgets": [1000], "interval": 1000, "seeds": 5, "dynamics": {}}
    ret = summarize(grid, results, 0.8)["conditions"]["finetune"]["1000"]["retention"]
    assert ret["finetuned_sim_success"]["iqm"] == pytest.approx(0.6)
    assert ret["pretrained_sim_success"]["iqm"] == pytest.approx(0.9)


def test_curves_snap_to_the_evaluation_interval():
    from sim2real.transfer.curves import snap_curve

    result = {
        "curve": [
            {"step": 2, "success_rate": 0.1},
            {"step": 1026, "success_rate": 0.2},
            {"step": 2050, "success_rate": 0.3},
            {"step": 2050, "success_rate": 0.3},
            {"step": 3074, "success_rate": 0.4},
        ]
    }
    assert snap_curve(result, 1024, 2048) == ([0, 1024, 2048], [0.1, 0.2, 0.3])


def test_a_compare_unit_is_reused_only_for_the_same_policy_bytes(tmp_path):
    from hydra import compose, initialize_config_module

    from sim2real.learn.runs import policy_digest
    from sim2real.transfer.compare import expand

    for name, data in (("a", b"one"), ("b", b"two")):
        (tmp_path / name).mkdir()
        (tmp_path / name / "policy.safetensors").write_bytes(data)
        (tmp_path / name / "normalization.npz").write_bytes(b"same")
    assert policy_digest(tmp_path / "a") != policy_digest(tmp_path / "b")
    with initialize_config_module(config_module="sim2real.configs", version_base="1.3"):
        cfg = compose("compare", overrides=["task=navigate"])
    grid = {
        "task": "navigate",
        "dynamics": {},
        "dynamics_name": "real",
        "seeds": 1,
        "conditions": ["zero_shot"],
        "pretrained": ["/p"],  # one run per seed, or one shared run
        "budgets": [256],
        "interval": 256,
    }
    ids = [expand(cfg, {**grid, "digests": {"/p": d}})[1]["id"] for d in ("d1", "d1", "d2")]
    assert ids[0] == ids[1] != ids[2]


def test_lifelong_metrics_known_answer():
    """ACC, BWT, FWT (Lopez-Paz & Ranzato 2017) on a constructed accuracy matrix."""
    from sim2real.transfer.lifelong import metrics

    R = [[0.1, 0.0, 0.2], [0.9, 0.3, 0.2], [0.7, 0.8, 0.4], [0.6, 0.5, 0.9]]  # row 0: before any stage
    m = metrics(R, [0.0, 0.1, 0.1])
    assert m["ACC"] == pytest.approx(2 / 3)  # final row's mean
    assert m["BWT"] == pytest.approx(-0.3)  # (0.6 - 0.9 + 0.5 - 0.8) / 2: forgetting
    assert m["FWT"] == pytest.approx(0.25)  # (0.3 - 0.1 + 0.4 - 0.1) / 2
    assert m["jumpstart"] == pytest.approx([0.1, 0.2, 0.3])
    with pytest.raises(ValueError):
        metrics([[0.1, 0.2]], [0.0, 0.0])


def test_sequence_l2sp_minus_sequence_is_the_per_seed_metric_difference():
    """Constructed per-seed metrics: the regularised sequence forgets 0.2 less (BWT) and ends 0.05 lower (ACC)."""
    from sim2real.transfer.report import markdown, summarize

    def unit(cond, seed, acc, bwt):
        rows = [{"real": 0.8, "heavy": 0.5, "sim": 0.9}, {"real": 0.9, "heavy": 0.6, "sim": 0.8}] * 2
        rows = rows[:3]  # before any stage, then after each of the two
        metrics = {"ACC": acc, "BWT": bwt, "FWT": 0.3}
        return {
            "condition": cond,
            "seed": seed,
            "kind": "sequence",
            "profiles": ["real", "heavy"],
            "steps": 100,
            "l2sp": 0.1 if cond == "sequence_l2sp" else 0.0,
            "result": {"rows": rows, "columns": ["real", "heavy", "sim"], "metrics": metrics},
        }

    results = [unit("sequence", i, 0.7 + 0.01 * i, -0.3) for i in range(5)]
    results += [unit("sequence_l2sp", i, 0.65 + 0.01 * i, -0.1) for i in range(5)]
    grid = {"task": "grasp", "budgets": [100], "interval": 100, "seeds": 5, "dynamics": {}}
    s = summarize(grid, results, 0.8)
    d = s["sequence_l2sp_minus_sequence"]
    assert d["ACC"]["mean"] == pytest.approx(-0.05) and d["BWT"]["mean"] == pytest.approx(0.2)
    assert d["BWT"]["ci_low"] == pytest.approx(0.2) and d["FWT"]["mean"] == pytest.approx(0.0)
    assert "BWT 0.20 [0.20, 0.20] (positive)" in markdown(s)


def test_the_coverage_benchmarks_wilson_interval_is_the_score_interval():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[1] / "benchmarks" / "identification_coverage.py"
    spec = importlib.util.spec_from_file_location("identification_coverage", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    # 8 of 10 and 0 of 10: the Wilson 95 % score intervals, 0.4902-0.9433 and 0-0.2775 (an interval that drops
    # the z^2/4n^2 term, or uses the normal approximation, misses them)
    assert mod.wilson(8, 10) == pytest.approx((0.4902, 0.9433), abs=1e-4)
    assert mod.wilson(0, 10) == pytest.approx((0.0, 0.2775), abs=1e-4)
    lo, hi = mod.wilson(16, 16)
    assert hi == pytest.approx(1.0) and lo == pytest.approx(0.8064, abs=1e-4)
    assert all(x != x for x in mod.wilson(0, 0))  # no profile flagged: no interval
