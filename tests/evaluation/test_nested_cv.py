"""Statistical behaviour of the participant-grouped nested cross-validation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from eih_ml.errors import DataError
from eih_ml.evaluation.metrics import classification_metrics
from eih_ml.evaluation.nested_cv import (
    check_cv_feasible,
    inner_cv,
    nested_cross_validate,
    outer_splits,
    strat_labels,
)
from eih_ml.outcomes import ResponderRule


def repeated_measures(n_participants=150, sessions=3, signal=1.0, icc=0.5, seed=0):
    """Participants with several sessions; outcome = signal x feature + participant effect + noise.

    The participant effect is unrelated to the features (between-session reliability ~ icc).
    """
    rng = np.random.default_rng(seed)
    pid = np.repeat([f"P{i:03d}" for i in range(n_participants)], sessions)
    x1 = np.repeat(rng.normal(size=n_participants), sessions)
    x2 = rng.normal(size=n_participants * sessions)
    person = np.repeat(rng.normal(scale=np.sqrt(icc), size=n_participants), sessions)
    noise = rng.normal(scale=np.sqrt(1 - icc), size=len(pid))
    y = signal * x1 + person + noise
    X = pd.DataFrame({"ppt_local_pre": x1, "pain_nrs": x2})
    return X, y, pid, person


@settings(max_examples=25, deadline=None, derandomize=True)
@example(n=12, max_sessions=1, folds=2, seed=124)  # a class with one participant in a fold
@given(
    n=st.integers(min_value=12, max_value=60),
    max_sessions=st.integers(min_value=1, max_value=4),
    folds=st.integers(min_value=2, max_value=4),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_no_participant_is_in_train_and_test_of_any_split(n, max_sessions, folds, seed):
    rng = np.random.default_rng(seed)
    sessions = rng.integers(1, max_sessions + 1, size=n)
    groups = np.repeat(np.arange(n), sessions).astype(str)
    y = rng.integers(0, 2, size=len(groups))
    splits = outer_splits(y, groups, n_splits=folds, repeats=2, seed=seed)
    seen_in_test = []
    for s in splits:
        assert not set(groups[s.train]) & set(groups[s.test])
        for inner_train, inner_test in inner_cv(
            y[s.train], groups[s.train], "classification", 2, 0
        ):
            g = groups[s.train]
            assert not set(g[inner_train]) & set(g[inner_test])
        if s.repeat == 0:
            seen_in_test.extend(s.test)
    assert sorted(seen_in_test) == list(range(len(groups)))  # every row tested once per repeat


def _auroc(cv):
    return classification_metrics(cv.oof["y"].to_numpy(float), cv.oof["pred"].to_numpy(float))[
        "auroc"
    ]


def _run(X, y, groups, model="elastic_net", seed=0, rule=None, folds=5):
    labels = strat_labels(y, "classification", rule)
    splits = outer_splits(labels, groups, n_splits=folds, seed=seed)
    return nested_cross_validate(
        X, y, groups, splits, model=model, task="classification", rule=rule, n_iter=3, seed=seed
    )


@pytest.mark.slow
def test_permuted_outcomes_give_chance_level_auroc():
    """Shuffling outcomes between participants leaves nothing to learn: AUROC 0.5 +/- 0.07."""
    X, y, groups, _ = repeated_measures(n_participants=200, signal=1.5, seed=1)
    real = _auroc(_run(X, y, groups))
    rng = np.random.default_rng(2)
    by_person = pd.Series(y).groupby(groups).transform("mean").to_numpy()
    order = rng.permutation(np.unique(groups))
    mapping = dict(zip(np.unique(groups), order, strict=True))
    donor = pd.Series(by_person, index=groups)
    permuted = np.array([donor[mapping[g]].iloc[0] for g in groups]) + rng.normal(
        scale=0.5, size=len(y)
    )
    aurocs = [_auroc(_run(X, permuted, groups, seed=s)) for s in range(3)]
    assert real > 0.75
    assert abs(np.mean(aurocs) - 0.5) < 0.07, aurocs


@pytest.mark.slow
def test_participant_fingerprint_does_not_inflate_grouped_cv():
    """A leakage sentinel: a feature that identifies the participant (not the outcome).

    With the outcome carrying a participant effect, row-level CV lets a flexible model memorise
    participants through the fingerprint and inflates AUROC; participant-grouped CV does not.
    """
    X, y, groups, _ = repeated_measures(n_participants=200, sessions=3, signal=0.0, icc=0.8)
    rng = np.random.default_rng(5)
    fingerprint = pd.Series(rng.normal(size=len(np.unique(groups))), index=np.unique(groups))
    X = X.assign(ts_diff=fingerprint[groups].to_numpy())
    grouped = _auroc(_run(X, y, groups, model="xgboost"))
    rows_as_groups = np.arange(len(y)).astype(str)  # what row-level CV would do
    leaky = _auroc(_run(X, y, rows_as_groups, model="xgboost"))
    # 200 participants: the SE of a chance AUROC is about 0.045; 0.1 is over two SEs.
    assert abs(grouped - 0.5) < 0.1, grouped
    assert leaky > grouped + 0.08, (leaky, grouped)


def test_training_sem_threshold_is_estimated_in_each_fold():
    X, y, groups, _ = repeated_measures(n_participants=60, sessions=2, signal=1.0, seed=3)
    rule = ResponderRule("sem", icc=0.5, sem_source="training")
    cv = _run(X, y, groups, rule=rule, folds=3)
    thresholds = [f.threshold for f in cv.folds]
    assert len(set(np.round(thresholds, 6))) == 3  # one per training fold
    for f, split in zip(
        cv.folds,
        outer_splits(strat_labels(y, "classification", rule), groups, n_splits=3),
        strict=True,
    ):
        expected = rule.threshold(y[split.train], groups[split.train])
        assert f.threshold == pytest.approx(expected)


def test_grouped_calibration_runs_and_keeps_probabilities_valid():
    X, y, groups, _ = repeated_measures(n_participants=60, sessions=2, signal=1.0, seed=4)
    splits = outer_splits(strat_labels(y, "classification", None), groups, n_splits=3)
    cv = nested_cross_validate(
        X,
        y,
        groups,
        splits,
        model="elastic_net",
        task="classification",
        n_iter=2,
        calibration="sigmoid",
    )
    assert cv.oof["pred"].between(0, 1).all()
    assert type(cv.folds[0].pipeline).__name__ == "CalibratedClassifierCV"


def test_too_small_cohort_and_single_class_are_clear_errors():
    groups = np.array([f"P{i}" for i in range(8)])
    with pytest.raises(
        DataError, match=r"8 participants .* 5 outer x 3 inner folds need at least 15"
    ):
        check_cv_feasible(np.array([0, 1] * 4), groups, 5, 3)
    groups = np.array([f"P{i}" for i in range(40)])
    with pytest.raises(DataError, match=r"Every analysed row is one class \(responders\)"):
        check_cv_feasible(np.ones(40), groups, 5, 3)
    y = np.array([1] * 38 + [0] * 2)
    with pytest.raises(DataError, match=r"Only 2 participants have label 0"):
        check_cv_feasible(y, groups, 5, 3)


def test_runs_sharing_one_pool_equal_separate_runs():
    """Folds of several nested CVs in one pool of two workers give what each run gives alone."""
    from eih_ml.evaluation.nested_cv import CVRun, nested_cross_validate_many

    X, y, groups, _ = repeated_measures(n_participants=60, sessions=2, seed=3)
    X["bmi"] = np.random.default_rng(4).normal(size=len(X))
    splits = outer_splits(strat_labels(y, "classification", None), groups, n_splits=3, seed=0)
    runs = [
        CVRun("elastic_net", "elastic_net", list(X.columns)),
        CVRun("xgboost", "xgboost", list(X.columns)),
        CVRun("xgboost without bmi", "xgboost", ["ppt_local_pre", "pain_nrs"], False),
    ]
    done = []
    shared = list(
        nested_cross_validate_many(
            X,
            y,
            groups,
            splits,
            runs,
            task="classification",
            n_iter=2,
            n_jobs=2,
            on_fold=lambda name, fit: done.append((name, fit.fold)),
        )
    )
    assert [cv.features for cv in shared] == [r.features for r in runs]
    assert sorted(done) == sorted((r.name, s.fold) for r in runs for s in splits)
    assert shared[2].folds[0].pipeline is None and shared[1].folds[0].pipeline is not None
    for run, cv in zip(runs, shared, strict=True):
        alone = nested_cross_validate(
            X[run.features],
            y,
            groups,
            splits,
            model=run.model,
            task="classification",
            n_iter=2,
        )
        pd.testing.assert_frame_equal(cv.oof, alone.oof)
        assert [f.best_params for f in cv.folds] == [f.best_params for f in alone.folds]
        assert cv.seconds > 0


@pytest.mark.slow
def test_permuted_outcomes_give_chance_level_auroc_for_the_hyperalgesia_target():
    """The hyperalgesia label (EIH below -threshold) learns the signal, and nothing once the
    outcomes are shuffled between participants."""
    X, y, groups, _ = repeated_measures(n_participants=200, signal=1.5, seed=3)
    rule = ResponderRule(target="hyperalgesia")
    real = _auroc(_run(X, y, groups, rule=rule))
    rng = np.random.default_rng(4)
    people = np.unique(groups)
    mapping = dict(zip(people, rng.permutation(people), strict=True))
    by_person = pd.Series(y).groupby(groups).mean()
    permuted = by_person[[mapping[g] for g in groups]].to_numpy() + rng.normal(
        scale=0.5, size=len(y)
    )
    aurocs = [_auroc(_run(X, permuted, groups, seed=s, rule=rule)) for s in range(3)]
    assert real > 0.75
    assert abs(np.mean(aurocs) - 0.5) < 0.07, aurocs


@pytest.mark.slow
def test_permuted_outcomes_give_chance_level_macro_auroc_for_three_classes():
    """Three classes (1 SEM either way) learn the signal; shuffled between participants, the
    macro one-vs-rest AUROC falls to chance."""
    from eih_ml.evaluation.multiclass import multiclass_metrics
    from eih_ml.outcomes import PROBABILITY_COLUMNS

    def macro(y, groups, seed):
        rule = ResponderRule(rule="sem", sem_source="training", icc=0.5)
        labels = strat_labels(y, "multiclass", rule)
        splits = outer_splits(labels, groups, n_splits=5, seed=seed)
        cv = nested_cross_validate(
            X, y, groups, splits, model="elastic_net", task="multiclass", rule=rule, n_iter=2,
            seed=seed,
        )  # fmt: skip
        P = cv.oof[list(PROBABILITY_COLUMNS)].to_numpy(float)
        return multiclass_metrics(cv.oof["y"].to_numpy(float), P)["auroc_macro"]

    X, y, groups, _ = repeated_measures(n_participants=200, signal=1.5, seed=5)
    real = macro(y, groups, 0)
    rng = np.random.default_rng(6)
    people = np.unique(groups)
    mapping = dict(zip(people, rng.permutation(people), strict=True))
    by_person = pd.Series(y).groupby(groups).mean()
    permuted = by_person[[mapping[g] for g in groups]].to_numpy() + rng.normal(
        scale=0.5, size=len(y)
    )
    chance = [macro(permuted, groups, s) for s in range(3)]
    assert real > 0.7
    assert abs(np.mean(chance) - 0.5) < 0.07, chance


@pytest.mark.slow
@pytest.mark.parametrize("model", ["elastic_net_dist", "xgboost_dist"])
def test_permuted_outcomes_give_chance_level_auroc_for_distributional_models(model):
    """A regression of EIH learns nothing from shuffled outcomes either: AUROC 0.5 +/- 0.07."""
    X, y, groups, _ = repeated_measures(n_participants=200, signal=1.5, seed=1)
    real = _auroc(_run(X, y, groups, model=model))
    rng = np.random.default_rng(2)
    people = np.unique(groups)
    mapping = dict(zip(people, rng.permutation(people), strict=True))
    by_person = pd.Series(y).groupby(groups).mean()
    permuted = np.array([by_person[mapping[g]] for g in groups]) + rng.normal(
        scale=0.5, size=len(y)
    )
    aurocs = [_auroc(_run(X, permuted, groups, model=model, seed=s)) for s in range(3)]
    assert real > 0.75
    assert abs(np.mean(aurocs) - 0.5) < 0.07, aurocs
