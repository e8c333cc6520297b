"""The report's internal-validation section: the nested grouped cross-validation in words.

Also the outer folds of the best model with their inner-loop scores.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from eih_ml.report.formatting import ci_level, num

if TYPE_CHECKING:
    from eih_ml.run_record import RunSummary


def validation_scheme(config: dict[str, Any], summary: RunSummary, task: str) -> dict[str, Any]:
    """The internal-validation section: the nested grouped CV in words and the outer folds."""
    cv = config.get("cv") or {}
    boot = config.get("bootstrap") or {}
    search = config.get("search") or {}
    scoring = search.get("scoring", "auroc")
    choice = summary.model_choice.rule if summary.model_choice else "the best primary metric"
    strat = {
        "classification": "stratified on the responder label",
        "multiclass": "stratified on the three classes",
    }.get(task, "stratified on quintiles of EIH")
    items = [
        (
            "Outer loop (performance)",
            f"{cv.get('outer_folds', '?')}-fold cross-validation, grouped by participant "
            f"(every session of a person in the same fold), {strat}; "
            + (
                f"repeated {cv['repeats']} times with different fold assignments"
                if int(cv.get("repeats", 1) or 1) > 1
                else "not repeated"
            ),
        ),
        (
            "Inner loop (tuning)",
            f"{cv.get('inner_folds', '?')}-fold participant-grouped cross-validation inside each "
            f"outer training set; random search of {search.get('n_iter', '?')} candidate "
            "hyper-parameter settings, scored by "
            + (
                "log loss (calibration counts as well as ranking)"
                if scoring == "log_loss" and task != "regression"
                else "AUROC"
                if task != "regression"
                else "mean squared error"
            ),
        ),
        (
            "Preprocessing",
            "imputation, scaling and biomarker limit-of-detection handling are fitted inside each "
            "training fold only (no information from the test participants)",
        ),
        (
            "Recalibration",
            "none"
            if cv.get("calibration", "none") == "none"
            else f"{cv.get('calibration')} calibration on participant-grouped inner folds",
        ),
        (
            "Confidence intervals",
            f"percentile bootstrap over participants ({boot.get('n_resamples', '?')} resamples), "
            f"{ci_level(config)} %",
        ),
        (
            "Performance estimate",
            "out-of-fold predictions pooled over the outer test folds; no external validation",
        ),
        (
            "Final model",
            f"chosen by {choice}, tuned on grouped folds of all participants and refitted on "
            "all of them",
        ),
    ]
    folds = []
    best = summary.models.get(summary.best_model)
    for f in best.folds if best is not None else []:
        folds.append(
            {
                "repeat": f.get("repeat"),
                "fold": f.get("fold"),
                "train": f.get("n_train_participants"),
                "test": f.get("n_test_participants"),
                "inner": _inner_score(f.get("inner_score"), task, scoring),
            }
        )
    score = (
        {
            "classification": "inner-loop AUROC of the chosen setting",
            "multiclass": "inner-loop macro AUROC (one vs rest) of the chosen setting",
        }
        if scoring == "auroc"
        else {
            "classification": "inner-loop log loss of the chosen setting (lower is better)",
            "multiclass": "inner-loop log loss of the chosen setting (lower is better)",
        }
    ).get(task, "inner-loop RMSE of the chosen setting")
    return {"steps": items, "folds": folds, "score": score}


def _inner_score(score: float | None, task: str, scoring: str = "auroc") -> str:
    """The inner-loop score as a reader knows it.

    AUROC as it is, log loss from its negative, or RMSE from the negative MSE.
    """
    if score is None:
        return "–"
    if task in ("classification", "multiclass"):
        return num(-score if scoring == "log_loss" else score, 3)
    return num(math.sqrt(-score), 1) if score <= 0 else num(score, 1)
