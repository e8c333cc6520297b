"""Decision curves against a hand-worked example (``dcurves`` cannot be installed with pandas 3)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from eih_ml.errors import ConfigError, DataError
from eih_ml.evaluation.decision_curve import (
    DEFAULT_THRESHOLDS,
    decision_curve,
    net_benefit,
    net_benefit_treat_all,
)

# 10 participants, 4 events (prevalence 0.4), predictions sorted from high to low.
P = np.array([0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05])
Y = np.array([1, 1, 0, 1, 0, 1, 0, 0, 0, 0])

# Worked by hand: positive = p >= pt; NB = TP/10 - FP/10 * pt / (1 - pt)
HAND = {
    0.10: 0.4 - 0.5 * (0.1 / 0.9),  # 9 positive: TP 4, FP 5 -> 0.344444
    0.20: 0.4 - 0.4 * 0.25,  # 8 positive: TP 4, FP 4 -> 0.3
    0.30: 0.4 - 0.3 * (0.3 / 0.7),  # 7 positive (0.3 itself included): TP 4, FP 3 -> 0.271429
    0.50: 0.3 - 0.2 * 1.0,  # 5 positive: TP 3, FP 2 -> 0.1
    0.75: 0.2,  # 2 positive: TP 2, FP 0
    0.95: 0.0,  # nobody positive
}


def test_net_benefit_matches_the_hand_worked_example():
    thresholds = list(HAND)
    np.testing.assert_allclose(net_benefit(Y, P, thresholds), list(HAND.values()), atol=1e-12)
    assert net_benefit(Y, P, [0.1])[0] == pytest.approx(0.344444, abs=1e-6)
    assert net_benefit(Y, P, [0.3])[0] == pytest.approx(0.271429, abs=1e-6)


def test_a_prediction_equal_to_the_threshold_counts_as_positive():
    # p >= pt: at pt = 0.3 the participant with p = 0.3 (a non-event) is treated
    at_tie = net_benefit(Y, P, [0.3])[0]
    strictly_above = 0.4 - 0.2 * (0.3 / 0.7)  # what p > pt would give (TP 4, FP 2)
    assert at_tie == pytest.approx(0.4 - 0.3 * (0.3 / 0.7))
    assert at_tie != pytest.approx(strictly_above)


def test_treat_all_formula():
    # phi - (1 - phi) * pt / (1 - pt) with phi = 0.4
    np.testing.assert_allclose(
        net_benefit_treat_all(0.4, [0.1, 0.2, 0.4, 0.5]),
        [0.4 - 0.6 / 9, 0.4 - 0.6 * 0.25, 0.0, -0.2],
        atol=1e-12,
    )
    # treat-all equals the model that predicts p = 1 for everyone
    t = [0.05, 0.2, 0.6]
    np.testing.assert_allclose(net_benefit(Y, np.ones(10), t), net_benefit_treat_all(0.4, t))
    # treat-none equals the model that predicts 0 for everyone
    np.testing.assert_allclose(net_benefit(Y, np.zeros(10), t), 0.0)
    # a perfect model gains the full prevalence at every threshold
    np.testing.assert_allclose(net_benefit(Y, Y.astype(float), t), 0.4)


def test_decision_curve_frame():
    curve = decision_curve(Y, P, thresholds=list(HAND))
    assert list(curve.columns) == [
        "threshold",
        "net_benefit_model",
        "net_benefit_treat_all",
        "net_benefit_treat_none",
    ]
    np.testing.assert_allclose(curve["net_benefit_model"], list(HAND.values()), atol=1e-12)
    np.testing.assert_allclose(
        curve["net_benefit_treat_all"], 0.4 - 0.6 * curve["threshold"] / (1 - curve["threshold"])
    )
    assert (curve["net_benefit_treat_none"] == 0.0).all()


def test_default_thresholds_are_exact_multiples_of_005():
    assert DEFAULT_THRESHOLDS.size == 19
    assert DEFAULT_THRESHOLDS[0] == 0.05
    assert DEFAULT_THRESHOLDS[2] == 0.15  # np.arange(0.05, 0.96, 0.05) gives 0.15000000000000002
    assert DEFAULT_THRESHOLDS[-1] == 0.95
    curve = decision_curve([1, 0], [0.15, 0.15])
    row = curve.loc[curve["threshold"] == 0.15].iloc[0]
    # both rows are treated at pt = 0.15: TP 1, FP 1
    assert row["net_benefit_model"] == pytest.approx(0.5 - 0.5 * 0.15 / 0.85)


def test_decision_curve_with_participant_bootstrap_bands():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(100), 2)
    lp = np.repeat(rng.normal(0, 1.5, 100), 2) + rng.normal(0, 0.3, 200)
    y = (rng.random(200) < expit(lp)).astype(int)
    curve = decision_curve(y, expit(lp), groups=groups, n_boot=200, seed=1)
    for name in ("net_benefit_model", "net_benefit_treat_all"):
        assert (curve[f"{name}_ci_low"] <= curve[name] + 1e-12).all()
        assert (curve[name] <= curve[f"{name}_ci_high"] + 1e-12).all()
    # a useful model beats both defaults in the middle of the threshold range
    mid = curve.loc[curve["threshold"] == 0.5].iloc[0]
    assert mid["net_benefit_model"] > max(mid["net_benefit_treat_all"], 0.0)
    again = decision_curve(y, expit(lp), groups=groups, n_boot=200, seed=1)
    assert again.equals(curve)


def test_single_class_is_allowed():
    # net benefit is defined without events (every treated participant is a false positive)
    np.testing.assert_allclose(net_benefit([0, 0], [0.3, 0.6], [0.5]), [-0.5])


def test_errors():
    with pytest.raises(ConfigError, match="strictly between 0 and 1.*found 1.0"):
        net_benefit(Y, P, [0.5, 1.0])
    with pytest.raises(ConfigError, match="strictly between 0 and 1.*found 0.0"):
        decision_curve(Y, P, thresholds=[0.0])
    with pytest.raises(ConfigError, match="non-empty"):
        net_benefit(Y, P, [])
    with pytest.raises(DataError, match="values 0 and 1 only"):
        net_benefit([0, 2], [0.1, 0.2], [0.5])
    with pytest.raises(DataError, match=r"probabilities in \[0, 1\]"):
        decision_curve([0, 1], [0.1, 1.2])
    with pytest.raises(DataError, match="one participant id per row"):
        decision_curve(Y, P, groups=np.arange(5))
