"""Prescription explorer: one patient's predicted programme outcome for each candidate prescription.

For a model trained on a programme outcome with the prescription as inputs
(``features.blocks.programme``, :mod:`eih_ml.programme`), the patient's measurements stay as
entered and the prescription varies over a grid: modality x relative intensity x session
duration x sessions per week (the programme length stays as prescribed, default 12 weeks).
Each candidate gets the model's prediction with its conformal uncertainty, a flag when the
patient is predicted to get worse (an improvement below 0, or an interval wholly below 0; for a
responder model a chance below :data:`LOW_CHANCE`), and a rank.

A candidate outside what the training cohort was prescribed (a modality nobody had, or a value
outside the 1st-99th percentile of the training prescriptions) is marked as **extrapolation**
and not ranked: the model has not seen such a programme. Unless the data's programmes were
assigned at random (``data.protocol_randomized``), the differences between candidates are
associations learned from observational data (who was prescribed what), not effects; the wording
of :func:`caveat` says which.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from eih_ml.bundle import BundleMeta, ModelBundle

from eih_ml.data.contract import MODALITIES

#: Below this chance of a clinically important improvement a candidate is flagged.
LOW_CHANCE = 0.35


@dataclass(frozen=True)
class Grid:
    """Candidate values of each prescription input."""

    modalities: tuple[str, ...] = MODALITIES
    intensities: tuple[float, ...] = (0.4, 0.55, 0.7)
    session_minutes: tuple[float, ...] = (20.0, 30.0, 45.0)
    sessions_per_week: tuple[float, ...] = (2.0, 3.0, 5.0)

    def candidates(self) -> list[dict]:
        """Every combination, as the model's programme features."""
        return [
            {
                "programme_modality": m,
                "programme_intensity_rel": i,
                "session_duration_min": d,
                "sessions_per_week": f,
                "programme_minutes_per_week": d * f,
            }
            for m, i, d, f in itertools.product(
                self.modalities, self.intensities, self.session_minutes, self.sessions_per_week
            )
        ]


DEFAULT_GRID = Grid()

_LABELS = {"aerobic": "Aerobic", "isometric": "Isometric", "dynamic_resistance": "Resistance"}


def describe(c: dict) -> str:
    """A candidate in words: "Aerobic, 55 % of maximum, 30 min x 3 a week"."""
    return (
        f"{_LABELS.get(c['programme_modality'], c['programme_modality'])}, "
        f"{100 * c['programme_intensity_rel']:.0f} % of maximum, "
        f"{c['session_duration_min']:.0f} min x {c['sessions_per_week']:.0f} a week"
    )


def has_prescription(bundle: ModelBundle) -> bool:
    """True when the model takes the programme's modality and dose as inputs."""
    return "programme_modality" in bundle.features


def prescription_grid(
    bundle: ModelBundle, X_row: pd.DataFrame, grid: Grid = DEFAULT_GRID
) -> pd.DataFrame:
    """Predictions for one patient (a one-row model matrix) under every candidate prescription.

    Returns
    -------
    pandas.DataFrame
        One row per candidate: prescription, the programme features, prediction (``eih_kpa``
        holds a regression's improvement in the outcome's unit; ``probability`` a responder
        model's), interval or set, ``flag``, ``extrapolation`` (with its ``reason``) and
        ``rank`` (1 = best; NaN for extrapolations). Empty when the model has no prescription
        inputs, or when the patient has too little measured for the model's
        minimum-information rule even with a prescription filled in.
    """
    from eih_ml.bundle import columns_of
    from eih_ml.explain.conformal import describe_set
    from eih_ml.models import predict_scores

    if not has_prescription(bundle):
        return pd.DataFrame()
    features = bundle.features
    cands = [{k: v for k, v in c.items() if k in features} for c in grid.candidates()]
    rows = pd.concat([X_row.iloc[[0]]] * len(cands), ignore_index=True)
    for k in cands[0]:
        rows[k] = [c[k] for c in cands]
    if bundle.abstain_rule.assess(columns_of(rows.iloc[[0]], features), 1).abstained[0]:
        return pd.DataFrame()
    task = bundle.task
    scores = np.asarray(predict_scores(bundle.pipeline, rows, task), dtype=np.float64)
    out = pd.DataFrame(cands)
    out.insert(0, "prescription", [describe(c) for c in grid.candidates()])
    reasons = _extrapolation(bundle, rows, list(cands[0]))
    out["extrapolation"] = [bool(r) for r in reasons]
    out["reason"] = ["; ".join(r) for r in reasons]
    if bundle.task == "regression":
        out["eih_kpa"] = scores
        worse = scores < 0
        if bundle.conformal is not None:
            bounds = bundle.conformal.intervals(scores)
            out["interval_low"], out["interval_high"] = bounds[:, 0], bounds[:, 1]
            worse_sure = bounds[:, 1] < 0
        else:
            worse_sure = np.zeros(len(scores), dtype=bool)
        out["flag"] = np.where(
            worse_sure, "worsening predicted", np.where(worse, "possibly worse", "")
        )
    else:
        if bundle.task == "multiclass":  # the chance of a hypoalgesic response
            scores = scores[:, 2]
        out["probability"] = scores
        if bundle.conformal is not None and bundle.task == "classification":
            out["prediction_set"] = [
                describe_set(s, bundle.classes) for s in bundle.conformal.sets(scores)
            ]
        out["flag"] = np.where(
            scores < LOW_CHANCE, "low chance of a clinically important improvement", ""
        )
    value = out["eih_kpa"] if "eih_kpa" in out else out["probability"]
    ranked = value.where(~out["extrapolation"])
    out["rank"] = ranked.rank(ascending=False, method="min")
    return out


def _extrapolation(bundle: ModelBundle, rows: pd.DataFrame, inputs: list[str]) -> list[list[str]]:
    """Per candidate, the prescription inputs outside what the training cohort had."""
    ref = bundle.reference
    reasons: list[list[str]] = [[] for _ in range(len(rows))]
    for f in inputs:
        if f == "programme_modality":
            seen = ref.categories.get(f, {})
            for i, m in enumerate(rows[f]):
                if seen.get(str(m), 0) == 0:
                    reasons[i].append(f"no training participant had a {m} programme")
            continue
        q = ref.quantiles.get(f)
        if q is None:
            continue
        lo, hi = q[0], q[-1]
        for i, v in enumerate(rows[f].to_numpy(float)):
            if np.isfinite(v) and (v < lo or v > hi):
                side = "below" if v < lo else "above"
                reasons[i].append(f"{f} {v:g} is {side} the training range ({lo:g} to {hi:g})")
    return reasons


def caveat(meta: BundleMeta) -> str:
    """How to read the comparison: effects only when the programmes were randomised."""
    if meta.protocol_randomized:
        return (
            "The programmes in the training data were assigned at random, so the differences "
            "between prescriptions estimate their effects for patients like this one."
        )
    return (
        "These are associations learned from the data (who was prescribed what, and how they "
        "did), not trial results: a prescription that looks better may only have been given to "
        "patients who do better."
    )
