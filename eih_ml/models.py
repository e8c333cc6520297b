"""Model factory: a scikit-learn Pipeline per model family, with its search space.

Everything learned from data sits inside the Pipeline (the leakage rule, ARCHITECTURE.md), so each
training fold refits it:

=============== ==================================================================================
model           preprocessing
=============== ==================================================================================
elastic_net     median imputation + missing-value indicators + standardisation; one-hot
                categories; biomarkers: LOD substitution, log/sqrt, imputation, scaling.
                Penalised logistic regression (saga, elastic net) or ElasticNet on a
                standardised target.
random_forest   median imputation + missing-value indicators; one-hot categories; biomarker
                transform. (Not scikit-learn's native missing-value routing: shap's TreeExplainer
                does not follow it, and SHAP additivity would break.)
xgboost         one-hot categories; biomarker transform; native missing values.
=============== ==================================================================================

Penalised, low-parameter models are preferred for cohorts of EIH-study size (Riley et al. 2019;
EIH_REFERENCE.md section 6).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

if TYPE_CHECKING:
    import pandas as pd
    from numpy.typing import ArrayLike
    from sklearn.base import BaseEstimator
    from sklearn.compose import ColumnTransformer
    from sklearn.model_selection import RandomizedSearchCV
    from sklearn.pipeline import Pipeline

from eih_ml.errors import ConfigError
from eih_ml.features.derive import CATEGORICAL

Task = Literal["classification", "multiclass", "regression"]
#: Tasks whose model is a classifier (predict_proba).
CLASSIFIER_TASKS = ("classification", "multiclass")


@dataclass(frozen=True)
class FeatureLayout:
    """Which input columns go through which preprocessing branch."""

    categorical: tuple[str, ...]
    biomarker: tuple[str, ...]
    numeric: tuple[str, ...]

    @classmethod
    def of(cls, features: list[str]) -> FeatureLayout:
        """Split model features into categorical, biomarker and numeric columns."""
        cat = tuple(f for f in features if f in CATEGORICAL)
        bio = tuple(f for f in features if f.startswith("bio_"))
        num = tuple(f for f in features if f not in cat and f not in bio)
        return cls(cat, bio, num)


def _categorical_branch() -> Pipeline:
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    return make_pipeline(
        SimpleImputer(strategy="constant", fill_value="missing"),
        OneHotEncoder(handle_unknown="ignore", sparse_output=False, min_frequency=5),
    )


def phenotype_columns(features: list[str], phenotypes: dict) -> list[str]:
    """The model features the phenotype clustering reads.

    ``features.phenotype.features``, or the QST and questionnaire features of
    :data:`eih_ml.phenotypes.DEFAULT_FEATURES`.
    """
    from eih_ml.phenotypes.analysis import DEFAULT_FEATURES

    wanted = phenotypes.get("features") or DEFAULT_FEATURES
    return [f for f in wanted if f in features and f not in CATEGORICAL]


def make_preprocessor(
    model: str,
    features: list[str],
    biomarkers: dict | None = None,
    phenotypes: dict | None = None,
    seed: int = 0,
) -> ColumnTransformer:
    """The ColumnTransformer of a model family (see the module docstring).

    ``phenotypes`` (the ``features.phenotype`` settings) adds a branch of
    :class:`~eih_ml.phenotypes.PhenotypeClusters`: the cluster membership probabilities
    ``phenotype_1`` ... ``phenotype_k`` of the QST and questionnaire features, fitted on each
    training fold like every other branch.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from eih_ml.features.biomarkers import BiomarkerTransformer

    layout = FeatureLayout.of(features)
    bio_args = biomarkers or {}
    linear = model == "elastic_net"
    # Random forests impute too: shap's TreeExplainer does not follow scikit-learn's native
    # missing-value routing, so TreeSHAP would lose additivity on rows with missing values.
    impute = model in ("elastic_net", "random_forest")
    branches = []
    if layout.numeric:
        if impute:
            steps = [SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True)]
            num = make_pipeline(*steps, StandardScaler()) if linear else make_pipeline(*steps)
        else:
            num = "passthrough"
        branches.append(("num", num, list(layout.numeric)))
    if layout.categorical:
        branches.append(("cat", _categorical_branch(), list(layout.categorical)))
    if layout.biomarker:
        bio = BiomarkerTransformer(**bio_args)
        if linear:
            bio = make_pipeline(
                bio, SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler()
            )
        elif impute:
            bio = make_pipeline(bio, SimpleImputer(strategy="median", keep_empty_features=True))
        branches.append(("bio", bio, list(layout.biomarker)))
    if phenotypes is not None:
        from eih_ml.phenotypes.transformer import PhenotypeClusters

        cols = phenotype_columns(features, phenotypes)
        if len(cols) < 2:
            raise ConfigError(
                "features.blocks.phenotype needs at least 2 QST or questionnaire features to "
                f"cluster; the model has {', '.join(cols) or 'none'}. Fix: turn the qst and "
                "psychological blocks on, or list features.phenotype.features."
            )
        clusters = PhenotypeClusters(
            n_components=int(phenotypes.get("n_components", 3)),
            covariance_type=str(phenotypes.get("covariance_type", "diag")),
            random_state=seed,
        )
        branches.append(("phenotype", clusters, cols))
    return ColumnTransformer(branches, verbose_feature_names_out=False)


