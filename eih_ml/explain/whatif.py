"""Protocol what-if: the predicted response of one patient under each candidate exercise protocol.

The model knows the protocol (modality, relative intensity, duration), so a clinician can compare
protocols for the same patient: every other input stays as measured. A predicted hyperalgesic
response (EIH below zero for a regression model, a low chance of any response for a responder
model, a chance of hyperalgesia at or above ``outcome.risk_threshold`` for a hyperalgesia or
three-class model) is flagged. This is the model's extrapolation, not a trial result: protocols outside what
the training cohort did are marked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from eih_ml.bundle import ModelBundle


@dataclass(frozen=True)
class Protocol:
    """A candidate exercise protocol."""

    modality: str
    intensity_rel: float
    duration_min: float
    label: str


#: Candidate protocols (aerobic dose after Hoffman 2004 and Naugle 2014; isometric and dynamic
#: resistance as used in EIH studies, Naugle 2012).
DEFAULT_PROTOCOLS: tuple[Protocol, ...] = (
    Protocol("aerobic", 0.50, 20, "Aerobic, moderate (50 % HRR), 20 min"),
    Protocol("aerobic", 0.70, 20, "Aerobic, vigorous (70 % HRR), 20 min"),
    Protocol("isometric", 0.30, 3, "Isometric, 30 % MVC, 3 min"),
    Protocol("isometric", 0.50, 2, "Isometric, 50 % MVC, 2 min"),
    Protocol("dynamic_resistance", 0.50, 10, "Dynamic resistance, RPE 13 (moderate), 10 min"),
)

#: The prediction columns (:mod:`eih_ml.prediction`) a what-if row shows, those the model has.
WHATIF_COLUMNS = (
    "probability",
    "p_hyperalgesic",
    "p_non_responder",
    "p_hypoalgesic",
    "prediction_set",
    "eih_kpa",
    "interval_low",
    "interval_high",
)

#: Below this probability of a hypoalgesic response a protocol is flagged for a responder model.
LOW_RESPONSE_PROBABILITY = 0.35


def protocol_whatif(
    bundle: ModelBundle, X_row: pd.DataFrame, protocols: tuple[Protocol, ...] = DEFAULT_PROTOCOLS
) -> pd.DataFrame:
    """Predictions for one patient (a one-row model matrix) under each protocol.

    Returns
    -------
    pandas.DataFrame
        One row per protocol: protocol, prediction (probability, the three class probabilities
        ``p_hyperalgesic``, ``p_non_responder``, ``p_hypoalgesic``, or EIH kPa), uncertainty,
        flag, seen_in_training. Empty when the model has no protocol input, or when the
        patient's measurements are too few for the model's minimum-information rule
        (:mod:`eih_ml.explain.abstain`) even with the protocol filled in.
    """
    features = bundle.features
    if "exercise_modality" not in features:
        return pd.DataFrame()
    rows = []
    for p in protocols:
        x = X_row.iloc[[0]].copy()
        x["exercise_modality"] = p.modality
        if "exercise_intensity_rel" in features:
            x["exercise_intensity_rel"] = p.intensity_rel
        if "exercise_duration_min" in features:
            x["exercise_duration_min"] = float(p.duration_min)
        rows.append(x)
    grid = pd.concat(rows, ignore_index=True)
    from eih_ml.bundle import columns_of

    # The protocol is filled in, everything else stays as measured: when that is still too
    # little for the model's minimum-information rule, there is nothing to compare.
    if bundle.abstain_rule.assess(columns_of(grid.iloc[[0]], features), 1).abstained[0]:
        return pd.DataFrame()
    # the prediction entry point on the prepared grid: the same columns as the patient's own
    pred = bundle.predict_matrix(grid, top_k=0)
    seen = bundle.reference.categories.get("exercise_modality", {})
    out = pd.DataFrame({"protocol": [p.label for p in protocols]})
    out["modality"] = [p.modality for p in protocols]
    out["seen_in_training"] = [seen.get(p.modality, 0) > 0 for p in protocols]
    for column in WHATIF_COLUMNS:
        if column in pred:
            out[column] = pred[column].to_numpy()
    if bundle.task == "multiclass":
        out["flag"] = np.where(
            out["p_hyperalgesic"].to_numpy(float) >= bundle.risk_threshold,
            "risk of more pain after this exercise",
            "",
        )
    elif bundle.task == "classification":
        scores = out["probability"].to_numpy(float)
        if bundle.target == "hyperalgesia":  # the protocols that lower the risk go unflagged
            risk = bundle.risk_threshold
            out["flag"] = np.where(scores >= risk, "risk of more pain after this exercise", "")
        else:
            out["flag"] = np.where(
                scores < LOW_RESPONSE_PROBABILITY, "low chance of hypoalgesia", ""
            )
    else:
        scores = out["eih_kpa"].to_numpy(float)
        if "interval_high" in out:
            hyper = out["interval_high"].to_numpy(float) < 0
        else:
            hyper = np.zeros(len(scores), dtype=bool)
        out["flag"] = np.where(
            hyper,
            "hyperalgesic response predicted",
            np.where(scores < 0, "possibly hyperalgesic", ""),
        )
    return out
