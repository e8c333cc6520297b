"""The report's data sections: source of data, participant flow, missing data and predictors.

Also the clinical metadata of every feature (label, domain, unit), which the missing-data and
predictor tables and the SHAP figures name features by.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from eih_ml.report.formatting import pct

if TYPE_CHECKING:
    from eih_ml.run_record import RunSummary


def source(summary: RunSummary) -> str:
    """The source-of-data sentence: the simulated scenario or the study file."""
    src = summary.data.source or {}
    if src.get("kind") == "simulated":
        return (
            f"Simulated cohort (built-in, literature-calibrated simulator): scenario "
            f"{src.get('scenario')!s}, {src.get('n_participants')} participants, seed "
            f"{src.get('seed')}. Not real patients: results illustrate the method only."
        )
    if src.get("kind") == "file":
        return f"Study file {src.get('path')}."
    return str(src.get("kind", "unknown"))


def participant_flow(summary: RunSummary) -> dict[str, Any]:
    """The participant-flow table: rows read, excluded (by reason) and analysed, and sessions."""
    data = summary.data
    flow = data.flow or {}
    o = summary.outcome
    spp = flow.get("sessions_per_participant") or {}
    return {
        "rows_read": flow.get("rows_read"),
        "rows_excluded": flow.get("rows_excluded", 0),
        "reasons": list((flow.get("excluded_by_reason") or {}).items()),
        "rows_valid": flow.get("rows_analysed"),
        "participants_valid": flow.get("participants_analysed"),
        "without_outcome": o.rows_without_outcome or 0,
        "programme": (o.programme or {}).get("flow"),
        "later_sessions": (flow.get("rows_analysed") or 0)
        - (flow.get("participants_analysed") or 0),
        "n_sessions": data.n_sessions,
        "n_participants": data.n_participants,
        "sessions_per_participant": sorted(spp.items(), key=lambda kv: int(kv[0])),
        "validation": data.validation or {},
    }


def feature_infos(summary: RunSummary, config: dict[str, Any]) -> dict[str, Any]:
    """Clinical metadata of every feature, biomarker labels from the run's column dictionary."""
    from eih_ml.data.dictionary import load_dictionary
    from eih_ml.errors import DictionaryError
    from eih_ml.features.metadata import feature_info

    path = (config.get("data") or {}).get("dictionary")
    try:
        markers = load_dictionary(path if path and Path(path).is_file() else None).biomarkers
    except DictionaryError:
        markers = load_dictionary(None).biomarkers
    names = list(summary.features)
    names += list((summary.missing_data or {}).get("per_feature", {}))
    names += [r["feature"] for r in (summary.explanations or {}).get("importance", [])]
    return {f: feature_info(f, markers) for f in dict.fromkeys(names)}


def missing(summary: RunSummary, infos: dict[str, Any]) -> dict[str, Any]:
    """The missing-data section: each feature's missing share (by label) and the handling."""
    md = summary.missing_data or {}
    per = md.get("per_feature", {})
    rows = [
        {
            "name": f,
            "label": infos[f].label,
            "domain": infos[f].domain,
            "share": share,
            "pct": pct(share, 1),
            "n": round(share * md["rows"]) if md.get("rows") is not None else None,
        }
        for f, share in per.items()
    ]
    rows.sort(key=lambda r: (-r["share"], r["name"]))
    return {
        "rows": rows,
        "n_rows": md.get("rows"),
        "complete": [r for r in rows if r["share"] == 0],
        "incomplete": [r for r in rows if r["share"] > 0],
        "handling": md.get("handling", {}),
        "biomarkers": md.get("biomarkers"),
    }


def predictors(features: list[str], infos: dict[str, Any]) -> list[dict[str, Any]]:
    """The predictors table: each input's label, domain, unit and kind, ordered by domain."""
    from eih_ml.data.contract import BIOMARKER_LOD_SUFFIX, BIOMARKER_ND_SUFFIX
    from eih_ml.features.metadata import DOMAINS

    helpers = (BIOMARKER_ND_SUFFIX, BIOMARKER_LOD_SUFFIX)
    rows = []
    for f in features:
        if f.startswith("bio_") and f.endswith(helpers):
            continue
        info = infos[f]
        extra = [h for h in (f + BIOMARKER_ND_SUFFIX, f + BIOMARKER_LOD_SUFFIX) if h in features]
        rows.append(
            {
                "name": f,
                "label": info.label,
                "domain": info.domain,
                "unit": info.unit,
                "kind": "categorical" if info.categorical else "numeric",
                "helpers": extra,
            }
        )
    order = {d: i for i, d in enumerate(DOMAINS)}
    rows.sort(key=lambda r: order.get(r["domain"], len(order)))
    return rows
