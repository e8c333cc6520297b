"""Global explanations of an experiment's best model: SHAP importance, its stability, domains.

Each outer fold's model is explained on that fold's test participants (out-of-fold SHAP), so the
importance describes how the model behaves on people it was not trained on. Stability across
outer folds is reported as the spread of each feature's mean |SHAP| and of its rank
(a feature that is first in one fold and tenth in another is not a robust predictor).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from eih_ml.explain.attribution import Attributor, background_mean
from eih_ml.features.metadata import DOMAINS, feature_info

if TYPE_CHECKING:
    from eih_ml.evaluation.nested_cv import ModelCV


@dataclass
class GlobalExplanation:
    """Out-of-fold SHAP of one model with per-fold importance and domain sums."""

    model: str
    output_space: str
    values: pd.DataFrame  # out-of-fold SHAP, one row per analysed row (first repeat)
    X: pd.DataFrame
    importance: pd.DataFrame  # mean_abs_shap, sd, mean_rank, rank_sd, label, domain
    domains: pd.DataFrame  # mean |sum per domain|
    labels: dict[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        top = ", ".join(self.importance.index[:3])
        return f"<GlobalExplanation {self.model}: top features {top}>"

    def summary(self) -> dict:
        """Aggregates only (safe to log): importance and domain tables."""
        return {
            "model": self.model,
            "output_space": self.output_space,
            "importance": self.importance.reset_index().to_dict(orient="records"),
            "domains": self.domains.reset_index().to_dict(orient="records"),
        }

    def write_artifacts(self, folder: Path) -> Path:
        """Importance tables and SHAP plots (bar, beeswarm, dependence of the top 3)."""
        from eih_ml.report import plots

        folder.mkdir(parents=True, exist_ok=True)
        self.importance.to_csv(folder / "shap_importance.csv")
        self.domains.to_csv(folder / "shap_domains.csv")
        plots.save(plots.importance_figure(self.importance, self.labels), folder / "shap_bar.png")
        plots.save(
            plots.beeswarm_figure(self.values, self.X, self.labels), folder / "shap_beeswarm.png"
        )
        for f in self.importance.index[:3]:
            if f in self.X.columns and pd.api.types.is_numeric_dtype(self.X[f]):
                plots.save(
                    plots.dependence_figure(self.values, self.X, f, self.labels.get(f, f)),
                    folder / f"shap_dependence_{f}.png",
                )
        return folder


def explain_model_cv(
    cv: ModelCV, X: pd.DataFrame, task: str, biomarkers: dict | None = None
) -> GlobalExplanation:
    """Out-of-fold SHAP of a :class:`~eih_ml.evaluation.nested_cv.ModelCV` with kept pipelines."""
    folds = [f for f in cv.folds if f.repeat == 0 and f.pipeline is not None]
    if not folds:
        raise ValueError("the cross-validation kept no fitted pipelines to explain")
    oof = cv.oof[cv.oof["repeat"] == 0]
    parts, per_fold = [], {}
    output_space = ""
    for f in folds:
        positions = oof.loc[oof["fold"] == f.fold, "position"].to_numpy()
        Xf = X.iloc[positions]
        train_positions = np.setdiff1d(np.arange(len(X)), positions)
        mean = background_mean(f.pipeline, X.iloc[train_positions])
        att = Attributor(f.pipeline, task, mean).explain(Xf)
        output_space = att.output_space
        parts.append(att.values)
        per_fold[f.fold] = att.values.abs().mean(axis=0)
    values = pd.concat(parts).sort_index()
    features = list(values.columns)
    fold_imp = pd.DataFrame(per_fold).reindex(features)
    ranks = fold_imp.rank(ascending=False)
    labels = {c: feature_info(c, biomarkers).label for c in features}
    domains_of = {c: feature_info(c, biomarkers).domain for c in features}
    importance = pd.DataFrame(
        {
            "mean_abs_shap": values.abs().mean(axis=0),
            "sd": fold_imp.std(axis=1, ddof=1),
            "mean_rank": ranks.mean(axis=1),
            "rank_sd": ranks.std(axis=1, ddof=1),
            "label": pd.Series(labels),
            "domain": pd.Series(domains_of),
        }
    ).sort_values("mean_abs_shap", ascending=False)
    importance.index.name = "feature"
    by_domain = values.T.groupby(pd.Series(domains_of)).sum().T
    domains = (
        by_domain.abs()
        .mean(axis=0)
        .reindex([d for d in DOMAINS if d in by_domain.columns])
        .rename("mean_abs_shap")
        .to_frame()
    )
    domains.index.name = "domain"
    return GlobalExplanation(
        cv.model, output_space, values, X.loc[values.index], importance, domains, labels
    )
