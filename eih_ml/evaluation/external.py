"""External validation of a trained model on a new cohort, model updating and meta-analysis.

A model is believed when it holds in data it has not seen (TRIPOD+AI, Collins 2024 BMJ 385:e078378;
Riley 2024 BMJ series on clinical prediction models; Debray 2015 J Clin Epidemiol 68:279).
:func:`external_validation` scores a new cohort *exactly* as at training (the model bundle's
loader, validation, feature rules and responder threshold: nothing is re-learned from the new
cohort) and reports:

* discrimination, calibration (intercept = calibration-in-the-large, slope, observed/expected),
  Brier, flexible calibration curve and decision curve, with participant-bootstrap CIs;
* subgroups (sex, condition, age band, pain-modulation profile);
* case mix: the standardized difference of every feature between the development cohort (the
  means and SDs the bundle keeps) and the validation cohort, and, when the development data are
  given, a membership model's cross-validated AUROC (Debray 2015: 0.5 = same case mix);
* the share of patients flagged out of distribution;
* per-site results pooled by random-effects meta-analysis when the cohort has a ``site`` column
  (:func:`eih_ml.evaluation.sites.site_results`);
* model updating when calibration fails (Steyerberg 2019, Clinical Prediction Models, ch. 20;
  Van Calster 2019 BMC Med 17:230): recalibration in the large (a new intercept) and logistic
  recalibration (intercept and slope on the linear predictor), each estimated by
  participant-grouped cross-validation on the validation cohort and compared with the model as
  it is; the simplest update that lowers the cross-validated Brier score (or RMSE) by more than
  its bootstrap noise is recommended.

Per-site estimates are pooled by :func:`eih_ml.evaluation.meta_analysis.random_effects_meta`.

Participant-level predictions are returned for the user's own output folder only; the summary
holds aggregates (privacy rule).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from eih_ml.errors import DataError
from eih_ml.external_record import (
    CaseMix,
    ExternalSummary,
    ModelUpdating,
    ValidatedModel,
    ValidationCohort,
)

if TYPE_CHECKING:
    from sklearn.base import BaseEstimator

    from eih_ml.bundle import ModelBundle
    from eih_ml.data.load import StudyTable
    from eih_ml.explain.reference import CohortReference
    from eih_ml.models import Task

#: Subgroup axes of an external validation.
SUBGROUPS = ("sex", "condition", "age_band", "pain_modulation_profile")
_EPS = 1e-12


@dataclass
class ExternalValidation:
    """The result of :func:`external_validation`.

    Attributes
    ----------
    summary : ExternalSummary
        Aggregates only (:class:`eih_ml.external_record.ExternalSummary`): metrics with CIs,
        curves, subgroups, case mix, OOD share, updating, notes. It also reads like the dict it
        replaces (``summary["metrics"]["auroc"]``).
    predictions : pandas.DataFrame
        One row per scored session: participant_id, session_id, y, pred, ood, and the
        cross-validated prediction of each update (``pred_intercept``, ``pred_logistic``,
        ``pred_refit``). Participant-level: for the user's own output folder, never for MLflow
        or logs.
    X : pandas.DataFrame
        The validation cohort's model matrix (participant-level), for :mod:`updating`.
    """

    summary: ExternalSummary
    predictions: pd.DataFrame = field(repr=False)
    X: pd.DataFrame | None = field(default=None, repr=False)


def external_validation(  # noqa: C901 - a sequence of independent checks or steps; split in a tested refactor (#21)
    bundle: ModelBundle,
    raw: StudyTable | pd.DataFrame,
    *,
    n_boot: int = 500,
    alpha: float = 0.05,
    seed: int = 0,
    subgroups: tuple[str, ...] = SUBGROUPS,
    age_bands: tuple[float, ...] = (40.0, 60.0),
    min_subgroup_participants: int = 20,
    thresholds: tuple[float, ...] = tuple(np.round(np.arange(0.05, 0.96, 0.05), 2)),
    development: StudyTable | pd.DataFrame | None = None,
) -> ExternalValidation:
    """Validate ``bundle`` (:class:`eih_ml.bundle.ModelBundle`) on a new cohort ``raw``.

    Parameters
    ----------
    bundle : ModelBundle
        The trained model (a run folder or the registry: :func:`eih_ml.tracking.load_model`).
    raw : StudyTable or pandas.DataFrame
        The validation cohort, with pre and post PPTs (the outcome), already mapped through its
        column dictionary (:func:`eih_ml.data.load.load_study`).
    n_boot, alpha, seed : int, float, int
        Participant bootstrap of every CI.
    development : StudyTable or DataFrame, optional
        The development cohort, for the membership model of the case-mix comparison.

    Raises
    ------
    DataError
        No row of the validation cohort has the model's outcome, or (classification) only one
        outcome class is present.
    """
    from eih_ml.evaluation.bootstrap import bootstrap_metrics
    from eih_ml.evaluation.evaluate import (
        clean_dict,
        curves,
        evaluate_subgroups,
        metric_fn,
        predictions,
        subgroup_labels,
    )
    from eih_ml.outcomes import label

    task = bundle.task
    outcome = bundle.meta.outcome
    name = outcome.outcome
    report, table = bundle.derive(raw, require_outcome=True)
    notes = list(report.notes) if hasattr(report, "notes") else []
    if name not in table.columns or table[name].notna().sum() == 0:
        raise DataError(
            f"The validation cohort has no value of the model's outcome {name} (pre and post "
            f"PPT at the same site as in the development cohort); found outcomes: "
            f"{', '.join(sorted(c for c in table.columns if c.startswith('eih_'))) or 'none'}."
        )
    has = table[name].notna().to_numpy()
    if (~has).any():
        notes.append(f"{int((~has).sum())} session(s) without {name} were left out.")
    table = table.loc[has].reset_index(drop=True)
    values = table[name].to_numpy(float)
    if task in ("classification", "multiclass"):
        threshold = float(bundle.meta.get("threshold") or 0.0)
        y = label(values, threshold, task, bundle.target)
        needed = 3 if task == "multiclass" else 2
        if len(np.unique(y)) < needed:
            from eih_ml.outcomes import CLASS_NAMES

            found = ", ".join(
                (CLASS_NAMES[int(c)] if task == "multiclass" else str(int(c))) for c in np.unique(y)
            )
            raise DataError(
                f"The scored sessions of the validation cohort fall in {len(np.unique(y))} of the "
                f"{needed} outcome classes ({name} against the development threshold "
                f"{threshold:g}; found {found}): discrimination and calibration cannot be "
                "estimated. Fix: validate on a cohort in which every class occurs."
            )
    else:
        threshold, y = None, values
    prepared = bundle.predict_prepared(table, derived=True)
    rows, X = prepared.table, prepared.matrix
    groups = table["participant_id"].astype(str).to_numpy()
    frame = {
        "participant_id": groups,
        "session_id": table["session_id"].astype(str).to_numpy(),
        "repeat": 0,
        "position": np.arange(len(y)),
        "y": y,
    }
    if task == "multiclass":  # pred: the chance of hyperalgesia; the metrics read every class
        from eih_ml.outcomes import PROBABILITY_COLUMNS

        frame["pred"] = rows["p_hyperalgesic"].to_numpy(float)
        frame |= {c: rows[c].to_numpy(float) for c in PROBABILITY_COLUMNS}
    else:
        frame["pred"] = rows["probability" if task == "classification" else "eih_kpa"].to_numpy(
            float
        )
    oof = pd.DataFrame(frame)
    pred = predictions(oof, task)
    fn = metric_fn(task)
    metrics = bootstrap_metrics(y, pred, groups, fn, n_boot=n_boot, alpha=alpha, seed=seed)
    updated: dict[str, np.ndarray] = {}
    if task != "multiclass":
        updating = recalibration(
            y, pred, groups, task, n_boot=min(n_boot, 200), seed=seed, pipeline=bundle.pipeline, X=X
        )
        updated = updating.pop("cross_validated_predictions")  # participant-level: kept apart
    else:
        updating = {
            "note": "Model updating of a three-class model (multinomial recalibration, Van "
            "Hoorde 2014) is not implemented; its per-class calibration is reported above."
        }
    summary_metrics = clean_dict(metrics.as_dict())
    if task == "classification":
        summary_metrics["observed_expected"] = float(np.sum(y) / max(np.sum(pred), _EPS))
    mix = case_mix(bundle.reference, X, groups)
    parts: dict[str, Any] = {}
    if task == "multiclass":
        from eih_ml.evaluation.multiclass import confusion

        parts["confusion"] = confusion(y, pred)
    if task == "multiclass" and "site" in table.columns and table["site"].nunique() > 1:
        notes.append(
            "Per-site results (random-effects pooling) are not available for three-class models: "
            "the metrics above pool every site."
        )
    elif "site" in table.columns and table["site"].nunique() > 1:
        from eih_ml.evaluation.sites import site_results

        parts["sites"] = site_results(
            oof, table["site"].astype("string").to_numpy(dtype=object), task,
            n_boot=min(n_boot, 200), alpha=alpha, seed=seed,
        )  # fmt: skip
    if development is not None:
        _, dev_table = bundle.derive(development, require_outcome=False)
        _, X_dev, _ = bundle.matrix(dev_table)
        mix["membership_auroc"] = membership_auroc(
            X_dev,
            X,
            dev_table["participant_id"].astype(str).to_numpy(),
            groups,
            seed=seed,
        )
    summary = ExternalSummary(
        model=ValidatedModel(task=task, outcome=name, target=outcome.target),
        cohort=ValidationCohort(
            source="<DataFrame>"
            if isinstance(raw, pd.DataFrame)
            else str(getattr(raw, "source", "<DataFrame>")),
            n_participants=int(len(np.unique(groups))),
            n_sessions=len(y),
        ),
        threshold=threshold,
        metrics=summary_metrics,
        curves=curves(oof, task, list(thresholds), seed=seed),
        subgroups=evaluate_subgroups(
            oof,
            subgroup_labels(table, list(subgroups), list(age_bands)),
            task,
            min_participants=min_subgroup_participants,
            n_boot=min(n_boot, 200),
            alpha=alpha,
            seed=seed,
        ),
        case_mix=CaseMix.model_validate(mix),
        ood_share=float(np.mean(rows["ood"].to_numpy(bool))),
        updating=ModelUpdating.model_validate(updating),
        notes=notes,
        **parts,
    )
    scored = oof.drop(columns=["repeat", "position"]).assign(ood=rows["ood"].to_numpy(bool))
    for method, values in updated.items():
        if method != "none":
            scored[f"pred_{method}"] = values
    return ExternalValidation(summary=summary, predictions=scored, X=X)


# ------------------------------------------------------------------------------------ case mix
def case_mix(reference: CohortReference, X: pd.DataFrame, groups: np.ndarray) -> dict[str, Any]:
    """Standardized differences (validation - development) of every model input.

    Numeric features: ``(mean_val - mean_dev) / sqrt((sd_dev^2 + sd_val^2) / 2)`` (Austin 2009
    Stat Med 28:3083), from the development means and SDs kept in the bundle. Categories: the
    same for each level's share of participants, ``(p_val - p_dev) / sqrt((p_dev (1 - p_dev) +
    p_val (1 - p_val)) / 2)``. |d| > 0.1 is the usual mark of a relevant difference.
    """
    from eih_ml.features.derive import CATEGORICAL

    numeric, categories = [], []
    first = pd.DataFrame({"g": groups}).drop_duplicates("g").index.to_numpy()
    for col in X.columns:
        if col.endswith(("_nd", "_lod")):
            continue
        if col in CATEGORICAL:
            dev = reference.categories.get(col)
            if not dev:
                continue
            n_dev = sum(dev.values())
            val = X[col].iloc[first].dropna().astype(str).value_counts()
            n_val = int(val.sum())
            for level in sorted(set(dev) | set(val.index)):
                p_dev = dev.get(level, 0) / n_dev if n_dev else math.nan
                p_val = float(val.get(level, 0)) / n_val if n_val else math.nan
                pooled = math.sqrt((p_dev * (1 - p_dev) + p_val * (1 - p_val)) / 2)
                d = (p_val - p_dev) / pooled if pooled > 0 else 0.0
                categories.append(
                    {
                        "feature": col,
                        "level": level,
                        "development_share": p_dev,
                        "validation_share": p_val,
                        "standardized_difference": d,
                    }
                )
            continue
        moments = reference.moments.get(col)
        v = X[col].to_numpy(float)
        v = v[np.isfinite(v)]
        if moments is None or len(v) < 2:
            continue
        m_dev, sd_dev = moments
        pooled = math.sqrt((sd_dev**2 + float(np.var(v, ddof=1))) / 2)
        numeric.append(
            {
                "feature": col,
                "development_mean": m_dev,
                "validation_mean": float(np.mean(v)),
                "standardized_difference": (float(np.mean(v)) - m_dev) / pooled
                if pooled > 0
                else 0.0,
            }
        )
    all_d = [abs(r["standardized_difference"]) for r in numeric + categories]
    return {
        "numeric": numeric,
        "categories": categories,
        "n_relevant": int(sum(d > 0.1 for d in all_d)),
        "largest": max(all_d, default=0.0),
    }


def membership_auroc(
    X_dev: pd.DataFrame,
    X_val: pd.DataFrame,
    groups_dev: np.ndarray,
    groups_val: np.ndarray,
    *,
    folds: int = 5,
    seed: int = 0,
) -> float:
    """Cross-validated AUROC of a model telling the two cohorts apart (Debray 2015).

    A penalised logistic regression on the model's inputs (median imputation and scaling of
    numbers, one-hot categories), participant-grouped folds. 0.5: the cohorts are
    indistinguishable; near 1: a different case mix (or a different measurement).
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from eih_ml.features.derive import CATEGORICAL

    X = pd.concat([X_dev, X_val], ignore_index=True)
    member = np.r_[np.zeros(len(X_dev)), np.ones(len(X_val))].astype(int)
    groups = np.r_[
        np.char.add("dev:", groups_dev.astype(str)), np.char.add("val:", groups_val.astype(str))
    ]
    cats = [c for c in X.columns if c in CATEGORICAL]
    nums = [c for c in X.columns if c not in CATEGORICAL and X[c].notna().any()]
    prep = ColumnTransformer(
        [
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), nums),
            (
                "cat",
                make_pipeline(
                    SimpleImputer(strategy="constant", fill_value="missing"),
                    OneHotEncoder(handle_unknown="ignore"),
                ),
                cats,
            ),
        ]
    )
    model = make_pipeline(prep, LogisticRegression(C=1.0, max_iter=2000))
    X = X.astype(dict.fromkeys(cats, object))
    for c in cats:
        X[c] = X[c].where(X[c].notna(), "missing").astype(str)
    out = np.full(len(X), np.nan)
    cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for tr, te in cv.split(X, member, groups):
        model.fit(X.iloc[tr], member[tr])
        out[te] = model.predict_proba(X.iloc[te])[:, 1]
    return float(roc_auc_score(member, out))


