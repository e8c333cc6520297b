"""Responder probabilities from the continuous outcome: P(EIH > threshold) from a regression.

A responder label is a dichotomy of a continuous change score measured once (between-session
ICC about 0.5; EIH_REFERENCE.md section 3). Dichotomizing first throws information away (Altman
& Royston 2006, BMJ 332:1080): a model of the label sees only which side of the threshold each
training EIH fell, while a model of EIH sees how far. A *distributional* model family
(``elastic_net_dist``, ``random_forest_dist``, ``xgboost_dist``) regresses EIH on the features
and turns the regression into the probability of the label through a predictive distribution::

    EIH | x  ~  Normal(mu(x), sigma^2)
    P(responder | x) = P(EIH > t | x) = Phi((mu(x) - t) / sigma)          (hypoalgesia)
    P(hyperalgesic | x) = P(EIH < -t | x) = Phi((-t - mu(x)) / sigma)     (hyperalgesia)

``mu`` is the family's regressor, tuned on the continuous EIH (mean squared error) in the same
participant-grouped inner folds as the classifiers. ``sigma`` is the root mean squared error of
the tuned regressor's *cross-validated* predictions on those inner folds (never its in-sample
residuals, which would make a flexible model over-confident). The threshold ``t`` is the fold's
responder threshold (the rule's, estimated on training participants only).

**Every session a participant has.** Most participants have several sessions, and their EIH
values share the participant's own propensity (between-session ICC about 0.5). With
``distributional.participant_effect: random_intercept`` the regressor is fitted as
the fixed part of a random-intercept model of sessions, by the alternating algorithm of
mixed-effects random forests (Hajjem, Bellavance & Larocque 2014, J Stat Comput Simul 84:1313):
fit ``mu`` on EIH minus each participant's estimated intercept ``b_i``, re-estimate the
intercepts as shrunken (BLUP) means of the participant's residuals, repeat. The intercepts'
variance ``tau^2`` and the sessions' ``s^2`` are method-of-moments (one-way ANOVA) estimates::

    b_i = n_i tau^2 / (n_i tau^2 + s^2) * mean_i(EIH - mu(x))

A new patient's intercept is unknown (0 in expectation), so predictions are ``mu(x)`` and
``sigma`` stays the RMSE of cross-validated predictions for *held-out participants*, which
contains ``tau^2``. What the intercepts could buy is a less noisy target for ``mu``. Measured
in ``bench/bench_signal.py`` (same folds and searches, 5 simulated cohorts of 400) it bought
nothing: AUROC -0.0005 (SD 0.0046) for ``xgboost_dist`` and -0.0026 (SD 0.0029) for
``elastic_net_dist``, and a higher calibration slope. Baseline features are constant within a
participant, so the intercepts and the trait effects compete for the same variation; the
default stays ``independent`` (every session on its own, folds grouped by participant) and the
mixed fit is an option, to be measured on a cohort before it is preferred.

**A per-patient sigma.** Pressure-pain thresholds have multiplicative (log-normal) trial
noise, so the spread of EIH grows with the patient's baseline PPT. With
``distributional.scale: heteroscedastic`` ``sigma`` becomes ``sigma(x)``, a Gamma GLM with log
link of the cross-validated squared residuals (:func:`fit_scale_model`), kept within 0.25-4
times the constant ``sigma``. On synthetic data with noise SD ``2 + x0`` it recovers the SD
within 15% and keeps the 95% coverage within 2.5 points in the low- and high-noise rows
(tests/test_distributional.py). Measured in ``bench/bench_scale.py`` (ridge regressor of the
baseline measures, trained on a simulated cohort of 400 participants, scored on another, 3
seeds) it did not help: log loss 0.5193 vs 0.5164 (constant) and calibration slope 0.82 vs
0.85 for ``t = 0``; 0.6134 vs 0.6104 and 0.83 vs 0.88 for ``t = 30`` kPa; 90% coverage in the
top baseline-PPT quartile 0.81-0.90 (constant) and 0.83-0.93 (heteroscedastic); Spearman
correlation of ``sigma(x)`` with ``|EIH - expected EIH|`` 0.04-0.18. A stronger penalty
(``alpha = 3``) tied the constant model on the simulator (log loss 0.5168 / 0.6092) but shrank
the known-truth ``sigma(x)`` beyond the 15% tolerance. The default stays ``constant``; the option is there for a cohort where it is
measured better.

The family is offered beside the direct classifiers and compared with them in the same nested CV
on identical folds (paired differences with CIs, ``evaluation.compare``); it explains the
expected EIH in kPa (SHAP of ``mu``, which the probability follows monotonically).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Self

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone

from eih_ml.config import DIST_SUFFIX
from eih_ml.errors import ConfigError, ModelError

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike
    from sklearn.model_selection import RandomizedSearchCV
    from sklearn.pipeline import Pipeline

    from eih_ml.evaluation.nested_cv import InnerSplits

#: Suffix of a distributional family: ``xgboost_dist`` is XGBoost's regressor of EIH.
SUFFIX = DIST_SUFFIX


def is_distributional(model: str) -> bool:
    """True for a distributional family name (``elastic_net_dist``, ...)."""
    return model.endswith(SUFFIX)


def base_family(model: str) -> str:
    """The regression family behind a model name (``xgboost_dist`` -> ``xgboost``)."""
    return model.removesuffix(SUFFIX)


def exceedance_probability(
    mean: np.ndarray, scale: float | np.ndarray, threshold: float, target: str = "hypoalgesia"
) -> np.ndarray:
    """P(EIH > threshold) (or P(EIH < -threshold) for hyperalgesia) under Normal(mean, scale²).

    ``scale`` is one ``sigma`` or one per row.

    Examples
    --------
    A predicted EIH one residual SD above the threshold is a responder with probability
    Phi(1) = 0.841:

    >>> round(float(exceedance_probability(np.array([30.0]), 10.0, 20.0)[0]), 3)
    0.841
    >>> round(float(exceedance_probability(np.array([-30.0]), 10.0, 20.0, "hyperalgesia")[0]), 3)
    0.841
    """
    from scipy.special import ndtr

    mean = np.asarray(mean, dtype=float)
    if target == "hyperalgesia":
        return ndtr((-threshold - mean) / scale)
    return ndtr((mean - threshold) / scale)


class ExceedanceClassifier(ClassifierMixin, BaseEstimator):
    """A binary classifier from a regressor of EIH and a Normal predictive distribution.

    ``fit`` takes the **continuous** EIH (kPa or %) as ``y``, not labels: the label is defined
    by ``threshold`` and ``target``. ``predict_proba`` gives [P(not), P(label)].

    Parameters
    ----------
    regressor : estimator
        A scikit-learn regressor of EIH.
    threshold : float
        The responder threshold ``t`` on EIH (0 for the ``gt0`` rule).
    target : {"hypoalgesia", "hyperalgesia"}
        Label 1 is EIH > t (hypoalgesia) or EIH < -t (hyperalgesia).
    scale_folds : int
        Folds of the cross-validation that estimates ``sigma`` in :meth:`fit` (grouped by
        ``groups`` when given).
    random_state : int
        Shuffling of those folds.
    scale : {"constant", "heteroscedastic"}
        One ``sigma`` for every patient (the default), or a per-patient ``sigma(x)`` from a
        variance model of the cross-validated squared residuals (:func:`fit_scale_model`); not
        the default because it did not score better on the simulator (module docstring).

    Attributes
    ----------
    regressor_ : estimator
        The fitted regressor (``mu``).
    scale_ : float
        ``sigma``: RMSE of the regressor's cross-validated predictions.
    scale_model_ : estimator or None
        With ``scale="heteroscedastic"``: the variance model of :func:`fit_scale_model`
        (read by :meth:`predict_scale`); None otherwise.
    participant_effect_ : dict or None
        Set by :func:`tune_distributional`: the random-intercept model's variance components
        (:func:`random_intercept_fit`), or None when sessions were fitted as independent.
    classes_ : numpy.ndarray
        ``[0, 1]``.
    """

    def __init__(
        self,
        regressor: BaseEstimator | None = None,
        threshold: float = 0.0,
        target: str = "hypoalgesia",
        scale_folds: int = 3,
        random_state: int = 0,
        scale: str = "constant",
    ) -> None:
        self.regressor = regressor
        self.threshold = threshold
        self.target = target
        self.scale_folds = scale_folds
        self.random_state = random_state
        self.scale = scale

    def fit(self, X: ArrayLike, y: ArrayLike, groups: ArrayLike | None = None) -> Self:
        """Fit ``mu`` on all rows and ``sigma`` from cross-validated residuals.

        Raises
        ------
        ModelError
            ``y`` holds only 0 and 1: labels, not the continuous EIH this model needs.
        """
        from sklearn.model_selection import GroupKFold, KFold, cross_val_predict

        y = np.asarray(y, dtype=float)
        if y.size and np.isin(y, (0.0, 1.0)).all():
            raise ModelError(
                "A distributional model is fitted on the continuous EIH, and these targets are "
                "0/1 labels. Fit it on the EIH values (the label follows from its threshold)."
            )
        regressor = self.regressor
        if regressor is None:
            from sklearn.linear_model import Ridge

            regressor = Ridge()
        n = len(y)
        folds = max(2, min(self.scale_folds, n))
        if groups is not None and len(np.unique(groups)) >= folds:
            cv = list(GroupKFold(folds).split(X, y, groups))
        else:
            cv = list(KFold(folds, shuffle=True, random_state=self.random_state).split(X))
        oof = cross_val_predict(clone(regressor), X, y, cv=cv)
        self.regressor_ = clone(regressor).fit(X, y)
        self.scale_ = residual_scale(y, oof)
        self.scale_model_ = (
            fit_scale_model(X, oof, y - oof) if _check_scale(self.scale) == HETERO else None
        )
        self.classes_ = np.array([0, 1])
        self.n_features_in_ = getattr(self.regressor_, "n_features_in_", np.shape(X)[1])
        return self

    @classmethod
    def from_fitted(
        cls,
        regressor: BaseEstimator,
        scale: float,
        threshold: float,
        target: str = "hypoalgesia",
        scale_model: BaseEstimator | None = None,
    ) -> Self:
        """Wrap an already fitted regressor and a ``sigma`` estimated outside (the nested CV).

        ``scale_model`` (from :func:`fit_scale_model`) makes the classifier heteroscedastic.
        """
        model = cls(
            regressor=regressor,
            threshold=threshold,
            target=target,
            scale=CONSTANT if scale_model is None else HETERO,
        )
        model.regressor_ = regressor
        model.scale_ = float(scale)
        model.scale_model_ = scale_model
        model.classes_ = np.array([0, 1])
        if hasattr(regressor, "n_features_in_"):
            model.n_features_in_ = regressor.n_features_in_
        return model

    def predict_mean(self, X: ArrayLike) -> np.ndarray:
        """The expected EIH ``mu(x)``."""
        return np.asarray(self.regressor_.predict(X), dtype=float)

    def predict_scale(self, X: ArrayLike, mean: np.ndarray | None = None) -> np.ndarray:
        """``sigma(x)`` of each row: ``scale_`` everywhere unless heteroscedastic.

        ``mean`` may pass the already computed ``mu(x)`` of the rows.
        """
        n = np.shape(X)[0]
        model = getattr(self, "scale_model_", None)
        if model is None:
            return np.full(n, self.scale_)
        mean = self.predict_mean(X) if mean is None else np.asarray(mean, dtype=float)
        return predict_scale_model(model, X, mean, self.scale_)

    def probability_from_mean(self, X: ArrayLike, mean: np.ndarray) -> np.ndarray:
        """P(label 1) of rows ``X`` whose ``mu(x)`` is ``mean`` (the fast paths' entry)."""
        scale = self.predict_scale(X, mean)
        return exceedance_probability(mean, scale, self.threshold, self.target)

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """``[1 - p, p]`` with p the probability of label 1."""
        p = self.probability_from_mean(X, self.predict_mean(X))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: ArrayLike) -> np.ndarray:
        """Label 1 where its probability is at least 0.5."""
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)


