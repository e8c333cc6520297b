"""Participant-grouped nested cross-validation with an explicit outer loop.

Outer folds are grouped by participant (a participant's sessions never straddle train and test)
and stratified on the label where possible; inner folds, used only for the hyperparameter search,
are grouped the same way inside each outer training set. The outer loop is written out (rather
than ``cross_validate(RandomizedSearchCV(...))``) so that ``groups`` reach the inner search without
metadata routing, and so that a responder threshold estimated from training data (SEM rules) is
re-estimated inside every outer training fold (the leakage rule, ARCHITECTURE.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from eih_ml.config import DistributionalConfig
from eih_ml.errors import ConfigError, DataError
from eih_ml.json_values import json_safe
from eih_ml.models import (
    CLASSIFIER_TASKS,
    Task,
    make_pipeline,
    predict_scores,
    random_search,
    search_scoring,
    search_space,
)
from eih_ml.outcomes import CLASS_NAMES, PROBABILITY_COLUMNS, ResponderRule, class_name, label

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.model_selection import RandomizedSearchCV

#: Inner (tuning) folds: (training positions, test positions) pairs.
InnerSplits = list[tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True)
class Split:
    """One outer split: positions of the training and test rows."""

    repeat: int
    fold: int
    train: np.ndarray
    test: np.ndarray


@dataclass
class FoldFit:
    """What one outer fold learned (hyperparameters, inner score, threshold, the pipeline)."""

    repeat: int
    fold: int
    best_params: dict
    inner_score: float
    threshold: float | None
    n_train_participants: int
    n_test_participants: int
    pipeline: BaseEstimator | None = None


@dataclass
class ModelCV:
    """Out-of-fold predictions of one model over all outer folds and repeats.

    ``oof`` has one row per (analysed row, repeat): position, participant_id, repeat, fold,
    y (label or value under that fold's threshold) and pred (probability or EIH). A multiclass
    model adds the three class probabilities (:data:`~eih_ml.outcomes.PROBABILITY_COLUMNS`);
    its ``pred`` is the hyperalgesic probability (the risk that decision curves read).
    """

    model: str
    task: Task
    features: list[str]
    oof: pd.DataFrame
    folds: list[FoldFit] = field(default_factory=list)
    seconds: float = 0.0

    def __repr__(self) -> str:
        return (
            f"<ModelCV {self.model}: {self.task}, {len(self.folds)} outer folds, "
            f"{len(self.oof)} out-of-fold predictions, {self.seconds:.1f} s>"
        )


def check_cv_feasible(
    y_labels: np.ndarray | None,
    groups: np.ndarray,
    outer_folds: int,
    inner_folds: int,
    task: Task = "classification",
) -> None:
    """Raise a clear error when the cohort is too small for the chosen folds.

    Each inner training set must still hold participants of every class (two, or three for
    ``task="multiclass"``).
    """
    n = len(pd.unique(groups))
    need = outer_folds * inner_folds
    if n < need:
        raise DataError(
            f"The cohort has {n} participants with an outcome; {outer_folds} outer x "
            f"{inner_folds} inner folds need at least {need}. Lower cv.outer_folds / "
            "cv.inner_folds (e.g. --set cv.outer_folds=3 --set cv.inner_folds=2) or add data."
        )
    if y_labels is None:
        return
    classes = pd.Series(y_labels).dropna().unique()
    if len(classes) < 2:
        if task == "multiclass" and classes.size:
            only = class_name(task, classes[0])
        else:
            only = "responders" if classes.size and classes[0] == 1 else "non-responders"
        raise DataError(
            f"Every analysed row is one class ({only}): a classifier cannot be trained. "
            "Choose another responder rule or threshold (outcome.rule, outcome.pct_threshold), "
            "or use outcome.task: regression."
        )
    if task == "multiclass" and len(classes) < len(CLASS_NAMES):
        absent = [c.replace("_", "-") for i, c in enumerate(CLASS_NAMES) if i not in classes]
        raise DataError(
            f"No analysed participant is {' or '.join(absent)} under this rule and threshold: "
            "a three-class model needs all three classes. Choose a lower threshold "
            "(outcome.rule gt0 or sem), or use outcome.task: classification."
        )
    per_class = pd.DataFrame({"y": y_labels, "g": groups}).groupby("y")["g"].nunique()
    if per_class.min() < outer_folds:
        minority = class_name(task, per_class.index.to_numpy(float)[per_class.argmin()])
        if task == "multiclass":
            minority = f"class {minority}"
        raise DataError(
            f"Only {per_class.min()} participants have {minority}; each of the "
            f"{outer_folds} outer folds needs at least one. Lower cv.outer_folds, change the "
            "responder rule, or add data."
        )


def outer_splits(
    y_strat: np.ndarray,
    groups: np.ndarray,
    *,
    n_splits: int,
    repeats: int = 1,
    seed: int = 0,
) -> list[Split]:
    """Participant-grouped outer splits, stratified on ``y_strat`` where possible.

    For regression pass quantile bins of the outcome as ``y_strat``. Every split is checked: no
    participant is in both its training and test rows.
    """
    splits = []
    for r in range(repeats):
        parts = grouped_folds(y_strat, groups, n_splits, seed + r, stratify=True)
        for k, (train, test) in enumerate(parts):
            assert not set(groups[train]) & set(groups[test]), "participant in train and test"
            splits.append(Split(r, k, train, test))
    return splits


def grouped_folds(
    y: np.ndarray | None, groups: np.ndarray, n_splits: int, seed: int, *, stratify: bool
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Participant-grouped folds, stratified on ``y`` when every class has enough participants.

    Stratification needs at least ``n_splits`` participants per class; otherwise (a rare class
    in a small training fold) the folds are grouped but not stratified, rather than letting
    scikit-learn warn and stratify badly.
    """
    from sklearn.model_selection import GroupKFold, StratifiedGroupKFold

    if stratify and y is not None:
        per_class = pd.DataFrame({"y": y, "g": groups}).groupby("y")["g"].nunique()
        if len(per_class) > 1 and per_class.min() >= n_splits:
            cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
            return list(cv.split(np.zeros(len(groups)), y, groups))
    cv = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    return list(cv.split(np.zeros(len(groups)), None, groups))


def strat_labels(values: np.ndarray, task: Task, rule: ResponderRule | None) -> np.ndarray:
    """Labels to stratify outer folds on: the responder label or class, or outcome quintiles."""
    if task in CLASSIFIER_TASKS:
        rule = rule or ResponderRule()
        return label(values, rule.threshold(values), task, rule.target).astype(int)
    return pd.qcut(values, q=5, labels=False, duplicates="drop").astype(int)


def inner_cv(
    y: np.ndarray, groups: np.ndarray, task: Task, n_splits: int, seed: int
) -> InnerSplits:
    """Inner (tuning) folds inside an outer training set: grouped, stratified for classification."""
    return grouped_folds(y, groups, n_splits, seed, stratify=task in CLASSIFIER_TASKS)


def tune_model(
    model: str,
    X: pd.DataFrame,
    y: np.ndarray,
    values: np.ndarray,
    groups: np.ndarray,
    inner: InnerSplits,
    *,
    task: Task,
    threshold: float | None,
    target: str,
    n_iter: int,
    seed: int,
    search_seed: int,
    biomarkers: dict | None = None,
    phenotypes: dict | None = None,
    calibration: str = "none",
    scoring: str = "log_loss",
    distributional: DistributionalConfig | None = None,
    n_jobs: int = 1,
) -> tuple[BaseEstimator, RandomizedSearchCV]:
    """The one tuning step of an outer fold and of the final model: random search on ``inner``.

    A direct family is tuned on the labels ``y`` (scored by :func:`search_scoring`) and, for a
    classifier with ``calibration``, recalibrated on grouped inner predictions; a distributional
    family on the continuous ``values`` (:func:`eih_ml.distributional.tune_distributional`).
    ``seed`` seeds the pipeline's estimator, ``search_seed`` the candidates drawn.

    Returns
    -------
    (fitted, search)
        The refitted pipeline and the fitted search (best parameters, inner score).
    """
    from eih_ml.distributional import is_distributional, tune_distributional

    if is_distributional(model):  # a regression of EIH, tuned on the continuous values
        if threshold is None:
            raise ConfigError(
                f"{model} gives the probability of a responder label from a regression of EIH: "
                f"it needs task classification and a responder threshold (task is {task})."
            )
        dist = distributional or DistributionalConfig()
        return tune_distributional(
            model,
            X,
            values,
            inner,
            threshold=float(threshold),
            target=target,
            n_iter=n_iter,
            seed=search_seed,
            biomarkers=biomarkers,
            phenotypes=phenotypes,
            n_jobs=n_jobs,
            groups=groups,
            participant_effect=dist.participant_effect,
            iterations=dist.iterations,
            scale=dist.scale,
        )
    pipe = make_pipeline(
        model, list(X.columns), task, seed=seed, biomarkers=biomarkers, phenotypes=phenotypes
    )
    search = random_search(
        pipe,
        search_space(model, task),
        X,
        y,
        inner,
        scoring=search_scoring(task, scoring),
        n_iter=n_iter,
        seed=search_seed,
        n_jobs=n_jobs,
    )
    fitted = search.best_estimator_
    if task in CLASSIFIER_TASKS and calibration != "none":
        fitted = grouped_calibration(fitted, X, y, inner, calibration)
    return fitted, search


def best_params(search: RandomizedSearchCV) -> dict:
    """A fitted search's best parameters without the Pipeline prefix, as plain values."""
    return {k.removeprefix("model__"): json_safe(v) for k, v in search.best_params_.items()}


def fit_fold(
    split: Split,
    X: pd.DataFrame,
    values: np.ndarray,
    groups: np.ndarray,
    *,
    model: str,
    task: Task,
    rule: ResponderRule | None,
    inner_folds: int,
    n_iter: int,
    seed: int,
    biomarkers: dict | None = None,
    phenotypes: dict | None = None,
    calibration: str = "none",
    keep_model: bool = True,
    scoring: str = "log_loss",
    distributional: DistributionalConfig | None = None,
) -> tuple[FoldFit, np.ndarray, np.ndarray]:
    """Tune on the inner folds of one outer training set, predict its test rows.

    Returns
    -------
    (FoldFit, y_test, predictions)
    """
    tr, te = split.train, split.test
    g_tr = groups[tr]
    threshold = None
    target = rule.target if rule else "hypoalgesia"
    if task in CLASSIFIER_TASKS:
        rule = rule or ResponderRule()
        target = rule.target
        threshold = rule.threshold(values[tr], g_tr)
        y_tr = label(values[tr], threshold, task, rule.target).astype(int)
        y_te = label(values[te], threshold, task, rule.target).astype(int)
        needed = len(CLASS_NAMES) if task == "multiclass" else 2
        if len(np.unique(y_tr)) < needed:
            raise DataError(
                f"Outer fold {split.fold + 1} (repeat {split.repeat + 1}) has a training set "
                f"with {len(np.unique(y_tr))} of the {needed} classes; use fewer folds or "
                "another responder rule."
            )
    else:
        y_tr, y_te = values[tr], values[te]
    fold_seed = seed + 1000 * split.repeat + split.fold
    inner = inner_cv(y_tr, g_tr, task, inner_folds, fold_seed)
    fitted, search = tune_model(
        model,
        X.iloc[tr],
        y_tr,
        values[tr],
        g_tr,
        inner,
        task=task,
        threshold=threshold,
        target=target,
        n_iter=n_iter,
        seed=seed,
        search_seed=fold_seed,
        biomarkers=biomarkers,
        phenotypes=phenotypes,
        calibration=calibration,
        scoring=scoring,
        distributional=distributional,
    )
    return _fold_result(
        split, search, fitted, threshold, groups, X.iloc[te], task, keep_model, y_te
    )


def _fold_result(
    split: Split,
    search: RandomizedSearchCV,
    fitted: BaseEstimator,
    threshold: float | None,
    groups: np.ndarray,
    X_te: pd.DataFrame,
    task: Task,
    keep_model: bool,
    y_te: np.ndarray,
) -> tuple[FoldFit, np.ndarray, np.ndarray]:
    """The FoldFit, test labels and test predictions of one tuned outer fold."""
    tr, te = split.train, split.test
    g_tr = groups[tr]
    pred = predict_scores(fitted, X_te, task)
    fit = FoldFit(
        repeat=split.repeat,
        fold=split.fold,
        best_params=best_params(search),
        inner_score=float(search.best_score_),
        threshold=threshold,
        n_train_participants=len(np.unique(g_tr)),
        n_test_participants=len(np.unique(groups[te])),
        pipeline=fitted if keep_model else None,
    )
    return fit, y_te, pred


def grouped_calibration(
    estimator: BaseEstimator,
    X: pd.DataFrame,
    y: np.ndarray,
    inner_splits: InnerSplits,
    method: str,
) -> CalibratedClassifierCV:
    """Recalibrate probabilities on grouped inner out-of-fold predictions.

    ``CalibratedClassifierCV(ensemble=False)`` fits the calibrator on cross-validated predictions
    from the given participant-grouped splits and refits the tuned estimator on all training rows.
    """
    from sklearn.base import clone
    from sklearn.calibration import CalibratedClassifierCV

    calibrated = CalibratedClassifierCV(
        clone(estimator), method=method, cv=inner_splits, ensemble=False
    )
    return calibrated.fit(X, y)


def nested_cross_validate(
    X: pd.DataFrame,
    values: np.ndarray,
    groups: np.ndarray,
    splits: list[Split],
    *,
    model: str,
    task: Task,
    rule: ResponderRule | None = None,
    inner_folds: int = 3,
    n_iter: int = 8,
    seed: int = 0,
    biomarkers: dict | None = None,
    phenotypes: dict | None = None,
    calibration: str = "none",
    n_jobs: int = 1,
    keep_models: bool = True,
    on_fold: Callable[[FoldFit], None] | None = None,
    scoring: str = "log_loss",
    distributional: DistributionalConfig | None = None,
) -> ModelCV:
    """Nested CV of one model over the given outer splits.

    Parameters
    ----------
    X : pandas.DataFrame
        Model matrix (:func:`eih_ml.models.model_matrix`).
    values : array
        Continuous outcome (labels are made per fold from it for classification).
    groups : array
        Participant id of each row.
    splits : list of Split
        From :func:`outer_splits`; identical splits let models be compared pairwise.
    n_jobs : int
        Outer folds fitted in parallel processes.
    on_fold : callable, optional
        Called after each outer fold (progress bars).
    """
    runs = nested_cross_validate_many(
        X,
        values,
        groups,
        splits,
        [CVRun(model, model, list(X.columns), keep_models)],
        task=task,
        rule=rule,
        inner_folds=inner_folds,
        n_iter=n_iter,
        seed=seed,
        biomarkers=biomarkers,
        phenotypes=phenotypes,
        calibration=calibration,
        n_jobs=n_jobs,
        on_fold=None if on_fold is None else lambda _name, fit: on_fold(fit),
        scoring=scoring,
        distributional=distributional,
    )
    return next(iter(runs))


@dataclass(frozen=True)
class CVRun:
    """One nested CV among several sharing outer splits: its name, model and feature columns."""

    name: str
    model: str
    features: list[str]
    keep_models: bool = True


def _timed_fit_fold(
    split: Split, X: pd.DataFrame, values: np.ndarray, groups: np.ndarray, **kwargs: Any
) -> tuple[float, tuple[FoldFit, np.ndarray, np.ndarray]]:
    start = time.perf_counter()
    out = fit_fold(split, X, values, groups, **kwargs)
    return time.perf_counter() - start, out


def _oof_frame(split: Split, groups: np.ndarray, y: np.ndarray, pred: np.ndarray) -> pd.DataFrame:
    """The out-of-fold rows of one split (see :class:`ModelCV`)."""
    frame = {
        "position": split.test,
        "participant_id": groups[split.test],
        "repeat": split.repeat,
        "fold": split.fold,
        "y": y,
    }
    if pred.ndim == 2:  # multiclass: pred is the hyperalgesic probability, then each class
        frame["pred"] = pred[:, 0]
        frame |= {c: pred[:, j] for j, c in enumerate(PROBABILITY_COLUMNS)}
    else:
        frame["pred"] = pred
    return pd.DataFrame(frame)


def nested_cross_validate_many(
    X: pd.DataFrame,
    values: np.ndarray,
    groups: np.ndarray,
    splits: list[Split],
    runs: list[CVRun],
    *,
    task: Task,
    rule: ResponderRule | None = None,
    inner_folds: int = 3,
    n_iter: int = 8,
    seed: int = 0,
    biomarkers: dict | None = None,
    phenotypes: dict | None = None,
    calibration: str = "none",
    n_jobs: int = 1,
    on_fold: Callable[[str, FoldFit], None] | None = None,
    scoring: str = "log_loss",
    distributional: DistributionalConfig | None = None,
) -> Iterator[ModelCV]:
    """Several nested CVs over the same outer splits, all their folds in one pool of workers.

    Each run's folds are exactly those :func:`nested_cross_validate` would fit (same splits,
    seeds and search), so the results do not depend on how many runs share the pool. Sharing it
    keeps both workers busy: five outer folds on two workers leave one idle for the last fold of
    every separate run, and the caller can evaluate one run while the workers fit the next.

    Parameters
    ----------
    runs : list of CVRun
        The nested CVs; each sees ``X[run.features]``.
    scoring : {"log_loss", "auroc"}
        What a classifier's inner search maximises (``search.scoring``,
        :func:`eih_ml.models.search_scoring`).
    distributional : DistributionalConfig, optional
        How a distributional model uses a participant's several sessions and its predictive
        ``sigma`` (the config's ``distributional`` section; the defaults when None).
    on_fold : callable, optional
        Called with the run's name and the fold's fit after each outer fold (progress bars).

    Yields
    ------
    ModelCV
        One per run, in the order of ``runs``, as soon as its last fold is in. ``seconds`` is the
        sum of its folds' fitting times (on whichever worker fitted them).
    """
    values = np.asarray(values, dtype=float)
    groups = np.asarray(groups)
    common = {
        "task": task,
        "rule": rule,
        "inner_folds": inner_folds,
        "n_iter": n_iter,
        "seed": seed,
        "biomarkers": biomarkers,
        "phenotypes": phenotypes,
        "calibration": calibration,
        "scoring": scoring,
        "distributional": distributional,
    }
    matrices = [X if list(X.columns) == run.features else X[run.features] for run in runs]
    jobs = [
        (m, split, {**common, "model": run.model, "keep_model": run.keep_models})
        for run, m in zip(runs, matrices, strict=True)
        for split in splits
    ]
    if n_jobs > 1:
        from joblib import Parallel, delayed

        results = Parallel(n_jobs=n_jobs, return_as="generator")(
            delayed(_timed_fit_fold)(split, m, values, groups, **kw) for m, split, kw in jobs
        )
    else:
        results = (_timed_fit_fold(split, m, values, groups, **kw) for m, split, kw in jobs)
    results = iter(results)
    for run, m in zip(runs, matrices, strict=True):
        folds, frames, seconds = [], [], 0.0
        for split in splits:
            took, (fit, y_te, pred) = next(results)
            seconds += took
            folds.append(fit)
            frames.append(_oof_frame(split, groups, y_te, pred))
            if on_fold:
                on_fold(run.name, fit)
        oof = pd.concat(frames, ignore_index=True).sort_values(["repeat", "position"])
        yield ModelCV(
            model=run.model,
            task=task,
            features=list(m.columns),
            oof=oof.reset_index(drop=True),
            folds=folds,
            seconds=seconds,
        )