# ------------------------------------------------------------------------------------ updating
def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def fit_recalibration(y: np.ndarray, lp: np.ndarray, method: str) -> tuple[float, float]:
    """(intercept, slope) of ``logit(p') = a + b lp`` by maximum likelihood (Newton steps)."""
    a, b = 0.0, 1.0
    for _ in range(50):
        eta = a + b * lp
        p = 1 / (1 + np.exp(-eta))
        w = np.maximum(p * (1 - p), _EPS)
        r = y - p
        if method == "intercept":
            step = r.sum() / w.sum()
            a += step
            if abs(step) < 1e-10:
                break
            continue
        g = np.array([r.sum(), (r * lp).sum()])
        H = np.array([[w.sum(), (w * lp).sum()], [(w * lp).sum(), (w * lp * lp).sum()]])
        step = np.linalg.solve(H + 1e-9 * np.eye(2), g)
        a, b = a + step[0], b + step[1]
        if np.abs(step).max() < 1e-10:
            break
    return float(a), float(b)


def fit_linear(y: np.ndarray, pred: np.ndarray, method: str) -> tuple[float, float]:
    """(intercept, slope) of ``y = a + b pred`` by least squares (slope 1 for ``intercept``)."""
    if method == "intercept":
        return float(np.mean(y - pred)), 1.0
    b, a = np.polyfit(pred, y, 1)
    return float(a), float(b)


