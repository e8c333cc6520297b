"""The simulated side of the calibration table: how each figure is computed from a cohort.

Every statistic is computed from the *observed* cohort columns wherever the literature measured
observed data (trial-mean PPTs, questionnaire totals), and from the ground truth only for
quantities no study can observe (the sign of a participant's *expected* EIH). The observed-data
arithmetic (trial means, prorated questionnaire totals, CPM and TS differences, grouped
cross-validated R^2, ICC) is a deliberately small, self-contained version of what
:mod:`eih_ml.features` does, so that the calibration does not depend on the code it helps to test.
The quantity functions take ``sims``, a dict of scenario name -> SimulatedCohort, and return one
float each (:attr:`eih_ml.data.simulate_calibration_targets.Target.compute`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from eih_ml.data.simulate import SimulatedCohort
from eih_ml.data.simulate_measurements import BIOMARKER_PANEL

#: A calibration quantity: a number computed from the simulated cohorts (scenario -> cohort).
Quantity = Callable[[dict[str, SimulatedCohort]], float]

# --------------------------------------------------------------------------------------------------
# Observed-data arithmetic
# --------------------------------------------------------------------------------------------------


def _trial_mean(cohort: pd.DataFrame, site: str, phase: str) -> np.ndarray:
    """Mean of the available PPT trials (kPa) per row."""
    cols = [f"ppt_{site}_{phase}_{k}" for k in (1, 2, 3)]
    values = cohort[cols].to_numpy(dtype=float)
    count = np.sum(~np.isnan(values), axis=1)
    total = np.nansum(values, axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def _eih(cohort: pd.DataFrame, site: str = "local") -> np.ndarray:
    """Observed EIH_abs = mean post - mean pre PPT (kPa), positive = hypoalgesia."""
    return _trial_mean(cohort, site, "post") - _trial_mean(cohort, site, "pre")


def _rest_change(cohort: pd.DataFrame, site: str = "local") -> np.ndarray:
    return _trial_mean(cohort, site, "rest_post") - _trial_mean(cohort, site, "rest_pre")


def _protocol_codes(cohort: pd.DataFrame) -> np.ndarray:
    """One code per distinct protocol (modality, intensity, unit, duration)."""
    key = (
        cohort["exercise_modality"].astype(str)
        + "|"
        + cohort["exercise_intensity"].astype(str)
        + "|"
        + cohort["exercise_intensity_unit"].astype(str)
        + "|"
        + cohort["exercise_duration_min"].astype(str)
    )
    codes, _ = pd.factorize(key, sort=True)
    return codes


def _protocol_residual(cohort: pd.DataFrame, y: np.ndarray) -> np.ndarray:
    """``y`` minus its mean within the row's protocol (removes modality and dose effects)."""
    codes = _protocol_codes(cohort)
    sums = np.bincount(codes, weights=y)
    counts = np.bincount(codes)
    return y - (sums / counts)[codes]


def _sum_score(items: np.ndarray, min_answered: int) -> np.ndarray:
    """Sum of items, prorated from the mean of the answered items.

    Prorated when at least ``min_answered`` items are answered, otherwise NaN.
    """
    answered = np.sum(~np.isnan(items), axis=1)
    mean = np.nansum(items, axis=1) / np.maximum(answered, 1)
    return np.where(answered >= min_answered, mean * items.shape[1], np.nan)


def _totals(cohort: pd.DataFrame) -> pd.DataFrame:
    """Questionnaire totals with the published keying (EIH_REFERENCE.md section 4)."""

    def items(prefix: str, numbers: range | list[int]) -> np.ndarray:
        return cohort[[f"{prefix}_{i}" for i in numbers]].to_numpy(dtype=float, copy=True)

    tsk = items("tsk", range(1, 18))
    reverse = np.isin(np.arange(1, 18), (4, 8, 12, 16))
    tsk[:, reverse] = 5.0 - tsk[:, reverse]
    return pd.DataFrame(
        {
            "pcs_total": _sum_score(items("pcs", range(1, 14)), 12),
            "tsk_total": _sum_score(tsk, 16),
            "hads_anxiety": _sum_score(items("hads", range(1, 15, 2)), 4),
            "hads_depression": _sum_score(items("hads", range(2, 15, 2)), 4),
            "csi_total": _sum_score(items("csi", range(1, 26)), 23),
            "pseq_total": _sum_score(items("pseq", range(1, 11)), 9),
        },
        index=cohort.index,
    )


