"""Behaviour of the cohort simulator (eih_ml.data.simulate).

Statistical calibration against the literature lives in test_simulator_calibration.py; these tests
check the data a user gets: reproducible, inside the data contract, shaped like a real study, and
different between scenarios in the ways the scenarios promise.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eih_ml.data.contract import CPM_RANGES, INTENSITY_RANGES, spec_for
from eih_ml.data.simulate import (
    BIOMARKER_PANEL,
    LATENT_CLASSES,
    SCENARIOS,
    Scenario,
    SimulatedCohort,
    simulate_cohort,
    write_simulation,
)
from eih_ml.errors import ConfigError, DataError

BASELINE = ["age", "sex", "bmi", "condition", "pain_duration_months"]
PHENOTYPE = "latent_phenotype"
ITEM_PREFIXES = ("pcs_", "tsk_", "hads_", "csi_", "pseq_")
NONDETECT = re.compile(r"<(LOD|[0-9]+(\.[0-9]+)?)")


@pytest.fixture(scope="module")
def sim() -> SimulatedCohort:
    return simulate_cohort(1500, "chronic_mixed", seed=11)


def _items(cohort: pd.DataFrame) -> list[str]:
    return [c for c in cohort.columns if c.startswith(ITEM_PREFIXES)]


def _assert_in_contract(cohort: pd.DataFrame) -> None:
    for col in cohort.columns:
        spec = spec_for(col)
        assert spec is not None, f"{col} is not a canonical column"
        values = cohort[col].dropna()
        if spec.kind == "category":
            assert set(values) <= set(spec.categories), f"{col}: {set(values)}"
        elif spec.kind == "biomarker":
            text = values[values.map(lambda v: isinstance(v, str))]
            numbers = values[values.map(lambda v: not isinstance(v, str))].astype(float)
            assert text.map(lambda v: NONDETECT.fullmatch(v) is not None).all(), col
            assert (numbers >= 0).all(), col
        elif spec.kind == "numeric":
            x = values.to_numpy(dtype=float)
            if spec.valid_range is not None:
                lo, hi = spec.valid_range
                assert ((x >= lo) & (x <= hi)).all(), f"{col} outside {spec.valid_range}"
            if spec.integer:
                assert np.all(x == np.round(x)), f"{col} has non-integer values"
    for unit, (lo, hi) in INTENSITY_RANGES.items():
        x = cohort.loc[cohort["exercise_intensity_unit"] == unit, "exercise_intensity"]
        assert x.between(lo, hi).all(), unit
    lo, hi = CPM_RANGES["threshold"]
    cpm = cohort[[c for c in cohort.columns if c.startswith("cpm_test_") and c[-1].isdigit()]]
    assert ((cpm >= lo) & (cpm <= hi)).all().all()


# ------------------------------------------------------------------------------------ determinism


def test_repr_names_size_scenario_and_seed(sim: SimulatedCohort) -> None:
    n_rows = len(sim.cohort)
    assert repr(sim) == (
        f"<SimulatedCohort: 1500 participants, {n_rows} sessions, scenario 'chronic_mixed', "
        "seed 11>"
    )
    assert repr(simulate_cohort(1, seed=0)).startswith("<SimulatedCohort: 1 participant, ")


def test_same_seed_writes_same_bytes_other_seed_differs(tmp_path) -> None:
    a = write_simulation(simulate_cohort(40, "chronic_mixed", seed=3), tmp_path / "a")
    b = write_simulation(simulate_cohort(40, "chronic_mixed", seed=3), tmp_path / "b")
    c = write_simulation(simulate_cohort(40, "chronic_mixed", seed=4), tmp_path / "c")
    for key in ("cohort", "ground_truth"):
        assert a[key].read_bytes() == b[key].read_bytes()
        assert a[key].read_bytes() != c[key].read_bytes()
    assert b"\r\n" not in a["cohort"].read_bytes()


def test_written_files_are_complete_and_readable(tmp_path) -> None:
    sim = simulate_cohort(30, seed=5)
    paths = write_simulation(sim, tmp_path / "nested" / "out")
    assert set(paths) == {"cohort", "ground_truth"}
    assert sorted(p.name for p in (tmp_path / "nested" / "out").iterdir()) == [
        "cohort.csv",
        "ground_truth.csv",
    ]  # no temporary file left behind
    back = pd.read_csv(paths["cohort"])
    assert list(back.columns) == list(sim.cohort.columns)
    assert len(back) == len(sim.cohort)
    np.testing.assert_allclose(back["ppt_local_pre_1"], sim.cohort["ppt_local_pre_1"])
    as_text = pd.read_csv(paths["cohort"], dtype=str, keep_default_na=False)
    for col in ("age", "pcs_1", "ts_rating_1", "exercise_intensity"):
        assert not as_text[col].str.contains(".", regex=False).any(), col  # no "3.0"
    assert (as_text["ppt_local_pre_3"] == "").any()  # blanks are empty fields
    write_simulation(simulate_cohort(10, seed=6), tmp_path / "nested" / "out")  # overwrite works
    assert len(pd.read_csv(paths["cohort"])) < len(back)


def test_write_into_a_file_path_raises(tmp_path) -> None:
    target = tmp_path / "taken"
    target.write_text("x")
    with pytest.raises(DataError, match="must be a directory.*is a file"):
        write_simulation(simulate_cohort(5), target)


# ------------------------------------------------------------------------------------ the contract


def test_every_column_is_canonical_and_in_range(sim: SimulatedCohort) -> None:
    _assert_in_contract(sim.cohort)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(min_value=1, max_value=40),
    seed=st.integers(min_value=0, max_value=2**32),
    scenario=st.sampled_from(sorted(SCENARIOS)),
)
def test_any_small_cohort_meets_the_contract(n: int, seed: int, scenario: str) -> None:
    sim = simulate_cohort(n, scenario, seed)
    _assert_in_contract(sim.cohort)
    assert sim.cohort["participant_id"].nunique() == n
    assert list(sim.cohort.columns) == list(simulate_cohort(3, "healthy", 0).cohort.columns)


def test_ids_and_sessions(sim: SimulatedCohort) -> None:
    c = sim.cohort
    assert c["participant_id"].str.fullmatch(r"P\d{5}").all()
    per_person = c.groupby("participant_id")["session_id"].agg(list)
    assert per_person.map(len).between(1, 3).all()
    assert per_person.map(lambda s: s == [f"S{k}" for k in range(1, len(s) + 1)]).all()
    assert per_person.map(len).mean() == pytest.approx(2.0, abs=0.1)
    assert set(per_person.map(len)) == {1, 2, 3}
    assert c["participant_id"].iloc[0] == "P00001"


def test_baseline_fields_identical_within_participant(sim: SimulatedCohort) -> None:
    c = sim.cohort
    baseline = BASELINE + _items(c) + [f"bio_{m}" for m in BIOMARKER_PANEL]
    varying = c.groupby("participant_id")[baseline].nunique(dropna=False).max()
    assert (varying == 1).all(), varying[varying > 1]


def test_sessions_vary_in_protocol(sim: SimulatedCohort) -> None:
    c = sim.cohort
    assert set(c["exercise_modality"]) == {"aerobic", "isometric", "dynamic_resistance"}
    units = c.groupby("exercise_modality")["exercise_intensity_unit"].agg(set)
    assert units["aerobic"] == {"pct_hrr", "pct_vo2max"}
    assert units["isometric"] == {"pct_mvc"}
    assert units["dynamic_resistance"] == {"rpe", "pct_mvc"}
    rpe = c.loc[c["exercise_intensity_unit"] == "rpe", "exercise_intensity"]
    assert rpe.between(6, 20).all()
    multi = c.groupby("participant_id").filter(lambda g: len(g) > 1)
    differing = multi.groupby("participant_id")["exercise_intensity"].nunique() > 1
    assert differing.mean() > 0.5


def test_healthy_have_no_pain_and_sex_other_is_rare(sim: SimulatedCohort) -> None:
    c = sim.cohort
    healthy = c[c["condition"] == "healthy"]
    assert (healthy["pain_nrs"] == 0).all() and (healthy["pain_duration_months"] == 0).all()
    chronic = c[c["condition"] != "healthy"]
    assert chronic["pain_nrs"].mean() > 3 and (chronic["pain_duration_months"] >= 3).all()
    assert 0 < (c["sex"] == "other").mean() < 0.03
    assert set(c["condition"]) == set(dict(SCENARIOS["chronic_mixed"].condition_mix))


# ------------------------------------------------------------------------------------ measurements


def test_ppt_trials_blanks_and_rest_control(sim: SimulatedCohort) -> None:
    c = sim.cohort
    ppt = c.filter(regex=r"^ppt_").to_numpy(dtype=float)
    assert np.allclose(ppt[~np.isnan(ppt)], np.round(ppt[~np.isnan(ppt)], 1))
    assert c["ppt_local_pre_1"].notna().all() and c["ppt_remote_post_1"].notna().all()
    only_two = c["ppt_local_pre_2"].notna() & c["ppt_local_pre_3"].isna()
    single = c["ppt_local_pre_2"].isna()
    assert 0.08 < only_two.mean() < 0.25 and 0 < single.mean() < 0.08
    assert (c["ppt_local_post_3"].isna() == c["ppt_local_pre_3"].isna()).all()
    rest = c["ppt_local_rest_pre_1"].notna()
    assert 0.25 < rest.mean() < 0.35
    assert (c.loc[rest, "ppt_remote_rest_post_1"].notna()).all()
    assert c.loc[~rest].filter(like="_rest_").isna().all().all()


def test_women_have_lower_ppt(sim: SimulatedCohort) -> None:
    c = sim.cohort[sim.cohort["condition"] == "healthy"]
    by_sex = c.groupby("sex")["ppt_local_pre_1"].median()
    assert by_sex["female"] < 0.9 * by_sex["male"]


def test_cpm_and_temporal_summation(sim: SimulatedCohort) -> None:
    c = sim.cohort
    assert (c["cpm_test_type"] == "threshold").all()
    during = c[["cpm_test_during_1", "cpm_test_during_2"]].mean(axis=1)
    before = c[["cpm_test_before_1", "cpm_test_before_2"]].mean(axis=1)
    assert (during - before).mean() > 0  # positive = inhibition
    assert (c["ts_rating_10"] - c["ts_rating_1"]).mean() > 0  # ratings summate
    has_single = c["ts_single_1"].notna()
    assert 0.35 < has_single.mean() < 0.65
    assert (c.loc[has_single, [f"ts_single_{k}" for k in range(1, 6)]].notna()).all().all()


def test_item_missingness_and_whole_questionnaires(sim: SimulatedCohort) -> None:
    people = sim.cohort.drop_duplicates("participant_id")
    items = people[_items(people)]
    assert 0.02 <= items.isna().to_numpy().mean() <= 0.045
    for prefix, n in (("pcs", 13), ("tsk", 17), ("hads", 14), ("csi", 25), ("pseq", 10)):
        block = people[[f"{prefix}_{i}" for i in range(1, n + 1)]]
        assert block.isna().all(axis=1).any(), f"no participant lacks the whole {prefix}"


def test_reverse_keyed_tsk_items_run_against_fear(sim: SimulatedCohort) -> None:
    people = sim.cohort.drop_duplicates("participant_id")
    forward = people[[f"tsk_{i}" for i in range(1, 18) if i not in (4, 8, 12, 16)]].sum(axis=1)
    for i in (4, 8, 12, 16):
        assert people[f"tsk_{i}"].corr(forward) < 0, f"tsk_{i}"
    assert people["tsk_1"].corr(forward) > 0.3


def test_hads_odd_items_measure_anxiety_even_items_depression() -> None:
    sim = simulate_cohort(3000, "chronic_mixed", seed=2)
    truth = sim.ground_truth.drop_duplicates("participant_id").reset_index(drop=True)
    people = sim.cohort.drop_duplicates("participant_id").reset_index(drop=True)
    odd = people[[f"hads_{i}" for i in range(1, 15, 2)]].sum(axis=1)
    even = people[[f"hads_{i}" for i in range(2, 15, 2)]].sum(axis=1)
    assert odd.corr(truth["latent_anxiety"]) > odd.corr(truth["latent_depression"])
    assert even.corr(truth["latent_depression"]) > even.corr(truth["latent_anxiety"])


def test_biomarker_panel_coverage_and_nondetects(sim: SimulatedCohort) -> None:
    people = sim.cohort.drop_duplicates("participant_id")
    bio = people[[f"bio_{m}" for m in BIOMARKER_PANEL]]
    present = bio["bio_il6"].notna()
    assert 0.4 <= present.mean() <= 0.6
    assert (bio.notna().all(axis=1) == present).all()  # whole panel or nothing
    strings = bio[present].map(lambda v: isinstance(v, str))
    assert 0.05 <= strings.to_numpy().mean() <= 0.2
    assert set(bio.loc[present, "bio_il6"][strings["bio_il6"]]) == {"<0.7"}
    assert set(bio.loc[present, "bio_beta_endorphin"][strings["bio_beta_endorphin"]]) == {"<LOD"}
    il6 = bio.loc[present, "bio_il6"][~strings["bio_il6"]].astype(float)
    assert il6.mean() > il6.median() and (il6 >= 0.7).all()  # right-skewed, above the LOD
    endorphin = bio.loc[present, "bio_beta_endorphin"][~strings["bio_beta_endorphin"]]
    assert (endorphin.astype(float) >= BIOMARKER_PANEL["beta_endorphin"][2]).all()
    for marker, (unit, matrix, lod) in BIOMARKER_PANEL.items():
        assert unit and matrix in {"plasma", "serum", "saliva"} and lod > 0, marker


def test_biomarker_panel_agrees_with_the_default_dictionary() -> None:
    # a "<LOD" written by the simulator loads with the LOD the default dictionary declares
    from eih_ml.data.dictionary import default_dictionary

    declared = default_dictionary().biomarkers
    for marker, (unit, matrix, lod) in BIOMARKER_PANEL.items():
        spec = declared[marker]
        assert (spec.unit, spec.matrix, spec.lod) == (unit, matrix, lod), marker


def test_simulated_cohort_loads_and_validates_cleanly(tmp_path) -> None:
    from eih_ml.data.load import load_study
    from eih_ml.data.validate import validate_cohort

    paths = write_simulation(simulate_cohort(60, "chronic_mixed", seed=8), tmp_path)
    report = validate_cohort(load_study(paths["cohort"], None))
    assert report.n_errors == 0 and report.ok, report.violations


# ------------------------------------------------------------------------------------ ground truth


def test_ground_truth_matches_cohort_rows(sim: SimulatedCohort) -> None:
    truth, c = sim.ground_truth, sim.cohort
    assert (truth[["participant_id", "session_id"]] == c[["participant_id", "session_id"]]).all(
        axis=None
    )
    ratio = SCENARIOS["chronic_mixed"].remote_ratio
    np.testing.assert_allclose(
        truth["expected_eih_remote"], ratio * truth["expected_eih_local"], atol=1e-3
    )
    assert (truth["hyperalgesic"] == (truth["expected_eih_local"] < 0)).all()
    for col in ("latent_sensitivity", "latent_ts_facilitation", "latent_cpm_efficiency"):
        assert truth.groupby("participant_id")[col].nunique().max() == 1


def test_observed_eih_tracks_expected_eih(sim: SimulatedCohort) -> None:
    c, truth = sim.cohort, sim.ground_truth
    pre = c.filter(regex=r"^ppt_local_pre_\d$").mean(axis=1)
    post = c.filter(regex=r"^ppt_local_post_\d$").mean(axis=1)
    observed = post - pre
    assert observed.corr(truth["expected_eih_local"]) > 0.4
    assert abs((observed - truth["expected_eih_local"]).mean()) < 10


def test_fibromyalgia_more_hyperalgesic_than_healthy() -> None:
    fm = simulate_cohort(1000, "fibromyalgia", seed=1).ground_truth["hyperalgesic"].mean()
    healthy = simulate_cohort(1000, "healthy", seed=1).ground_truth["hyperalgesic"].mean()
    assert fm > 0.3 and healthy < 0.1 and fm > 4 * healthy


def test_null_scenario_eih_independent_of_baseline() -> None:
    sim = simulate_cohort(4000, "null", seed=3)
    truth, c = sim.ground_truth, sim.cohort
    # expected EIH = protocol effect x multiplier: the multiplier carries the participant part
    multiplier = truth["eih_multiplier"]
    baseline = pd.DataFrame(
        {
            "age": c["age"],
            "female": (c["sex"] == "female").astype(float),
            "bmi": c["bmi"],
            "ppt_pre": c["ppt_local_pre_1"],
            "pain_nrs": c["pain_nrs"],
            "pcs_1": c["pcs_1"],
            # the numeric latent traits (latent_phenotype is a class code, "none" here)
            **{k: truth[k] for k in truth.columns if k.startswith("latent_") and k != PHENOTYPE},
        }
    )
    bound = 4 / np.sqrt(len(c))
    corr = baseline.corrwith(multiplier).abs()
    assert (corr < bound).all(), corr[corr >= bound]
    by_condition = multiplier.groupby(c["condition"]).mean()
    assert by_condition.max() - by_condition.min() < 0.15
    within = truth.groupby("exercise_modality")[["expected_eih_local"]].transform("mean")
    residual = truth["expected_eih_local"] - within["expected_eih_local"]
    assert baseline.corrwith(residual).abs().max() < bound


def test_chronic_mixed_eih_depends_on_sensitivity(sim: SimulatedCohort) -> None:
    truth = sim.ground_truth
    assert truth["eih_multiplier"].corr(truth["latent_sensitivity"]) < -0.3
    by_condition = truth.groupby("condition")["hyperalgesic"].mean()
    assert by_condition["fibromyalgia"] > by_condition["low_back_pain"] > by_condition["healthy"]


def test_latent_phenotype_is_none_without_classes_and_shifts_traits_with_them(
    sim: SimulatedCohort,
) -> None:
    assert set(sim.ground_truth[PHENOTYPE]) == {"none"}
    truth = simulate_cohort(1500, "phenotyped", seed=2).ground_truth
    people = truth.drop_duplicates("participant_id")
    assert truth.groupby("participant_id")[PHENOTYPE].nunique().max() == 1
    shares = people[PHENOTYPE].value_counts(normalize=True)
    expected = dict(SCENARIOS["phenotyped"].latent_classes)
    assert set(shares.index) == set(expected) == set(LATENT_CLASSES)
    for name, share in expected.items():
        assert abs(shares[name] - share) < 0.05, name
    means = people.groupby(PHENOTYPE)[
        ["latent_sensitivity", "latent_cpm_efficiency", "latent_catastrophizing"]
    ].mean()
    pro, anti = means.loc["pro_nociceptive"], means.loc["anti_nociceptive"]
    psych = means.loc["psychologically_driven"]
    assert pro["latent_sensitivity"] - anti["latent_sensitivity"] > 2
    assert anti["latent_cpm_efficiency"] - pro["latent_cpm_efficiency"] > 2
    assert psych["latent_catastrophizing"] - pro["latent_catastrophizing"] > 1


def test_biomarkers_carry_signal_only_in_biomarker_signal() -> None:
    def corr(scenario: str) -> float:
        truth = simulate_cohort(3000, scenario, seed=4).ground_truth
        truth = truth.drop_duplicates("participant_id").dropna(subset=["bio_aea_true"])
        return float(np.log(truth["bio_aea_true"]).corr(truth["random_effect"]))

    assert corr("biomarker_signal") > 0.25
    assert abs(corr("chronic_mixed")) < 0.08


# ------------------------------------------------------------------------------------ scenarios


def test_registry_holds_the_documented_scenarios() -> None:
    required = {"healthy", "chronic_mixed", "fibromyalgia", "biomarker_signal", "null"}
    assert required <= set(SCENARIOS)
    for name, scenario in SCENARIOS.items():
        assert scenario.name == name and scenario.description and scenario.sources
        with pytest.raises(dataclasses.FrozenInstanceError):
            scenario.response_sd = 0.0  # type: ignore[misc]
    with pytest.raises(TypeError):
        SCENARIOS["extra"] = SCENARIOS["healthy"]  # type: ignore[index]
    assert simulate_cohort(5).scenario is SCENARIOS["chronic_mixed"]


def test_custom_scenario_is_accepted() -> None:
    only_iso = dataclasses.replace(
        SCENARIOS["healthy"], name="iso", modality_probs=(0.0, 1.0, 0.0), rest_fraction=0.0
    )
    sim = simulate_cohort(50, only_iso, seed=1)
    assert set(sim.cohort["exercise_modality"]) == {"isometric"}
    assert sim.cohort["ppt_local_rest_pre_1"].isna().all()
    assert "scenario 'iso'" in repr(sim)


def test_scenario_differences_in_observed_data() -> None:
    healthy = simulate_cohort(800, "healthy", seed=9).cohort
    fm = simulate_cohort(800, "fibromyalgia", seed=9).cohort
    assert fm["ppt_local_pre_1"].median() < 0.8 * healthy["ppt_local_pre_1"].median()
    ts = (fm["ts_rating_10"] - fm["ts_rating_1"]).mean()
    assert ts > (healthy["ts_rating_10"] - healthy["ts_rating_1"]).mean()
    assert (fm["sex"] == "female").mean() > 0.8
    assert (
        fm.filter(regex=r"^csi_").sum(axis=1).mean()
        > healthy.filter(regex=r"^csi_").sum(axis=1).mean()
    )


# ------------------------------------------------------------------------------------ errors


def test_unknown_scenario_names_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match=r"Unknown scenario 'chronic'.*healthy, chronic_mixed"):
        simulate_cohort(10, "chronic")


@pytest.mark.parametrize("n", [0, -5, 1.5, True, "10", None, 10**7])
def test_bad_participant_count_raises(n: object) -> None:
    with pytest.raises(DataError, match=r"n_participants must be an integer from 1 to"):
        simulate_cohort(n)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [-1, 1.0, "0"])
def test_bad_seed_raises(seed: object) -> None:
    with pytest.raises(DataError, match=r"seed must be an integer >= 0"):
        simulate_cohort(5, seed=seed)  # type: ignore[arg-type]


def test_bad_custom_scenario_raises() -> None:
    bad_condition = dataclasses.replace(SCENARIOS["healthy"], condition_mix=(("migraine", 1.0),))
    with pytest.raises(ConfigError, match=r"unknown conditions \['migraine'\].*allowed: healthy"):
        simulate_cohort(5, bad_condition)
    bad_weights = dataclasses.replace(SCENARIOS["healthy"], session_probs=(0.0, 0.0, 0.0))
    with pytest.raises(ConfigError, match="session_probs must be non-negative weights"):
        simulate_cohort(5, bad_weights)
    bad_share = dataclasses.replace(SCENARIOS["healthy"], rest_fraction=1.5)
    with pytest.raises(ConfigError, match=r"shares must lie in \[0, 1\].*rest_fraction"):
        simulate_cohort(5, bad_share)


def test_thirty_thousand_participants_simulate() -> None:
    # Speed is measured in bench/ (bench_scaling), not asserted here.
    sim = simulate_cohort(30_000, seed=0)
    assert sim.cohort["participant_id"].nunique() == 30_000
    assert isinstance(sim.scenario, Scenario)