def apply_recalibration(pred: np.ndarray, params: tuple[float, float], task: str) -> np.ndarray:
    """``pred`` updated by ``params`` (intercept, slope), on the logit scale if classification."""
    a, b = params
    if task == "classification":
        return 1 / (1 + np.exp(-(a + b * _logit(pred))))
    return a + b * pred


def recalibration(
    y: np.ndarray,
    pred: np.ndarray,
    groups: np.ndarray,
    task: str,
    *,
    folds: int = 5,
    n_boot: int = 200,
    seed: int = 0,
    pipeline: BaseEstimator | None = None,
    X: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Model updating, cross-validated on the validation cohort (Steyerberg 2019 ch. 20).

    In order of the parameters re-estimated: recalibration in the large (the intercept),
    logistic (linear for regression) recalibration (intercept and slope of the linear
    predictor), and, given the fitted ``pipeline`` and the validation cohort's model matrix
    ``X``, refit (every model parameter re-estimated on the validation cohort with the
    development hyperparameters). Each update is fitted on the participants of k - 1 grouped
    folds and applied to the held-out fold, so its performance is estimated honestly on the
    validation cohort; the parameters reported for use are fitted on all of it.
    ``recommended`` is the simplest update whose cross-validated Brier score (RMSE for
    regression) beats the model as it is with the lower end of a participant-bootstrap 95 %
    interval of the gain above 0 (Van Calster et al. 2019 on preferring the simplest update that
    repairs calibration).

    ``cross_validated_predictions`` (participant-level, never logged) are what a conformal
    calibration of the updated model is fitted on (:mod:`eih_ml.evaluation.updating`).
    """
    from sklearn.model_selection import GroupKFold

    from eih_ml.evaluation.bootstrap import participant_resamples
    from eih_ml.evaluation.evaluate import clean_dict, metric_fn

    fit = fit_recalibration if task == "classification" else fit_linear
    loss_name = "brier" if task == "classification" else "rmse"
    fn = metric_fn(task)
    n_groups = len(np.unique(groups))
    k = max(2, min(folds, n_groups))
    cv_pred = {"none": pred.copy()}
    splits = list(GroupKFold(n_splits=k).split(pred, y, groups))
    for method in ("intercept", "logistic"):
        out = np.full(len(y), np.nan)
        for tr, te in splits:
            if task == "classification" and len(np.unique(y[tr])) < 2:
                out[te] = pred[te]
                continue
            out[te] = apply_recalibration(
                pred[te], fit(y[tr], to_linear_predictor(pred[tr], task), method), task
            )
        cv_pred[method] = out
    if pipeline is not None and X is not None:
        cv_pred["refit"] = _cross_validated_refit(pipeline, X, y, splits, task, pred)

    def loss(p: np.ndarray, idx: np.ndarray) -> float:
        if task == "classification":
            return float(np.mean((p[idx] - y[idx]) ** 2))
        return float(np.sqrt(np.mean((p[idx] - y[idx]) ** 2)))

    everyone = np.arange(len(y))
    methods: dict[str, dict[str, Any]] = {}
    draws = list(participant_resamples(groups, n_boot=n_boot, seed=seed))
    recommended = "none"
    for method in cv_pred:
        p = cv_pred[method]
        entry: dict[str, Any] = {"cross_validated": clean_dict(fn(y, p))}
        if method == "refit":
            entry["parameters"] = {"refit": "every model parameter, development hyperparameters"}
        elif method != "none":
            entry["parameters"] = dict(
                zip(
                    ("intercept", "slope"),
                    fit(y, to_linear_predictor(pred, task), method),
                    strict=True,
                )
            )
        if method != "none":
            gain = loss(cv_pred["none"], everyone) - loss(p, everyone)
            boot = np.array([loss(cv_pred["none"], d) - loss(p, d) for d in draws])
            low = float(np.percentile(boot, 2.5))
            entry[f"{loss_name}_gain"] = gain
            entry[f"{loss_name}_gain_ci_low"] = low
            if recommended == "none" and low > 0:
                recommended = method
        methods[method] = entry
    return {
        "methods": methods,
        "recommended": recommended,
        "loss": loss_name,
        "cross_validated_predictions": cv_pred,
        "note": "logistic recalibration of the linear predictor"
        if task == "classification"
        else "linear recalibration of the predicted EIH",
    }


def _cross_validated_refit(
    pipeline: BaseEstimator,
    X: pd.DataFrame,
    y: np.ndarray,
    splits: list[tuple[np.ndarray, np.ndarray]],
    task: str,
    pred: np.ndarray,
) -> np.ndarray:
    """Out-of-fold predictions of the pipeline refitted on the other folds of the cohort.

    A fold whose training part holds one class only keeps the original predictions (nothing
    to refit a classifier on).
    """
    from sklearn.base import clone

    from eih_ml.explain.attribution import unwrap
    from eih_ml.models import predict_scores

    out = pred.copy()
    template = unwrap(pipeline)
    for tr, te in splits:
        if task == "classification" and len(np.unique(y[tr])) < 2:
            continue
        model = clone(template).fit(X.iloc[tr], y[tr])
        # task: a str holding one of models.Task's values (recalibration's public signature)
        out[te] = np.asarray(predict_scores(model, X.iloc[te], cast("Task", task)), dtype=float)
    return out


def to_linear_predictor(pred: np.ndarray, task: str) -> np.ndarray:
    """``pred`` on the scale recalibration is fitted on: its logit (classification) or itself."""
    return _logit(pred) if task == "classification" else pred


# ------------------------------------------------------------------------------------- writing
def write_external_validation(
    result: ExternalValidation, out_dir: str | Path, model_uri: str = ""
) -> dict[str, str]:
    """Write an external validation's JSON summary, predictions and HTML report into ``out_dir``.

    ``external_validation.json`` (aggregates), ``predictions.csv`` (participant-level, the user's
    own folder) and ``external_validation.html``, each written atomically.

    Returns the paths written.
    """
    from eih_ml.atomic_io import atomic_path, output_folder, write_text

    out = output_folder(out_dir)
    summary = ExternalSummary.from_mapping(result.summary).model_copy(
        update={"model_uri": model_uri}
    )
    paths = {
        "summary": write_text(out / "external_validation.json", summary.to_json()),
        "report": write_text(out / "external_validation.html", validation_html(summary)),
    }
    with atomic_path(out / "predictions.csv") as tmp:
        result.predictions.to_csv(tmp, index=False)
    paths["predictions"] = out / "predictions.csv"
    return {k: str(v) for k, v in paths.items()}


def _fmt(x: float | None, digits: int = 3) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "n/a"
    return f"{x:.{digits}f}"


def validation_html(summary: ExternalSummary | Mapping[str, Any]) -> str:
    """A self-contained HTML report of an external validation (TRIPOD+AI validation items).

    The items: model, validation cohort, case mix, performance with CIs, updating.
    """
    from html import escape

    m = summary["metrics"]
    rows = []
    for key, label in (
        ("auroc", "AUROC (discrimination)"),
        ("auprc", "AUPRC"),
        ("brier", "Brier score"),
        ("calibration_intercept", "Calibration-in-the-large (intercept; 0 is ideal)"),
        ("calibration_slope", "Calibration slope (1 is ideal)"),
        ("r2", "R²"),
        ("rmse", "RMSE (kPa)"),
        ("mae", "MAE (kPa)"),
        ("auroc_macro", "AUROC, macro one vs rest (discrimination)"),
        ("log_loss", "Log loss"),
        ("balanced_accuracy", "Balanced accuracy"),
        *(
            (f"{metric}_{k}", f"{text}, {k.replace('_', '-')}")
            for k in ("hyperalgesic", "non_responder", "hypoalgesic")
            for metric, text in (
                ("auroc", "AUROC vs rest"),
                ("calibration_intercept", "Calibration-in-the-large"),
                ("calibration_slope", "Calibration slope"),
            )
        ),
    ):
        if key in m:
            ci = f"{_fmt(m.get(key + '_ci_low'))} to {_fmt(m.get(key + '_ci_high'))}"
            rows.append(f"<tr><td>{label}</td><td>{_fmt(m[key])}</td><td>{ci}</td></tr>")
    if "observed_expected" in m:
        rows.append(
            f"<tr><td>Observed / expected events</td><td>{_fmt(m['observed_expected'])}</td>"
            "<td></td></tr>"
        )
    mix = summary["case_mix"]
    shifted = sorted(
        mix["numeric"] + mix["categories"], key=lambda r: -abs(r["standardized_difference"])
    )[:10]
    mix_rows = "".join(
        f"<tr><td>{escape(r['feature'])}{' = ' + escape(r['level']) if 'level' in r else ''}"
        f"</td><td>{_fmt(r['standardized_difference'], 2)}</td></tr>"
        for r in shifted
    )
    upd = summary["updating"]
    if "methods" not in upd:  # a three-class model: no updating
        updating = f"<h2>Model updating</h2>\n<p>{escape(str(upd.get('note', '')))}</p>"
    else:
        updating = _updating_html(upd)
    confusion = summary.get("confusion")
    confusion_html = ""
    if confusion:
        head = "".join(f"<th>{escape(c.replace('_', '-'))}</th>" for c in confusion["classes"])
        body = "".join(
            f"<tr><td>{escape(c.replace('_', '-'))}</td>"
            + "".join(f"<td>{n}</td>" for n in counts)
            + "</tr>"
            for c, counts in zip(confusion["classes"], confusion["counts"], strict=True)
        )
        confusion_html = (
            "<h2>Observed (rows) against the most probable class (columns)</h2>\n"
            f"<table><tr><th></th>{head}</tr>{body}</table>"
        )
    cohort = summary["cohort"]
    membership = mix.get("membership_auroc")
    notes = "".join(f"<li>{escape(str(n))}</li>" for n in summary.get("notes", []))
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>External validation</title>
<style>body{{font-family:system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem}}
table{{border-collapse:collapse;margin:0.5rem 0 1.2rem}}td,th{{border:1px solid #ccc;padding:0.3rem
0.6rem;text-align:left}}</style></head><body>
<h1>External validation</h1>
<p>Model <code>{escape(str(summary.get("model_uri", "")))}</code>, outcome
<code>{escape(str(summary["model"]["outcome"]))}</code> ({escape(str(summary["model"]["task"]))},
target {escape(str(summary["model"].get("target")))}; development threshold
{_fmt(summary.get("threshold"), 3)}), scored by the model's own loading, validation and feature
rules: nothing was re-learned from this cohort.</p>
<h2>Validation cohort</h2>
<p>{cohort["n_participants"]} participants, {cohort["n_sessions"]} sessions
(<code>{escape(str(cohort["source"]))}</code>);
{100 * summary["ood_share"]:.0f} % of the sessions flagged outside the development cohort.</p>
{f"<ul>{notes}</ul>" if notes else ""}
<h2>Performance (95 % participant-bootstrap CIs)</h2>
<table><tr><th>measure</th><th>value</th><th>95 % CI</th></tr>{"".join(rows)}</table>
{confusion_html}
<h2>Case mix</h2>
<p>{mix["n_relevant"]} input(s) differ by a standardized difference above 0.1 (largest
{_fmt(mix["largest"], 2)}){"; membership model AUROC " + _fmt(membership, 2) + " (0.5 = same case mix)" if membership is not None else ""}.</p>
<table><tr><th>input</th><th>standardized difference</th></tr>{mix_rows}</table>
{updating}
</body></html>
"""


def _updating_html(upd: Mapping[str, Any]) -> str:
    from html import escape

    upd_rows = "".join(
        f"<tr><td>{escape(name)}</td>"
        f"<td>{_fmt(e['cross_validated'].get('calibration_slope'))}</td>"
        f"<td>{_fmt(e['cross_validated'].get('calibration_intercept'))}</td>"
        f"<td>{_fmt(e['cross_validated'].get(upd['loss']))}</td></tr>"
        for name, e in upd["methods"].items()
    )
    return f"""<h2>Model updating (cross-validated on this cohort)</h2>
<table><tr><th>update</th><th>calibration slope</th><th>calibration-in-the-large</th>
<th>{escape(upd["loss"])}</th></tr>{upd_rows}</table>
<p>Recommended: <strong>{escape(upd["recommended"])}</strong> ({escape(upd["note"])}; the simplest
update whose cross-validated {escape(upd["loss"])} gain has a 95 % interval above 0).</p>"""
