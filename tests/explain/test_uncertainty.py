"""Per-patient uncertainty: Venn-Abers ranges of the probability and CQR intervals of EIH.

Hand-worked examples for the formulas; coverage on held-out simulated participants, overall and
in every condition; the levels a clinician can choose; the round trip through a saved bundle.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from eih_ml.config import load_config
from eih_ml.data.simulate import simulate_cohort
from eih_ml.errors import ModelError
from eih_ml.experiment import run_experiment
from eih_ml.explain.eih_interval import (
    IntervalCalibration,
    QuantileBand,
    conformal_rank_quantile,
    cqr_scores,
)
from eih_ml.explain.text import uncertainty_sentences
from eih_ml.explain.venn_abers import VennAbersCalibration, venn_abers_pair
from tests.explain.test_explanations import SMALL


# ----------------------------------------------------------------------------- Venn-Abers
def test_venn_abers_pair_by_hand():
    s, y = np.array([0.1, 0.2, 0.3, 0.4]), np.array([0, 0, 1, 1])
    # between the two groups: either label fits the isotonic calibration perfectly
    assert venn_abers_pair(s, y, 0.25) == (0.0, 1.0)
    # above everyone: with label 0 the last three pool to 2/3 (PAVA: 1, 1, 0 -> 2/3 each)
    p0, p1 = venn_abers_pair(s, y, 0.5)
    assert p0 == pytest.approx(2 / 3) and p1 == 1.0
    # below everyone: with label 1 the first three pool to 1/3
    p0, p1 = venn_abers_pair(s, y, 0.05)
    assert p0 == 0.0 and p1 == pytest.approx(1 / 3)


def test_venn_abers_grid_matches_the_exact_pair_and_round_trips():
    rng = np.random.default_rng(1)
    p = rng.uniform(size=300)
    y = (rng.uniform(size=300) < p).astype(float)
    va = VennAbersCalibration.fit(y, p)
    for s in (0.0, 0.2, 0.5, 0.8, 1.0):  # on the grid: exact
        np.testing.assert_allclose(va.interval([s])[0], venn_abers_pair(p, y, s), atol=1e-6)
    back = VennAbersCalibration.from_dict(json.loads(json.dumps(va.to_dict())))
    np.testing.assert_allclose(back.interval(p[:20]), va.interval(p[:20]))
    assert va.n_calibration == 300
    merged = va.merged(p[:50])
    b = va.interval(p[:50])
    assert ((b[:, 0] <= merged + 1e-12) & (merged <= b[:, 1] + 1e-12)).all()


def test_venn_abers_ranges_are_wide_where_calibration_patients_are_few():
    rng = np.random.default_rng(2)
    p = np.clip(rng.normal(0.5, 0.12, 2000), 0, 1)  # few scores in the tails
    y = (rng.uniform(size=2000) < p).astype(float)
    va = VennAbersCalibration.fit(y, p)
    width = np.diff(va.interval([0.02, 0.5, 0.98]), axis=1).ravel()
    assert width[1] < 0.05 < min(width[0], width[2])


def test_venn_abers_ranges_hold_the_event_rate_of_new_patients():
    """The Venn property on fresh draws: the event rate per score band is inside [p0, p1]."""
    rng = np.random.default_rng(3)

    def draw(n):
        s = rng.uniform(size=n)
        true = 1 / (1 + np.exp(-8 * (s - 0.3)))  # the score is badly miscalibrated
        return s, (rng.uniform(size=n) < true).astype(float)

    s, y = draw(1500)
    va = VennAbersCalibration.fit(y, s)
    s_new, y_new = draw(20000)
    b = va.interval(s_new)
    missed_by_the_score = 0
    for lo_q in (0.0, 0.2, 0.4, 0.6, 0.8):
        inside = (s_new >= lo_q) & (s_new < lo_q + 0.2)
        rate = y_new[inside].mean()
        # the isotonic fit of 1,500 patients: about +/-0.03 per band of 300
        assert b[inside, 0].mean() - 0.05 <= rate <= b[inside, 1].mean() + 0.05
        missed_by_the_score += abs(s_new[inside].mean() - rate) > 0.05
    assert missed_by_the_score >= 3  # the raw score fails the same check


# --------------------------------------------------------------------------------- CQR
def test_conformal_rank_quantile_and_scores_by_hand():
    assert conformal_rank_quantile(np.arange(1.0, 20.0), 0.9) == 18.0  # ceil(20 * 0.9) = 18
    assert conformal_rank_quantile(np.arange(1.0, 10.0), 0.8) == 8.0  # ceil(10 * 0.8) = 8
    assert conformal_rank_quantile(np.arange(1.0, 5.0), 0.9) == float("inf")
    band = np.array([[0.0, 10.0]] * 3)
    assert cqr_scores(np.array([5.0, 12.0, -3.0]), band).tolist() == [-5.0, 2.0, 3.0]


def test_interval_calibration_per_condition_floor_and_levels():
    rng = np.random.default_rng(4)
    n = 400
    cond = np.where(np.arange(n) < 200, "a", "b").astype(object)
    y = rng.normal(0, np.where(cond == "a", 1.0, 3.0))  # b varies three times as much
    band = np.column_stack([np.full(n, -1.645), np.full(n, 1.645)])  # right for a only
    pooled = IntervalCalibration.fit(y, band, cond, levels=(0.8, 0.9), min_condition_rows=40)
    floor = IntervalCalibration.fit(
        y, band, cond, levels=(0.8, 0.9), min_condition_rows=40, by_condition="floor"
    )
    y_new = rng.normal(0, np.where(cond == "a", 1.0, 3.0))

    def coverage(cal, group):
        iv = cal.interval(band, 0.9, cond)
        inside = (iv[:, 0] <= y_new) & (y_new <= iv[:, 1])
        return inside[cond == group].mean()

    assert coverage(pooled, "b") < 0.85  # the pooled correction under-covers the wide group
    assert coverage(floor, "b") >= 0.85
    assert floor.oof_coverage["0.9"]["b"] >= 0.9 - 1e-9  # in-sample, by construction
    assert pooled.oof_coverage["0.9"]["b"] < 0.85  # ... and the report shows the gap
    with pytest.raises(ModelError, match="offers 0.8, 0.9"):
        pooled.interval(band, 0.95, cond)
    back = IntervalCalibration.from_dict(json.loads(json.dumps(floor.to_dict())))
    np.testing.assert_allclose(back.interval(band, 0.8, cond), floor.interval(band, 0.8, cond))
    # Mondrian: each condition its own correction, so the narrow group is not over-covered
    mondrian = IntervalCalibration.fit(
        y, band, cond, levels=(0.8, 0.9), min_condition_rows=40, by_condition="mondrian"
    )
    assert coverage(mondrian, "b") >= 0.85
    assert 0.85 <= coverage(mondrian, "a") < coverage(floor, "a")
    assert "Mondrian" in mondrian.method
    back = IntervalCalibration.from_dict(json.loads(json.dumps(mondrian.to_dict())))
    np.testing.assert_allclose(back.interval(band, 0.9, cond), mondrian.interval(band, 0.9, cond))


def test_quantile_band_adapts_its_width_to_the_patient():
    rng = np.random.default_rng(5)
    n = 1500
    X = pd.DataFrame(
        {
            "ppt_local_pre": rng.normal(300, 60, n),
            "exercise_modality": rng.choice(["aerobic", "isometric"], n).astype(object),
        }
    )
    sd = np.where(X["exercise_modality"] == "isometric", 40.0, 10.0)
    y = 0.2 * (X["ppt_local_pre"] - 300) + rng.normal(0, sd)
    heads = QuantileBand(list(X.columns)).fit(X, y)
    band = heads.predict_band(X)
    width = band[:, 1] - band[:, 0]
    iso = (X["exercise_modality"] == "isometric").to_numpy()
    assert np.median(width[iso]) > 2.5 * np.median(width[~iso])
    # an unseen category is treated as missing, not an error
    other = X.iloc[:2].assign(exercise_modality=["yoga", np.nan])
    assert np.isfinite(heads.predict_band(other)).all()
    # named arrays and DataFrames give the same band
    cols = {c: X[c].to_numpy() for c in X.columns}
    np.testing.assert_allclose(heads.predict_band(cols), band)
    # the numpy walk of the trees gives XGBoost's own predictions, missing values included
    from eih_ml.explain.eih_interval import predict_trees

    holes = X.assign(ppt_local_pre=X["ppt_local_pre"].mask(X.index % 7 == 0))
    M = heads._matrix({c: holes[c].to_numpy() for c in holes.columns})
    own = np.asarray(heads.model_.get_booster().inplace_predict(M), dtype=float)
    np.testing.assert_allclose(predict_trees(heads.trees_, M), own, rtol=1e-5, atol=1e-5)


# ------------------------------------------------------------------- through the bundle
@pytest.fixture(scope="module")
def trained(xgboost_300):
    """The shared 300-participant XGBoost model (tests/explain/conftest.py; read only)."""
    return xgboost_300


def _fresh(n=400, seed=4242):
    from eih_ml.data.load import load_frame
    from eih_ml.data.validate import validate_cohort
    from eih_ml.features.derive import derive_features

    raw = simulate_cohort(n, seed=seed).cohort
    table = derive_features(validate_cohort(load_frame(raw)).data)
    truth = table["eih_abs_local"].to_numpy(float)
    keep = np.isfinite(truth)
    inputs = raw.loc[raw.index[keep]]
    inputs = inputs[[c for c in inputs.columns if "_post" not in c and "rest_" not in c]]
    return inputs.reset_index(drop=True), truth[keep], table["condition"].to_numpy()[keep]


@pytest.mark.slow
def test_eih_intervals_cover_new_participants_overall_and_in_every_condition(trained):
    inputs, truth, condition = _fresh()
    bundle = trained.bundle
    widths = {}
    for level in bundle.offered_levels:
        out = bundle.at_level(level).predict(inputs)
        inside = (out["eih_low"] <= truth) & (truth <= out["eih_high"])
        coverage = float(inside.mean())
        # ~800 sessions of 400 participants: binomial SE ~0.011, doubled by clustering. With
        # 3 outer folds (for speed) the out-of-fold heads learn from 2/3 of the cohort, are
        # worse than the final heads, and the correction errs on the wide side.
        assert level - 0.04 <= coverage <= level + 0.065, (level, coverage)
        widths[level] = float((out["eih_high"] - out["eih_low"]).median())
        if level == 0.9:
            for c in np.unique(condition):
                sub = inside[condition == c]
                if len(sub) >= 60:
                    assert sub.mean() >= 0.80, (c, sub.mean(), len(sub))
            w = (out["eih_high"] - out["eih_low"]).to_numpy()
            assert np.percentile(w, 90) > 1.15 * np.percentile(w, 10)  # adapts to the patient
    assert widths[0.8] < widths[0.9] < widths[0.95]


def test_bundle_round_trip_levels_and_words(trained, tmp_path):
    from eih_ml.bundle import ModelBundle

    inputs, _, _ = _fresh(20, seed=99)
    path = trained.bundle.save(tmp_path / "model")
    assert (path / "eih_interval.skops").is_file()
    bundle = ModelBundle.load(path)
    out = bundle.predict(inputs)
    pd.testing.assert_frame_equal(out, trained.bundle.predict(inputs))
    ok = ~out["abstained"]
    assert ((out["probability_low"] <= out["probability_high"]) | ~ok).all()
    assert ((out["eih_low"] < out["eih_high"]) | ~ok).all()
    wide = bundle.at_level(0.95).predict(inputs)
    assert (wide["confidence_level"] == 0.95).all()
    assert ((wide["eih_high"] - wide["eih_low"]) >= (out["eih_high"] - out["eih_low"]))[ok].all()
    # the probability and its Venn-Abers range do not depend on the level
    pd.testing.assert_series_equal(wide["probability_low"], out["probability_low"])
    with pytest.raises(ModelError, match="offers 80 %, 90 %, 95 %"):
        bundle.at_level(0.7)
    row = out[ok].iloc[0].to_dict()
    words = uncertainty_sentences(row, bundle.meta)
    assert len(words) == 2
    assert "Venn-Abers range" in words[0] and "% of the time" in words[0]
    assert words[1].startswith("At 90 % confidence") and "kPa" in words[1]
    assert "about 90 find their change inside it" in words[1]


def test_the_records_path_gives_the_same_uncertainty(trained):
    inputs, _, _ = _fresh(6, seed=7)
    bundle = trained.bundle
    frame = bundle.predict(inputs.iloc[:4])
    records = bundle.predict(inputs.iloc[:4].to_dict(orient="records"), as_records=True)
    for col in ("probability_low", "probability_high", "eih_low", "eih_high"):
        np.testing.assert_allclose(frame[col].to_numpy(float), [r[col] for r in records])


def test_an_abstained_patient_gets_no_interval(trained):
    inputs, _, _ = _fresh(3, seed=11)
    sparse = inputs[["participant_id", "session_id", "age", "sex"]].iloc[:1]
    out = trained.bundle.predict(sparse)
    assert bool(out["abstained"].iloc[0])
    for col in ("probability_low", "probability_high", "eih_low", "eih_high"):
        assert out[col].iloc[0] is None or pd.isna(out[col].iloc[0])
    assert uncertainty_sentences(out.iloc[0].to_dict(), trained.bundle.meta) == []


def test_config_switches_the_new_uncertainty_off(tmp_path):
    config = load_config(
        "configs/default.yaml",
        [
            *SMALL,
            "data.simulate.n_participants=120",
            "models=[elastic_net]",
            "prediction.venn_abers=false",
            "prediction.eih_interval=false",
        ],
    )
    result = run_experiment(config, output_dir=tmp_path / "run", track=False)
    out = result.bundle.predict(_fresh(5, seed=3)[0])
    assert not {"probability_low", "eih_low"} & set(out.columns)
    assert "prediction_set" in out.columns  # the conformal set stays