def _unknown_model(model: str) -> ConfigError:
    return ConfigError(
        f"Unknown model {model!r}; models: elastic_net, random_forest, xgboost (and each "
        "with _dist, a distributional model of EIH)."
    )


def make_estimator(model: str, task: Task, seed: int = 0) -> BaseEstimator:
    """The final estimator of a model family with sensible defaults (tuned by the search)."""
    if model == "elastic_net":
        if task in CLASSIFIER_TASKS:
            from sklearn.linear_model import LogisticRegression

            return LogisticRegression(
                solver="saga", l1_ratio=0.5, C=0.1, max_iter=5000, tol=1e-3, random_state=seed
            )
        from sklearn.compose import TransformedTargetRegressor
        from sklearn.linear_model import ElasticNet
        from sklearn.preprocessing import StandardScaler

        return TransformedTargetRegressor(
            regressor=ElasticNet(alpha=0.1, l1_ratio=0.5, max_iter=5000, random_state=seed),
            transformer=StandardScaler(),
        )
    if model == "random_forest":
        from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

        cls = RandomForestClassifier if task in CLASSIFIER_TASKS else RandomForestRegressor
        return cls(
            n_estimators=100, min_samples_leaf=10, max_features=0.5, n_jobs=1, random_state=seed
        )
    if model == "xgboost":
        from xgboost import XGBClassifier, XGBRegressor

        common = {
            "n_estimators": 150,
            "learning_rate": 0.05,
            "max_depth": 3,
            "subsample": 0.8,
            "colsample_bytree": 0.8,
            "min_child_weight": 5,
            "tree_method": "hist",
            "n_jobs": 1,
            "random_state": seed,
        }
        if task == "multiclass":  # softmax over the three classes
            return XGBClassifier(objective="multi:softprob", eval_metric="mlogloss", **common)
        if task == "classification":
            return XGBClassifier(eval_metric="logloss", **common)
        return XGBRegressor(**common)
    raise _unknown_model(model)


def make_pipeline(
    model: str,
    features: list[str],
    task: Task,
    *,
    seed: int = 0,
    biomarkers: dict | None = None,
    phenotypes: dict | None = None,
) -> Pipeline:
    """A Pipeline ``prep -> model`` for one model family.

    Parameters
    ----------
    model : {"elastic_net", "random_forest", "xgboost"}
    features : list of str
        Model feature columns (from :func:`eih_ml.features.derive.model_features`).
    task : {"classification", "multiclass", "regression"}
    seed : int
        Random state of the estimator.
    biomarkers : dict, optional
        Keyword arguments of :class:`~eih_ml.features.biomarkers.BiomarkerTransformer`.
    phenotypes : dict, optional
        ``features.phenotype`` settings when phenotype membership is a model feature.
    """
    from sklearn.pipeline import Pipeline

    return Pipeline(
        [
            ("prep", make_preprocessor(model, features, biomarkers, phenotypes, seed)),
            ("model", make_estimator(model, task, seed)),
        ]
    )


def search_space(model: str, task: Task) -> dict:
    """Random-search distributions (parameter names prefixed for the Pipeline)."""
    from scipy.stats import loguniform, randint, uniform

    if model == "elastic_net":
        if task in CLASSIFIER_TASKS:
            return {"model__C": loguniform(1e-3, 10.0), "model__l1_ratio": uniform(0.05, 0.9)}
        return {
            "model__regressor__alpha": loguniform(1e-3, 1.0),
            "model__regressor__l1_ratio": uniform(0.05, 0.9),
        }
    if model == "random_forest":
        return {
            "model__min_samples_leaf": randint(3, 40),
            "model__max_features": uniform(0.2, 0.6),
            "model__max_depth": [None, 3, 5, 8],
        }
    if model == "xgboost":
        return {
            "model__learning_rate": loguniform(0.01, 0.2),
            "model__max_depth": randint(2, 6),
            "model__n_estimators": randint(50, 300),
            "model__min_child_weight": randint(1, 20),
            "model__subsample": uniform(0.6, 0.4),
            "model__colsample_bytree": uniform(0.5, 0.5),
            "model__reg_lambda": loguniform(0.1, 10.0),
        }
    raise _unknown_model(model)


