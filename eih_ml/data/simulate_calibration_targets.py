"""The published side of the calibration table: each target's value, tolerance and source.

:data:`TARGETS` lists, in the order of the table, every quantity of the EIH literature the
simulator is calibrated against: the published value or direction, the inclusive bounds the
simulated value must fall in, the citation, and the function of
:mod:`eih_ml.data.simulate_calibration_stats` that computes the simulated value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from eih_ml.data.simulate import SimulatedCohort
from eih_ml.data.simulate_calibration_stats import (
    biomarker_coverage,
    corr,
    exercise_minus_rest,
    healthy_d,
    hyperalgesic_fraction,
    icc,
    item_missing,
    local_minus_remote,
    mean_eih,
    min_alpha,
    nondetect_fraction,
    r2_baseline,
    r2_biomarkers,
    r2_cpm,
    remote_ratio,
    rest_change_mean,
    sex_difference,
    total_stat,
)
from eih_ml.data.simulate_scenarios import SCENARIOS

__all__ = ["TARGETS", "Target"]


@dataclass(frozen=True)
class Target:
    """One published quantity and how the simulator's version of it is computed.

    Parameters
    ----------
    quantity : str
        Short name shown in the table.
    published : str
        The published value or direction.
    lower, upper : float
        Inclusive bounds for the simulated value (the tolerance).
    source : str
        Citation (see ``../shared/domain/EIH_REFERENCE.md``).
    definition : str
        How the simulated value is computed, in words (rendered in the docs).
    compute : callable
        ``compute(sims) -> float`` with ``sims`` a dict of scenario name -> SimulatedCohort.
    """

    quantity: str
    published: str
    lower: float
    upper: float
    source: str
    definition: str
    compute: Callable[[dict[str, SimulatedCohort]], float]

    @property
    def tolerance(self) -> str:
        """The bounds in words, e.g. ``[0.26, 0.56]`` or ``> 0``."""
        if np.isinf(self.upper):
            return f">= {self.lower:g}"
        if np.isinf(self.lower):
            return f"<= {self.upper:g}"
        return f"[{self.lower:g}, {self.upper:g}]"


_QUESTIONNAIRE_SOURCE = (
    "typical chronic-pain and pain-free samples (project brief; not in EIH_REFERENCE.md)"
)

#: Every calibration target, in the order of the table.
TARGETS: tuple[Target, ...] = (
    Target(
        "Cohen's d, healthy, aerobic (local)", "0.41", 0.26, 0.56,
        "Naugle, Fillingim & Riley 2012, J Pain 13:1139",
        "mean(post - pre) / SD(pre) over healthy aerobic sessions, all doses; trial-mean PPTs "
        "at the local site",
        healthy_d("aerobic"),
    ),
    Target(
        "Cohen's d, healthy, isometric (local)", "1.02", 0.87, 1.17,
        "Naugle 2012", "as above, isometric sessions", healthy_d("isometric"),
    ),
    Target(
        "Cohen's d, healthy, dynamic resistance (local)", "0.83", 0.68, 0.98,
        "Naugle 2012", "as above, dynamic resistance sessions", healthy_d("dynamic_resistance"),
    ),
    Target(
        "Cohen's d, healthy, aerobic <= 50 % HRR/VO2max", "~0 (no rise at 50 % HRR)", -0.1, 0.15,
        "Naugle 2014, MSSE 46:817; Hoffman 2004",
        "as above, aerobic sessions at 40-50 %", healthy_d("aerobic", high=50),
    ),
    Target(
        "Cohen's d, healthy, aerobic >= 70 % HRR/VO2max", "> 0 (rise at 70 % HRR)", 0.3, 1.0,
        "Naugle 2014",
        "as above, aerobic sessions at 70-80 %", healthy_d("aerobic", low=70),
    ),
    Target(
        "Exercise - quiet rest, healthy, 15-20 min aerobic at 55-60 % (kPa)",
        "+45 (95 % CI 19-72), quadriceps",
        19, 72,
        "Vaegter 2019, Eur J Appl Physiol 119:91 (15 min cycling at the lactate threshold)",
        "mean of (local EIH_abs - local PPT change over quiet rest) in healthy aerobic sessions "
        "at 55-60 % HRR/VO2max (about the lactate threshold of untrained adults, textbook "
        "exercise physiology) lasting 15-20 min that have a rest control",
        exercise_minus_rest,
    ),
    Target(
        "PPT change over quiet rest, healthy (kPa)", "~0", -10, 10,
        "Vaegter 2019 (control condition)",
        "mean local PPT change (rest post - rest pre) over healthy sessions with a rest control",
        rest_change_mean,
    ),
    Target(
        "Local - remote EIH_abs, healthy (kPa)", "> 0 (local > remote)", 0.0, np.inf,
        "Vaegter 2014, PAIN 155:158; Gomolka 2019, Pain Med 20:2272",
        "mean local EIH_abs minus mean remote EIH_abs over all healthy sessions",
        local_minus_remote,
    ),
    Target(
        "Remote / local EIH_abs ratio, healthy", "< 1 (trapezius n.s. in Vaegter 2019)", 0.3,
        0.8,
        "Vaegter 2014; Gomolka 2019; Vaegter 2019 (direction); the magnitude "
        f"({SCENARIOS['healthy'].remote_ratio:g}) is a simulator choice",
        "mean remote EIH_abs / mean local EIH_abs over all healthy sessions", remote_ratio,
    ),
    Target(
        "Between-session ICC of EIH_abs, healthy", "0.40-0.57", 0.35, 0.62,
        "Gomolka 2019 (0.40-0.54); Vaegter 2019 (0.45-0.57)",
        "one-way ICC(1) over participants with >= 2 sessions of local EIH_abs after subtracting "
        "the mean of each protocol (modality, intensity, unit, duration)",
        icc("healthy"),
    ),
    Target(
        "R^2 of EIH from baseline predictors, chronic_mixed", "0.05-0.25 (< 0.20 knee OA)",
        0.10, 0.30,
        "Toomey 2025, J Clin Med 14:8086; J Pain Res 2023 (7.5-24 %); EIH_REFERENCE.md",
        "out-of-sample R^2 (5-fold, grouped by participant) that a linear model on pre-exercise "
        "predictors (trial-mean PPT pre at both sites, CPM_abs, TS, questionnaire totals, age, "
        "sex, BMI, pain, expected exercise pain, condition) adds to a protocol-only model: "
        "1 - SSE(protocol + predictors) / SSE(protocol); outcome local EIH_abs",
        r2_baseline("chronic_mixed"),
    ),
    Target(
        "R^2 of EIH from baseline predictors, healthy", "0.075-0.24 (nurses)", 0.03, 0.25,
        "J Pain Res 2023; EIH_REFERENCE.md (0.05-0.25)", "as above, healthy scenario",
        r2_baseline("healthy"),
    ),
    Target(
        "R^2 of EIH from baseline predictors, knee_oa", "< 0.20", 0.03, 0.20,
        "Toomey 2025 (n = 119, all measured variables < 20 %)", "as above, knee_oa scenario",
        r2_baseline("knee_oa"),
    ),
    Target(
        "R^2 of EIH from baseline predictors, null", "0 (by construction)", -0.02, 0.02,
        "design: EIH independent of baseline variables",
        "as above, null scenario (a small negative value is the price of fitting noise)",
        r2_baseline("null"),
    ),
    Target(
        "R^2 of EIH from CPM alone, healthy", "0.054", 0.0, 0.10,
        "Pediatr Phys Ther 2016 (5.4 %); Vaegter 2014 (no correlation); Vaegter 2015 "
        "(correlated)",
        "squared correlation of CPM_abs (mean PPT during - before conditioning) with local "
        "EIH_abs minus its protocol mean",
        r2_cpm,
    ),
    Target(
        "corr(age, EIH), healthy", "< 0 (younger > older)", -0.3, -0.02, "Naugle 2016",
        "Pearson correlation of age with local EIH_abs minus its protocol mean",
        corr("healthy", "age"),
    ),
    Target(
        "corr(age, EIH), knee OA", "> 0 (older > younger)", 0.02, 0.3, "Toomey 2025",
        "as above, knee_oa scenario", corr("knee_oa", "age"),
    ),
    Target(
        "corr(HADS-A, EIH), knee OA", "< 0 (less anxiety, larger EIH)", -0.3, -0.02,
        "Toomey 2025", "as above with the HADS anxiety total (prorated, half rule)",
        corr("knee_oa", "hads_anxiety"),
    ),
    Target(
        "corr(expected exercise pain, EIH), knee OA", "< 0 (lower expectation, larger EIH)",
        -0.3, -0.02, "Toomey 2025", "as above with expected exercise pain (NRS)",
        corr("knee_oa", "expected_exercise_pain"),
    ),
    Target(
        "corr(baseline PPT, EIH), chronic pain", "> 0 (low PPT, impaired EIH)", 0.02, 0.4,
        "Vaegter, Handberg & Graven-Nielsen 2016, Clin J Pain 32:58",
        "as above with trial-mean local PPT pre, participants with a pain condition in "
        "chronic_mixed",
        corr("chronic_mixed", "ppt_local_pre", chronic_only=True),
    ),
    Target(
        "corr(CSI, EIH), whiplash", "~0 (CSI subgroups did not differ)", -0.15, 0.05,
        "Hendriks 2024, J Clin Med 13:482 (n = 135 whiplash)",
        "as above with the CSI total, whiplash scenario",
        corr("whiplash", "csi_total"),
    ),
    Target(
        "Women - men EIH_abs after aerobic, healthy (kPa)", "> 0 (women larger)", 5, 50,
        "Vaegter 2014",
        "mean local EIH_abs of women minus men over healthy aerobic sessions", sex_difference,
    ),
    Target(
        "Hyperalgesic fraction (expected EIH < 0), healthy", "small minority", 0.01, 0.15,
        "Naugle 2012 (robust group effect); design",
        "share of healthy sessions whose ground-truth expected local EIH_abs is < 0",
        hyperalgesic_fraction("healthy"),
    ),
    Target(
        "Hyperalgesic fraction (expected EIH < 0), fibromyalgia", "about half (group PPT fell)",
        0.35, 0.75, "Kosek, Ekholm & Hansson 1996, Pain 64:415; Vaegter 2016",
        "as above, fibromyalgia scenario", hyperalgesic_fraction("fibromyalgia"),
    ),
    Target(
        "Mean EIH_abs after isometric, fibromyalgia (kPa)", "<= 0 (PPT fell)", -np.inf, 5.0,
        "Kosek 1996",
        "mean observed local EIH_abs over isometric sessions, fibromyalgia scenario (tolerance "
        "allows +5 kPa: Kosek's contraction was held to exhaustion, a higher dose than ours)",
        mean_eih("fibromyalgia", "isometric"),
    ),
    Target(
        "Mean EIH_abs after aerobic, whiplash (kPa)", "<= 0 (PPT fell after cycling)", -np.inf,
        5.0, "Van Oosterwijck 2012, J Pain",
        "mean observed local EIH_abs over aerobic sessions, whiplash scenario",
        mean_eih("whiplash", "aerobic"),
    ),
    Target(
        "PCS total, chronic pain: mean", "~20", 17, 23, _QUESTIONNAIRE_SOURCE,
        "participants with a pain condition in chronic_mixed; prorated when <= 1 item missing",
        total_stat("pcs_total", "mean", healthy=False),
    ),
    Target(
        "PCS total, chronic pain: SD", "~11", 9, 13, _QUESTIONNAIRE_SOURCE, "as above",
        total_stat("pcs_total", "sd", healthy=False),
    ),
    Target(
        "TSK-17 total, chronic pain: mean", "~38", 36, 40, _QUESTIONNAIRE_SOURCE,
        "items 4, 8, 12, 16 reverse-scored (5 - x) before summing",
        total_stat("tsk_total", "mean", healthy=False),
    ),
    Target(
        "TSK-17 total, chronic pain: SD", "~7", 5.5, 8.5, _QUESTIONNAIRE_SOURCE, "as above",
        total_stat("tsk_total", "sd", healthy=False),
    ),
    Target(
        "HADS-A, chronic pain: mean", "6-8", 6, 8, _QUESTIONNAIRE_SOURCE,
        "odd items, half rule", total_stat("hads_anxiety", "mean", healthy=False),
    ),
    Target(
        "HADS-A, chronic pain: SD", "~4", 3, 5, _QUESTIONNAIRE_SOURCE, "as above",
        total_stat("hads_anxiety", "sd", healthy=False),
    ),
    Target(
        "HADS-D, chronic pain: mean", "6-8", 5.5, 8, _QUESTIONNAIRE_SOURCE,
        "even items, half rule", total_stat("hads_depression", "mean", healthy=False),
    ),
    Target(
        "HADS-D, chronic pain: SD", "~4", 3, 5, _QUESTIONNAIRE_SOURCE, "as above",
        total_stat("hads_depression", "sd", healthy=False),
    ),
    Target(
        "CSI total, chronic pain: mean", "~40", 36, 44, _QUESTIONNAIRE_SOURCE,
        "participants with a pain condition", total_stat("csi_total", "mean", healthy=False),
    ),
    Target(
        "CSI total, chronic pain: SD", "~15", 12, 18, _QUESTIONNAIRE_SOURCE, "as above",
        total_stat("csi_total", "sd", healthy=False),
    ),
    Target(
        "CSI total, pain-free: mean", "~20", 16, 24, _QUESTIONNAIRE_SOURCE,
        "healthy participants of chronic_mixed", total_stat("csi_total", "mean", healthy=True),
    ),
    Target(
        "CSI total, pain-free: SD", "~10", 7.5, 12.5, _QUESTIONNAIRE_SOURCE, "as above",
        total_stat("csi_total", "sd", healthy=True),
    ),
    Target(
        "PSEQ total, chronic pain: mean", "~35", 32, 38, _QUESTIONNAIRE_SOURCE,
        "participants with a pain condition", total_stat("pseq_total", "mean", healthy=False),
    ),
    Target(
        "PSEQ total, chronic pain: SD", "~13", 10.5, 15.5, _QUESTIONNAIRE_SOURCE, "as above",
        total_stat("pseq_total", "sd", healthy=False),
    ),
    Target(
        "Smallest Cronbach's alpha of the six scores, chronic pain", ">= 0.75", 0.75, 0.97,
        "typical published internal consistency (Sullivan 1995, Miller 1991, Zigmond & Snaith "
        "1983, Mayer 2012, Nicholas 2007)",
        "alpha of PCS, TSK-17 (reverse items keyed), HADS-A, HADS-D, CSI and PSEQ over complete "
        "answers of participants with a pain condition; the smallest is shown",
        min_alpha,
    ),
    Target(
        "Questionnaire items missing", "2-4 %", 0.02, 0.045, "design (project brief)",
        "share of blank items over all questionnaire items of all participants, including "
        "wholly missing questionnaires",
        item_missing,
    ),
    Target(
        "Participants with the biomarker panel", "40-60 %", 0.4, 0.6,
        "design (EIH_REFERENCE.md section 5: often missing)",
        "share of chronic_mixed participants with biomarker values", biomarker_coverage,
    ),
    Target(
        "Biomarker non-detects (< LOD)", "5-20 %", 0.05, 0.2,
        "design (Hornung & Reed 1990 handling needed)",
        "share of biomarker values written as '<LOD' or '<lod>' among participants with the panel",
        nondetect_fraction,
    ),
    Target(
        "R^2 added by biomarkers, chronic_mixed", "~0 (biomarkers weak)", -0.02, 0.02,
        "EIH_REFERENCE.md section 5",
        "out-of-sample R^2 that log biomarkers (non-detects at LOD / sqrt 2) add to protocol + "
        "baseline predictors, participants with the panel",
        r2_biomarkers("chronic_mixed"),
    ),
    Target(
        "R^2 added by biomarkers, biomarker_signal", "modest (design)", 0.02, 0.10,
        "design: the panel carries part of the participant random effect",
        "as above, biomarker_signal scenario", r2_biomarkers("biomarker_signal"),
    ),
)  # fmt: skip
