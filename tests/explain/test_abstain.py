"""The minimum-information rule: fitted from the training matrix, tested at its boundary with the
wording a clinician reads, missing measurements named once, and the rule kept in the bundle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eih_ml.config import AbstainConfig, load_config
from eih_ml.errors import ConfigError
from eih_ml.explain.abstain import AbstainRule, group_measurements

NAN = np.nan
#: A training matrix with six core measurements (PPT twice, CPM, TS, HADS twice, the modality)
#: and a biomarker that only a third of the sessions had.
FEATURES = [
    "ppt_local_pre",
    "ppt_remote_pre",
    "cpm_abs",
    "ts_diff",
    "hads_anxiety",
    "hads_depression",
    "exercise_modality",
    "bio_bdnf",
    "bio_bdnf_nd",
]


def training(n: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    X = pd.DataFrame({f: rng.normal(300, 50, n) for f in FEATURES[:6]})
    X["exercise_modality"] = np.array(["aerobic", "isometric"] * (n // 2), dtype=object)
    X["bio_bdnf"] = np.where(np.arange(n) % 3 == 0, 20.0, NAN)
    X["bio_bdnf_nd"] = 0.0
    return X


def rule(**settings) -> AbstainRule:
    return AbstainRule.fit(AbstainConfig(**settings), training(), {})


def row(**values) -> dict[str, np.ndarray]:
    """One patient as the bundle's named arrays (categories object, numbers float)."""
    out = {}
    for f in FEATURES:
        v = values.get(f, NAN)
        out[f] = np.array([v], dtype=object if f == "exercise_modality" else float)
    return out


def assess(r: AbstainRule, **values):
    a = r.assess(row(**values), 1)
    return bool(a.abstained[0]), a.reasons[0], a.not_measured_text()[0]


def test_the_default_rule_needs_the_protocol_a_ppt_and_half_the_core_measurements():
    r = rule()
    assert [k.any_of for k in r.required] == [
        ("exercise_modality",),
        ("ppt_local_pre", "ppt_remote_pre"),
    ]
    assert r.n_core == 7 and r.n_needed == 4  # biomarkers are optional: never core
    assert r.describe() == (
        "This model predicts only when the exercise type and a pressure pain threshold (PPT at "
        "the exercising muscle or a remote site) are known and at least 4 of its 7 core "
        "measurements were taken."
    )


def test_at_the_boundary_four_of_seven_predicts_and_three_abstains_naming_what_to_measure():
    r = rule()
    base = {"exercise_modality": "aerobic", "ppt_local_pre": 310.0, "cpm_abs": 20.0}
    abstained, reason, missing = assess(r, **base, ts_diff=2.0)
    assert not abstained and reason is None
    assert missing == "PPT at a remote site, HADS, BDNF"
    abstained, reason, missing = assess(r, **base)
    assert abstained
    assert reason == (
        "Not enough measurements to predict: 3 of the 7 core measurements were taken and this "
        "model needs at least 4. Measure PPT at a remote site first."
    )
    assert missing == "PPT at a remote site, temporal summation, HADS, BDNF"


def test_a_missing_key_measurement_abstains_however_much_else_was_measured():
    r = rule()
    others = dict.fromkeys(("cpm_abs", "ts_diff", "hads_anxiety", "hads_depression"), 1.0)
    abstained, reason, missing = assess(r, **others, exercise_modality="aerobic")
    assert abstained
    assert reason == (
        "Not enough measurements to predict: a pressure pain threshold (PPT at the exercising "
        "muscle or a remote site) is missing. Measure a pressure pain threshold (PPT at the "
        "exercising muscle or a remote site) first."
    )
    assert missing.startswith("PPT at both sites")  # named once, not site by site
    assert not assess(r, **others, exercise_modality="aerobic", ppt_remote_pre=250.0)[0]


def test_nothing_measured_asks_for_the_key_measurements_first_then_counts_the_rest():
    abstained, reason, missing = assess(rule())
    assert abstained
    assert reason == (
        "Not enough measurements to predict: the exercise type and a pressure pain threshold "
        "(PPT at the exercising muscle or a remote site) are missing; 0 of the 7 core "
        "measurements were taken and this model needs at least 4. Measure the exercise type, a "
        "pressure pain threshold (PPT at the exercising muscle or a remote site), CPM and "
        "temporal summation first."
    )
    assert missing == "PPT at both sites, CPM, temporal summation, HADS, exercise type, BDNF"


def test_long_requests_name_five_and_count_the_rest():
    r = rule(min_measured_share=1.0, required=[])
    abstained, reason, _ = assess(r)
    assert abstained and reason.endswith(
        "Measure PPT at the exercising muscle, PPT at a remote site, CPM, temporal summation and "
        "anxiety (HADS-A) first, then 2 more of those not measured."
    )


def test_the_order_of_what_to_measure_follows_the_models_importance():
    importance = {"hads_depression": 0.9, "ts_diff": 0.5}
    r = AbstainRule.fit(AbstainConfig(required=[]), training(), {}, importance)
    _, reason, _ = assess(r, cpm_abs=1.0)
    assert reason.endswith("Measure depression (HADS-D), temporal summation and PPT at the "
                           "exercising muscle first.")  # fmt: skip


def test_a_biomarker_below_the_detection_limit_counts_as_measured():
    features = ["bio_bdnf", "bio_bdnf_nd"]
    columns = {"bio_bdnf": np.array([NAN, NAN]), "bio_bdnf_nd": np.array([1.0, 0.0])}
    (m,) = group_measurements(features, {"bio_bdnf": {"label": "BDNF"}})
    assert m.features == ("bio_bdnf",) and m.label == "BDNF"
    from eih_ml.explain.abstain import measured_mask

    assert measured_mask(columns, m.features, 2).tolist() == [True, False]


def test_key_measurements_the_training_data_lacked_are_dropped_and_said():
    X = training()
    X["exercise_modality"] = np.where(np.arange(len(X)) < 5, "aerobic", None)
    r = AbstainRule.fit(AbstainConfig(), X, {})
    assert [k.label for k in r.required] == [
        "a pressure pain threshold (PPT at the exercising muscle or a remote site)"
    ]
    assert r.dropped == ("the exercise type: fewer than 50 % of the training sessions had it",)
    assert r.n_core == 6  # the modality is no longer core either
    no_model = AbstainRule.fit(
        AbstainConfig(), X.drop(columns=["ppt_local_pre", "ppt_remote_pre"]), {}
    )
    assert any("the model does not use it" in d for d in no_model.dropped)


def test_a_misspelt_key_measurement_is_a_config_error():
    config = load_config(
        None, ["prediction.abstain.required=[{label: PPT, any_of: [ppt_locl_pre]}]"]
    )
    with pytest.raises(ConfigError, match="ppt_locl_pre.*not a model feature"):
        AbstainRule.fit(config.prediction.abstain, training(), {})


def test_disabled_rule_never_abstains_but_still_names_what_is_missing():
    abstained, reason, missing = assess(rule(enabled=False))
    assert not abstained and reason is None and missing.startswith("PPT at both sites")
    assert rule(enabled=False).describe().startswith("This model predicts however little")


def test_the_rule_survives_json():
    r = AbstainRule.fit(AbstainConfig(), training(), {}, {"cpm_abs": 1.0})
    assert AbstainRule.from_dict(r.to_dict()) == r