def predict_scores(pipeline: BaseEstimator, X: ArrayLike, task: Task) -> np.ndarray:
    """The pipeline's predictions of ``X`` in the form of its task.

    Probability of the positive class (classification), the three class probabilities
    (multiclass: rows x :data:`eih_ml.outcomes.CLASS_NAMES`) or the predicted EIH (regression).
    """
    if task == "multiclass":
        return np.asarray(pipeline.predict_proba(X), dtype=float)
    if task == "classification":
        return pipeline.predict_proba(X)[:, 1]
    return np.asarray(pipeline.predict(X), dtype=float)


def search_scoring(task: Task, scoring: str = "log_loss") -> str:
    """The scikit-learn scorer the hyperparameter search maximises.

    ``scoring`` (``search.scoring``) is ``log_loss`` (minus the log loss, for two or three
    classes alike) or ``auroc`` (AUROC for a binary label, the macro one-vs-rest AUROC for
    three classes). Regression always maximises minus the mean squared error.

    Examples
    --------
    >>> search_scoring("classification"), search_scoring("multiclass", "auroc")
    ('neg_log_loss', 'roc_auc_ovr')
    >>> search_scoring("regression", "auroc")
    'neg_mean_squared_error'
    """
    if task not in CLASSIFIER_TASKS:
        return "neg_mean_squared_error"
    if scoring == "log_loss":
        return "neg_log_loss"
    return {"classification": "roc_auc", "multiclass": "roc_auc_ovr"}[task]


def random_search(
    pipe: Pipeline,
    space: dict,
    X: pd.DataFrame,
    y: np.ndarray | pd.Series,
    inner: list,
    *,
    scoring: str,
    n_iter: int,
    seed: int,
    n_jobs: int | None = None,
) -> RandomizedSearchCV:
    """The hyperparameter search every model family uses, fitted on ``X, y``.

    A random search of ``n_iter`` candidates of ``space`` over the participant-grouped inner
    splits ``inner`` (a list of ``(train, test)`` index pairs, so the search never needs the
    groups), refitted on all rows with the best candidate. A failing candidate raises instead of
    scoring NaN, so a broken pipeline is never silently skipped.

    Parameters
    ----------
    pipe : sklearn.pipeline.Pipeline
        The unfitted pipeline (:func:`make_pipeline`).
    space : dict
        Its search space (:func:`search_space`).
    X, y : array-like
        The training rows and their target.
    inner : list of (ndarray, ndarray)
        The inner splits.
    scoring : str
        A scikit-learn scorer name (:func:`search_scoring`).
    n_iter, seed, n_jobs : int
        Candidates, the search's random state and its parallel jobs.

    Returns
    -------
    sklearn.model_selection.RandomizedSearchCV
        The fitted search (``best_estimator_``, ``best_params_``, ``best_score_``).
    """
    from sklearn.model_selection import RandomizedSearchCV

    search = RandomizedSearchCV(
        pipe,
        space,
        n_iter=n_iter,
        cv=inner,
        scoring=scoring,
        refit=True,
        random_state=seed,
        n_jobs=n_jobs,
        error_score="raise",
    )
    return search.fit(X, y)


def model_matrix(table: pd.DataFrame, features: list[str]) -> pd.DataFrame:
    """The model input: categoricals as object with NaN for missing, everything else float.

    Parameters
    ----------
    table : pandas.DataFrame
        Feature table (:func:`eih_ml.features.derive.derive_features`).
    features : list of str
        Columns to keep, in this order.
    """
    import pandas as pd

    categorical = [c for c in features if c in CATEGORICAL]
    numeric = [c for c in features if c not in CATEGORICAL]
    parts = []
    if numeric:
        block = table[numeric]
        if not all(pd.api.types.is_numeric_dtype(t) for t in block.dtypes):
            block = block.apply(pd.to_numeric, errors="coerce")
        parts.append(
            pd.DataFrame(
                block.to_numpy(dtype=float, na_value=np.nan), index=table.index, columns=numeric
            )
        )
    if categorical:
        cats = table[categorical].astype(object)
        parts.append(cats.where(cats.notna(), np.nan))
    return pd.concat(parts, axis=1)[list(features)]