def _baseline_features(cohort: pd.DataFrame) -> pd.DataFrame:
    """Pre-exercise predictors a study measures: QST, questionnaires, demographics, condition."""
    before = cohort[["cpm_test_before_1", "cpm_test_before_2"]].mean(axis=1)
    during = cohort[["cpm_test_during_1", "cpm_test_during_2"]].mean(axis=1)
    features = pd.DataFrame(
        {
            "ppt_local_pre": _trial_mean(cohort, "local", "pre"),
            "ppt_remote_pre": _trial_mean(cohort, "remote", "pre"),
            "cpm_abs": during - before,
            "ts_diff": cohort["ts_rating_10"] - cohort["ts_rating_1"],
            "ts_first": cohort["ts_rating_1"],
            "age": cohort["age"],
            "female": (cohort["sex"] == "female").astype(float),
            "bmi": cohort["bmi"],
            "pain_nrs": cohort["pain_nrs"],
            "expected_exercise_pain": cohort["expected_exercise_pain"],
        },
        index=cohort.index,
    )
    features = features.join(_totals(cohort))
    for condition in sorted(set(cohort["condition"]) - {"healthy"}):
        features[f"condition_{condition}"] = (cohort["condition"] == condition).astype(float)
    return features


def _log_biomarkers(cohort: pd.DataFrame) -> pd.DataFrame:
    """log biomarker values, non-detects replaced by LOD / sqrt(2) (Hornung & Reed 1990)."""
    out = {}
    for marker, (_unit, _matrix, lod) in BIOMARKER_PANEL.items():
        raw = cohort[f"bio_{marker}"]
        nondetect = raw.map(lambda v: isinstance(v, str)).to_numpy(dtype=bool)
        values = pd.to_numeric(raw.where(~nondetect), errors="coerce").to_numpy(
            dtype=float, copy=True
        )
        values[nondetect] = lod / np.sqrt(2.0)
        out[f"log_{marker}"] = np.log(values)
    return pd.DataFrame(out, index=cohort.index)


