"""Data-driven pain-modulation phenotypes (eih_ml.phenotypes) and ``eih-ml phenotypes``.

Statistics first: on the simulator's ``phenotyped`` scenario (three separable latent classes)
the clusters recover the classes and are stable; on ``chronic_mixed`` (continuous traits, no
classes) the BIC finds no subgroups and forced clusters are unstable. Then the pieces: BIC
choice, profiles, descriptions, the drop rule, the transformer's leakage-free fit and
scikit-learn contract, and the CLI end to end.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.linear_model import LinearRegression
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture
from sklearn.pipeline import Pipeline
from sklearn.utils.estimator_checks import parametrize_with_checks

from eih_ml.data.load import load_frame
from eih_ml.data.simulate import simulate_cohort, write_simulation
from eih_ml.data.validate import validate_cohort
from eih_ml.errors import ConfigError, DataError
from eih_ml.features.derive import derive_features
from eih_ml.phenotypes import (
    DEFAULT_FEATURES,
    K_AUTO,
    PhenotypeClusters,
    PhenotypeResult,
    bootstrap_stability,
    find_phenotypes,
    participant_table,
)
from tests.helpers import run_cli

N = 600  # participants of the statistical tests


def _table(n: int, scenario: str, seed: int) -> tuple[pd.DataFrame, pd.Series]:
    """Feature table of a simulated cohort and each participant's latent phenotype."""
    sim = simulate_cohort(n, scenario, seed=seed)
    table = derive_features(validate_cohort(load_frame(sim.cohort), require_outcome=False).data)
    truth = sim.ground_truth.drop_duplicates("participant_id").set_index("participant_id")
    return table, truth["latent_phenotype"]


@pytest.fixture(scope="module")
def separable() -> tuple[pd.DataFrame, pd.Series, PhenotypeResult]:
    table, truth = _table(N, "phenotyped", seed=1)
    return table, truth, find_phenotypes(table, n_bootstrap=30, seed=0)


@pytest.fixture(scope="module")
def mixed() -> tuple[pd.DataFrame, PhenotypeResult]:
    table, _ = _table(N, "chronic_mixed", seed=1)
    return table, find_phenotypes(table, n_bootstrap=30, seed=0)


# ----------------------------------------------------------------------------------- statistics


def test_clusters_recover_the_latent_phenotypes(separable) -> None:
    _, truth, result = separable
    assert result.k == 3 and result.k_selection == "bic"
    ari = adjusted_rand_score(truth.loc[result.participants.index], result.participants["cluster"])
    assert ari > 0.8, ari  # measured 0.96 (600 participants, seed 1)
    # each cluster is dominated by one latent class, a different one for each cluster
    majority = pd.crosstab(result.participants["cluster"], truth.loc[result.participants.index])
    assert sorted(majority.idxmax(axis=1)) == sorted(truth.unique())
    assert (majority.max(axis=1) / majority.sum(axis=1)).min() > 0.85


def test_bootstrap_stability_is_high_on_separable_classes(separable) -> None:
    st = separable[2].stability
    assert st["n_resamples"] == 30 and st["n_failed"] == 0
    assert -1.0 <= st["ari_p2_5"] <= st["ari_median"] <= st["ari_p97_5"] <= 1.0
    assert st["ari_p2_5"] <= st["ari_mean"] <= st["ari_p97_5"]
    assert st["ari_mean"] > 0.9, st  # measured 0.98
    assert min(st["cluster_jaccard"].values()) > 0.75  # Hennig 2007: stable clusters


def test_no_latent_classes_bic_finds_no_subgroups(mixed) -> None:
    table, result = mixed
    assert result.k == 1, result.bic
    assert result.stability["ari_mean"] is None and "k = 1" in result.stability["reason"]
    assert result.descriptions[1].startswith("The whole cohort: no subgroups")
    # clusters forced onto continuous traits are far less reproducible than real classes
    forced = find_phenotypes(table, k=3, n_bootstrap=15, seed=0)
    st = forced.stability
    assert forced.k == 3 and forced.k_selection == "fixed"
    assert -1.0 <= st["ari_p2_5"] <= st["ari_mean"] <= st["ari_p97_5"] <= 1.0
    assert st["ari_mean"] < 0.7, st  # measured 0.36
    assert forced.bic == result.bic  # every k's BIC is computed in both modes


