"""Riley minimum sample size against the reference implementation pmsampsize.

Expected values were produced with ``pmsampsize`` 0.1.0 from PyPI (Python 3.12.1, in a throwaway
venv: it pins statsmodels < 0.15 and cannot join the project venv), by

    from pmsampsize.pmsampsize import pmsampsize
    out = pmsampsize(type="b", parameters=..., csrsquared=... | cstatistic=..., prevalence=...,
                     noprint=True)
    [row[1] for row in out["results_table"] if isinstance(row, list)]   # n per criterion, final

and ``type="c"`` with ``rsquared``, ``intercept``, ``sd`` for continuous outcomes. The continuous
vectors 2.1-2.7 are also the R package's own tests (cran/pmsampsize, tests/testthat/test_cont.R).
"""

from __future__ import annotations

import math

import pytest
from scipy.stats import t as student_t

from eih_ml.errors import ConfigError
from eih_ml.evaluation.sample_size import (
    SampleSizeResult,
    r2_cs_from_c_statistic,
    sample_size_binary,
    sample_size_continuous,
)

# (kwargs of sample_size_binary, [criterion 1, 2, 3] from pmsampsize 0.1.0 with the same inputs)
BINARY_R2 = [
    # pmsampsize's documented example: 24 parameters, R²cs 0.288, prevalence 0.174 -> 662
    ({"n_parameters": 24, "r2_cs": 0.288, "prevalence": 0.174}, [623, 662, 221]),
    ({"n_parameters": 10, "r2_cs": 0.1, "prevalence": 0.3}, [850, 264, 323]),
    ({"n_parameters": 20, "r2_cs": 0.15, "prevalence": 0.5}, [1097, 482, 385]),
    ({"n_parameters": 5, "r2_cs": 0.05, "prevalence": 0.4}, [875, 130, 369]),
    ({"n_parameters": 8, "r2_cs": 0.2, "prevalence": 0.05}, [319, 434, 73]),
    ({"n_parameters": 3, "r2_cs": 0.3, "prevalence": 0.45}, [74, 66, 381]),
    # pmsampsize(type="b", parameters=12, csrsquared=0.12, prevalence=0.35, shrinkage=0.85)
    ({"n_parameters": 12, "r2_cs": 0.12, "prevalence": 0.35, "shrinkage": 0.85}, [526, 304, 350]),
]

# C-statistic path: pmsampsize(type="b", parameters=..., cstatistic=..., prevalence=..., seed=...)
# (default seed 123456); its Cox-Snell R² (rounded to 4 decimals) and criteria.
BINARY_C = [
    ({"n_parameters": 24, "c_statistic": 0.89, "prevalence": 0.174}, 0.2908, [615, 660, 221]),
    ({"n_parameters": 10, "c_statistic": 0.7, "prevalence": 0.4}, 0.1163, [723, 250, 369]),
    (
        {"n_parameters": 6, "c_statistic": 0.8, "prevalence": 0.5, "seed": 7},
        0.2613,
        [175, 135, 385],
    ),
]

# (kwargs of sample_size_continuous, [criterion 1, 2, 3, 4]) from pmsampsize(type="c", ...)
CONTINUOUS = [
    (
        {"n_parameters": 25, "r2": 0.2, "intercept": 1.9, "sd": 0.6},
        [918, 401, 259, 918],
    ),  # test 2.1
    (
        {"n_parameters": 25, "r2": 0.3, "intercept": 1.9, "sd": 0.6},
        [574, 351, 259, 574],
    ),  # test 2.2
    (
        {"n_parameters": 50, "r2": 0.2, "intercept": 1.9, "sd": 0.6},
        [1924, 801, 284, 1924],
    ),  # test 2.3
    (
        {"n_parameters": 100, "r2": 0.5, "intercept": 1.9, "sd": 2.0},
        [1264, 1001, 334, 1264],
    ),  # test 2.6
    (  # test 2.7
        {"n_parameters": 30, "r2": 0.89, "intercept": 3.3, "sd": 1.1, "shrinkage": 0.84},
        [32, 67, 264, 264],
    ),
    ({"n_parameters": 5, "r2": 0.4, "intercept": 50.0, "sd": 10.0}, [49, 61, 239, 239]),
]


@pytest.mark.parametrize(("kwargs", "expected"), BINARY_R2)
def test_binary_criteria_match_pmsampsize(kwargs, expected):
    res = sample_size_binary(**kwargs)
    assert list(res.criteria.values()) == expected
    assert res.n_required == max(expected)


