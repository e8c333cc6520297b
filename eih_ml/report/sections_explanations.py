"""The report's explanations section: SHAP importance tables and the SHAP figures.

The SHAP importance of features and domains as tables, and the SHAP figures of the run folder
(bar, beeswarm, dependence plots) as data URIs.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from eih_ml.report.formatting import num
from eih_ml.report.sections_figures import data_uri_file

if TYPE_CHECKING:
    from eih_ml.run_record import RunSummary


def shap_importance(summary: RunSummary) -> dict[str, Any] | None:
    """The explanations tables: mean |SHAP| of features and domains; None without explanations."""
    ex = summary.explanations
    if not ex:
        return None
    imp = ex.get("importance") or []
    top = max((r.get("mean_abs_shap") or 0 for r in imp), default=0) or 1
    rows = [
        {
            "rank": i + 1,
            "label": r.get("label") or r.get("feature"),
            "feature": r.get("feature"),
            "domain": r.get("domain", ""),
            "mean": num(r.get("mean_abs_shap"), 3),
            "sd": num(r.get("sd"), 3),
            "mean_rank": num(r.get("mean_rank"), 1),
            "rank_sd": num(r.get("rank_sd"), 1),
            "width": round(100 * (r.get("mean_abs_shap") or 0) / top),
        }
        for i, r in enumerate(imp)
    ]
    doms = sorted(ex.get("domains") or [], key=lambda d: -(d.get("mean_abs_shap") or 0))
    dtop = max((d.get("mean_abs_shap") or 0 for d in doms), default=0) or 1
    domains = [
        {
            "domain": d.get("domain"),
            "mean": num(d.get("mean_abs_shap"), 3),
            "width": round(100 * (d.get("mean_abs_shap") or 0) / dtop),
        }
        for d in doms
    ]
    return {
        "model": ex.get("model"),
        "output_space": ex.get("output_space"),
        "rows": rows,
        "domains": domains,
    }


def shap_images(
    run_dir: Path, explanations: dict[str, Any], labels: dict[str, str]
) -> list[dict[str, str]]:
    """The SHAP figures of the run folder as data URIs (else a bar drawn from ``explanations``)."""
    folder = run_dir / "explanations"
    images = []
    fixed = [
        ("shap_bar.png", "Global importance: mean |SHAP| per feature, spread across outer folds"),
        (
            "shap_beeswarm.png",
            "SHAP summary: each dot is one session's SHAP value for a feature; colour is the "
            "feature's value (blue low, red high)",
        ),
    ]
    for name, caption in fixed:
        if (folder / name).is_file() and (uri := data_uri_file(folder / name)):
            images.append({"src": uri, "caption": caption, "alt": caption})
    for path in sorted(folder.glob("shap_dependence_*.png")) if folder.is_dir() else []:
        feature = path.stem.removeprefix("shap_dependence_")
        label = labels.get(feature, feature)
        if uri := data_uri_file(path):
            caption = f"Dependence: {label} (its SHAP value against its measured value)"
            images.append({"src": uri, "caption": caption, "alt": caption})
    if not images and explanations.get("importance"):
        from eih_ml.report import plots
        from eih_ml.report.figures import to_data_uri

        imp = pd.DataFrame(explanations["importance"]).set_index("feature")
        uri = to_data_uri(plots.importance_figure(imp, labels))
        images.append({"src": uri, "caption": "Global importance (mean |SHAP|)", "alt": "SHAP"})
    return images
