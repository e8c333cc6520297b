"""EIH outcomes, responder rules, labels and the reliability ceiling, against hand-worked values."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from eih_ml.errors import ConfigError, DataError
from eih_ml.outcomes import (
    CLASS_NAMES,
    Outcome,
    ResponderRule,
    define_outcome,
    eih_outcomes,
    label,
    outcome_column,
    reliability_ceiling,
)

NAN = np.nan

# Published-style reliability: SD 60 kPa, ICC 0.5 -> SEM = 60 * sqrt(0.5) = 42.426 kPa.
SEM_60_05 = 60.0 * math.sqrt(0.5)


# ---------------------------------------------------------------------------------------------
# eih_outcomes
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def ppt() -> pd.DataFrame:
    """Trial-mean PPTs (kPa) for three sessions, hand-picked."""
    return pd.DataFrame(
        {
            "ppt_local_pre": [300.0, 400.0, 200.0],
            "ppt_local_post": [345.0, 380.0, 200.0],
            "ppt_remote_pre": [250.0, 500.0, 220.0],
            "ppt_remote_post": [240.0, 550.0, NAN],
            "ppt_local_rest_pre": [300.0, 400.0, NAN],
            "ppt_local_rest_post": [315.0, 390.0, NAN],
        },
        index=pd.Index([2, 3, 4], name="row"),
    )


def test_eih_abs_and_rel_with_the_sign_convention(ppt):
    out = eih_outcomes(ppt)
    assert out.index.equals(ppt.index)
    # Row 2: local 300 -> 345: +45 kPa = +15 % (post > pre: hypoalgesia, positive).
    # Row 3: local 400 -> 380: -20 kPa = -5 % (post < pre: hyperalgesia, negative).
    assert out["eih_abs_local"].tolist() == pytest.approx([45.0, -20.0, 0.0])
    assert out["eih_rel_local"].tolist() == pytest.approx([15.0, -5.0, 0.0])
    # Remote: 250 -> 240 = -10 kPa = -4 %; 500 -> 550 = +50 = +10 %; post missing -> NaN.
    assert out["eih_abs_remote"].tolist()[:2] == pytest.approx([-10.0, 50.0])
    assert out["eih_rel_remote"].tolist()[:2] == pytest.approx([-4.0, 10.0])
    assert math.isnan(out["eih_abs_remote"].iloc[2])


def test_global_is_the_mean_of_both_sites_and_nan_when_one_is_missing(ppt):
    out = eih_outcomes(ppt)
    # (45 + -10) / 2 = 17.5; (-20 + 50) / 2 = 15; remote missing -> NaN, never the local value.
    assert out["eih_abs_global"].iloc[:2].tolist() == pytest.approx([17.5, 15.0])
    assert out["eih_rel_global"].iloc[:2].tolist() == pytest.approx([5.5, 2.5])
    assert math.isnan(out["eih_abs_global"].iloc[2])
    assert math.isnan(out["eih_rel_global"].iloc[2])


def test_rest_adjusted_change(ppt):
    out = eih_outcomes(ppt)
    # Row 2: exercise +45, quiet rest 300 -> 315 = +15: adjusted +30 (Vaegter 2019 design).
    # Row 3: exercise -20, rest 400 -> 390 = -10: adjusted -10.
    assert out["rest_change_local"].iloc[:2].tolist() == pytest.approx([15.0, -10.0])
    assert out["eih_adj_local"].iloc[:2].tolist() == pytest.approx([30.0, -10.0])
    assert math.isnan(out["eih_adj_local"].iloc[2])
    # Rest only at the local site: no remote or global adjusted outcome.
    assert "eih_adj_remote" not in out.columns
    assert "eih_adj_global" not in out.columns
    assert "rest_change_global" not in out.columns


def test_rest_adjusted_global_when_both_sites_have_rest():
    ppt = pd.DataFrame(
        {
            "ppt_local_pre": [300.0],
            "ppt_local_post": [345.0],
            "ppt_local_rest_pre": [300.0],
            "ppt_local_rest_post": [315.0],
            "ppt_remote_pre": [250.0],
            "ppt_remote_post": [240.0],
            "ppt_remote_rest_pre": [250.0],
            "ppt_remote_rest_post": [245.0],
        }
    )
    out = eih_outcomes(ppt).iloc[0]
    # Local adj 45 - 15 = 30; remote adj -10 - (-5) = -5; global (30 - 5) / 2 = 12.5.
    assert out["eih_adj_remote"] == pytest.approx(-5.0)
    assert out["eih_adj_global"] == pytest.approx(12.5)
    assert out["rest_change_global"] == pytest.approx(5.0)


def test_one_site_only_gives_no_global_and_zero_pre_gives_no_relative_change():
    out = eih_outcomes(pd.DataFrame({"ppt_local_pre": [0.0, 250.0], "ppt_local_post": [50.0, NAN]}))
    assert list(out.columns) == ["eih_abs_local", "eih_rel_local"]
    assert out["eih_abs_local"].iloc[0] == 50.0
    assert out["eih_rel_local"].isna().all()
    # A post PPT without its pre, or the reverse, gives no site at all.
    assert eih_outcomes(pd.DataFrame({"ppt_remote_post": [1.0]})).shape == (1, 0)


# ---------------------------------------------------------------------------------------------
# Responder rules and thresholds
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("sem", 42.43),  # 60 * sqrt(1 - 0.5)
        ("2sem", 84.85),
        ("mdc95", 117.6),  # 1.96 * sqrt(2) * 42.426 = 1.96 * 60
    ],
)
def test_published_sem_thresholds_from_sd_and_icc(rule, expected):
    r = ResponderRule(rule, sd=60.0, icc=0.5, sem_source="published")
    assert r.threshold() == pytest.approx(expected, abs=0.005)
    assert r.needs_sem and not r.uses_training_data


def test_published_sem_given_directly_wins_over_sd():
    r = ResponderRule("2sem", sem=30.0, sd=60.0, icc=0.5, sem_source="published")
    assert r.threshold() == pytest.approx(60.0)
    assert ResponderRule("mdc95", sem=10.0, sem_source="published").threshold() == pytest.approx(
        1.96 * math.sqrt(2.0) * 10.0
    )


def test_gt0_and_pct_thresholds():
    assert ResponderRule("gt0").threshold() == 0.0
    assert ResponderRule("pct", pct=12.5).threshold() == 12.5
    assert ResponderRule("gt0").multiplier == 0.0
    assert not ResponderRule("pct").uses_training_data


def test_training_sem_uses_one_session_per_participant():
    # A has sessions 10 and 1000: only the first (10) counts, so A does not dominate the SD.
    values = np.array([10.0, 1000.0, 20.0, 30.0, 40.0])
    groups = np.array(["A", "A", "B", "C", "D"])
    sd = np.std([10.0, 20.0, 30.0, 40.0], ddof=1)  # 12.910
    r = ResponderRule("sem", icc=0.5, sem_source="training")
    assert r.uses_training_data
    assert r.threshold(values, groups) == pytest.approx(sd * math.sqrt(0.5))  # 9.129
    assert r.threshold(values, groups) == pytest.approx(9.129, abs=1e-3)
    # Without groups every row counts (the 1000 inflates the SD).
    assert r.threshold(values) > 100.0


def test_training_sem_takes_the_first_session_that_has_an_outcome():
    # E's first session has no outcome: E still counts with its second session (50).
    values = np.array([10.0, NAN, 50.0, 20.0, 30.0])
    groups = np.array(["A", "E", "E", "B", "C"])
    r = ResponderRule("2sem", icc=0.5, sem_source="training")
    expected = 2.0 * np.std([10.0, 50.0, 20.0, 30.0], ddof=1) * math.sqrt(0.5)
    assert r.threshold(values, groups) == pytest.approx(expected)


def test_training_sem_needs_three_participants():
    r = ResponderRule("sem", sem_source="training")
    with pytest.raises(DataError, match=r"Only 2 participants .* published SEM"):
        r.threshold(np.array([1.0, 2.0, 3.0]), np.array(["A", "A", "B"]))


def test_rule_errors_name_the_fix():
    with pytest.raises(
        ConfigError, match=r"outcome\.rule must be one of gt0, sem, 2sem, mdc95, pct"
    ):
        ResponderRule("3sem")
    with pytest.raises(
        ConfigError,
        match=r"'2sem' with sem_source 'published' needs outcome\.reliability\.sem .* "
        r"Or set sem_source: training",
    ):
        ResponderRule("2sem", sem_source="published", sd=None, sem=None)
    with pytest.raises(ConfigError, match=r"sem_source 'training' needs outcome\.reliability\.icc"):
        ResponderRule("sem", sem_source="training", icc=None)
    with pytest.raises(ConfigError, match=r"icc must be in \[0, 1\); got 1\.0"):
        ResponderRule("sem", icc=1.0)
    with pytest.raises(ConfigError, match=r"sem_source must be one of published, training"):
        ResponderRule("sem", sem_source="publshed")
    with pytest.raises(ConfigError, match=r"outcome\.reliability\.sd must be a positive number"):
        ResponderRule("sem", sd=-60.0, sem_source="published")
    # gt0 and pct need no SEM, so a published source without one is fine.
    assert ResponderRule("gt0", sem_source="published").threshold() == 0.0


# ---------------------------------------------------------------------------------------------
# Labels
# ---------------------------------------------------------------------------------------------


def test_binary_and_three_class_labels_at_the_boundaries():
    v = np.array([-10.5, -10.0, 0.0, 10.0, 10.5, NAN])
    # Strictly greater than +threshold is a responder; exactly at the threshold is not.
    np.testing.assert_array_equal(label(v, 10.0, "classification"), [0, 0, 0, 0, 1, NAN])
    # Three classes: < -threshold hyperalgesic (0), > +threshold hypoalgesic (2).
    np.testing.assert_array_equal(label(v, 10.0, "multiclass"), [0, 1, 1, 1, 2, NAN])
    assert CLASS_NAMES == ("hyperalgesic", "non_responder", "hypoalgesic")


def test_gt0_three_class_splits_on_zero():
    np.testing.assert_array_equal(
        label(pd.Series([-0.1, 0.0, 0.1]), 0.0, "multiclass"), [0.0, 1.0, 2.0]
    )


def test_label_rejects_an_unknown_task():
    with pytest.raises(
        ConfigError, match=r"task must be one of classification, multiclass, regression"
    ):
        label(np.array([1.0]), 0.0, "three-class")


# ---------------------------------------------------------------------------------------------
# define_outcome
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def table() -> pd.DataFrame:
    """A feature table with local outcomes, 5 participants (P1 twice)."""
    ppt = pd.DataFrame(
        {
            "ppt_local_pre": [300.0, 300.0, 200.0, 400.0, 250.0, 300.0],
            "ppt_local_post": [345.0, 300.0, 205.0, 300.0, 400.0, NAN],
            "ppt_local_rest_pre": [300.0, 300.0, 200.0, 400.0, 250.0, 300.0],
            "ppt_local_rest_post": [330.0, 300.0, 200.0, 400.0, 250.0, 300.0],
        }
    )
    out = eih_outcomes(ppt)
    out.insert(0, "participant_id", ["P1", "P1", "P2", "P3", "P4", "P5"])
    return out


def test_define_outcome_published_rule_records_its_threshold(table):
    rule = ResponderRule("2sem", sd=60.0, icc=0.5, sem_source="published")
    out = define_outcome(table, rule=rule)
    prov = out.provenance()
    assert prov["outcome"] == "eih_abs_local"
    assert prov["rule"] == "2sem"
    assert prov["threshold"] == pytest.approx(84.85, abs=0.005)
    assert prov["threshold_per_fold"] is False
    assert prov["rule_parameters"]["sd"] == 60.0 and prov["rule_parameters"]["icc"] == 0.5
    # abs: 45, 0, 5, -100, 150, NaN -> only 150 > 84.85.
    assert out.y.tolist()[:5] == [0.0, 0.0, 0.0, 0.0, 1.0]
    assert math.isnan(out.y.iloc[5])
    assert prov["rows_without_outcome"] == 1 == out.excluded
    assert "1 row(s) without eih_abs_local" in out.notes[0]
    assert "rule 2sem > 84.9" in repr(out)


def test_define_outcome_training_rule_is_estimated_per_fold(table):
    rule = ResponderRule("sem", icc=0.5, sem_source="training")
    out = define_outcome(table, rule=rule)
    prov = out.provenance()
    assert prov["threshold"] is None
    assert prov["threshold_per_fold"] is True
    # One session per participant: P1's first (45), then 5, -100, 150 (P5 has no outcome).
    expected = np.std([45.0, 5.0, -100.0, 150.0], ddof=1) * math.sqrt(0.5)
    assert f"{expected:.3g}" in out.notes[-1]
    assert out.y.tolist()[:5] == [float(v > expected) for v in [45.0, 0.0, 5.0, -100.0, 150.0]]
    assert "per fold" in repr(out)


def test_define_outcome_three_class_and_regression(table):
    rule = ResponderRule("sem", sem=10.0, sem_source="published")
    three = define_outcome(table, task="multiclass", rule=rule)
    assert three.y.tolist()[:5] == [2.0, 1.0, 1.0, 0.0, 2.0]
    reg = define_outcome(table, task="regression", rule=rule)
    assert reg.rule is None and reg.threshold is None
    assert reg.y.equals(reg.values)
    assert reg.provenance()["rule"] is None
    assert repr(reg) == "<Outcome eih_abs_local: regression, 6 rows>"


def test_the_repr_of_a_label_without_its_rule_names_the_classes_not_a_crash():
    # Found by mypy (#21): a classification Outcome built without its rule raised AttributeError.
    y = pd.Series([1.0, 0.0, 1.0])
    out = Outcome("eih_abs_local", y, "classification", None, 0.0, y)
    assert repr(out) == (
        "<Outcome eih_abs_local: classification, rule none > 0; 3 sessions: "
        "1 non-responders, 2 responders>"
    )


def test_pct_rule_reads_the_relative_change(table):
    out = define_outcome(table, rule=ResponderRule("pct", pct=10.0))
    assert out.name == "eih_rel_local" == outcome_column("local", "abs", "pct")
    # rel: +15 %, 0, +2.5 %, -25 %, +60 %: +5 kPa (2.5 %) is not a 10 % responder.
    assert out.y.tolist()[:5] == [1.0, 0.0, 0.0, 0.0, 1.0]
    assert out.provenance()["threshold"] == 10.0


def test_against_rest_uses_the_adjusted_change(table):
    out = define_outcome(table, against_rest=True)
    assert out.name == "eih_adj_local"
    # Row 0: +45 on exercise, +30 on rest -> +15.
    assert out.values.iloc[0] == pytest.approx(15.0)


def test_define_outcome_errors_name_the_fix(table):
    with pytest.raises(
        ConfigError,
        match=r"Outcome eih_abs_remote cannot be computed .* available outcomes: eih_abs_local, "
        r".* Change outcome\.site / outcome\.measure",
    ):
        define_outcome(table, site="remote")
    no_rest = table.drop(columns=["eih_adj_local", "rest_change_local"])
    with pytest.raises(ConfigError, match=r"eih_adj_local .* Quiet-rest columns .* are needed"):
        define_outcome(no_rest, measure="adj")
    with pytest.raises(ConfigError, match=r"pct rule reads the relative change"):
        define_outcome(table, rule=ResponderRule("pct"), against_rest=True)
    with pytest.raises(ConfigError, match=r"pct rule reads the relative change"):
        define_outcome(table, rule=ResponderRule("pct"), measure="adj")
    with pytest.raises(ConfigError, match=r"outcome\.task must be one of"):
        define_outcome(table, task="three-class")
    empty = table.assign(eih_abs_local=NAN)
    with pytest.raises(DataError, match=r"No row has a value for eih_abs_local"):
        define_outcome(empty)


def test_define_outcome_gt0_needs_no_participant_ids(table):
    out = define_outcome(table.drop(columns="participant_id"))
    assert out.threshold == 0.0
    with pytest.raises(ConfigError, match=r"needs participant ids .* groups="):
        define_outcome(
            table.drop(columns="participant_id"),
            rule=ResponderRule("sem", sem_source="training"),
        )


def test_outcome_is_a_plain_dataclass(table):
    out = define_outcome(table)
    assert isinstance(out, Outcome)
    assert out.provenance()["rule_parameters"]["rule"] == "gt0"


# ---------------------------------------------------------------------------------------------
# Reliability ceiling
# ---------------------------------------------------------------------------------------------


def test_reliability_ceiling_matches_the_bivariate_normal_closed_forms():
    c = reliability_ceiling(0.5, 0.5)
    # Retest kappa at prevalence 0.5: 2/pi * asin(rho), rho = ICC = 0.5 -> 1/3 (n = 400,000
    # draws: Monte Carlo SE about 0.0015).
    assert c["retest_kappa"] == pytest.approx(2 / math.pi * math.asin(0.5), abs=0.005)
    # Raw agreement (1 + kappa) / 2 at prevalence 0.5 = 2/3.
    assert c["retest_agreement"] == pytest.approx(2 / 3, abs=0.005)
    # AUROC of the true score: 1/2 + 2/pi * asin(sqrt(icc / 2)) = 1/2 + 1/3 = 5/6.
    assert c["max_auroc"] == pytest.approx(5 / 6, abs=0.005)
    assert c["max_r2"] == 0.5


def test_reliability_ceiling_is_seeded_and_rises_with_icc():
    assert reliability_ceiling(0.5, 0.3, n=20_000) == reliability_ceiling(0.5, 0.3, n=20_000)
    low, high = reliability_ceiling(0.3, 0.5, n=50_000), reliability_ceiling(0.8, 0.5, n=50_000)
    assert low["retest_kappa"] < high["retest_kappa"]
    assert low["max_auroc"] < high["max_auroc"]


@pytest.mark.parametrize(("icc", "prevalence"), [(0.0, 0.5), (1.0, 0.5), (0.5, 0.0), (0.5, 1.0)])
def test_reliability_ceiling_rejects_degenerate_inputs(icc, prevalence):
    with pytest.raises(ConfigError, match=r"must be between 0 and 1 \(exclusive\)"):
        reliability_ceiling(icc, prevalence, n=100)


def test_hyperalgesia_target_labels_a_fall_beyond_the_threshold():
    from eih_ml.outcomes import label

    values = np.array([-30.0, -10.0, -9.9, 0.0, 12.0, np.nan])
    got = label(values, 10.0, "classification", "hyperalgesia")
    np.testing.assert_array_equal(got, [1.0, 0.0, 0.0, 0.0, 0.0, np.nan])
    with pytest.raises(ConfigError, match="target"):
        label(values, 10.0, "classification", "pain")


def test_hyperalgesia_outcome_records_its_target_and_needs_classification():
    from eih_ml.config import load_config

    table = pd.DataFrame({"participant_id": ["a", "b", "c"], "eih_abs_local": [-20.0, 5.0, -1.0]})
    out = define_outcome(table, rule=ResponderRule(target="hyperalgesia"))
    assert out.y.tolist() == [1.0, 0.0, 1.0]  # gt0 mirrored: any fall
    assert out.provenance()["target"] == "hyperalgesia"
    with pytest.raises(ConfigError, match="classification"):
        load_config(None, ["outcome.target=hyperalgesia", "outcome.task=regression"])
