"""The random-intercept model of sessions behind the distributional families (issue 18)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LinearRegression

from eih_ml.distributional import random_intercept_fit


def _sessions(rng, n_participants=200, sessions=3, tau=6.0, s=2.0):
    """y = 3 x + b_participant + e, x varying within participants."""
    groups = np.repeat(np.arange(n_participants), sessions)
    x = rng.normal(size=(len(groups), 1))
    b = rng.normal(0, tau, n_participants)[groups]
    y = 3.0 * x[:, 0] + b + rng.normal(0, s, len(groups))
    return x, y, groups


def test_variance_components_are_recovered():
    x, y, groups = _sessions(np.random.default_rng(0), n_participants=1000)
    fit, comp = random_intercept_fit(LinearRegression(), x, y, groups, iterations=4)
    assert comp["intercept_sd"] == pytest.approx(6.0, rel=0.08)
    assert comp["session_sd"] == pytest.approx(2.0, rel=0.08)
    assert comp["participants_with_repeats"] == 1000
    assert fit.coef_[0] == pytest.approx(3.0, abs=0.05)


def test_removing_the_intercepts_gives_a_less_noisy_fixed_part():
    # The participant's intercept is noise for the fixed part: the ordinary fit carries it into
    # the slope, the random-intercept fit removes most of it (its slope error is far smaller).
    rng = np.random.default_rng(1)
    ordinary, mixed = [], []
    for _ in range(30):
        x, y, groups = _sessions(rng, n_participants=60, sessions=2, tau=10.0, s=1.0)
        ordinary.append(LinearRegression().fit(x, y).coef_[0] - 3.0)
        fit, _ = random_intercept_fit(LinearRegression(), x, y, groups)
        mixed.append(fit.coef_[0] - 3.0)
    rmse = lambda e: float(np.sqrt(np.mean(np.square(e))))  # noqa: E731
    assert rmse(mixed) < 0.5 * rmse(ordinary)


def test_one_iteration_or_one_session_each_is_the_ordinary_fit():
    x, y, groups = _sessions(np.random.default_rng(2), n_participants=50)
    ordinary = LinearRegression().fit(x, y)
    once, _ = random_intercept_fit(LinearRegression(), x, y, groups, iterations=1)
    assert once.coef_ == pytest.approx(ordinary.coef_)
    singles = np.arange(len(y))
    fit, comp = random_intercept_fit(LinearRegression(), x, y, singles)
    assert fit.coef_ == pytest.approx(ordinary.coef_)
    assert comp == {"intercept_sd": 0.0, "session_sd": 0.0, "participants_with_repeats": 0}


def test_the_estimator_given_is_not_modified():
    x, y, groups = _sessions(np.random.default_rng(3), n_participants=30)
    est = LinearRegression()
    random_intercept_fit(est, x, y, groups)
    assert not hasattr(est, "coef_")


def test_tuned_distributional_model_uses_the_intercepts_only_when_asked():
    from eih_ml.distributional import tune_distributional
    from eih_ml.evaluation.nested_cv import grouped_folds

    rng = np.random.default_rng(4)
    x, y, groups = _sessions(rng, n_participants=80, sessions=2, tau=8.0, s=2.0)
    X = pd.DataFrame({"age": x[:, 0] * 10 + 50})
    inner = grouped_folds(y, groups, 3, 0, stratify=False)
    kw = {"threshold": 0.0, "target": "hypoalgesia", "n_iter": 2, "seed": 0}
    mixed, _ = tune_distributional(
        "elastic_net_dist", X, y, inner, groups=groups, participant_effect="random_intercept", **kw
    )
    plain, _ = tune_distributional("elastic_net_dist", X, y, inner, groups=groups, **kw)
    effect = mixed.named_steps["model"].participant_effect_
    assert effect["intercept_sd"] == pytest.approx(8.0, rel=0.35)
    assert plain.named_steps["model"].participant_effect_ is None
    # sigma is the held-out participants' error, which contains the intercepts: both ~ sqrt(8²+2²)
    for m in (mixed, plain):
        assert m.named_steps["model"].scale_ == pytest.approx(np.hypot(8.0, 2.0), rel=0.25)
