"""Explanations: SHAP additivity per model family, conformal coverage, OOD flags, words, what-if."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from eih_ml.config import load_config
from eih_ml.data.simulate import simulate_cohort
from eih_ml.experiment import run_experiment
from eih_ml.explain.attribution import Attributor, background_mean, model_output

SMALL = [
    "cv.outer_folds=3",
    "cv.inner_folds=2",
    "search.n_iter=2",
    "bootstrap.n_resamples=50",
    "evaluation.added_value=[]",
    "evaluation.min_subgroup_participants=10",
]


def experiment(tmp_path, *overrides, n=120):
    config = load_config(
        "configs/default.yaml", [*SMALL, f"data.simulate.n_participants={n}", *overrides]
    )
    return run_experiment(config, output_dir=tmp_path / "run", track=False)


@pytest.fixture(scope="module")
def classification(tmp_path_factory):
    return experiment(tmp_path_factory.mktemp("c"), "models=[elastic_net,random_forest,xgboost]")


@pytest.fixture(scope="module")
def regression(tmp_path_factory):
    return experiment(
        tmp_path_factory.mktemp("r"),
        "models=[elastic_net,random_forest,xgboost]",
        "outcome.task=regression",
    )


def new_patients(n=40, seed=777):
    raw = simulate_cohort(n, seed=seed).cohort
    return raw[[c for c in raw.columns if "_post" not in c and "rest_" not in c]]


@pytest.mark.parametrize("model", ["elastic_net", "random_forest", "xgboost"])
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_shap_values_add_up_to_the_model_output(classification, regression, model, task):
    result = classification if task == "classification" else regression
    fold = result.cvs[model].folds[0]
    X = result.X.iloc[:50]
    att = Attributor(fold.pipeline, task, background_mean(fold.pipeline, result.X)).explain(X)
    expected = model_output(fold.pipeline, X, task, att.output_space)
    np.testing.assert_allclose(att.output, expected, rtol=1e-4, atol=1e-4)
    # attributions are per clinical input feature: one-hot and indicator columns summed back
    inputs = [c for c in result.X.columns if not c.endswith(("_nd", "_lod"))]
    assert list(att.values.columns[: len(inputs)]) == inputs
    assert set(att.values.columns[len(inputs) :]) <= {"bio_panel_missing"}
    if task == "regression":
        assert att.output_space == "kPa"


def test_global_importance_has_fold_stability_and_domains(classification):
    g = classification.explanations
    assert {"mean_abs_shap", "sd", "mean_rank", "rank_sd", "label", "domain"} <= set(
        g.importance.columns
    )
    assert g.importance["mean_abs_shap"].is_monotonic_decreasing
    assert set(g.domains.index) <= {
        "QST",
        "psychological",
        "biomarker",
        "clinical",
        "demographic",
        "protocol",
    }
    assert len(g.values) == len(classification.X)  # one out-of-fold row per analysed row


@pytest.mark.slow
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_conformal_coverage_holds_on_held_out_participants(request, tmp_path, task):
    """Train on 300 simulated participants; on 400 new ones the 90 % sets cover ~90 %.

    Classification reads the shared 300-participant XGBoost model (tests/explain/conftest.py);
    regression trains an elastic net on 300.
    """
    if task == "classification":
        result = request.getfixturevalue("xgboost_300")
    else:
        result = experiment(tmp_path, "models=[elastic_net]", "outcome.task=regression", n=300)
    bundle = result.bundle
    fresh = simulate_cohort(400, seed=4242).cohort
    from eih_ml.data.load import load_frame
    from eih_ml.data.validate import validate_cohort
    from eih_ml.features.derive import derive_features
    from eih_ml.outcomes import label

    table = derive_features(validate_cohort(load_frame(fresh)).data)
    truth = table["eih_abs_local"].to_numpy(float)
    keep = np.isfinite(truth)
    inputs = fresh.loc[fresh.index[keep]]
    inputs = inputs[[c for c in inputs.columns if "_post" not in c]]
    out = bundle.predict(inputs)
    if task == "classification":
        y = label(truth[keep], bundle.meta["threshold"], "classification")
        covered = [
            ("responder" in s and "non-responder" not in s and yi == 1)
            or ("non-responder" in s and yi == 0)
            or "uncertain" in s
            for s, yi in zip(out["prediction_set"], y, strict=True)
        ]
    else:
        covered = (out["interval_low"] <= truth[keep]) & (truth[keep] <= out["interval_high"])
    coverage = float(np.mean(covered))
    # 90 % target; with ~800 sessions the binomial SE is ~0.011, clustering doubles it.
    assert 0.85 <= coverage <= 0.97, coverage


def test_prediction_columns_factors_and_ood(classification):
    bundle = classification.bundle
    patients = new_patients(5)
    out = bundle.predict(patients)
    assert len(out) == len(patients)
    factors = json.loads(out["top_factors"].iloc[0])
    assert 3 <= len(factors) <= 5
    assert abs(factors[0]["contribution"]) >= abs(factors[-1]["contribution"])
    assert all(f["direction"] in ("raises", "lowers") for f in factors)
    odd = patients.iloc[[0]].copy()
    odd["age"] = 104
    odd["condition"] = "other"
    flagged = bundle.predict(odd).iloc[0]
    assert flagged["ood"]
    assert "age = 104 is above the range" in flagged["ood_reasons"]


def test_plain_language_explanation_has_prediction_factors_and_caveats(classification):
    from eih_ml.explain.text import as_text, patient_explanation

    bundle = classification.bundle
    row = bundle.predict(new_patients(3)).iloc[0].to_dict()
    text = patient_explanation(row, bundle.meta, bundle.task)
    assert "probability" in text["headline"] and "%" in text["headline"]
    assert 3 <= len(text["factors"]) <= 5
    assert any("training cohort" in s for s in text["factors"])
    assert any("not a diagnosis" in c for c in text["caveats"])
    assert any("kappa" in c for c in text["caveats"])
    assert "Strongest factors" in as_text(text)


def test_protocol_whatif_covers_every_candidate_and_flags_hyperalgesia(regression):
    from eih_ml.explain.whatif import DEFAULT_PROTOCOLS, protocol_whatif

    bundle = regression.bundle
    _, X, _ = bundle.prepare(new_patients(3))
    table = protocol_whatif(bundle, X.iloc[[0]])
    assert list(table["protocol"]) == [p.label for p in DEFAULT_PROTOCOLS]
    assert {"eih_kpa", "interval_low", "interval_high", "flag"} <= set(table.columns)
    negative = table["eih_kpa"] < 0
    assert (table.loc[negative, "flag"] != "").all()
    assert (
        table.loc[table["interval_high"] < 0, "flag"] == "hyperalgesic response predicted"
    ).all()


def test_patient_report_is_self_contained(classification, tmp_path):
    from eih_ml.report.patient import write_patient_report

    patients = new_patients(3)
    pid = str(patients["participant_id"].iloc[0])
    path = write_patient_report(classification.bundle, patients, pid, tmp_path / "r.html")
    html = path.read_text()
    assert "data:image/png;base64," in html
    assert "http://" not in html and "https://" not in html  # no external resources
    assert 'name="viewport"' in html and "@media print" in html
    assert "Other exercise protocols" in html and "not a diagnosis" in html


def test_explain_unknown_participant_is_a_clear_error(classification, tmp_path):
    from eih_ml.errors import DataError
    from eih_ml.report.patient import write_patient_report

    with pytest.raises(DataError, match=r"No row for participant 'nobody'.*participants found"):
        write_patient_report(classification.bundle, new_patients(2), "nobody", tmp_path / "x.html")
    assert not (tmp_path / "x.html").exists()


def test_bundle_round_trip_predicts_the_same(classification, tmp_path):
    from eih_ml.bundle import ModelBundle

    classification.bundle.save(tmp_path / "b")
    again = ModelBundle.load(tmp_path / "b")
    patients = new_patients(4)
    pd.testing.assert_frame_equal(classification.bundle.predict(patients), again.predict(patients))


def test_bundle_refuses_untrusted_types(tmp_path):
    import skops.io as sio

    from eih_ml.bundle import ModelBundle
    from eih_ml.errors import ModelError

    (tmp_path / "b").mkdir()
    sio.dump({"x": pd.Timestamp("2026-01-01")}, tmp_path / "b" / "pipeline.skops")
    (tmp_path / "b" / "bundle.json").write_text(
        json.dumps(
            {
                "format": 1,
                "reference": {
                    "quantiles": {},
                    "categories": {},
                    "n_participants": 0,
                    "n_sessions": 0,
                },
            }
        )
    )
    with pytest.raises(ModelError, match="outside the trusted families.*pandas"):
        ModelBundle.load(tmp_path / "b")


def test_prediction_is_the_same_whatever_the_text_storage(classification):
    """The prediction path switches pandas text to Python-backed storage (speed); same answer."""
    bundle = classification.bundle
    patients = new_patients(6)
    before = pd.get_option("mode.string_storage")
    fast = bundle.predict(patients)
    assert pd.get_option("mode.string_storage") == before  # the switch does not leak
    ids, X, missing = bundle._prepare(patients)  # the same steps, Arrow-backed storage
    X_python = bundle.prepare(patients)[1]
    pd.testing.assert_frame_equal(
        X.astype(object), X_python.astype(object), check_column_type=False
    )
    slow = bundle._predict_matrix(X, ids, missing, 5)
    pd.testing.assert_frame_equal(fast.astype(object), slow.astype(object), check_column_type=False)


def test_out_of_range_names_each_value_outside_the_cohort_and_rare_categories():
    from eih_ml.explain.reference import GRID, CohortReference

    ref = CohortReference(
        quantiles={"age": list(np.linspace(20, 70, len(GRID))), "bmi": [18.0] * 12 + [35.0]},
        categories={"condition": {"healthy": 120, "fibromyalgia": 3}},
        n_participants=123,
    )
    X = pd.DataFrame(
        {
            "age": [19.0, 45.0, np.nan, 71.0],
            "bmi": [40.0, 20.0, 17.5, 30.0],
            "condition": ["healthy", "fibromyalgia", "whiplash", np.nan],
        }
    )
    reasons = ref.out_of_range(X)
    assert reasons[0] == [
        "age = 19 is below the range of 98 % of the training cohort (20 to 70)",
        "bmi = 40 is above the range of 98 % of the training cohort (18 to 35)",
    ]
    assert reasons[1] == [
        "condition 'fibromyalgia' was rare in the training cohort (3 participants)"
    ]
    assert reasons[2] == [
        "bmi = 17.5 is below the range of 98 % of the training cohort (18 to 35)",
        "condition 'whiplash' was absent from the training cohort",
    ]
    assert reasons[3] == ["age = 71 is above the range of 98 % of the training cohort (20 to 70)"]


@pytest.mark.parametrize("model", ["elastic_net", "random_forest", "xgboost"])
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_branches_applied_directly_equal_the_column_transformer(
    classification, regression, model, task
):
    from eih_ml.explain.attribution import unwrap
    from eih_ml.explain.preprocess import apply_branches

    result = classification if task == "classification" else regression
    prep = unwrap(result.cvs[model].folds[0].pipeline)[:-1]
    X = result.X.iloc[:60]
    direct = apply_branches(prep, X)
    np.testing.assert_array_equal(direct, np.asarray(prep.transform(X), dtype=float))
    assert direct.shape[1] == len(prep.get_feature_names_out())
    # a frame with other columns than those seen in fit takes sklearn's own path (and its error)
    with pytest.raises(ValueError):
        apply_branches(prep, X.drop(columns=X.columns[0]))


def bundle_for(result, model):
    """A bundle of one model family (an experiment bundles only its best one)."""
    from eih_ml.bundle import ModelBundle

    b = result.bundle
    pipeline = result.cvs[model].folds[0].pipeline
    mean = background_mean(pipeline, result.X).tolist() if model == "elastic_net" else None
    meta = {**b.meta, "model": model, "background_mean": mean}
    return ModelBundle(pipeline, b.conformal, meta, b.reference)


def assert_same_predictions(got: list[dict], expected: list[dict]) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g.keys() == e.keys()
        for key, value in e.items():
            if key == "top_factors":
                a, b = json.loads(g[key]), json.loads(value)
                assert [f["feature"] for f in a] == [f["feature"] for f in b]
                for fa, fb in zip(a, b, strict=True):
                    assert fa["contribution"] == pytest.approx(fb["contribution"], abs=1e-9)
                    fa.pop("contribution"), fb.pop("contribution")
                    assert fa == fb
            elif isinstance(value, float):
                assert g[key] == pytest.approx(value, rel=1e-12, abs=1e-12), key
            else:
                assert g[key] == value, key


@pytest.mark.parametrize("model", ["elastic_net", "random_forest", "xgboost"])
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_records_take_the_short_way_with_the_same_answer(classification, regression, model, task):
    """One patient as a record (the web API's case) or a few-row table: typed, derived and
    explained on arrays, with the answer of the DataFrame path (prepare + predict_matrix)."""
    bundle = bundle_for(classification if task == "classification" else regression, model)
    patients = new_patients(12)
    records = patients.to_dict(orient="records")
    ids, X, missing = bundle.prepare(patients)
    expected = bundle.predict_matrix(X, ids, missing).to_dict(orient="records")
    assert all(bundle._predict_plain([r], 5) is not None for r in records)  # the short way
    one_by_one = [bundle.predict([r], as_records=True)[0] for r in records]
    assert_same_predictions(one_by_one, expected)
    # several sessions of one participant go the full way, with the same answer
    assert bundle._predict_plain(records, 5) is None
    assert_same_predictions(bundle.predict(records, as_records=True), expected)
    few = bundle.predict(patients.iloc[:2]).to_dict(orient="records")
    assert_same_predictions(few, expected[:2])


def test_a_record_with_an_error_is_reported_by_validation(classification):
    from eih_ml.data.validate import CohortValidationError

    bundle = classification.bundle
    records = new_patients(2).to_dict(orient="records")[:2]
    records[1]["pain_nrs"] = 14.0  # 0-10
    with pytest.raises(CohortValidationError) as err:
        bundle.predict(records, rows=[7, 8], as_records=True)
    v = err.value.report.violations
    assert v[["row", "column", "rule"]].values.tolist() == [[8, "pain_nrs", "range"]]


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_xgboost_treeshap_from_xgboost_equals_shap_tree_explainer(classification, regression, task):
    """For XGBoost the attributor reads TreeSHAP from XGBoost (pred_contribs): shap's values,
    and predictions those of predict_proba / predict."""
    import shap

    result = classification if task == "classification" else regression
    pipeline = result.cvs["xgboost"].folds[0].pipeline
    att = Attributor(pipeline, task)
    Xt = att.transform(result.X.iloc[:60])
    scores, values, base = att.predict_and_explain(Xt)
    explainer = shap.TreeExplainer(pipeline[-1])
    np.testing.assert_allclose(values, explainer.shap_values(Xt) @ att._summation, atol=1e-6)
    assert base == pytest.approx(float(np.asarray(explainer.expected_value).reshape(-1)[0]))
    model = pipeline[-1]
    expected = model.predict_proba(Xt)[:, 1] if task == "classification" else model.predict(Xt)
    np.testing.assert_array_equal(scores, np.asarray(expected, dtype=float))
    empty_values, empty_base = att.contributions(Xt[:0])
    assert empty_values.shape == (0, len(att.features)) and empty_base == pytest.approx(base)


def test_a_bundle_scores_questionnaires_with_the_rules_it_was_trained_with(classification):
    """features.questionnaires.max_missing travels in the bundle: prediction prorates as
    training did (before, only tsk_form and hads_items did)."""
    from eih_ml.bundle import ModelBundle

    b = classification.bundle
    derive = {
        **b.meta["derive"],
        "questionnaires": {"tsk_form": "tsk17", "max_missing": {"pcs": 0}},
    }
    strict = ModelBundle(b.pipeline, b.conformal, {**b.meta, "derive": derive}, b.reference)
    patient = new_patients(1).iloc[[0]].copy()
    if "pcs_1" not in patient.columns:
        pytest.skip("the simulated patient has no PCS items")
    patient["pcs_1"] = np.nan  # one of 13 items missing: prorated by default, not with pcs: 0
    assert np.isfinite(b.prepare(patient)[1]["pcs_total"].iloc[0])
    ids, X, missing = strict.prepare(patient)
    assert np.isnan(X["pcs_total"].iloc[0])
    record = patient.to_dict(orient="records")
    assert_same_predictions(
        strict.predict(record, as_records=True),
        strict.predict_matrix(X, ids, missing).to_dict("records"),
    )


# ------------------------------------------------------------------ minimum-information rule
def test_unmeasured_inputs_are_never_factors_and_are_named_once(classification):
    from eih_ml.explain.abstain import measured_mask

    bundle = classification.bundle
    patients = new_patients(40)
    rng = np.random.default_rng(3)
    blanks = [c for c in patients.columns if c.startswith(("cpm_", "ts_", "pcs_", "hads_"))]
    for c in blanks:  # each patient loses a random part of CPM, TS, PCS, HADS
        patients.loc[rng.random(len(patients)) < 0.5, c] = np.nan
    out = bundle.predict(patients)
    _, X, _ = bundle.prepare(patients)
    columns = {c: X[c].to_numpy(dtype=object) for c in X.columns}
    for i, r in out.iterrows():
        assert not r["abstained"]
        for f in json.loads(r["top_factors"]):
            if f["feature"] in columns:
                assert measured_mask(columns, [f["feature"]], len(X))[i], (i, f["feature"])
            assert f["value"] is not None
        if not measured_mask(columns, ["cpm_abs"], len(X))[i]:
            assert "CPM" in r["not_measured"].split(", ")
    assert (out["not_measured"] != "").any()


def test_an_abstained_patient_gets_a_reason_everywhere_not_a_number(classification, tmp_path):
    from eih_ml.explain.text import as_text, patient_explanation
    from eih_ml.report.patient import write_patient_report

    bundle = classification.bundle
    patients = new_patients(2)
    keep = ["participant_id", "session_id", "age", "sex", "exercise_modality"]
    sparse = patients[[c for c in patients.columns if c in keep]]
    row = bundle.predict(sparse).iloc[0].to_dict()
    assert row["abstained"] and pd.isna(row["probability"]) and row["predicted_class"] is None
    assert row["top_factors"] == "[]" and row["prediction_set"] is None
    assert row["abstain_reason"].startswith(
        "Not enough measurements to predict: a pressure pain threshold (PPT at the exercising "
        "muscle or a remote site) is missing;"
    )
    text = patient_explanation(row, bundle.meta, bundle.task)
    assert text["headline"] == row["abstain_reason"] and text["factors"] == []
    assert (
        text["not_measured"].startswith("Not measured: ")
        and "PPT at both sites" in text["not_measured"]
    )
    assert "probability" not in as_text(text) and "Strongest factors" not in as_text(text)
    pid = str(sparse["participant_id"].iloc[0])
    html = write_patient_report(bundle, sparse, pid, tmp_path / "r.html").read_text()
    assert "No prediction." in html and "data:image/png" not in html
    assert "Other exercise protocols" not in html and bundle.abstain_rule.describe() in html


def test_whatif_answers_when_only_the_protocol_is_missing(classification):
    from eih_ml.explain.whatif import protocol_whatif

    bundle = classification.bundle
    patients = new_patients(2)
    protocol = [c for c in patients.columns if c.startswith("exercise_")]
    no_protocol = patients.drop(columns=protocol)
    row = bundle.predict(no_protocol).iloc[0]
    assert row["abstained"] and "the exercise type is missing" in row["abstain_reason"]
    _, X, _ = bundle.prepare(no_protocol)
    table = protocol_whatif(bundle, X.iloc[[0]])  # the clinician is choosing the protocol
    assert len(table) > 0 and table["probability"].between(0, 1).all()
    empty = bundle.prepare(no_protocol[["participant_id", "session_id", "age"]])[1]
    assert protocol_whatif(bundle, empty.iloc[[0]]).empty  # still too little measured


def test_the_experiment_counts_the_training_participants_the_rule_would_turn_away(
    classification, tmp_path
):
    counts = classification.summary["abstain"]
    assert counts["n_participants"] == classification.bundle.reference.n_participants
    assert 0 <= counts["n_participants_abstained"] <= counts["n_participants"]
    strict = experiment(
        tmp_path, "models=[elastic_net]", "prediction.abstain.min_measured_share=1.0", n=60
    )
    strict_counts = strict.summary["abstain"]
    groups = pd.Series(strict.groups)
    core = [m for m in strict.bundle.abstain_rule.measurements if m.core]
    assert core and not any(m.key.startswith("bio_") for m in core)  # optional block
    measured = [strict.X[list(m.features)].notna().any(axis=1) for m in core]
    full = pd.concat(measured, axis=1).all(axis=1).to_numpy()
    assert strict_counts["n_sessions_abstained"] == int((~full).sum()) > 0
    assert strict_counts["n_participants_abstained"] == groups[~full].nunique()


def test_the_ood_flag_fires_on_at_most_5_percent_of_training_and_more_on_shifted_data():
    """Calibrated on the training sessions (per-feature margin + Mahalanobis threshold)."""
    from eih_ml.data.load import load_frame
    from eih_ml.data.validate import validate_cohort
    from eih_ml.explain.reference import CohortReference
    from eih_ml.features.derive import derive_features, model_features
    from eih_ml.models import model_matrix

    def matrix(n, seed, scenario="chronic_mixed"):
        raw = simulate_cohort(n, scenario, seed=seed).cohort
        table = derive_features(validate_cohort(load_frame(raw)).data)
        return table

    train = matrix(400, 1)
    config = load_config(None, [])
    features = model_features(
        train, config.features.blocks.model_dump(), config.features.include, []
    )
    X = model_matrix(train, features)
    ref = CohortReference.from_training(X, train["participant_id"].to_numpy())

    def share(frame):
        return float(np.mean([bool(r) for r in ref.out_of_range(frame)]))

    assert share(X) <= 0.05 + 1e-9
    assert ref.false_alarm["rate"] == pytest.approx(share(X))
    assert (
        ref.false_alarm["per_feature_rate"] <= 0.025
        and ref.false_alarm["combination_rate"] <= 0.026
    )
    fresh = model_matrix(matrix(500, 77), features)
    assert share(fresh) <= 0.08  # new participants of the same population: near the rate
    shifted = fresh.assign(ppt_local_pre=fresh["ppt_local_pre"] * 2.5)  # another algometer unit
    assert share(shifted) > 0.3
    reasons = ref.out_of_range(shifted.iloc[:50])
    assert any("ppt_local_pre" in "; ".join(r) for r in reasons)
    odd = fresh.iloc[:40].copy()
    odd["cpm_abs"] = -odd["cpm_abs"] * 3  # an implausible combination
    assert any("unusual combination" in "; ".join(r) for r in ref.out_of_range(odd))
    back = CohortReference.from_dict(json.loads(json.dumps(ref.to_dict())))
    assert back.out_of_range(shifted.iloc[:50]) == reasons


def sparse_patients(n: int = 65, seed: int = 31) -> pd.DataFrame:
    """``n`` new participants, one session each, some without optional blocks: biomarkers,
    CPM and temporal summation, a questionnaire; one with almost nothing measured."""
    patients = new_patients(n + 10, seed=seed).drop_duplicates("participant_id").head(n)
    patients = patients.reset_index(drop=True)
    assert len(patients) == n
    blocks = {
        0: [c for c in patients if c.startswith("bio_")],
        1: [c for c in patients if c.startswith(("cpm_", "ts_"))],
        2: [c for c in patients if c.startswith("pcs_")],
    }
    for i in range(n):
        if i % 4 in blocks:
            patients.loc[i, blocks[i % 4]] = np.nan
    if n > 7:
        kept = ("participant_id", "session_id", "age", "sex", "exercise_modality")
        patients.loc[7, [c for c in patients if c not in kept]] = np.nan
    return patients


@pytest.mark.parametrize("n", [1, 64, 65])
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_both_paths_give_identical_predictions(classification, regression, task, n):
    """ModelBundle.predict's frame path and its short way of records: the same values, columns
    and dtypes, for one row, FEW_ROWS rows and one more, with missing optional blocks."""
    from eih_ml.bundle import FEW_ROWS
    from eih_ml.prediction import column_names, columns_for

    assert FEW_ROWS == 64
    bundle = (classification if task == "classification" else regression).bundle
    patients = sparse_patients(65).head(n)
    frame = bundle.predict(patients, path="frame")
    short = bundle.predict(patients, path="records")
    pd.testing.assert_frame_equal(short, frame, check_exact=True)
    pd.testing.assert_frame_equal(bundle.predict(patients), frame, check_exact=True)  # auto
    records = patients.to_dict(orient="records")
    assert bundle.predict(records, path="records", as_records=True) == bundle.predict(
        records, path="frame", as_records=True
    )
    # the columns are the declared row of the task, in its order; every required one is there
    assert list(frame.columns) == [c for c in column_names(task) if c in frame.columns]
    assert {c.name for c in columns_for(task) if c.required} <= set(frame.columns)
    assert "eih_low" in frame.columns and "prediction_set" in frame.columns or task == "regression"
    if n > 7:  # the rows with missing blocks were there
        assert frame["abstained"].sum() == 1 and frame.loc[7, "abstained"]
        assert (frame["pain_modulation_profile"] == "not_assessable").sum() >= n // 4


def test_the_short_way_is_taken_only_when_asked_or_by_the_stated_rule(classification):
    from eih_ml.data.load import load_frame

    bundle = classification.bundle
    patients = sparse_patients(3)
    with pytest.raises(ValueError, match="Expected path among auto, frame, records"):
        bundle.predict(patients, path="fast")
    recoded = patients.assign(sex=patients["sex"].str.upper())  # "FEMALE": the loader recodes it
    with pytest.raises(ValueError, match="path='records' takes only rows that validation"):
        bundle.predict(recoded, path="records")
    expected = bundle.predict(patients, path="frame")
    pd.testing.assert_frame_equal(bundle.predict(recoded), expected)  # auto: the frame path
    with pytest.raises(ValueError, match="not a StudyTable"):
        bundle.predict(load_frame(patients), path="records")
    pd.testing.assert_frame_equal(bundle.predict(load_frame(patients)), expected)