#: ``distributional.scale`` values.
CONSTANT, HETERO = "constant", "heteroscedastic"
#: ``sigma(x)`` is kept within these multiples of the constant ``sigma``.
SCALE_BOUNDS = (0.25, 4.0)


def _check_scale(scale: str) -> str:
    if scale not in (CONSTANT, HETERO):
        raise ConfigError(
            f"distributional.scale must be {CONSTANT!r} or {HETERO!r}; found {scale!r}."
        )
    return scale


def _scale_inputs(X: ArrayLike, mean: np.ndarray) -> np.ndarray:
    Z = np.asarray(X, dtype=float)
    return np.column_stack([np.asarray(mean, dtype=float).reshape(-1), Z.reshape(len(Z), -1)])


def fit_scale_model(
    X: ArrayLike, mean: np.ndarray, residuals: np.ndarray, alpha: float = 0.01
) -> BaseEstimator:
    """A variance model ``E[r^2 | x] = exp(b0 + z.b)`` of cross-validated residuals ``r``.

    Under the Normal predictive model ``r^2 / sigma(x)^2`` is chi-squared with 1 degree of
    freedom, a Gamma variable of shape 1/2: the squared residuals are fitted by a Gamma GLM with
    log link (variance function ``mu^2``), the classical model of variance heterogeneity in
    normal regression (Aitkin 1987, Appl Stat 36:332; Smyth 1989, J R Stat Soc B 51:47).
    The inputs ``z`` are the predicted mean (``mean``, cross-validated) and the model's
    features ``X`` (the preprocessing output), median-imputed (XGBoost's matrix keeps NaN) and
    standardised; ``alpha`` is an L2 penalty on ``b``.

    Returns
    -------
    sklearn.pipeline.Pipeline
        Imputer, scaler and ``GammaRegressor``; read by :func:`predict_scale_model`.
    """
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import GammaRegressor
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    r2 = np.asarray(residuals, dtype=float) ** 2
    r2 = np.maximum(r2, 1e-6 * max(float(r2.mean()), 1e-12))  # Gamma needs r^2 > 0
    model = Pipeline(
        [
            ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
            ("scale", StandardScaler()),
            ("gamma", GammaRegressor(alpha=alpha, max_iter=300)),
        ]
    )
    return model.fit(_scale_inputs(X, mean), r2)