def test_binary_reference_example_details():
    res = sample_size_binary(24, 0.174, r2_cs=0.288)
    assert res.n_required == 662
    assert res.limiting_criterion == "r2_optimism"
    # pmsampsize: max_r2a 0.6032086677670351, final shrinkage 0.9052036952956451,
    # events 115.188, EPP 4.8 (rounded)
    assert res.max_r2 == pytest.approx(0.6032086677670351, rel=1e-12)
    assert res.expected_shrinkage == pytest.approx(0.9052036952956451, rel=1e-12)
    assert res.events_required == pytest.approx(115.188)
    assert round(res.events_per_parameter, 2) == 4.8
    assert "662 required (criterion 2, optimism in R²)" in repr(res)


@pytest.mark.parametrize(("kwargs", "r2_ref", "expected"), BINARY_C)
def test_binary_from_c_statistic_matches_pmsampsize(kwargs, r2_ref, expected):
    # Same generator and draws as pmsampsize's cstat2rsq: identical R² (not only within +/- 1 n)
    res = sample_size_binary(**kwargs)
    assert res.r2 == r2_ref
    assert res.c_statistic == kwargs["c_statistic"]
    assert list(res.criteria.values()) == expected


def test_c_statistic_conversion_is_seeded_and_monotone():
    a = r2_cs_from_c_statistic(0.75, 0.3, n=100_000, seed=1)
    assert a == r2_cs_from_c_statistic(0.75, 0.3, n=100_000, seed=1)
    assert r2_cs_from_c_statistic(0.65, 0.3, n=100_000, seed=1) < a
    assert a < r2_cs_from_c_statistic(0.85, 0.3, n=100_000, seed=1)


@pytest.mark.parametrize(("kwargs", "expected"), CONTINUOUS)
def test_continuous_criteria_match_pmsampsize(kwargs, expected):
    res = sample_size_continuous(**kwargs)
    assert list(res.criteria.values()) == expected
    assert res.n_required == max(expected)


def test_continuous_reference_example():
    res = sample_size_continuous(25, 0.2, intercept=1.9, sd=0.6)
    assert res.n_required == 918
    assert res.limiting_criterion == "shrinkage"
    assert res.subjects_per_parameter == pytest.approx(36.72)  # pmsampsize SPP
    assert round(res.expected_shrinkage, 3) == 0.9


@pytest.mark.parametrize("p", [1, 5, 25, 60, 200])
def test_residual_sd_criterion_is_234_plus_p(p):
    # Riley 2019 Part I: n = 234 + p gives df = 233, the first df with MMOE <= 1.1
    assert sample_size_continuous(p, 0.3, intercept=10.0, sd=1.0).criteria["residual_sd"] == 234 + p


@pytest.mark.parametrize(
    ("kwargs", "reference_n4"),
    [
        # pmsampsize returns 431 and 314 here: its search loop uses t.ppf(0.025) (negative), so it
        # stops one step after max(n1, n2, n3). We search until the MMOE really is <= 1.1.
        ({"n_parameters": 10, "r2": 0.15, "intercept": 20.0, "sd": 60.0}, 431),
        ({"n_parameters": 10, "r2": 0.2, "intercept": 0.5, "sd": 2.0}, 314),
    ],
)
def test_intercept_criterion_meets_its_margin_where_the_reference_does_not(kwargs, reference_n4):
    res = sample_size_continuous(**kwargs)
    n4 = res.criteria["intercept"]
    p, r2, a, sd = kwargs["n_parameters"], kwargs["r2"], kwargs["intercept"], kwargs["sd"]

    def mmoe(n):
        return (a + student_t.ppf(0.975, n - p - 1) * math.sqrt(sd**2 * (1 - r2) / n)) / a

    assert mmoe(n4) <= 1.1 < mmoe(n4 - 1)  # smallest n meeting the margin
    assert mmoe(reference_n4) > 1.1  # the reference's n does not meet it
    assert n4 > reference_n4


def test_intercept_criterion_uses_the_absolute_mean():
    up = sample_size_continuous(10, 0.15, intercept=20.0, sd=60.0)
    down = sample_size_continuous(10, 0.15, intercept=-20.0, sd=60.0)
    assert up.criteria == down.criteria


