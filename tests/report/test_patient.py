"""The patient explanation goes through the prediction entry point (ModelBundle.predict_prepared).

Parity with the route it replaced (``prepare`` + ``predict_matrix`` called by the explanation
itself): the same prediction row, words, factors, SHAP values, what-if and prescriptions, for
several patients, one of them with a whole block of measurements missing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eih_ml.data.simulate import simulate_cohort
from eih_ml.errors import DataError
from eih_ml.explain.text import patient_explanation
from eih_ml.explain.whatif import protocol_whatif
from eih_ml.report.patient import explain_patient


def new_patients(n: int = 6, seed: int = 4242) -> pd.DataFrame:
    """New patients (no post-exercise PPT), the third without any CPM or catastrophizing item."""
    raw = simulate_cohort(n, seed=seed).cohort
    raw = raw[[c for c in raw.columns if "_post" not in c and "rest_" not in c]].copy()
    third = raw["participant_id"] == raw["participant_id"].unique()[2]
    block = [c for c in raw.columns if c.startswith(("cpm_", "pcs_"))]
    assert block  # the simulator writes both blocks: the patient below really lacks them
    raw.loc[third, block] = np.nan
    return raw


def old_route(bundle, raw, participant_id, session_id=None):
    """The explanation's former route: prepare every row, pick one, predict it on its matrix."""
    ids, X, missing = bundle.prepare(raw)
    mask = ids["participant_id"] == str(participant_id)
    if session_id is not None:
        mask &= ids["session_id"] == str(session_id)
    i = int(mask.to_numpy().nonzero()[0][0])
    X_row = X.iloc[[i]]
    row = bundle.predict_matrix(X_row, ids.iloc[[i]], [missing[i]]).iloc[0].to_dict()
    return row, X_row


def assert_same_row(new: dict, old: dict) -> None:
    assert list(new) == list(old)  # the same columns in the same order
    pd.testing.assert_series_equal(pd.Series(new, dtype=object), pd.Series(old, dtype=object))


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_the_explanation_from_the_entry_point_equals_the_former_route(
    xgboost_experiment, xgboost_regression_experiment, task
):
    bundle = (
        xgboost_experiment if task == "classification" else xgboost_regression_experiment
    ).bundle
    raw = new_patients()
    pids = list(raw["participant_id"].unique()[:4])  # the third lacks CPM and PCS
    sessions = raw.loc[raw["participant_id"] == pids[1], "session_id"].astype(str).tolist()
    cases = [(p, None) for p in pids] + [(pids[1], sessions[-1])]
    for pid, sid in cases:
        data = explain_patient(bundle, raw, pid, sid)
        row, X_row = old_route(bundle, raw, pid, sid)
        assert_same_row(data["row"], row)
        assert data["explanation"] == patient_explanation(row, bundle.meta, bundle.task)
        if row["abstained"]:
            assert data["factors"] == [] and data["domains"] == {}
            continue
        att = bundle.attributor.explain(X_row)
        assert data["base_value"] == att.base_value
        contrib = att.values.iloc[0]
        assert sum(data["domains"].values()) == pytest.approx(float(contrib.sum()))
        pd.testing.assert_frame_equal(data["whatif"], protocol_whatif(bundle, X_row))
    missing = explain_patient(bundle, raw, pids[2])["row"]["not_measured"]
    assert "CPM" in missing or "cpm" in missing.lower()  # the missing block is named


def test_predict_prepared_answers_predict_and_the_matrix_of_prepare(xgboost_experiment):
    bundle = xgboost_experiment.bundle
    raw = new_patients()
    scored = bundle.predict_prepared(raw)
    pd.testing.assert_frame_equal(scored.table, bundle.predict(raw, path="frame"))
    pd.testing.assert_frame_equal(scored.table, bundle.predict(raw))  # the short way agrees
    pd.testing.assert_frame_equal(scored.matrix, bundle.prepare(raw)[1])
    assert len(scored) == len(raw)
    # records take the frame path too, with the same answer
    records = raw.to_dict(orient="records")
    pd.testing.assert_frame_equal(bundle.predict_prepared(records).table, scored.table)
    # a derived feature table (external validation) gives the same rows
    _, table = bundle.derive(raw)
    pd.testing.assert_frame_equal(bundle.predict_prepared(table, derived=True).table, scored.table)
    # select: only the chosen rows are scored, in the order chosen
    two = bundle.predict_prepared(raw, select=lambda ids: [3, 1])
    pd.testing.assert_frame_equal(
        two.table, scored.table.iloc[[3, 1]].reset_index(drop=True), check_dtype=False
    )
    pd.testing.assert_frame_equal(two.matrix, scored.matrix.iloc[[3, 1]])


def test_an_unknown_patient_is_refused_before_anything_is_scored(xgboost_experiment):
    with pytest.raises(DataError, match=r"No row for participant 'nobody'.*participants found"):
        explain_patient(xgboost_experiment.bundle, new_patients(3), "nobody")
    with pytest.raises(TypeError, match="derived=True takes the feature table"):
        xgboost_experiment.bundle.predict_prepared([{"age": 40}], derived=True)