def predict_scale_model(
    model: BaseEstimator, X: ArrayLike, mean: np.ndarray, scale: float
) -> np.ndarray:
    """``sigma(x) = sqrt(E[r^2 | x])``, within :data:`SCALE_BOUNDS` times ``scale``."""
    sigma = np.sqrt(np.asarray(model.predict(_scale_inputs(X, mean)), dtype=float))
    return np.clip(sigma, SCALE_BOUNDS[0] * scale, SCALE_BOUNDS[1] * scale)


def residual_scale(y: np.ndarray, predicted: np.ndarray) -> float:
    """``sigma``: the root mean squared error of (cross-validated) predictions, at least 1e-6.

    >>> residual_scale(np.array([1.0, 2.0, 3.0]), np.array([1.0, 1.0, 5.0]))
    1.2909944487358056
    """
    resid = np.asarray(y, dtype=float) - np.asarray(predicted, dtype=float)
    return max(float(np.sqrt(np.mean(resid**2))), 1e-6)


def random_intercept_fit(
    estimator: BaseEstimator,
    X: ArrayLike,
    y: ArrayLike,
    groups: ArrayLike,
    iterations: int = 3,
) -> tuple[BaseEstimator, dict]:
    """Fit ``estimator`` as the fixed part of a random-intercept model of sessions.

    The alternating algorithm of mixed-effects random forests (Hajjem et al. 2014): fit on
    ``y - b[group]``, estimate the intercepts ``b`` from the fit's residuals, repeat;
    ``iterations`` fits in all (1 is the ordinary fit). The variance components are the
    one-way ANOVA (method-of-moments) estimates from the residuals, the intercepts their BLUPs.

    Parameters
    ----------
    estimator : estimator
        A scikit-learn regressor (or pipeline); cloned, never modified.
    X, y : array-like
        Rows (sessions) and their continuous EIH.
    groups : array
        Participant of each row.
    iterations : int
        Number of fits; the last one is returned.

    Returns
    -------
    (fitted, components)
        The last fit, and ``{"intercept_sd", "session_sd", "participants_with_repeats"}``
        (``intercept_sd`` is 0 when no participant has two sessions).

    Examples
    --------
    Two participants with two sessions each, a constant model, intercepts +-10, sessions +-1:

    >>> from sklearn.dummy import DummyRegressor
    >>> y = np.array([11.0, 9.0, -9.0, -11.0])
    >>> fit, comp = random_intercept_fit(DummyRegressor(), np.zeros((4, 1)), y, np.array([0, 0, 1, 1]))
    >>> round(comp["intercept_sd"], 2), round(comp["session_sd"], 2)
    (9.95, 1.41)
    """
    y = np.asarray(y, dtype=float)
    _, inv = np.unique(np.asarray(groups), return_inverse=True)
    n = np.bincount(inv).astype(float)
    repeated = n > 1
    b = np.zeros(len(y))
    tau2 = s2 = 0.0
    fitted = None
    for k in range(max(1, iterations)):
        fitted = clone(estimator).fit(X, y - b)
        if k == iterations - 1:
            break
        resid = y - np.asarray(fitted.predict(X), dtype=float)
        mean = np.bincount(inv, resid) / n
        within = resid - mean[inv]
        dof = len(y) - len(n)
        if dof <= 0 or not repeated.any():
            break  # one session each: the intercept cannot be told from the session noise
        s2 = float((within**2).sum() / dof)
        tau2 = max(float(np.var(mean[repeated]) - s2 * np.mean(1.0 / n[repeated])), 0.0)
        b = (n * tau2 / (n * tau2 + s2) * mean)[inv] if s2 > 0 else mean[inv]
    components = {
        "intercept_sd": float(np.sqrt(tau2)),
        "session_sd": float(np.sqrt(s2)),
        "participants_with_repeats": int(repeated.sum()),
    }
    return fitted, components


