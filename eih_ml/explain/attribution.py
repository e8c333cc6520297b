"""SHAP attributions in clinical terms: one value per clinical input feature.

The fast exact explainer of each model family runs on the transformed features
(``pipeline[:-1].transform(X)``; ``shap.TreeExplainer`` rejects a Pipeline, STACK.md) and the
columns are mapped back to the clinical inputs: one-hot columns, missing-value indicators and
below-LOD indicators are summed into the feature they come from (names and labels from
:mod:`eih_ml.features.metadata`).

=============== ================================== =======================================
model           explainer                          attribution space (``output_space``)
=============== ================================== =======================================
xgboost         TreeSHAP (XGBoost's pred_contribs, log-odds (classification) / kPa
                the values of shap.TreeExplainer)
random_forest   TreeSHAP (shap.TreeExplainer)      probability (classification) / kPa
elastic_net     linear SHAP, interventional:       log-odds (classification) / kPa
                coef x (x - training mean)
=============== ================================== =======================================

A three-class model (``task="multiclass"``) is explained for its hyperalgesic class (the risk a
clinician acts on): TreeSHAP of that class's probability (random forest) or of its softmax margin
(XGBoost's class-0 trees; the multinomial elastic net's class-0 linear predictor),
``output_space`` "probability" or "class margin".

Additivity holds in that space: ``base_value + sum(values) = model output``. XGBoost's TreeSHAP is
read from XGBoost itself (``Booster.predict(..., pred_contribs=True)``): the same algorithm and
values as ``shap.TreeExplainer`` (tested), at a fraction of the cost per call. For an elastic net
regression fitted on a standardised target the values are scaled back to kPa. With a recalibrated
classifier the underlying (uncalibrated) model is explained: calibration is monotone, so the
direction and ranking of contributions are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from eih_ml.explain.preprocess import apply_branches
from eih_ml.features.metadata import source_feature

if TYPE_CHECKING:
    import xgboost
    from sklearn.base import BaseEstimator
    from sklearn.pipeline import Pipeline

    from eih_ml.explain.compiled_prep import CompiledPreprocessor


@dataclass
class Attribution:
    """Attributions of some rows.

    Attributes
    ----------
    base_value : float
        Expected model output over the training data (in ``output_space``).
    values : pandas.DataFrame
        Rows x clinical input features.
    output : numpy.ndarray
        Model output per row in ``output_space`` (``base_value + values.sum(axis=1)``).
    output_space : str
        "log-odds", "probability" or "kPa".
    """

    base_value: float
    values: pd.DataFrame
    output: np.ndarray
    output_space: str


def unwrap(fitted: BaseEstimator) -> Pipeline:
    """The fitted Pipeline inside a recalibrated model (or the pipeline itself).

    A recalibrated model is a ``CalibratedClassifierCV`` (``cv.calibration``) or an
    :class:`eih_ml.evaluation.updating.RecalibratedModel` (a model updated at external
    validation): SHAP explains the model inside, whose predictor effects they keep.
    """
    inner = getattr(fitted, "calibrated_classifiers_", None)
    if inner:
        return inner[0].estimator
    if type(fitted).__name__ == "RecalibratedModel":  # not imported: keeps sklearn lazy here
        return fitted.estimator
    return fitted


class Attributor:
    """Explains a fitted model pipeline (``prep`` -> ``model``) row by row.

    Parameters
    ----------
    pipeline : sklearn.pipeline.Pipeline
        Fitted, or a fitted ``CalibratedClassifierCV`` around one.
    task : {"classification", "multiclass", "regression"}
    background_mean : numpy.ndarray, optional
        Mean of the transformed training features (linear models): the reference point of
        interventional linear SHAP. Stored in the model bundle (an aggregate, not patient data).
    """

    def __init__(
        self, pipeline: BaseEstimator, task: str, background_mean: np.ndarray | None = None
    ) -> None:
        self.pipeline = unwrap(pipeline)
        self.task = task
        self.prep = self.pipeline[:-1]
        self.model = self.pipeline[-1]
        #: A distributional model (eih_ml.distributional): SHAP explains its regressor, the
        #: expected EIH in kPa, which its responder probability follows monotonically.
        self.exceedance = None
        if type(self.model).__name__ == "ExceedanceClassifier":
            self.exceedance = self.model
            self.model = self.model.regressor_
        self.inputs = list(self.prep.feature_names_in_)
        self.transformed_names = [str(n) for n in self.prep.get_feature_names_out()]
        sources = [source_feature(n, self.inputs) for n in self.transformed_names]
        self._groups = pd.Index(sources)
        # Clinical features: inputs (biomarker helper columns fold into their marker) plus
        # indicators the pipeline derives, e.g. bio_panel_missing.
        clinical = [c for c in self.inputs if not c.endswith(("_nd", "_lod"))]
        self.features = clinical + [s for s in dict.fromkeys(sources) if s not in clinical]
        # transformed column -> clinical feature, as a 0/1 matrix: values @ matrix sums them
        self._summation = np.zeros((len(sources), len(self.features)))
        position = {f: j for j, f in enumerate(self.features)}
        for i, src in enumerate(sources):
            self._summation[i, position[src]] = 1.0
        self._kind = self._model_kind()
        #: The class whose output is explained: the responder (binary), the hyperalgesic class.
        self.explained_class = 0 if task == "multiclass" else 1
        self.background_mean = None if background_mean is None else np.asarray(background_mean)
        # shap.TreeExplainer and xgboost.Booster: libraries without type information
        self._tree: Any = None
        self._booster: Any = None
        #: The compiled preprocessing, built on first use (None: it cannot be compiled).
        self._compiled: CompiledPreprocessor | None | Literal[False] = False
        if self._kind == "tree" and hasattr(self.model, "get_booster"):
            # XGBoost's own TreeSHAP (pred_contribs, by shap's author): the values of
            # shap.TreeExplainer (tested to 1e-6; identical on our machines), without its
            # ~0.6 ms of Python per call.
            self._booster = self.model.get_booster()
        elif self._kind == "tree":
            import shap

            self._tree = shap.TreeExplainer(self.model)

    def _model_kind(self) -> str:
        name = type(self.model).__name__
        if name.startswith(("XGB", "RandomForest")):
            return "tree"
        return "linear"

    @property
    def output_space(self) -> str:
        """The space in which attributions add up."""
        if self.task == "regression" or self.exceedance is not None:
            return "kPa"
        if type(self.model).__name__.startswith("RandomForest"):
            return "probability"
        return "class margin" if self.task == "multiclass" else "log-odds"

    def transform(self, X: pd.DataFrame) -> np.ndarray:
        """Model input after preprocessing (see :func:`eih_ml.explain.preprocess.apply_branches`)."""
        return apply_branches(self.prep, X)

    def transform_columns(self, columns: dict[str, np.ndarray]) -> np.ndarray:
        """:meth:`transform` of rows given as named arrays (one per input column).

        The compiled preprocessing (:mod:`eih_ml.explain.compiled_prep`) computes it without
        scikit-learn's per-call checks; a preprocessing it cannot compile runs as fitted.
        """
        if self._compiled is False:
            from eih_ml.explain.compiled_prep import compile_preprocessor

            self._compiled = compile_preprocessor(self.prep)
        if self._compiled is not None:
            return self._compiled.transform(columns)
        return apply_branches(self.prep, pd.DataFrame({c: columns[c] for c in self.inputs}))

    def predict_transformed(self, Xt: np.ndarray) -> np.ndarray:
        """Responder probability, the three class probabilities (multiclass) or predicted EIH."""
        if self.exceedance is not None:
            return self.exceedance.predict_proba(Xt)[:, 1]
        if self.task == "multiclass":
            return np.asarray(self.model.predict_proba(Xt), dtype=float)
        if self.task == "classification":
            return self.model.predict_proba(Xt)[:, 1]
        return np.asarray(self.model.predict(Xt), dtype=float)

    def explain(self, X: pd.DataFrame, Xt: np.ndarray | None = None) -> Attribution:
        """Attributions per clinical input feature for each row of ``X``.

        ``Xt`` may pass the already transformed rows (saves running the preprocessing twice).
        """
        Xt = self.transform(X) if Xt is None else Xt
        summed, base = self.contributions(Xt)
        values = pd.DataFrame(summed, columns=self.features, index=X.index)
        return Attribution(base, values, base + values.sum(axis=1).to_numpy(), self.output_space)

    def predict_and_explain(self, Xt: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """:meth:`predict_transformed` and :meth:`contributions` of the same rows at once.

        For XGBoost both read one DMatrix; the predictions are those of ``predict_proba`` /
        ``predict`` (tested equal).
        """
        if self._booster is not None and len(Xt):
            import xgboost

            dm = xgboost.DMatrix(Xt)
            scores = np.asarray(self._booster.predict(dm), dtype=float)
            if self.exceedance is not None:  # the booster gives the expected EIH
                scores = self.exceedance.probability_from_mean(Xt, scores)
            summed, base = self._xgboost_contributions(dm)
            return scores, summed, base
        summed, base = self.contributions(Xt)
        return self.predict_transformed(Xt), summed, base

    def _xgboost_contributions(self, dm: xgboost.DMatrix) -> tuple[np.ndarray, float]:
        raw = np.asarray(self._booster.predict(dm, pred_contribs=True), dtype=float)
        if raw.ndim == 3:  # multi:softprob: (rows, classes, features + 1); the explained class
            raw = raw[:, self.explained_class, :]
        # the last column is the bias: the same expected value on every row
        return raw[:, :-1] @ self._summation, float(raw[0, -1])

    def contributions(self, Xt: np.ndarray) -> tuple[np.ndarray, float]:
        """Attributions (rows x :attr:`features`) and base value of already transformed rows."""
        if self._booster is not None:
            import xgboost

            if len(Xt):
                return self._xgboost_contributions(xgboost.DMatrix(Xt))
            # no rows (XGBoost warns on an empty DMatrix): the bias read from a row of NaN
            _, base = self._xgboost_contributions(
                xgboost.DMatrix(np.full((1, Xt.shape[1]), np.nan))
            )
            return np.empty((0, len(self.features))), base
        if self._kind == "tree":
            if type(self.model).__name__.startswith("RandomForest"):
                # scikit-learn's trees split on float32 values: explain what they compare.
                Xt = Xt.astype(np.float32)
            raw = self._tree.shap_values(Xt)
            base = self._tree.expected_value
            raw = np.asarray(raw)
            if raw.ndim == 3:  # (rows, features, classes): the explained class
                raw = raw[:, :, self.explained_class]
                base = np.asarray(base).reshape(-1)[self.explained_class]
            base = float(np.asarray(base).reshape(-1)[0])
        else:
            raw, base = self._linear(Xt)
        return raw @ self._summation, base

    def _linear(self, Xt: np.ndarray) -> tuple[np.ndarray, float]:
        model = self.model
        scale, shift = 1.0, 0.0
        if hasattr(model, "regressor_"):  # TransformedTargetRegressor on a standardised target
            scale = float(model.transformer_.scale_[0])
            shift = float(model.transformer_.mean_[0])
            model = model.regressor_
        coef = np.asarray(model.coef_, dtype=float)
        row = self.explained_class if coef.ndim == 2 and coef.shape[0] > 1 else 0
        coef = coef[row] if coef.ndim == 2 else coef.reshape(-1)
        intercept = float(np.asarray(model.intercept_).reshape(-1)[row])
        mean = self.background_mean if self.background_mean is not None else np.zeros(len(coef))
        values = (Xt - mean) * coef * scale
        base = (intercept + float(mean @ coef)) * scale + shift
        return values, base


def background_mean(pipeline: BaseEstimator, X: pd.DataFrame) -> np.ndarray:
    """Mean of the transformed training features (the linear SHAP reference point)."""
    prep = unwrap(pipeline)[:-1]
    return np.asarray(prep.transform(X), dtype=float).mean(axis=0)


def model_output(
    pipeline: BaseEstimator, X: pd.DataFrame, task: str, output_space: str
) -> np.ndarray:
    """The model's output in ``output_space`` (to check additivity)."""
    inner = unwrap(pipeline)
    if task == "regression":
        return np.asarray(inner.predict(X), dtype=float)
    if output_space == "kPa":  # a distributional classifier: its expected EIH
        return inner[-1].predict_mean(apply_branches(inner[:-1], X))
    if output_space == "class margin":  # multiclass: the hyperalgesic class's raw score
        model = inner[-1]
        Xt = apply_branches(inner[:-1], X)
        if hasattr(model, "get_booster"):
            return np.asarray(model.predict(Xt, output_margin=True), dtype=float)[:, 0]
        return np.asarray(model.decision_function(Xt), dtype=float)[:, 0]
    p = inner.predict_proba(X)[:, 0 if task == "multiclass" else 1]
    if output_space == "probability":
        return p
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))