def test_eih_reference_statement_about_1000_participants():
    # EIH_REFERENCE.md section 6: "about 1,000 for 20 parameters at R² 0.15"
    assert sample_size_binary(20, 0.5, r2_cs=0.15).n_required == 1097


# --------------------------------------------------------------------------------------------
# Verdict
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("available", [24, 60, 135])
def test_published_eih_study_sizes_are_clearly_too_small(available):
    res = sample_size_binary(10, 0.5, r2_cs=0.15, available_n=available)
    assert res.adequate is False
    text = res.verdict()
    assert text.startswith("Far too small:")
    assert f"{available} participants available" in text
    assert f"{res.n_required:,} required" in text
    assert "penalised model with fewer parameters" in text


def test_verdict_sentences():
    res = sample_size_binary(24, 0.174, r2_cs=0.288)
    assert res.adequate is None
    assert res.verdict() == (
        "Minimum sample size: 662 required (criterion 2, optimism in R²), i.e. 116 events and 4.8 "
        "events per candidate parameter. Give available_n for a verdict on the study."
    )
    assert res.verdict(400).startswith(
        "Too small: 400 participants available, 662 required (criterion 2, optimism in R²), "
        "60 % of the minimum; 2.9 events per candidate parameter available (70 events expected "
        "at prevalence 0.174), 4.8 required."
    )
    assert "(21 events observed)" in res.verdict(120, 21)
    assert res.verdict(700).startswith("Adequate: 700 participants available")
    # enough participants but fewer events than required -> not adequate
    assert res.with_available(700, 100).adequate is False
    assert res.with_available(700, 122).adequate is True


def test_continuous_verdict_and_dict():
    res = sample_size_continuous(10, 0.15, intercept=20.0, sd=60.0, available_n=135)
    assert isinstance(res, SampleSizeResult)
    assert res.limiting_criterion == "intercept"
    assert res.verdict().startswith("Far too small: 135 participants available")
    flat = res.as_dict()
    assert flat["n_required"] == res.n_required
    assert set(flat) >= {
        "n_required_shrinkage",
        "n_required_r2_optimism",
        "n_required_residual_sd",
        "n_required_intercept",
    }


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


def test_binary_input_errors():
    with pytest.raises(ConfigError, match="exactly one of r2_cs .* and c_statistic"):
        sample_size_binary(10, 0.3)
    with pytest.raises(ConfigError, match="exactly one of r2_cs"):
        sample_size_binary(10, 0.3, r2_cs=0.1, c_statistic=0.7)
    with pytest.raises(ConfigError, match="prevalence must lie strictly between 0 and 1; found 30"):
        sample_size_binary(10, 30, r2_cs=0.1)
    with pytest.raises(ConfigError, match=r"n_parameters must be a positive integer .*found 2.5"):
        sample_size_binary(2.5, 0.3, r2_cs=0.1)
    with pytest.raises(ConfigError, match="exceeds the largest possible at prevalence 0.05"):
        sample_size_binary(10, 0.05, r2_cs=0.5)
    with pytest.raises(ConfigError, match="must be below the target shrinkage"):
        sample_size_binary(10, 0.5, r2_cs=0.7, shrinkage=0.6)
    with pytest.raises(ConfigError, match="c_statistic must lie strictly between 0.5 and 1"):
        sample_size_binary(10, 0.3, c_statistic=0.5)
    with pytest.raises(ConfigError, match="available_events .* cannot exceed it"):
        sample_size_binary(10, 0.3, r2_cs=0.1, available_n=50, available_events=60)


def test_continuous_input_errors():
    with pytest.raises(ConfigError, match="intercept .* must not be 0"):
        sample_size_continuous(10, 0.2, intercept=0.0, sd=1.0)
    with pytest.raises(ConfigError, match="sd must be positive"):
        sample_size_continuous(10, 0.2, intercept=1.0, sd=0.0)
    with pytest.raises(ConfigError, match="mmoe must be greater than 1"):
        sample_size_continuous(10, 0.2, intercept=1.0, sd=1.0, mmoe=1.0)
    with pytest.raises(ConfigError, match="r2 must lie strictly between 0 and 1"):
        sample_size_continuous(10, 1.2, intercept=1.0, sd=1.0)
    with pytest.raises(ConfigError, match="Criterion 4 needs more than 10\\^12 participants"):
        sample_size_continuous(10, 0.15, intercept=1e-9, sd=60.0)