def tune_distributional(
    model: str,
    X: pd.DataFrame,
    values: np.ndarray,
    inner_splits: InnerSplits,
    *,
    threshold: float,
    target: str,
    n_iter: int,
    seed: int,
    biomarkers: dict | None = None,
    phenotypes: dict | None = None,
    n_jobs: int = 1,
    groups: np.ndarray | None = None,
    participant_effect: str = "independent",
    iterations: int = 3,
    scale: str = "constant",
) -> tuple[Pipeline, RandomizedSearchCV]:
    """Tune a distributional family on the continuous EIH; return the classifier pipeline.

    The regressor of :func:`base_family` is tuned by random search on the given (participant-
    grouped, label-stratified) inner splits, scored by mean squared error of EIH. ``sigma`` is
    the RMSE of the tuned regressor's predictions cross-validated on the same splits. With
    ``participant_effect="random_intercept"`` and ``groups``, the tuned setting is then refitted
    as the fixed part of a random-intercept model (:func:`random_intercept_fit`), in each inner
    training set for ``sigma`` and on all rows for the model; the search itself compares the
    candidates on the sessions as they are. With ``scale="heteroscedastic"`` a variance model
    (:func:`fit_scale_model`) of those cross-validated residuals gives a per-patient ``sigma``.

    Returns
    -------
    (pipeline, search)
        ``prep -> ExceedanceClassifier`` (fitted on all rows given) and the fitted
        ``RandomizedSearchCV`` (best parameters and inner score, a negative MSE).
    """
    from sklearn.model_selection import cross_val_predict
    from sklearn.pipeline import Pipeline

    from eih_ml.models import make_pipeline, random_search, search_space

    _check_scale(scale)
    base = base_family(model)
    values = np.asarray(values, dtype=float)
    pipe = make_pipeline(
        base, list(X.columns), "regression", seed=seed, biomarkers=biomarkers,
        phenotypes=phenotypes,
    )  # fmt: skip
    search = random_search(
        pipe,
        search_space(base, "regression"),
        X,
        values,
        inner_splits,
        scoring="neg_mean_squared_error",
        n_iter=n_iter,
        seed=seed,
        n_jobs=n_jobs,
    )
    best = search.best_estimator_
    if participant_effect == "random_intercept" and groups is not None:
        groups = np.asarray(groups)
        oof = np.full(len(values), np.nan)
        for tr, te in inner_splits:
            fold_fit, _ = random_intercept_fit(best, X.iloc[tr], values[tr], groups[tr], iterations)
            oof[te] = fold_fit.predict(X.iloc[te])
        best, components = random_intercept_fit(best, X, values, groups, iterations)
    else:
        oof = cross_val_predict(clone(best), X, values, cv=inner_splits, n_jobs=n_jobs)
        components = None
    scale_model = None
    if scale == HETERO:
        Z = best.named_steps["prep"].transform(X)
        scale_model = fit_scale_model(Z, oof, values - oof)
    classifier = ExceedanceClassifier.from_fitted(
        best.named_steps["model"], residual_scale(values, oof), threshold, target, scale_model
    )
    classifier.participant_effect_ = components
    return Pipeline([("prep", best.named_steps["prep"]), ("model", classifier)]), search
