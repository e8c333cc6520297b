"""An updated model from an external validation: recalibrated or refitted, with its lineage.

:func:`eih_ml.evaluation.external.recalibration` compares the updates on the validation cohort
with cross-validated estimates; :func:`updated_bundle` builds the chosen one as a
:class:`~eih_ml.bundle.ModelBundle` that predicts, explains and serves like any other:

* ``intercept`` / ``logistic``: the development model wrapped in :class:`RecalibratedModel`,
  whose probabilities (or EIH in kPa) are ``a + b * linear predictor`` re-estimated on the whole
  validation cohort (Steyerberg 2019, Clinical Prediction Models, ch. 20; Van Calster et al.
  2019). The predictors' effects and their SHAP attributions are the development model's; the
  cohort reference (out-of-distribution checks, percentiles) stays the development cohort's,
  which is what the model's inputs were learned from;
* ``refit``: the development pipeline (preprocessing and model, with the development
  hyperparameters) re-estimated on the validation cohort; its reference becomes that cohort.

Either way the prediction sets are re-calibrated on the update's cross-validated predictions
on the validation cohort (honest: each from an update that did not see that participant), and
``meta["update"]`` records the lineage: the model it came from, the method, its parameters,
the validation cohort (size and data digest, never rows), and the validation run.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from eih_ml.errors import ModelError
from eih_ml.external_record import ExternalSummary

if TYPE_CHECKING:
    from eih_ml.bundle import ModelBundle
    from eih_ml.evaluation.external import ExternalValidation
    from eih_ml.models import Task

__all__ = ["UPDATE_METHODS", "RecalibratedModel", "updated_bundle"]

#: Updates that can be materialized, simplest first.
UPDATE_METHODS = ("intercept", "logistic", "refit")


class RecalibratedModel(BaseEstimator):
    """A fitted model whose output is recalibrated: ``a + b * linear predictor``.

    Parameters
    ----------
    estimator : fitted Pipeline
        The development model (kept as it is: ``fit`` re-estimates only ``a`` and ``b``).
    method : {"intercept", "logistic"}
        ``intercept``: ``a`` only (``b = 1``); ``logistic``: both. The linear predictor is the
        log-odds of the estimator's probability (classification) or its prediction in kPa
        (regression, a linear recalibration).
    task : {"classification", "regression"}

    Attributes
    ----------
    intercept_, slope_ : float
        The recalibration fitted by :meth:`fit`.
    classes_ : numpy.ndarray
        The estimator's classes (classification).
    """

    def __init__(
        self,
        estimator: BaseEstimator | None = None,
        method: str = "logistic",
        task: str = "classification",
    ) -> None:
        self.estimator = estimator
        self.method = method
        self.task = task

    def fit(self, X: pd.DataFrame, y: np.ndarray) -> RecalibratedModel:
        """Estimate the recalibration of ``estimator`` on ``X``, ``y``."""
        from eih_ml.evaluation.external import fit_linear, fit_recalibration, to_linear_predictor

        if self.method not in ("intercept", "logistic"):
            raise ModelError(f"method must be intercept or logistic; found {self.method!r}.")
        pred = self._raw(X)
        fit = fit_recalibration if self.task == "classification" else fit_linear
        self.intercept_, self.slope_ = fit(
            np.asarray(y, dtype=float), to_linear_predictor(pred, self.task), self.method
        )
        classes = getattr(self.estimator, "classes_", None)
        if classes is not None:
            self.classes_ = classes
        self.n_features_in_ = getattr(self.estimator, "n_features_in_", X.shape[1])
        return self

    def _raw(self, X: pd.DataFrame) -> np.ndarray:
        from eih_ml.models import predict_scores

        # task: a str parameter (the scikit-learn contract) holding one of models.Task's values
        return np.asarray(predict_scores(self.estimator, X, cast("Task", self.task)), dtype=float)

    def _recalibrated(self, X: pd.DataFrame) -> np.ndarray:
        from eih_ml.evaluation.external import apply_recalibration

        return apply_recalibration(self._raw(X), (self.intercept_, self.slope_), self.task)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Recalibrated probabilities, columns (negative, positive) (classification)."""
        if self.task != "classification":
            raise AttributeError("predict_proba is for classification models")
        p = self._recalibrated(X)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The class at probability 0.5 (classification) or the recalibrated EIH (regression)."""
        if self.task == "classification":
            return self.classes_[(self._recalibrated(X) >= 0.5).astype(int)]
        return self._recalibrated(X)

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "slope_")


def updated_bundle(
    bundle: ModelBundle,
    result: ExternalValidation,
    method: str,
    *,
    model_uri: str = "",
    validation_run: str | None = None,
) -> ModelBundle:
    """The model ``bundle`` updated by ``method`` on an external validation ``result``.

    Parameters
    ----------
    bundle : ModelBundle
        The validated (development) model.
    result : ExternalValidation
        From :func:`eih_ml.evaluation.external.external_validation` of that bundle; it holds the
        validation cohort's model matrix, labels and the cross-validated update predictions.
    method : {"intercept", "logistic", "refit"}
    model_uri : str
        Where ``bundle`` came from (lineage).
    validation_run : str, optional
        The MLflow run of the validation (lineage).

    Raises
    ------
    ModelError
        A method that was not compared on this cohort (three-class models, or ``refit`` without
        the cohort), or an unknown one.
    """
    from sklearn.base import clone

    from eih_ml.bundle import BundleMeta, ModelBundle
    from eih_ml.explain.attribution import unwrap
    from eih_ml.explain.conformal import ConformalCalibration
    from eih_ml.explain.reference import CohortReference

    summary = ExternalSummary.from_mapping(result.summary)
    methods = summary.updating.methods
    if method not in UPDATE_METHODS:
        raise ModelError(f"Unknown update {method!r}; updates: {', '.join(UPDATE_METHODS)}.")
    column = f"pred_{method}"
    if method not in methods or column not in result.predictions.columns or result.X is None:
        raise ModelError(
            f"The update {method!r} was not compared on this validation cohort "
            f"(compared: {', '.join(m for m in methods if m != 'none') or 'none'}); a three-class "
            "model has no updates. Fix: choose one of those, or keep the model as it is."
        )
    task = bundle.task
    frame = result.predictions
    y = frame["y"].to_numpy(float)
    groups = frame["participant_id"].astype(str).to_numpy()
    X = result.X
    reference = bundle.reference
    if method == "refit":
        pipeline = clone(unwrap(bundle.pipeline)).fit(X, y)
        reference = CohortReference.from_training(X, groups)
    else:
        pipeline = RecalibratedModel(unwrap(bundle.pipeline), method, task).fit(X, y)
    level = float(bundle.meta["confidence_level"])
    scores = frame[column].to_numpy(float)
    conformal_levels = ConformalCalibration.fit_levels(
        y, scores, task, {*bundle.offered_levels, level}
    )
    conformal = conformal_levels[f"{level:g}"]
    # Every uncertainty of the update comes from its cross-validated predictions on the
    # validation cohort; the EIH interval was calibrated on the development cohort's EIH and is
    # not carried over (the update changes the model it would bound).
    from eih_ml.explain.venn_abers import VennAbersCalibration

    venn = (
        VennAbersCalibration.fit(y, scores)
        if task == "classification" and bundle.venn_abers is not None
        else None
    )
    cohort = summary.cohort
    meta = {
        **bundle.meta,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "conformal": conformal.to_dict(),
        "conformal_levels": {k: c.to_dict() for k, c in conformal_levels.items()},
        "venn_abers": None if venn is None else venn.to_dict(),
        "eih_interval": None,
        "performance": methods[method].cross_validated,
        "update": {
            "method": method,
            "from": model_uri or "(a model bundle)",
            "from_created": bundle.meta.get("created"),
            "parameters": methods[method].parameters,
            "validation_cohort": {
                "source": cohort.source,
                "n_participants": cohort.n_participants,
                "n_sessions": cohort.n_sessions,
            },
            "validation_run": validation_run,
            "performance_basis": "cross-validated on the validation cohort",
        },
    }
    if method == "refit":
        meta["training_cohort"] = {
            **bundle.meta["training_cohort"],
            "n_participants": reference.n_participants,
            "n_sessions": reference.n_sessions,
            "source": {"kind": "external validation cohort", "path": cohort.source},
            "conditions": reference.categories.get("condition", {}),
            "sex": reference.categories.get("sex", {}),
        }
        if bundle.meta.get("background_mean") is not None:
            from eih_ml.explain.attribution import background_mean

            meta["background_mean"] = background_mean(pipeline, X).tolist()
    return ModelBundle(pipeline, conformal, BundleMeta.from_mapping(meta), reference, venn)