def test_bic_choice_is_the_argmin_and_matches_a_bare_mixture(separable) -> None:
    table, _, result = separable
    assert list(result.bic) == list(K_AUTO)
    assert all(np.isfinite(v) for v in result.bic.values())
    assert result.k == min(result.bic, key=result.bic.get)
    # the same BIC from scikit-learn directly: median imputation, z-scores, GaussianMixture
    people, used = participant_table(table)
    x = people[used].to_numpy(float)
    x = np.where(np.isnan(x), np.nanmedian(x, axis=0), x)
    z = (x - x.mean(axis=0)) / x.std(axis=0)
    for k in (1, result.k):
        gmm = GaussianMixture(k, covariance_type="full", n_init=3, random_state=0).fit(z)
        assert result.bic[k] == pytest.approx(gmm.bic(z), rel=1e-6)


# ----------------------------------------------------------------------- profiles and descriptions


def test_profiles_are_cluster_means_with_confidence_intervals(separable) -> None:
    _, _, result = separable
    people, prof = result.participants, result.profiles
    assert set(prof["cluster"]) == {"cohort", "1", "2", "3"}
    feats = prof[prof["kind"] == "feature"]
    assert set(feats["name"]) == set(DEFAULT_FEATURES)
    expected = people.groupby("cluster")["ppt_local_pre"].agg(["mean", "size"])
    for c in (1, 2, 3):
        row = feats[(feats["cluster"] == str(c)) & (feats["name"] == "ppt_local_pre")].iloc[0]
        assert row["mean"] == pytest.approx(expected.loc[c, "mean"])
        assert row["n"] == expected.loc[c, "size"]
        assert row["ci_low"] < row["mean"] < row["ci_high"]
        assert row["unit"] == "kPa" and row["label"] == "Pain threshold at the exercising muscle"
    sizes = feats[(feats["name"] == "cpm_abs") & (feats["cluster"] != "cohort")]["n"]
    assert sizes.sum() == result.n_participants
    eih = prof[(prof["kind"] == "outcome") & (prof["name"] == "eih_abs_local")]
    responders = (people["eih_abs_local"] > 0).groupby(people["cluster"]).mean()
    for c in (1, 2, 3):
        row = eih[eih["cluster"] == str(c)].iloc[0]
        assert row["responder_share"] == pytest.approx(responders.loc[c])
        assert row["responder_ci_low"] <= row["responder_share"] <= row["responder_ci_high"]


def test_descriptions_name_the_features_that_differ(separable) -> None:
    _, truth, result = separable
    majority = pd.crosstab(
        result.participants["cluster"], truth.loc[result.participants.index]
    ).idxmax(axis=0)  # latent class -> cluster
    pro = result.descriptions[majority["pro_nociceptive"]].lower()
    anti = result.descriptions[majority["anti_nociceptive"]].lower()
    psych = result.descriptions[majority["psychologically_driven"]].lower()
    for phrase in (
        "lower pain threshold at the exercising muscle",
        "lower conditioned pain modulation",
        "higher temporal summation of pain",
    ):
        assert phrase in pro and phrase not in psych, phrase
    assert "higher conditioned pain modulation" in anti and "less pain catastrophizing" in anti
    assert "more pain catastrophizing (pcs)" in psych and "less pain self-efficacy" in psych
    assert "pain catastrophizing" not in pro  # within 0.5 SD of the cohort there
    for text in (pro, anti, psych):
        assert "than the cohort." in text and "eih at the exercising muscle: mean" in text
    # a pro-nociceptive cluster responds worse to exercise than an anti-nociceptive one
    eih = result.profiles.query("kind == 'outcome' and name == 'eih_abs_local'")
    mean = eih.set_index("cluster")["mean"]
    assert mean[str(majority["pro_nociceptive"])] < mean[str(majority["anti_nociceptive"])]


