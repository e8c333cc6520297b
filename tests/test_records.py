"""The short way for a few patients (records -> typed arrays -> features) against the full path.

:func:`eih_ml.data.records.plain_records` may only accept what loading and validation pass
unchanged, and its features must equal :func:`eih_ml.features.derive.derive_features`'.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from eih_ml.data.dictionary import load_dictionary
from eih_ml.data.load import load_frame
from eih_ml.data.records import plain_records
from eih_ml.data.simulate import simulate_cohort
from eih_ml.data.validate import validate_cohort
from eih_ml.errors import DataError
from eih_ml.features.derive import CATEGORICAL, derive_features, feature_arrays
from eih_ml.features.questionnaires import QuestionnaireScoring

DICTIONARY = load_dictionary(None)


@pytest.fixture(scope="module")
def patients() -> list[dict]:
    raw = simulate_cohort(60, seed=11).cohort
    raw = raw[[c for c in raw.columns if "_post" not in c and "rest_" not in c]]
    return raw.to_dict(orient="records")


def full_path(records: list[dict], scoring=None) -> pd.DataFrame:
    """What ModelBundle.prepare does: load, validate (no outcome needed), derive."""
    frame = pd.DataFrame.from_records(records)
    for col, prefix in (("participant_id", "patient"), ("session_id", "row")):
        if col not in frame.columns:
            frame[col] = [f"{prefix}-{i + 1}" for i in range(len(frame))]
    report = validate_cohort(load_frame(frame), require_outcome=False)
    return derive_features(report.data, scoring=scoring)


def _shown(v) -> object:
    if v is None or v is pd.NA or (isinstance(v, float) and math.isnan(v)):
        return None
    return v if isinstance(v, str) else float(v)


def assert_same_features(arrays: dict, table: pd.DataFrame) -> None:
    skip = ("participant_id", "session_id", "csi_severity")  # ids apart; csi_severity is text
    expected = [c for c in table.columns if not c.startswith(("eih_", "rest_")) and c not in skip]
    assert sorted(arrays) == sorted(expected)
    for col in expected:
        got, want = arrays[col], table[col].to_numpy(dtype=object)
        if col in CATEGORICAL or table[col].dtype.kind not in "biuf":
            assert [_shown(v) for v in got] == [_shown(v) for v in want], col
        else:
            np.testing.assert_array_equal(
                np.asarray(got, dtype=float), np.asarray(want, dtype=float), err_msg=col
            )


def test_simulated_patients_take_the_short_way_with_the_same_features(patients):
    taken = 0
    for record in patients:
        typed = plain_records([record], DICTIONARY)
        if typed is None:
            continue
        taken += 1
        pids, sids, src = typed
        assert pids == [record["participant_id"]] and sids == [record["session_id"]]
        assert_same_features(feature_arrays(src), full_path([record]))
    assert taken == len(patients)  # numbers, categories and '<0.7' non-detects: all plain


def test_several_patients_at_once_and_questionnaire_rules(patients):
    records = [p for p in patients if p["session_id"] == patients[0]["session_id"]][:8]
    scoring = QuestionnaireScoring(tsk_form="tsk11", hads_items="positions")
    typed = plain_records(records, DICTIONARY)
    assert typed is not None and typed[2].n == len(records)
    assert_same_features(feature_arrays(typed[2], scoring=scoring), full_path(records, scoring))


def test_records_without_ids_get_none_and_sessions_of_one_participant_go_the_full_way(patients):
    bare = [{k: v for k, v in patients[0].items() if k not in ("participant_id", "session_id")}]
    pids, sids, _ = plain_records(bare[:1], DICTIONARY)
    assert pids is None and sids is None
    same_person = [patients[0], {**patients[0], "session_id": "another"}]
    assert plain_records(same_person, DICTIONARY) is None  # baseline agreement: full path


POOL = [
    None,
    math.nan,
    pd.NA,
    -1.0,
    0,
    1,
    2.5,
    3,
    7.0,
    15,
    99.0,
    250.0,
    1e4,
    math.inf,
    10**400,  # beyond float
    np.float64(3.0),
    np.int64(2),
    "12",
    "abc",
    "",
    " ",
    True,
    "<0.5",
    "<LOD",
    "ND",
    "female",
    "Female",
    "knee_oa",
    "aerobic",
    "rating",
    "threshold",
    "pct_hrr",
    "rpe",
]
EXTRA_KEYS = [
    "ppt_local_post_1",
    "ppt_remote_rest_post_2",
    "cpm_test_type",
    "exercise_intensity_unit",
    "exercise_intensity",
    "participant_id",
    "session_id",
    "unknown_column",
    "bio_il6_nd",
]


def test_the_short_way_never_accepts_what_validation_rejects_or_changes(patients):
    """Random damage to real records: whatever the short way accepts, the full path accepts
    too, with the same features; what the full path rejects, the short way declines."""
    rng = np.random.default_rng(2026)
    outcomes = {"accepted": 0, "declined": 0, "rejected": 0}
    for _ in range(300):
        record = dict(patients[int(rng.integers(len(patients)))])
        keys = list(record) + EXTRA_KEYS
        for _ in range(int(rng.integers(1, 3))):
            record[keys[int(rng.integers(len(keys)))]] = POOL[int(rng.integers(len(POOL)))]
        typed = plain_records([record], DICTIONARY)
        try:
            table = full_path([record])
        except DataError:  # CohortValidationError included
            assert typed is None, record
            outcomes["rejected"] += 1
            continue
        if typed is None:
            outcomes["declined"] += 1  # e.g. "Female": the full path recodes it
            continue
        outcomes["accepted"] += 1
        assert_same_features(feature_arrays(typed[2]), table)
    assert min(outcomes.values()) >= 10, outcomes  # each branch really exercised


def test_a_renaming_dictionary_always_takes_the_full_path(patients):
    renaming = DICTIONARY.model_copy(update={"columns": {"Age": "age"}})
    assert plain_records(patients[:1], renaming) is None
    assert plain_records([], DICTIONARY) is None