def _ols_predict(x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    """Least-squares predictions with an intercept; NaN predictors take training means.

    Normal equations with a negligible ridge, so that a protocol absent from the training fold
    does not make the system singular.
    """
    means = np.nanmean(x_train, axis=0)
    means = np.where(np.isnan(means), 0.0, means)
    scale = np.nanstd(x_train, axis=0)
    scale = np.where((scale == 0) | np.isnan(scale), 1.0, scale)

    def design(x: np.ndarray) -> np.ndarray:
        z = (np.where(np.isnan(x), means, x) - means) / scale
        return np.column_stack([np.ones(len(x)), z])

    a = design(x_train)
    gram = a.T @ a + 1e-6 * len(a) * np.eye(a.shape[1])
    coef = np.linalg.solve(gram, a.T @ y_train)
    return design(x_test) @ coef


def _cv_sse(x: np.ndarray, y: np.ndarray, folds: np.ndarray) -> float:
    pred = np.empty_like(y)
    for k in np.unique(folds):
        test = folds == k
        pred[test] = _ols_predict(x[~test], y[~test], x[test])
    return float(np.sum((y - pred) ** 2))


def _participant_folds(cohort: pd.DataFrame, n_folds: int = 5, seed: int = 0) -> np.ndarray:
    """Fold of every row; all rows of a participant share a fold."""
    codes, uniques = pd.factorize(cohort["participant_id"])
    order = np.random.default_rng(seed).permutation(len(uniques))
    return (order % n_folds)[codes]


def _incremental_r2(
    cohort: pd.DataFrame, base: pd.DataFrame, extra: pd.DataFrame, y: np.ndarray
) -> float:
    """Out-of-sample R^2 that ``extra`` adds to ``base``: ``1 - SSE(base + extra) / SSE(base)``.

    Out of sample: 5-fold cross-validation grouped by participant.
    """
    keep = ~np.isnan(y)
    folds = _participant_folds(cohort)[keep]
    x_base = base.to_numpy(dtype=float)[keep]
    x_full = np.column_stack([x_base, extra.to_numpy(dtype=float)[keep]])
    return 1.0 - _cv_sse(x_full, y[keep], folds) / _cv_sse(x_base, y[keep], folds)


def _protocol_dummies(cohort: pd.DataFrame) -> pd.DataFrame:
    codes = _protocol_codes(cohort)
    return pd.DataFrame(np.eye(codes.max() + 1)[codes][:, 1:], index=cohort.index)


def _icc1(values: np.ndarray, groups: np.ndarray) -> float:
    """One-way random-effects ICC(1) with unequal group sizes (groups of >= 2 values)."""
    keep = ~np.isnan(values)
    values, groups = values[keep], groups[keep]
    codes, _ = pd.factorize(groups)
    sizes = np.bincount(codes)
    multi = sizes[codes] >= 2
    values, codes = values[multi], pd.factorize(codes[multi])[0]
    sizes = np.bincount(codes)
    g, n = sizes.size, values.size
    means = np.bincount(codes, weights=values) / sizes
    grand = values.mean()
    msb = np.sum(sizes * (means - grand) ** 2) / (g - 1)
    msw = np.sum((values - means[codes]) ** 2) / (n - g)
    k0 = (n - np.sum(sizes**2) / n) / (g - 1)
    return float((msb - msw) / (msb + (k0 - 1) * msw))


# --------------------------------------------------------------------------------------------------
# Quantities
# --------------------------------------------------------------------------------------------------


def healthy_d(modality: str, low: float = 0.0, high: float = 100.0) -> Quantity:
    """The quantity: Cohen's d of observed EIH (healthy), one modality and intensity range."""

    def compute(sims: dict[str, SimulatedCohort]) -> float:
        c = sims["healthy"].cohort
        mask = (
            (c["exercise_modality"] == modality)
            & (c["exercise_intensity"] >= low)
            & (c["exercise_intensity"] <= high)
        ).to_numpy()
        pre = _trial_mean(c, "local", "pre")[mask]
        return float(np.mean(_eih(c)[mask]) / np.std(pre, ddof=1))

    return compute


def local_minus_remote(sims: dict[str, SimulatedCohort]) -> float:
    """Mean observed EIH at the local minus the remote site (kPa), healthy cohort."""
    c = sims["healthy"].cohort
    return float(np.mean(_eih(c, "local")) - np.mean(_eih(c, "remote")))


def remote_ratio(sims: dict[str, SimulatedCohort]) -> float:
    """Mean observed EIH at the remote over the local site, healthy cohort."""
    c = sims["healthy"].cohort
    return float(np.mean(_eih(c, "remote")) / np.mean(_eih(c, "local")))


def exercise_minus_rest(sims: dict[str, SimulatedCohort]) -> float:
    """Mean observed EIH minus quiet-rest change (kPa), moderate aerobic sessions, healthy."""
    c = sims["healthy"].cohort
    mask = (
        (c["exercise_modality"] == "aerobic")
        & c["exercise_intensity"].between(55, 60)
        & c["exercise_duration_min"].between(15, 20)
    ).to_numpy()
    diff = _eih(c) - _rest_change(c)
    return float(np.nanmean(diff[mask]))


def rest_change_mean(sims: dict[str, SimulatedCohort]) -> float:
    """Mean change of PPT over quiet rest (kPa), healthy cohort."""
    return float(np.nanmean(_rest_change(sims["healthy"].cohort)))


def icc(scenario: str) -> Quantity:
    """The quantity: ICC(1) of protocol-adjusted observed EIH across sessions in ``scenario``."""

    def compute(sims: dict[str, SimulatedCohort]) -> float:
        c = sims[scenario].cohort
        return _icc1(_protocol_residual(c, _eih(c)), c["participant_id"].to_numpy())

    return compute


def r2_baseline(scenario: str) -> Quantity:
    """The quantity: grouped CV R² the baseline features add to the protocol in ``scenario``."""

    def compute(sims: dict[str, SimulatedCohort]) -> float:
        c = sims[scenario].cohort
        return _incremental_r2(c, _protocol_dummies(c), _baseline_features(c), _eih(c))

    return compute


def r2_biomarkers(scenario: str) -> Quantity:
    """The quantity: grouped CV R² log biomarkers add to protocol and baseline in ``scenario``."""

    def compute(sims: dict[str, SimulatedCohort]) -> float:
        c = sims[scenario].cohort
        c = c[c["bio_il6"].notna().to_numpy()]
        base = pd.concat([_protocol_dummies(c), _baseline_features(c)], axis=1)
        return _incremental_r2(c, base, _log_biomarkers(c), _eih(c))

    return compute


def r2_cpm(sims: dict[str, SimulatedCohort]) -> float:
    """Squared correlation of CPM with the protocol-adjusted observed EIH, healthy cohort."""
    c = sims["healthy"].cohort
    y = _protocol_residual(c, _eih(c))
    cpm = _baseline_features(c)["cpm_abs"].to_numpy()
    return float(np.corrcoef(cpm, y)[0, 1] ** 2)


def corr(scenario: str, column: str, chronic_only: bool = False) -> Quantity:
    """The quantity: correlation of ``column`` with protocol-adjusted EIH in ``scenario``."""

    def compute(sims: dict[str, SimulatedCohort]) -> float:
        c = sims[scenario].cohort
        x = _baseline_features(c)[column].to_numpy()
        y = _protocol_residual(c, _eih(c))
        keep = ~np.isnan(x) & ~np.isnan(y)
        if chronic_only:
            keep &= (c["condition"] != "healthy").to_numpy()
        return float(np.corrcoef(x[keep], y[keep])[0, 1])

    return compute


def hyperalgesic_fraction(scenario: str) -> Quantity:
    """The quantity: share of rows with negative expected local EIH (truth) in ``scenario``."""

    def compute(sims: dict[str, SimulatedCohort]) -> float:
        return float(np.mean(sims[scenario].ground_truth["expected_eih_local"] < 0))

    return compute


def mean_eih(scenario: str, modality: str) -> Quantity:
    """The quantity: mean observed EIH (kPa) of sessions of ``modality`` in ``scenario``."""

    def compute(sims: dict[str, SimulatedCohort]) -> float:
        c = sims[scenario].cohort
        return float(np.mean(_eih(c)[(c["exercise_modality"] == modality).to_numpy()]))

    return compute


def sex_difference(sims: dict[str, SimulatedCohort]) -> float:
    """Mean observed EIH of women minus men (kPa), aerobic sessions, healthy cohort."""
    c = sims["healthy"].cohort
    eih = _eih(c)
    aerobic = (c["exercise_modality"] == "aerobic").to_numpy()
    female = (c["sex"] == "female").to_numpy()
    male = (c["sex"] == "male").to_numpy()
    return float(np.mean(eih[aerobic & female]) - np.mean(eih[aerobic & male]))


def total_stat(total: str, stat: str, healthy: bool) -> Quantity:
    """The quantity: mean or SD (``stat``) of ``total`` in healthy or chronic participants."""

    def compute(sims: dict[str, SimulatedCohort]) -> float:
        c = sims["chronic_mixed"].cohort.drop_duplicates("participant_id")
        c = c[(c["condition"] == "healthy").to_numpy() == healthy]
        values = _totals(c)[total].dropna()
        return float(values.mean() if stat == "mean" else values.std(ddof=1))

    return compute


def min_alpha(sims: dict[str, SimulatedCohort]) -> float:
    """Smallest Cronbach's alpha over PCS, TSK-17 (keyed), HADS-A, HADS-D, CSI and PSEQ."""
    c = sims["chronic_mixed"].cohort.drop_duplicates("participant_id")
    c = c[(c["condition"] != "healthy").to_numpy()]
    scales = {
        "pcs": range(1, 14),
        "tsk": range(1, 18),
        "hads_a": range(1, 15, 2),
        "hads_d": range(2, 15, 2),
        "csi": range(1, 26),
        "pseq": range(1, 11),
    }
    alphas = []
    for name, numbers in scales.items():
        prefix = name.split("_")[0]
        x = c[[f"{prefix}_{i}" for i in numbers]].dropna().to_numpy(dtype=float, copy=True)
        if prefix == "tsk":
            reverse = np.isin(np.arange(1, 18), (4, 8, 12, 16))
            x[:, reverse] = 5.0 - x[:, reverse]
        k = x.shape[1]
        alphas.append(k / (k - 1) * (1 - x.var(axis=0, ddof=1).sum() / x.sum(axis=1).var(ddof=1)))
    return float(min(alphas))


def item_missing(sims: dict[str, SimulatedCohort]) -> float:
    """Share of unanswered questionnaire items, chronic-mixed cohort (one row per participant)."""
    c = sims["chronic_mixed"].cohort.drop_duplicates("participant_id")
    prefixes = ("pcs_", "tsk_", "hads_", "csi_", "pseq_")
    items = c[[col for col in c.columns if col.startswith(prefixes)]].to_numpy(dtype=float)
    return float(np.mean(np.isnan(items)))


def biomarker_coverage(sims: dict[str, SimulatedCohort]) -> float:
    """Share of participants with a biomarker panel, chronic-mixed cohort."""
    c = sims["chronic_mixed"].cohort.drop_duplicates("participant_id")
    return float(c["bio_il6"].notna().mean())


def nondetect_fraction(sims: dict[str, SimulatedCohort]) -> float:
    """Share of measured biomarker values below the limit of detection, chronic-mixed cohort."""
    c = sims["chronic_mixed"].cohort.drop_duplicates("participant_id")
    c = c[c["bio_il6"].notna().to_numpy()]
    bio = c[[f"bio_{m}" for m in BIOMARKER_PANEL]]
    return float(bio.map(lambda v: isinstance(v, str)).to_numpy().mean())