def test_participants_with_too_much_missing_are_dropped_and_counted(separable) -> None:
    table, _, _ = separable
    table = table.copy()
    ids = table["participant_id"].drop_duplicates().to_numpy()
    gone, partial = ids[:4], ids[10]
    rows = table["participant_id"].isin(gone)
    table.loc[rows, list(DEFAULT_FEATURES[:6])] = np.nan  # 6 of 10 missing: > half
    table.loc[table["participant_id"] == partial, list(DEFAULT_FEATURES[:5])] = np.nan  # half
    result = find_phenotypes(table, n_bootstrap=0)
    assert result.dropped == [str(i) for i in sorted(gone)]
    assert result.n_participants == N - 4 and str(partial) in result.participants.index
    assert any("4 participant(s) dropped" in note for note in result.notes)
    assert result.n_imputed["ppt_local_pre"] >= 1
    payload = result.to_dict()
    assert payload["participants_dropped"]["n"] == 4
    assert payload["stability"]["reason"] == "no bootstrap requested"


def test_bic_caveats_are_noted_for_small_cohorts() -> None:
    table, _ = _table(100, "phenotyped", seed=4)
    result = find_phenotypes(table, n_bootstrap=0)
    assert any("the BIC favours few clusters" in note for note in result.notes), result.notes
    fixed = find_phenotypes(table, k=3, n_bootstrap=0)
    assert not any("BIC favours" in note for note in fixed.notes)


def test_result_json_is_strict_and_complete(separable) -> None:
    result = separable[2]
    text = json.dumps(result.to_dict(), allow_nan=False)  # raises on NaN
    payload = json.loads(text)
    assert payload["k"] == 3 and set(payload["bic"]) == {str(k) for k in K_AUTO}
    assert payload["bic_difference_to_best"]["3"] == 0.0
    assert len(payload["clusters"]) == 3
    first = payload["clusters"][0]
    assert {"n", "share", "description", "features", "eih", "jaccard_stability"} <= set(first)
    assert first["features"]["cpm_abs"]["label"] == "Conditioned pain modulation"
    assert 0 <= first["eih"]["eih_abs_local"]["responder_share"] <= 1
    shares = [c["share"] for c in payload["clusters"]]
    assert sum(shares) == pytest.approx(1.0)
    assert "median" in payload["method"]["imputation"]
    assert repr(result).startswith("<PhenotypeResult: 600 participants, k = 3 (BIC), stability")


def test_bootstrap_result_does_not_depend_on_n_jobs(separable) -> None:
    _, _, result = separable
    x = result.participants[result.features].to_numpy(float)
    labels = result.participants["cluster"].to_numpy() - 1
    one = bootstrap_stability(result.model, x, labels, n_bootstrap=4, seed=5, n_jobs=1)
    two = bootstrap_stability(result.model, x, labels, n_bootstrap=4, seed=5, n_jobs=2)
    assert one == two


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"k": 1}, r"k must be 'auto'.*from 2 to 6; got 1"),
        ({"k": 7}, r"from 2 to 6; got 7"),
        ({"k": "three"}, r"got 'three'"),
        ({"n_bootstrap": -1}, r"n_bootstrap must be an integer >= 0"),
        ({"n_init": 1}, r"n_init must be an integer >= 3"),
        ({"covariance_type": "banded"}, r"covariance_type must be one of full"),
    ],
)
def test_bad_arguments_raise_config_errors(separable, kwargs, match) -> None:
    with pytest.raises(ConfigError, match=match):
        find_phenotypes(separable[0], **kwargs)


