"""Metrics and calibration curves: hand-worked values, agreement with references, statistics.

Calibration curves (eih_ml/evaluation/calibration.py) are tested here too: they are calibration
metrics, and share the logistic fitting code with ``classification_metrics``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq
from scipy.special import expit, logit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from eih_ml.errors import ConfigError, DataError
from eih_ml.evaluation.calibration import (
    calibration_curve,
    spline_calibration_curve,
    wilson_interval,
)
from eih_ml.evaluation.metrics import (
    CLASSIFICATION_METRICS,
    MULTICLASS_METRICS,
    REGRESSION_METRICS,
    UndefinedMetricError,
    better_than,
    classification_metrics,
    higher_is_better,
    regression_metrics,
)


def simulate(n: int, slope: float = 1.0, intercept: float = 0.0, seed: int = 0, sd: float = 1.5):
    """Predictions p = expit(lp); outcomes from expit(intercept + slope * lp)."""
    rng = np.random.default_rng(seed)
    lp = rng.normal(0.0, sd, n)
    y = (rng.random(n) < expit(intercept + slope * lp)).astype(int)
    return y, expit(lp)


# --------------------------------------------------------------------------------------------
# classification_metrics: names and hand-worked values
# --------------------------------------------------------------------------------------------


def test_classification_metric_names_are_fixed():
    y, p = simulate(200)
    assert tuple(classification_metrics(y, p)) == CLASSIFICATION_METRICS
    assert CLASSIFICATION_METRICS == (
        "auroc",
        "auprc",
        "brier",
        "brier_scaled",
        "calibration_intercept",
        "calibration_slope",
    )


def test_classification_metrics_hand_worked_example():
    # 4 rows (sklearn's documentation example): 3 of 4 event/non-event pairs ordered correctly.
    m = classification_metrics([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert m["auroc"] == pytest.approx(0.75)
    # AP: thresholds 0.8 (P=1, R=0.5), 0.4 (P=2/3), 0.35 (P=2/3, R=1): 0.5*1 + 0.5*2/3
    assert m["auprc"] == pytest.approx(0.5 + 0.5 * 2 / 3)
    # Brier: (0.1² + 0.4² + 0.65² + 0.2²) / 4
    assert m["brier"] == pytest.approx(0.158125)
    # scaled: 1 - 0.158125 / (0.5 * 0.5)
    assert m["brier_scaled"] == pytest.approx(0.3675)


def test_auroc_counts_ties_as_half():
    assert classification_metrics([0, 1], [0.5, 0.5])["auroc"] == pytest.approx(0.5)
    m = classification_metrics([0, 0, 1, 1], [0.2, 0.6, 0.6, 0.9])
    assert m["auroc"] == pytest.approx((1 + 1 + 0.5 + 1) / 4)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.7, 0.9, 1.0])),
        min_size=2,
        max_size=40,
    ).filter(lambda rows: len({r[0] for r in rows}) == 2)
)
def test_ranking_and_brier_agree_with_sklearn(rows):
    # many ties on purpose: the rank formulas must handle them exactly as sklearn
    y = np.array([r[0] for r in rows])
    p = np.array([r[1] for r in rows])
    m = classification_metrics(y, p)
    assert m["auroc"] == pytest.approx(roc_auc_score(y, p), abs=1e-12)
    assert m["auprc"] == pytest.approx(average_precision_score(y, p), abs=1e-12)
    assert m["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-12)


def test_calibration_in_the_large_of_constant_prediction_is_logit_difference():
    # with p = c for everyone, alpha solves expit(alpha + logit(c)) = ybar exactly
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0, 0, 0])
    m = classification_metrics(y, np.full(10, 0.5))
    assert m["calibration_intercept"] == pytest.approx(logit(0.3) - logit(0.5), abs=1e-9)
    assert math.isnan(m["calibration_slope"])  # constant predictions: slope not identifiable


def test_calibration_models_agree_with_independent_fits():
    y, p = simulate(400, slope=0.7, intercept=0.3, seed=3)
    m = classification_metrics(y, p)
    lp = logit(p)
    # intercept-only model with offset: root of the score equation
    alpha = brentq(lambda a: expit(a + lp).sum() - y.sum(), -10, 10, xtol=1e-14)
    assert m["calibration_intercept"] == pytest.approx(alpha, abs=1e-8)
    # slope: unpenalised logistic regression (C=inf) of y on logit(p)
    ref = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(lp[:, None], y)
    assert m["calibration_slope"] == pytest.approx(ref.coef_[0, 0], abs=1e-5)


def test_probabilities_of_zero_and_one_are_clipped_for_calibration():
    y = [0, 0, 1, 1, 0, 1]
    m = classification_metrics(y, [0.0, 0.3, 1.0, 0.6, 0.7, 0.2])
    assert all(np.isfinite(v) for v in m.values())


def test_separation_gives_infinite_slope():
    assert classification_metrics([0, 0, 1, 1], [0.1, 0.2, 0.7, 0.9])["calibration_slope"] == (
        math.inf
    )
    assert classification_metrics([1, 1, 0, 0], [0.1, 0.2, 0.7, 0.9])["calibration_slope"] == (
        -math.inf
    )
    # quasi-complete separation (a tie at the boundary) also diverges
    assert classification_metrics([0, 0, 1, 1], [0.1, 0.5, 0.5, 0.9])["calibration_slope"] == (
        math.inf
    )


# --------------------------------------------------------------------------------------------
# classification_metrics: statistical behaviour
# --------------------------------------------------------------------------------------------


def test_uninformative_predictions_give_auroc_half_and_slope_zero():
    rng = np.random.default_rng(11)
    n = 4000
    y = (rng.random(n) < 0.3).astype(int)
    p = rng.uniform(0.05, 0.95, n)  # independent of y
    m = classification_metrics(y, p)
    # SE of AUROC ~ 0.01 and of the slope ~ 0.03 at this n: 4 SE tolerances
    assert m["auroc"] == pytest.approx(0.5, abs=0.04)
    assert m["calibration_slope"] == pytest.approx(0.0, abs=0.12)
    assert m["brier_scaled"] < 0  # worse than predicting the prevalence


def test_perfectly_calibrated_predictions_give_intercept_0_and_slope_1():
    y, p = simulate(5000, seed=1)
    m = classification_metrics(y, p)
    # SE ~ 0.035 (intercept) and ~ 0.04 (slope) at n = 5000: tolerance about 3 SE
    assert m["calibration_intercept"] == pytest.approx(0.0, abs=0.1)
    assert m["calibration_slope"] == pytest.approx(1.0, abs=0.12)


def test_overfitted_predictions_give_slope_below_one_and_shifted_intercept():
    # predictions twice as extreme as the truth -> slope ~ 0.5
    y, p_true = simulate(5000, seed=2)
    p_over = expit(2.0 * logit(p_true))
    assert classification_metrics(y, p_over)["calibration_slope"] == pytest.approx(0.5, abs=0.06)
    # risks too high on average -> negative calibration-in-the-large
    p_high = expit(logit(p_true) + 1.0)
    assert classification_metrics(y, p_high)["calibration_intercept"] == pytest.approx(
        -1.0, abs=0.1
    )


# --------------------------------------------------------------------------------------------
# classification_metrics: errors
# --------------------------------------------------------------------------------------------


def test_single_class_is_a_clear_data_error():
    with pytest.raises(DataError, match="needs both outcome classes; found only class 1 in 3 rows"):
        classification_metrics([1, 1, 1], [0.2, 0.5, 0.9])
    with pytest.raises(UndefinedMetricError, match="only class 0"):
        classification_metrics([0, 0], [0.2, 0.5])


def test_bad_inputs_are_data_errors():
    with pytest.raises(DataError, match=r"values 0 and 1 only; found 2\.0"):
        classification_metrics([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(DataError, match=r"values 0 and 1 only; found nan"):
        classification_metrics([0, 1, np.nan], [0.1, 0.2, 0.3])
    with pytest.raises(DataError, match=r"probabilities in \[0, 1\]; found 1\.5 at row 2"):
        classification_metrics([0, 1, 1], [0.1, 0.2, 1.5])
    with pytest.raises(DataError, match="same length; found 3 and 2"):
        classification_metrics([0, 1, 1], [0.1, 0.2])
    with pytest.raises(DataError, match="at least one row"):
        classification_metrics([], [])
    with pytest.raises(DataError, match="1-D array"):
        classification_metrics([0, 1], np.ones((2, 2)) / 2)


# --------------------------------------------------------------------------------------------
# regression_metrics
# --------------------------------------------------------------------------------------------


def test_regression_metrics_hand_worked_example():
    y = [1.0, 2.0, 3.0, 4.0]
    yhat = [1.5, 2.0, 2.5, 5.0]
    m = regression_metrics(y, yhat)
    assert tuple(m) == REGRESSION_METRICS
    # residuals y - yhat = (-0.5, 0, 0.5, -1)
    assert m["rmse"] == pytest.approx(math.sqrt(1.5 / 4))
    assert m["mae"] == pytest.approx(0.5)
    assert m["r2"] == pytest.approx(1 - 1.5 / 5.0)  # SS_tot = 5
    assert m["calibration_intercept"] == pytest.approx(-0.25)  # mean(y - yhat)
    # OLS slope: sum(yhat_c * y_c) / sum(yhat_c²) = 5.5 / 7.25
    assert m["calibration_slope"] == pytest.approx(5.5 / 7.25)
    assert m["calibration_slope"] == pytest.approx(np.polyfit(yhat, y, 1)[0])


def test_regression_calibration_on_simulated_data():
    rng = np.random.default_rng(5)
    x = rng.normal(size=3000)
    y = 20 + 10 * x + rng.normal(0, 10, 3000)
    good = regression_metrics(y, 20 + 10 * x)
    assert good["calibration_slope"] == pytest.approx(1.0, abs=0.05)
    assert good["calibration_intercept"] == pytest.approx(0.0, abs=0.5)
    over = regression_metrics(y, 20 + 20 * x)  # too spread out
    assert over["calibration_slope"] == pytest.approx(0.5, abs=0.03)


def test_regression_degenerate_inputs():
    with pytest.raises(UndefinedMetricError, match="needs an outcome that varies"):
        regression_metrics([3.0, 3.0, 3.0], [1.0, 2.0, 3.0])
    assert math.isnan(regression_metrics([1.0, 2.0, 4.0], [2.0, 2.0, 2.0])["calibration_slope"])
    with pytest.raises(DataError, match="finite values in y_pred; found nan at row 1"):
        regression_metrics([1.0, 2.0], [1.0, np.nan])


# --------------------------------------------------------------------------------------------
# Direction of metrics
# --------------------------------------------------------------------------------------------


def test_metric_directions():
    assert higher_is_better("auroc") is True
    assert higher_is_better("brier") is False
    assert higher_is_better("rmse") is False
    assert higher_is_better("r2") is True
    assert higher_is_better("calibration_slope") is None
    assert higher_is_better("auroc_macro") is True
    assert higher_is_better("log_loss") is False
    assert higher_is_better("calibration_slope_hypoalgesic") is None
    for name in {*CLASSIFICATION_METRICS, *REGRESSION_METRICS, *MULTICLASS_METRICS}:
        higher_is_better(name)  # every reported metric has a direction
    with pytest.raises(ConfigError, match="Unknown metric 'f1_score'"):
        higher_is_better("f1_score")


def test_better_than_uses_distance_to_target_for_calibration():
    assert better_than("auroc", 0.8, 0.7)
    assert better_than("brier", 0.1, 0.2)
    assert better_than("calibration_slope", 0.95, 1.2)
    assert not better_than("calibration_slope", 1.2, 0.95)
    assert better_than("calibration_intercept", -0.1, 0.3)
    assert not better_than("auroc", 0.7, 0.7)  # ties are not better
    np.testing.assert_array_equal(better_than("auroc", [0.8, 0.6], [0.7, 0.7]), [True, False])


# --------------------------------------------------------------------------------------------
# Calibration curves
# --------------------------------------------------------------------------------------------


def test_wilson_interval_worked_example():
    # 3 events in 10: Wilson 95 % interval (0.1078, 0.6032) (Brown, Cai & DasGupta 2001)
    low, high = wilson_interval(3, 10)
    assert float(low) == pytest.approx(0.1078, abs=1e-4)
    assert float(high) == pytest.approx(0.6032, abs=1e-4)


def test_calibration_curve_hand_worked_uniform_bins():
    y = [0, 0, 1, 1, 1]
    p = [0.05, 0.15, 0.15, 0.55, 0.95]
    curve = calibration_curve(y, p, n_bins=2, strategy="uniform")
    assert list(curve["count"]) == [3, 2]
    assert list(curve["n_events"]) == [1, 2]
    np.testing.assert_allclose(curve["mean_predicted"], [0.35 / 3, 0.75])
    np.testing.assert_allclose(curve["observed_fraction"], [1 / 3, 1.0])
    assert list(curve.columns) == [
        "bin",
        "bin_low",
        "bin_high",
        "count",
        "n_events",
        "mean_predicted",
        "observed_fraction",
        "ci_low",
        "ci_high",
    ]


def test_calibration_curve_quantile_bins_follow_the_diagonal():
    y, p = simulate(3000, seed=4)
    curve = calibration_curve(y, p, n_bins=10)
    assert len(curve) == 10
    assert curve["count"].between(299, 301).all()
    # every bin's Wilson interval should cover its mean prediction, bar chance (allow one miss)
    covered = (curve["ci_low"] <= curve["mean_predicted"]) & (
        curve["mean_predicted"] <= curve["ci_high"]
    )
    assert covered.sum() >= 9


def test_calibration_curve_errors():
    with pytest.raises(ConfigError, match="strategy must be 'quantile' or 'uniform'"):
        calibration_curve([0, 1], [0.2, 0.8], strategy="kmeans")
    with pytest.raises(ConfigError, match="n_bins must be a positive integer"):
        calibration_curve([0, 1], [0.2, 0.8], n_bins=0)


def test_spline_calibration_curve_is_close_to_identity_when_calibrated():
    y, p = simulate(4000, seed=6)
    curve = spline_calibration_curve(y, p, grid=[0.2, 0.4, 0.6, 0.8])
    np.testing.assert_allclose(curve["observed"], curve["predicted"], atol=0.05)
    assert (curve["ci_low"] <= curve["observed"]).all()
    assert (curve["observed"] <= curve["ci_high"]).all()


def test_spline_calibration_curve_detects_overfitting():
    y, p_true = simulate(4000, seed=7)
    p_over = expit(2.0 * logit(p_true))
    curve = spline_calibration_curve(y, p_over, n_knots=4, grid=[0.1, 0.9])
    # too-extreme predictions: observed risk is less extreme than predicted at both ends
    assert curve["observed"].iloc[0] > 0.15
    assert curve["observed"].iloc[1] < 0.85


def test_spline_calibration_curve_errors():
    with pytest.raises(ConfigError, match="n_knots must be 3, 4 or 5"):
        spline_calibration_curve([0, 1, 0, 1], [0.1, 0.2, 0.3, 0.4], n_knots=7)
    with pytest.raises(DataError, match="distinct knot positions"):
        spline_calibration_curve([0, 1, 0, 1], [0.5, 0.5, 0.5, 0.6])
    with pytest.raises(DataError, match="both outcome classes"):
        spline_calibration_curve([1, 1, 1], [0.5, 0.6, 0.7])
    # predictions that separate the classes: the ML spline fit diverges
    y = [0] * 20 + [1] * 20
    p = [*np.linspace(0.05, 0.4, 20), *np.linspace(0.6, 0.95, 20)]
    with pytest.raises(DataError, match="did not converge .*20 events in 40 rows"):
        spline_calibration_curve(y, p)
