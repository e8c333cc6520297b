"""The patient report: one patient's explained prediction as a self-contained HTML page.

Readable on a phone (one column, large type) and printable (print styles, no interactive parts).
Plots are embedded as data URIs, so the file can be mailed or archived on its own.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from eih_ml import __version__
from eih_ml.errors import DataError

if TYPE_CHECKING:
    from jinja2 import Environment

    from eih_ml.bundle import ModelBundle
    from eih_ml.data.load import StudyTable


def _env() -> Environment:
    from jinja2 import Environment, PackageLoader, select_autoescape

    return Environment(
        loader=PackageLoader("eih_ml.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )


def explain_patient(
    bundle: ModelBundle,
    raw: pd.DataFrame | StudyTable,
    participant_id: str,
    session_id: str | None = None,
) -> dict[str, Any]:
    """Everything the report (and the web app) shows for one patient session.

    Returns a dict with the prediction row, the plain-language explanation, the factor list,
    domain contributions, the what-if table, the figures as data URIs and the model's
    minimum-information rule in words. An abstained row (too little measured,
    :mod:`eih_ml.explain.abstain`) has no factors, domains, what-if or figures.
    """
    from eih_ml.explain.text import patient_explanation
    from eih_ml.explain.whatif import protocol_whatif
    from eih_ml.features.metadata import feature_info
    from eih_ml.report.figures import domain_figure, to_data_uri, waterfall_figure

    scored = bundle.predict_prepared(raw, select=_patient_row(participant_id, session_id))
    X_row = scored.matrix
    row = scored.table.iloc[0].to_dict()
    explanation = patient_explanation(row, bundle.meta, bundle.task)
    if row.get("abstained"):  # too little measured: a reason, nothing to explain or compare
        return {
            "row": row,
            "explanation": explanation,
            "factors": [],
            "domains": {},
            "whatif": pd.DataFrame(),
            "output_space": None,
            "base_value": None,
            "figures": {},
            "rule": bundle.abstain_rule.describe(),
            "prescriptions": pd.DataFrame(),
        }
    att = bundle.attributor.explain(X_row)
    contrib = att.values.iloc[0]
    labels = {f: bundle.meta.feature_info.get(f, {}).get("label", f) for f in contrib.index}
    domains = {f: feature_info(f).domain for f in contrib.index}
    by_domain = contrib.groupby(pd.Series(domains)).sum()
    from eih_ml.explain.prescription import has_prescription, prescription_grid

    prescriptions = prescription_grid(bundle, X_row)
    # a programme model's session protocol is the baseline test, not a choice: no what-if
    whatif = pd.DataFrame() if has_prescription(bundle) else protocol_whatif(bundle, X_row)
    figures = {}
    if len(prescriptions):
        from eih_ml.report.figures import prescription_figure

        value = "eih_kpa" if "eih_kpa" in prescriptions else "probability"
        unit = bundle.meta.outcome.unit if value == "eih_kpa" else "chance"
        figures["prescriptions"] = to_data_uri(prescription_figure(prescriptions, value, unit))
    return {
        "row": row,
        "explanation": explanation,
        "factors": json.loads(row["top_factors"]),
        "domains": by_domain.to_dict(),
        "whatif": whatif,
        "output_space": att.output_space,
        "base_value": att.base_value,
        "figures": {
            "waterfall": to_data_uri(
                waterfall_figure(
                    att.base_value,
                    contrib,
                    labels,
                    att.output_space,
                    subject="the chance of more pain"
                    if bundle.task == "multiclass" or bundle.target == "hyperalgesia"
                    else "the predicted response",
                )
            ),
            "domains": to_data_uri(domain_figure(by_domain)),
            **figures,
        },
        "rule": bundle.abstain_rule.describe(),
        "prescriptions": prescriptions,
    }


def _patient_row(
    participant_id: str, session_id: str | None
) -> Callable[[pd.DataFrame], list[int]]:
    """The row picker of :meth:`~eih_ml.bundle.ModelBundle.predict_prepared` for one patient.

    It picks the first row of the participant (and session); none is a :class:`DataError`
    naming the participants found.
    """

    def pick(ids: pd.DataFrame) -> list[int]:
        mask = ids["participant_id"] == str(participant_id)
        if session_id is not None:
            mask &= ids["session_id"] == str(session_id)
        if not mask.any():
            known = ", ".join(sorted(ids["participant_id"].unique())[:10])
            raise DataError(
                f"No row for participant {participant_id!r}"
                + (f" and session {session_id!r}" if session_id else "")
                + f" in the input; participants found: {known}."
            )
        return [int(mask.to_numpy().nonzero()[0][0])]

    return pick


def render_patient_report(
    bundle: ModelBundle,
    raw: pd.DataFrame | StudyTable,
    participant_id: str,
    session_id: str | None = None,
) -> str:
    """The patient report as HTML text."""
    data = explain_patient(bundle, raw, participant_id, session_id)
    whatif = data["whatif"]
    return (
        _env()
        .get_template("patient.html.j2")
        .render(
            **data,
            whatif_rows=whatif.to_dict(orient="records") if len(whatif) else [],
            prescription_rows=_ranked(data["prescriptions"]),
            task=bundle.task,
            meta=bundle.meta,
            version=__version__,
            created=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        )
    )


def _ranked(grid: pd.DataFrame, top: int = 10) -> list[dict]:
    """The best ``top`` ranked prescriptions, then the extrapolations (never ranked)."""
    if not len(grid):
        return []
    ranked = grid[grid["rank"].notna()].sort_values("rank").head(top)
    return ranked.to_dict(orient="records")


def write_patient_report(
    bundle: ModelBundle,
    raw: pd.DataFrame | StudyTable,
    participant_id: str,
    out: str | Path,
    session_id: str | None = None,
) -> Path:
    """Render and write the report atomically."""
    from eih_ml.atomic_io import write_text

    return write_text(out, render_patient_report(bundle, raw, participant_id, session_id))
