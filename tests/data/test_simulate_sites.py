"""The multi-site simulator: case mix and measurement shifts per site, with their ground truth."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from eih_ml.data.simulate_sites import (
    SiteSpec,
    four_sites_one_shifted,
    measure_with_shift,
    read_site_specs,
    simulate_sites,
)
from eih_ml.errors import ConfigError
from tests.helpers import run_cli


def test_sites_have_unique_ids_a_site_column_and_reproduce_byte_for_byte():
    sim = simulate_sites(four_sites_one_shifted(30), seed=5)
    cohort = sim.cohort
    assert list(cohort.columns[:3]) == ["participant_id", "session_id", "site"]
    assert cohort.groupby("site")["participant_id"].nunique().to_dict() == {
        f"site_{k}": 30 for k in range(1, 5)
    }
    pairs = zip(cohort["participant_id"], cohort["site"], strict=True)
    assert all(p.startswith(f"{s}-") for p, s in pairs)
    again = simulate_sites(four_sites_one_shifted(30), seed=5)
    assert cohort.to_csv(index=False) == again.cohort.to_csv(index=False)
    # a site added at the end leaves the earlier sites' participants unchanged
    more = simulate_sites([*four_sites_one_shifted(30), SiteSpec("site_5", 10)], seed=5).cohort
    pd.testing.assert_frame_equal(more[more["site"] != "site_5"].reset_index(drop=True), cohort)
    truth = sim.ground_truth
    assert (truth["site_post_offset_kpa"] == np.where(truth["site"] == "site_4", -40.0, 0.0)).all()


def test_a_measurement_shift_is_applied_exactly_and_leaves_the_truth_alone():
    plain = SiteSpec("a", 40)
    shifted = dataclasses.replace(plain, ppt_scale=1.1, ppt_offset_kpa=5.0, post_offset_kpa=-30.0)
    base = simulate_sites([plain], seed=9)
    sim = simulate_sites([shifted], seed=9)
    pd.testing.assert_frame_equal(sim.ground_truth.drop(columns=["site_ppt_scale",
        "site_ppt_offset_kpa", "site_post_offset_kpa"]), base.ground_truth.drop(columns=[
        "site_ppt_scale", "site_ppt_offset_kpa", "site_post_offset_kpa"]))  # fmt: skip
    pre, post, rest = "ppt_local_pre_1", "ppt_local_post_1", "ppt_local_rest_post_1"
    hand = (1.1 * base.cohort[pre] + 5.0).clip(lower=1.0).round(1)
    pd.testing.assert_series_equal(sim.cohort[pre], hand, check_names=False)
    hand_post = (1.1 * base.cohort[post] + 5.0 - 30.0).clip(lower=1.0).round(1)
    pd.testing.assert_series_equal(sim.cohort[post], hand_post, check_names=False)
    # the quiet-rest control is measured by the same device, not at the later time
    hand_rest = (1.1 * base.cohort[rest] + 5.0).clip(lower=1.0).round(1)
    pd.testing.assert_series_equal(sim.cohort[rest], hand_rest, check_names=False)
    threshold = base.cohort["cpm_test_type"].eq("threshold")
    cpm = "cpm_test_before_1"
    expected = (1.1 * base.cohort.loc[threshold, cpm] + 5.0).clip(lower=1.0).round(1)
    pd.testing.assert_series_equal(sim.cohort.loc[threshold, cpm], expected)
    # the other measurements are untouched
    for col in ("age", "pain_nrs", "pcs_1"):
        pd.testing.assert_series_equal(sim.cohort[col], base.cohort[col])


def test_a_later_post_test_moves_each_measured_eih_by_the_offset():
    from eih_ml.data.load import load_frame
    from eih_ml.data.validate import validate_cohort
    from eih_ml.features.derive import derive_features

    plain, later = SiteSpec("a", 60), SiteSpec("a", 60, post_offset_kpa=-40.0)

    def eih(spec):
        cohort = simulate_sites([spec], seed=3).cohort
        return derive_features(validate_cohort(load_frame(cohort)).data)["eih_abs_local"]

    difference = (eih(later) - eih(plain)).dropna()
    assert len(difference) > 100
    # -40 kPa on every post reading; rounding to 0.1 kPa per reading moves the mean by < 0.1
    np.testing.assert_allclose(difference, -40.0, atol=0.1)


def test_a_site_can_recruit_another_case_mix():
    sim = simulate_sites(
        [SiteSpec("fm", 200, condition_mix={"fibromyalgia": 3, "healthy": 1})], seed=1
    )
    conditions = sim.cohort.drop_duplicates("participant_id")["condition"]
    assert set(conditions) == {"fibromyalgia", "healthy"}
    assert 0.65 < (conditions == "fibromyalgia").mean() < 0.85  # 0.75 expected


@pytest.mark.parametrize(
    ("sites", "words"),
    [
        ([], "at least one site"),
        ([SiteSpec("a", 5), SiteSpec("a", 5)], "unique"),
        ([SiteSpec("a", 5, ppt_scale=0.0)], "ppt_scale must be above 0"),
        ([SiteSpec("a", 5, condition_mix={"gout": 1.0})], "unknown conditions"),
        ([SiteSpec("a", 5, condition_mix={"healthy": 0.0})], "not all 0"),
        ([SiteSpec("a", 5, scenario="moon")], "moon"),
    ],
)
def test_bad_site_specifications_are_clear_errors(sites, words):
    with pytest.raises(ConfigError, match=words):
        simulate_sites(sites)


def test_the_cli_reads_a_sites_file_and_refuses_a_bad_one(tmp_path, capsys):
    good = tmp_path / "sites.yaml"
    good.write_text(
        "sites:\n  - {name: north, n_participants: 12}\n"
        "  - {name: south, n_participants: 8, ppt_offset_kpa: 20}\n"
    )
    code, out, err = run_cli(
        ["simulate", "--out", str(tmp_path / "out"), "--sites", str(good)], capsys
    )
    assert code == 0, err
    cohort = pd.read_csv(tmp_path / "out" / "cohort.csv")
    assert cohort.groupby("site")["participant_id"].nunique().to_dict() == {"north": 12, "south": 8}
    bad = tmp_path / "bad.yaml"
    bad.write_text("sites:\n  - {name: north, n_participants: 12, algometer: 3}\n")
    code, out, err = run_cli(
        ["simulate", "--out", str(tmp_path / "out2"), "--sites", str(bad)], capsys
    )
    assert code == 2 and "unknown setting(s) algometer" in err and "Traceback" not in err
    assert not (tmp_path / "out2").exists()
    code, _, err = run_cli(
        ["simulate", "--out", str(tmp_path / "out3"), "--sites", str(good), "--n", "5"], capsys
    )
    assert code == 2 and "leave out --n" in err


def test_the_shipped_four_site_file_has_a_case_mix_site_and_a_shifted_site():
    from pathlib import Path

    specs = read_site_specs(
        Path(__file__).resolve().parents[2] / "configs/simulate/four_sites.yaml"
    )
    assert [s.name for s in specs] == ["site_1", "site_2", "site_3", "site_4"]
    assert specs[1].condition_mix and specs[3].post_offset_kpa == -40
    assert not specs[0].shifted and specs[3].shifted
    assert (
        measure_with_shift(pd.DataFrame({"ppt_local_post_1": [100.0]}), specs[3]).iloc[0, 0] == 60
    )
