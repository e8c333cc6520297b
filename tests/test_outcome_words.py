"""The outcome in words: one vocabulary for the measure, site, unit and definition."""

import pytest

from eih_ml.explain.text import headline
from eih_ml.outcome_words import outcome_in_words, outcome_parts, outcome_site, outcome_unit
from eih_ml.run_record import RunSummary
from tests.helpers import bundle_meta


@pytest.mark.parametrize(
    ("name", "parts", "unit"),
    [
        ("eih_abs_local", ("abs", "local"), "kPa"),
        ("eih_rel_remote", ("rel", "remote"), "%"),
        ("eih_adj_global", ("adj", "global"), "kPa"),
        ("eih_abs_elbow", (None, None), "kPa"),
    ],
)
def test_acute_outcome_parts_and_units(name, parts, unit):
    assert outcome_parts(name) == parts
    assert outcome_unit({"outcome": name}) == unit


@pytest.mark.parametrize(
    ("programme", "unit"),
    [
        ({"change": "pct", "measure": "pain_nrs"}, "%"),
        ({"change": "abs", "measure": "pain_nrs"}, "NRS points"),
        ({"change": "abs", "measure": "pcs_total"}, "points"),
    ],
)
def test_programme_units(programme, unit):
    assert outcome_unit({"outcome": "followup_x", "programme": programme}) == unit


def test_the_global_site_is_both_sites_not_a_remote_one():
    assert outcome_site({"outcome": "eih_abs_global"}) == (
        "the exercising muscle and a remote site (their mean)"
    )
    assert outcome_site({"outcome": "eih_abs_remote"}) == "a remote site"


def test_definitions_in_one_sentence_per_task():
    base = "of the pressure pain threshold at the exercising muscle from before to after exercise"
    o = {"outcome": "eih_abs_local", "task": "classification", "rule": "gt0"}
    assert outcome_in_words(o | {"target": "hypoalgesia"}, 0.0) == (
        f"Change (kPa) {base}; a responder's threshold rises by more than 0 kPa (rule gt0)."
    )
    assert outcome_in_words(o | {"target": "hyperalgesia", "rule": "sem"}, 12.5) == (
        f"Change (kPa) {base}; hyperalgesia means the threshold falls by more than 12.5 kPa "
        "(rule sem)."
    )
    rel = {"outcome": "eih_rel_local", "task": "classification", "rule": "pct"}
    assert outcome_in_words(rel, 10.0).endswith("rises by more than 10% (rule pct).")
    assert outcome_in_words(rel, None).endswith("rises by more than the rule's cut-off (rule pct).")
    assert outcome_in_words({"outcome": "eih_abs_local", "task": "regression"}) == (
        f"Change (kPa) {base}; positive means less pain sensitivity after exercise."
    )
    multi = outcome_in_words({"outcome": "eih_abs_local", "task": "multiclass", "rule": "sem"}, 20)
    assert "hypoalgesic (the threshold rises by more than 20 kPa)" in multi
    assert "hyperalgesic (it falls by more than 20 kPa)" in multi
    programme = {"description": "at least 30 % less pain at week 12 of the programme"}
    assert outcome_in_words(
        {"outcome": "followup_pain_nrs_w12", "task": "classification", "programme": programme}
    ) == (
        "Programme outcome: at least 30 % less pain at week 12 of the programme; a responder "
        "reaches it."
    )


def test_a_relative_eih_regression_is_read_in_percent_not_kpa():
    meta = bundle_meta({"outcome": "eih_rel_global", "task": "regression"}, "regression")
    row = {"eih_kpa": 12.4, "interval_low": -3.0, "interval_high": 30.0}
    text = headline(row, "regression", meta)
    assert "at the exercising muscle and a remote site (their mean)" in text
    assert "+12 % (a rise" in text and "between -3 and +30 %." in text and "kPa" not in text


def _summary(**changes) -> dict:
    data = {
        "name": "x",
        "toolkit_version": "0",
        "config_digest": "d",
        "primary_metric": "auroc",
        "best_model": "m",
        "data": {
            "source": {"kind": "simulated"},
            "fingerprint": "f",
            "n_participants": 3,
            "n_sessions": 4,
            "flow": {},
            "validation": {},
        },
        "outcome": {"outcome": "eih_abs_local", "task": "classification", "rule": "gt0"},
        "models": {"m": {"metrics": {"auroc": 0.61, "auroc_ci_low": 0.5}}},
    }
    return data | changes


def test_the_record_reads_like_the_mapping_of_the_keys_that_were_set():
    s = RunSummary.from_mapping(_summary())
    assert s.best.metric("auroc") == 0.61 and s.best.metric("brier") is None
    assert s["models"]["m"]["metrics"]["auroc"] == 0.61
    assert "abstain" not in s and s.get("abstain", "absent") == "absent"
    with pytest.raises(KeyError):
        s["abstain"]
    s.abstain = {"enabled": True}
    assert "abstain" in s and s["abstain"] == {"enabled": True}
    assert list(s) == [*_summary(), "abstain"]
    assert s.to_dict() == _summary() | {"abstain": {"enabled": True}}
    assert RunSummary.from_mapping(_summary(later_key=[1])).to_dict()["later_key"] == [1]
    assert "<RunSummary 'x': 3 participants, eih_abs_local (classification); best m auroc " in (
        repr(s)
    )


def test_two_definitions_are_comparable_when_only_the_threshold_differs():
    a = RunSummary.from_mapping(_summary()).outcome
    b = RunSummary.from_mapping(
        _summary(outcome={**_summary()["outcome"], "final_threshold": 3.0})
    ).outcome
    c = RunSummary.from_mapping(_summary(outcome={**_summary()["outcome"], "rule": "sem"})).outcome
    assert a.definition_key() == b.definition_key() != c.definition_key()


@pytest.mark.parametrize("bad", [[], "text", {"name": "x"}])
def test_what_is_not_a_summary_is_refused_with_a_clear_error(bad):
    from eih_ml.errors import DataError

    with pytest.raises(DataError, match="summary"):
        RunSummary.from_mapping(bad, "run/summary.json")


def test_a_relative_eih_cut_off_is_in_percent_in_every_headline():
    meta = bundle_meta({"outcome": "eih_rel_local", "rule": "sem"}, threshold=12.0)
    row = {"probability": 0.7}
    assert "rising after exercise by more than 12%)" in headline(row, "classification", meta)
    meta_kpa = bundle_meta({"outcome": "eih_abs_local", "rule": "sem"}, threshold=12.0)
    assert "by more than 12 kPa)" in headline(row, "classification", meta_kpa)
    three = {"p_hyperalgesic": 0.2, "p_non_responder": 0.3, "p_hypoalgesic": 0.5}
    assert "changing by more than 12% either way" in headline(three, "multiclass", meta)
    assert "changing by more than 12 kPa either way" in headline(three, "multiclass", meta_kpa)
