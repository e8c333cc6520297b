"""Participant-level bootstrap: resampling by participant, intervals, paired differences, optimism."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from scipy.special import expit
from scipy.stats import norm, rankdata

from eih_ml.errors import ConfigError, DataError
from eih_ml.evaluation.bootstrap import (
    BootstrapResult,
    bootstrap_metrics,
    optimism_corrected,
    paired_bootstrap_difference,
    participant_resamples,
    replicate_optimism,
)
from eih_ml.evaluation.metrics import (
    CLASSIFICATION_METRICS,
    UndefinedMetricError,
    classification_metrics,
    regression_metrics,
)


def auroc_only(y, p):
    """A light metric function (rank AUROC) for simulations that need many bootstraps."""
    n1 = int(y.sum())
    n0 = y.size - n1
    if n1 == 0 or n0 == 0:
        raise UndefinedMetricError("one class")
    ranks = rankdata(p)
    return {"auroc": (ranks[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)}


def clustered_cohort(n_participants=60, sessions=2, seed=0):
    """Participants with several sessions that share a participant effect."""
    rng = np.random.default_rng(seed)
    groups = np.repeat([f"P{i:03d}" for i in range(n_participants)], sessions)
    person = np.repeat(rng.normal(0, 1.0, n_participants), sessions)
    lp = person + rng.normal(0, 0.5, groups.size)
    y = (rng.random(groups.size) < expit(lp)).astype(int)
    return y, expit(lp), groups


# --------------------------------------------------------------------------------------------
# Resampling participants
# --------------------------------------------------------------------------------------------


def test_resamples_take_whole_participants():
    # unsorted string ids with 1-3 rows each
    groups = np.array(["b", "a", "c", "a", "b", "a", "d"])
    size = Counter(groups.tolist())
    for rows in participant_resamples(groups, n_boot=50, seed=1):
        drawn = Counter(groups[rows].tolist())
        # every drawn participant contributes a whole multiple of its rows
        assert all(count % size[g] == 0 for g, count in drawn.items())
        # exactly as many participant draws as participants
        assert sum(count // size[g] for g, count in drawn.items()) == 4
        # a participant drawn k times brings each of its rows k times
        for g, count in drawn.items():
            k = count // size[g]
            own = np.flatnonzero(groups == g)
            times = Counter(rows.tolist())
            assert {r: times[r] for r in own.tolist()} == dict.fromkeys(own.tolist(), k)


def test_resamples_are_reproducible_with_a_seed():
    groups = np.repeat(np.arange(20), 3)
    a = [r.copy() for r in participant_resamples(groups, n_boot=5, seed=42)]
    b = list(participant_resamples(groups, n_boot=5, seed=42))
    c = list(participant_resamples(groups, n_boot=5, seed=43))
    assert all(np.array_equal(x, z) for x, z in zip(a, b, strict=True))
    assert not all(np.array_equal(x, z) for x, z in zip(a, c, strict=True))


def test_group_errors():
    with pytest.raises(DataError, match=r"one participant id per row \(3 rows\); found 2 ids"):
        bootstrap_metrics([0, 1, 1], [0.1, 0.5, 0.9], ["a", "b"], classification_metrics)
    with pytest.raises(DataError, match="missing id at row 1"):
        bootstrap_metrics([0, 1, 1], [0.1, 0.5, 0.9], ["a", None, "b"], classification_metrics)
    with pytest.raises(DataError, match="at least 2 participants"):
        bootstrap_metrics([0, 1, 1], [0.1, 0.5, 0.9], ["a", "a", "a"], classification_metrics)
    with pytest.raises(ConfigError, match="n_boot must be an integer of at least 2"):
        bootstrap_metrics([0, 1], [0.1, 0.9], ["a", "b"], classification_metrics, n_boot=0)
    with pytest.raises(ConfigError, match="alpha must be between 0 and 1"):
        bootstrap_metrics([0, 1], [0.1, 0.9], ["a", "b"], classification_metrics, alpha=5)
    with pytest.raises(DataError, match="one prediction per row of y_true"):
        bootstrap_metrics([0, 1, 1], [0.1, 0.9], ["a", "b", "c"], classification_metrics)


# --------------------------------------------------------------------------------------------
# bootstrap_metrics
# --------------------------------------------------------------------------------------------


def test_bootstrap_metrics_returns_point_estimates_and_intervals():
    y, p, groups = clustered_cohort()
    res = bootstrap_metrics(y, p, groups, classification_metrics, n_boot=200, seed=0)
    assert isinstance(res, BootstrapResult)
    assert res.estimate == pytest.approx(classification_metrics(y, p))
    flat = res.as_dict()
    expected = [f"{m}{s}" for m in CLASSIFICATION_METRICS for s in ("", "_ci_low", "_ci_high")]
    assert list(flat) == [*expected, "n_boot", "n_boot_skipped"]
    for m in CLASSIFICATION_METRICS:
        assert flat[f"{m}_ci_low"] <= flat[m] <= flat[f"{m}_ci_high"]
    assert res.n_participants == 60
    assert res.n_rows == 120
    assert "200 resamples of 60 participants" in repr(res)
    again = bootstrap_metrics(y, p, groups, classification_metrics, n_boot=200, seed=0)
    assert again.as_dict() == flat


def test_interval_is_wider_when_rows_are_clustered_within_participants():
    # each participant's 8 sessions are identical: the information is 40 participants, not 320 rows
    rng = np.random.default_rng(3)
    n_part, sessions = 40, 8
    y_p = (rng.random(n_part) < 0.5).astype(int)
    p_p = expit(1.5 * (y_p - 0.5) + rng.normal(0, 1.2, n_part))
    y = np.repeat(y_p, sessions)
    p = np.repeat(p_p, sessions)
    participants = np.repeat(np.arange(n_part), sessions)
    rows_as_units = np.arange(y.size)  # what a row-level bootstrap would (wrongly) do
    by_person = bootstrap_metrics(y, p, participants, auroc_only, n_boot=400, seed=1)
    by_row = bootstrap_metrics(y, p, rows_as_units, auroc_only, n_boot=400, seed=1)
    width_person = by_person.ci_high["auroc"] - by_person.ci_low["auroc"]
    width_row = by_row.ci_high["auroc"] - by_row.ci_low["auroc"]
    assert by_person.estimate == by_row.estimate
    # theory: about sqrt(8) ~ 2.8 times wider
    assert width_person > 2.0 * width_row


def test_interval_covers_a_known_auroc():
    # binormal scores: non-events N(0, 1), events N(d, 1) -> true AUROC = Phi(d / sqrt(2))
    d = 1.0
    true_auc = norm.cdf(d / math.sqrt(2))
    rng = np.random.default_rng(2024)
    n_sim, covered = 60, 0
    for sim in range(n_sim):
        y = (rng.random(100) < 0.4).astype(int)
        score = rng.normal(d * y, 1.0)
        groups = np.arange(100)
        res = bootstrap_metrics(y, score, groups, auroc_only, n_boot=200, seed=sim)
        covered += res.ci_low["auroc"] <= true_auc <= res.ci_high["auroc"]
    # nominal 95 %; binomial SD with 60 simulations ~ 2.8 %; percentile intervals run slightly low
    assert 0.83 <= covered / n_sim <= 1.0


def test_resamples_with_one_class_are_skipped_and_counted():
    # 10 participants, only one with an event: P(resample misses it) = 0.9^10 = 0.349
    y = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    p = np.linspace(0.9, 0.1, 10)
    res = bootstrap_metrics(y, p, np.arange(10), classification_metrics, n_boot=500, seed=0)
    assert 130 <= res.n_skipped <= 220  # expected 174.3, SD 10.7
    assert res.as_dict()["n_boot_skipped"] == res.n_skipped
    assert res.replicates["auroc"].size == 500 - res.n_skipped


def test_no_defined_resample_is_a_data_error():
    calls = {"n": 0}

    def defined_once(y, p):
        calls["n"] += 1
        if calls["n"] > 1:
            raise UndefinedMetricError("undefined")
        return {"auroc": 0.5}

    with pytest.raises(DataError, match="none of the 5 participant resamples gave defined metrics"):
        bootstrap_metrics([0, 1], [0.2, 0.8], ["a", "b"], defined_once, n_boot=5)


def test_infinite_replicates_are_kept_as_order_statistics():
    # perfectly separated data: the calibration slope is +inf in (almost) every resample
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    res = bootstrap_metrics(y, p, np.arange(6), classification_metrics, n_boot=100, seed=0)
    assert res.estimate["calibration_slope"] == math.inf
    assert res.ci_high["calibration_slope"] == math.inf
    assert res.ci_low["auroc"] == 1.0


def test_regression_bootstrap():
    rng = np.random.default_rng(8)
    groups = np.repeat(np.arange(50), 2)
    x = rng.normal(size=100)
    y = 10 * x + rng.normal(0, 5, 100)
    res = bootstrap_metrics(y, 10 * x, groups, regression_metrics, n_boot=200)
    assert res.ci_low["calibration_slope"] < 1.0 < res.ci_high["calibration_slope"]
    assert res.ci_low["rmse"] < 5.0 < res.ci_high["rmse"]


# --------------------------------------------------------------------------------------------
# paired_bootstrap_difference
# --------------------------------------------------------------------------------------------


def test_paired_difference_is_zero_for_identical_predictions():
    y, p, groups = clustered_cohort()
    res = paired_bootstrap_difference(
        y, p, p.copy(), groups, classification_metrics, metrics=CLASSIFICATION_METRICS, n_boot=100
    )
    for m in CLASSIFICATION_METRICS:
        assert res.difference[m] == 0.0
        assert res.ci_low[m] == 0.0
        assert res.ci_high[m] == 0.0
        assert res.fraction_extended_better[m] == 0.0  # ties are not "better"
    assert set(res.as_dict()) >= {
        "auroc_base",
        "auroc_extended",
        "auroc_difference",
        "auroc_difference_ci_low",
        "auroc_difference_ci_high",
        "auroc_fraction_extended_better",
        "n_boot",
        "n_boot_skipped",
    }


def test_paired_difference_detects_an_informative_block():
    rng = np.random.default_rng(9)
    n = 300
    groups = np.repeat(np.arange(n // 2), 2)
    base_signal = rng.normal(size=n)
    block = rng.normal(size=n)
    y = (rng.random(n) < expit(0.5 * base_signal + 1.5 * block)).astype(int)
    p_base = expit(0.5 * base_signal)
    p_ext = expit(0.5 * base_signal + 1.5 * block)
    res = paired_bootstrap_difference(y, p_base, p_ext, groups, classification_metrics, n_boot=300)
    assert res.difference["auroc"] > 0.1
    assert res.ci_low["auroc"] > 0.0  # interval excludes 0
    assert res.ci_high["brier"] < 0.0  # extended has lower Brier
    assert res.fraction_extended_better["auroc"] > 0.99
    assert res.fraction_extended_better["brier"] > 0.99
    assert res.difference["auroc"] == pytest.approx(
        classification_metrics(y, p_ext)["auroc"] - classification_metrics(y, p_base)["auroc"]
    )


def test_paired_difference_uses_the_same_resamples_for_both_models():
    # p**2 ranks the rows exactly as p does, so the two AUROCs agree in a resample only if both
    # models are evaluated on the same rows: the interval of the difference is then exactly 0
    y, p, groups = clustered_cohort(seed=4)
    monotone = p**2  # same ranking as p
    res = paired_bootstrap_difference(y, p, monotone, groups, classification_metrics, n_boot=100)
    assert res.ci_low["auroc"] == pytest.approx(0.0, abs=1e-12)
    assert res.ci_high["auroc"] == pytest.approx(0.0, abs=1e-12)


def test_paired_difference_errors():
    y, p, groups = clustered_cohort()
    with pytest.raises(ConfigError, match=r"metrics \['accuracy'\] are not returned by metric_fn"):
        paired_bootstrap_difference(y, p, p, groups, classification_metrics, metrics=["accuracy"])
    with pytest.raises(DataError, match="pred_extended with one prediction per row"):
        paired_bootstrap_difference(y, p, p[:-1], groups, classification_metrics)


# --------------------------------------------------------------------------------------------
# Optimism correction arithmetic
# --------------------------------------------------------------------------------------------


def test_optimism_corrected_hand_worked():
    apparent = {"auroc": 0.80, "calibration_slope": 1.0}
    optimism = [
        replicate_optimism(
            {"auroc": 0.86, "calibration_slope": 1.0}, {"auroc": 0.81, "calibration_slope": 0.8}
        ),
        replicate_optimism(
            {"auroc": 0.84, "calibration_slope": 1.0}, {"auroc": 0.81, "calibration_slope": 0.9}
        ),
    ]
    assert optimism[0] == pytest.approx({"auroc": 0.05, "calibration_slope": 0.2})
    out = optimism_corrected(apparent, optimism)
    assert out["auroc"] == pytest.approx(0.80 - 0.04)
    assert out["auroc_apparent"] == 0.80
    assert out["auroc_optimism"] == pytest.approx(0.04)
    # corrected slope = the bootstrap shrinkage factor
    assert out["calibration_slope"] == pytest.approx(0.85)


def test_optimism_corrected_errors():
    with pytest.raises(ConfigError, match="at least one bootstrap replicate"):
        optimism_corrected({"auroc": 0.8}, [])
    with pytest.raises(ConfigError, match="replicate 1 has no value for metric 'auroc'"):
        optimism_corrected({"auroc": 0.8}, [{"auroc": 0.1}, {"brier": 0.1}])
    with pytest.raises(ConfigError, match=r"only one side: \['brier'\]"):
        replicate_optimism({"auroc": 0.8, "brier": 0.2}, {"auroc": 0.7})