def test_unusable_tables_raise_data_errors(separable) -> None:
    table = separable[0]
    with pytest.raises(DataError, match="at least 20 participants"):
        find_phenotypes(table[table["participant_id"].isin(["P00001", "P00002"])])
    with pytest.raises(DataError, match="no participant_id column"):
        find_phenotypes(table.drop(columns="participant_id"))
    with pytest.raises(DataError, match="at least 2 clustering features"):
        find_phenotypes(table, features=["ppt_local_pre"])
    with pytest.raises(DataError, match="not in the feature table: pain_vas"):
        find_phenotypes(table, features=["ppt_local_pre", "pain_vas"])
    with pytest.raises(DataError, match="must be numeric; sex"):
        find_phenotypes(table, features=["ppt_local_pre", "sex"])


# ----------------------------------------------------------------------------------- transformer


@pytest.fixture(scope="module")
def split(separable) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Participant-level train/test split (70/30) of the separable cohort, and its EIH."""
    people, used = participant_table(separable[0])
    x = people[used].to_numpy(float)
    y = people["eih_abs_local"].fillna(0.0).to_numpy()
    test = np.random.default_rng(0).random(len(x)) < 0.3
    return x[~test], y[~test], x[test], y[test]


def test_pipeline_fits_the_clustering_on_training_rows_only(split) -> None:
    x_train, y_train, x_test, _ = split
    pipe = Pipeline([("phenotype", PhenotypeClusters(3)), ("model", LinearRegression())])
    pipe.fit(x_train, y_train)
    fitted = pipe.named_steps["phenotype"]
    medians = np.nanmedian(x_train, axis=0)
    np.testing.assert_allclose(fitted.medians_, medians)
    filled = np.where(np.isnan(x_train), medians, x_train)
    np.testing.assert_allclose(fitted.mean_, filled.mean(axis=0))
    np.testing.assert_allclose(fitted.scale_, filled.std(axis=0))
    assert fitted.n_rows_fitted_ == len(x_train)
    # the test rows would have changed what is learned, had they been seen
    everything = PhenotypeClusters(3).fit(np.vstack([x_train, x_test]))
    assert not np.allclose(everything.medians_, fitted.medians_)
    # a leakage sentinel: predicting wild test rows changes nothing that was learned
    learned = copy.deepcopy({k: v for k, v in vars(fitted).items() if k.endswith("_")})
    wild = np.full_like(x_test, 1e6)
    assert np.isfinite(pipe.predict(wild)).all()
    for name, value in learned.items():
        if isinstance(value, np.ndarray | float | int):
            np.testing.assert_array_equal(getattr(fitted, name), value, err_msg=name)
    np.testing.assert_array_equal(fitted.gmm_.means_, learned["gmm_"].means_)
    proba = fitted.transform(x_test)
    assert proba.shape == (len(x_test), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_transformer_outputs_named_probabilities(split) -> None:
    x_train, _, x_test, _ = split
    names = [f"f{j}" for j in range(x_train.shape[1])]
    frame = pd.DataFrame(x_train, columns=names)
    est = PhenotypeClusters(3).set_output(transform="pandas").fit(frame)
    out = est.transform(pd.DataFrame(x_test, columns=names))
    assert list(out.columns) == ["phenotype_1", "phenotype_2", "phenotype_3"]
    assert list(est.get_feature_names_out()) == list(out.columns)
    assert est.weights_[0] >= est.weights_[1] >= est.weights_[2]  # phenotype_1 is the largest
    assert est.converged_ and est.n_iter_ >= 1
    np.testing.assert_array_equal(est.predict(frame), np.argmax(est.transform(frame), axis=1))
    copy = clone(est)
    assert copy.get_params() == est.get_params() and not hasattr(copy, "gmm_")


def test_transformer_rejects_bad_parameters_in_fit_and_empty_features(split) -> None:
    x_train = split[0]
    est = PhenotypeClusters(n_components=0)  # __init__ only stores
    with pytest.raises(ValueError, match="n_components must be an integer >= 1"):
        est.fit(x_train)
    with pytest.raises(ValueError, match="max_missing_share must lie in"):
        PhenotypeClusters(max_missing_share=1.0).fit(x_train)
    x = pd.DataFrame(x_train[:, :3], columns=["a", "b", "c"])
    x["c"] = np.nan
    with pytest.raises(ValueError, match="feature.s. c have no observed value"):
        PhenotypeClusters(2).fit(x)


@parametrize_with_checks(
    [PhenotypeClusters(), PhenotypeClusters(n_components=2, covariance_type="diag")],
    expected_failed_checks=lambda est: {},  # every check passes; list any future one with a reason
)
def test_sklearn_estimator_contract(estimator, check) -> None:
    check(estimator)


# ------------------------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def cohort_file(tmp_path_factory):
    folder = tmp_path_factory.mktemp("phenotyped")
    return write_simulation(simulate_cohort(300, "phenotyped", seed=3), folder)["cohort"]


def test_cli_writes_every_file_and_is_reproducible(cohort_file, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    args = ["phenotypes", str(cohort_file), "--out", str(out), "--bootstrap", "10"]
    code, stdout, stderr = run_cli(args, capsys)
    assert code == 0, stderr
    assert sorted(p.name for p in out.iterdir()) == [
        "clusters.csv",
        "phenotype_eih.png",
        "phenotype_profiles.png",
        "phenotypes.json",
        "profiles.csv",
    ]  # and no temporary file left behind
    payload = json.loads((out / "phenotypes.json").read_text(encoding="utf-8"))
    bic = {int(k): v for k, v in payload["bic"].items()}
    assert payload["k"] == min(bic, key=bic.get) and payload["k_selection"] == "bic"
    assert payload["participants_dropped"]["n"] == 0
    assert payload["stability"]["n_resamples"] == 10
    assert len(payload["clusters"]) == payload["k"] >= 2
    clusters = pd.read_csv(out / "clusters.csv")
    assert list(clusters.columns[:3]) == ["participant_id", "cluster", "probability"]
    assert len(clusters) == 300 and clusters["participant_id"].is_unique
    assert clusters["probability"].between(1 / payload["k"], 1).all()
    assert set(clusters["cluster"]) == set(range(1, payload["k"] + 1))
    profiles = pd.read_csv(out / "profiles.csv")
    assert {"cluster", "name", "mean", "ci_low", "ci_high", "std_difference"} <= set(profiles)
    for png in ("phenotype_profiles.png", "phenotype_eih.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"k = {payload['k']} (lowest BIC over k = 1-6)" in stdout
    assert "Cluster 1 (n = " in stdout and "adjusted Rand index" in stdout
    again = tmp_path / "again"
    assert run_cli([*args[:3], str(again), *args[4:]], capsys)[0] == 0
    for name in ("phenotypes.json", "clusters.csv", "profiles.csv"):
        assert (again / name).read_bytes() == (out / name).read_bytes(), name


@pytest.mark.parametrize(
    ("extra", "match"),
    [
        (["--k", "9"], "must be 'auto' or an integer from 2 to 6, got '9'"),
        (["--k", "many"], "must be 'auto' or an integer from 2 to 6, got 'many'"),
        (["--bootstrap", "-1"], "--bootstrap"),
    ],
)
def test_cli_bad_options_exit_2(cohort_file, tmp_path, capsys, extra, match) -> None:
    code, _, stderr = run_cli(
        ["phenotypes", str(cohort_file), "--out", str(tmp_path / "o"), *extra], capsys
    )
    assert code == 2 and match in stderr
    assert not (tmp_path / "o").exists()


def test_cli_missing_file_and_file_as_out_exit_2(cohort_file, tmp_path, capsys) -> None:
    code, _, stderr = run_cli(
        ["phenotypes", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o")], capsys
    )
    assert code == 2 and "nope.csv does not exist" in stderr and "Traceback" not in stderr
    taken = tmp_path / "taken"
    taken.write_text("x")
    code, _, stderr = run_cli(
        ["phenotypes", str(cohort_file), "--out", str(taken), "--bootstrap", "0"], capsys
    )
    assert code == 2 and "must be a directory" in stderr
