"""Simulate EIH study cohorts whose statistics match the published literature.

The simulator writes what a real multi-session EIH study exports, in the canonical columns of
:mod:`eih_ml.data.contract`, together with the ground truth that produced it. It exists so that the
toolkit can be developed, tested and benchmarked against data whose answer is known: how much of EIH
*can* be predicted, which participants are truly hyperalgesic, whether the biomarker panel carries
signal.

The generative model (all parameters live in :class:`Scenario` and :data:`CONDITION_PROFILES`)
----------------------------------------------------------------------------------------------------
1. **Participant.** Condition (scenario mixture), age, sex and BMI from a condition profile.
2. **Latent traits** (standard normal within a condition, shifted by condition): pain sensitivity
   ``S``, facilitated temporal summation ``F`` (correlated with S), CPM efficiency ``C``, general
   distress ``D`` with the specific traits catastrophizing, fear of movement, anxiety and
   depression loading on it, self-efficacy (loads negatively on D), and a "central sensitization
   symptoms" trait that loads on D (Hendriks 2024: CSI subgroups did not differ in EIH).
   **Latent pain-modulation classes** (only in a scenario with ``latent_classes``, e.g.
   ``phenotyped``): each participant belongs to one discrete class of :data:`LATENT_CLASSES`
   (anti-nociceptive, pro-nociceptive, psychologically driven) that shifts these traits, so that
   a clustering of QST and questionnaires can recover the class; the class is
   ``latent_phenotype`` in the ground truth (``"none"`` in every other scenario, where the traits
   are continuous and no classes exist).
3. **Baseline PPT** per site is log-normal (Rolke 2006, Eur J Pain 10:77): lower with higher S and
   in women.
4. **EIH.** For session ``s`` of participant ``i`` at site ``j``::

       expected_eih[i, s, j] = site_ratio[j] * dose[s] * mean_eih[modality[s]] * (1 + c * pi[i, s])

   ``dose`` in [0, 1] encodes the protocol (aerobic EIH needs roughly > 50 % VO2max and > 10 min,
   Hoffman 2004; vigorous > moderate, Naugle 2014, MSSE 46:817); ``mean_eih`` gives the healthy
   group effect per modality (Naugle, Fillingim & Riley 2012, J Pain 13:1139); the remote site gets
   a fraction of the local effect (Vaegter 2014, PAIN 155:158; Gomolka 2019, Pain Med 20:2272).
   ``pi`` is the participant's standardised propensity: lower with high sensitivity (with an
   extra penalty above a sensitization threshold) and facilitated TS (Vaegter, Handberg &
   Graven-Nielsen 2016, Clin J Pain 32:58; Kosek 1996, Pain 64:415; Van Oosterwijck 2012, J Pain),
   higher with efficient CPM (weakly; Vaegter 2015, Pain Med 16:923), lower with anxiety (Toomey
   2025, J Clin Med 14:8086), age direction by condition (Naugle 2016; Toomey 2025), women larger
   after aerobic exercise (Vaegter 2014), plus a participant random effect that no baseline
   variable measures. ``1 + c * pi < 0`` is a hyperalgesic response. Multiplying the propensity by
   the dose keeps a protocol that does not work (e.g. 40 % HRR) near zero for everybody.
5. **Observation.** A session-level deviation of the realised EIH from its expectation (day-to-day
   variation), a day factor on the baseline PPT, and log-normal trial noise on every PPT trial give
   a between-session ICC of EIH_abs near 0.5 (Gomolka 2019; Vaegter 2019, Eur J Appl Physiol
   119:91). Quiet rest has an expected change of zero (Vaegter 2019).
6. **Questionnaires** are item responses from a graded-response model on the latent traits; TSK
   items 4, 8, 12, 16 are reverse-keyed as answered (Miller 1991) and discriminate less well (the
   reason Woby 2005 dropped them).
7. **Biomarkers** are log-normal with limits of detection; they carry EIH signal only in the
   ``biomarker_signal`` scenario (EIH_REFERENCE.md section 5: biomarkers are weak).

``docs/simulator_calibration.md`` compares the simulated statistics with the published ones; see
:func:`eih_ml.data.simulate_calibration.calibration_table`.

Examples
--------
>>> sim = simulate_cohort(20, seed=1)
>>> sim
<SimulatedCohort: 20 participants, 38 sessions, scenario 'chronic_mixed', seed 1>
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pandas as pd

from eih_ml.data.contract import CONDITIONS, MODALITIES, PPT_RANGE, QUESTIONNAIRES
from eih_ml.errors import ConfigError, DataError

__all__ = [
    "BIOMARKER_PANEL",
    "MAX_PARTICIPANTS",
    "CONDITION_PROFILES",
    "LATENT_CLASSES",
    "NO_PHENOTYPE",
    "SCENARIOS",
    "ConditionProfile",
    "LatentClass",
    "Scenario",
    "SimulatedCohort",
    "simulate_cohort",
    "write_simulation",
]

#: Largest cohort :func:`simulate_cohort` accepts (memory guard, about 2 GB of arrays).
MAX_PARTICIPANTS = 1_000_000

#: Per-participant or per-session arrays, keyed by name (the simulator's working tables).
Arrays = dict[str, np.ndarray]

# --------------------------------------------------------------------------------------------------
# Condition profiles
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConditionProfile:
    """Who the participants with one condition are, and how their latent traits are shifted.

    Latent traits are in SD units of a within-condition standard normal; a shift moves the whole
    condition. Shifts are the simulator's calibration choices, guided by the sources named in
    ``source`` and checked in ``docs/simulator_calibration.md``.

    Parameters
    ----------
    condition : str
        One of :data:`eih_ml.data.contract.CONDITIONS`.
    age_mean, age_sd : float
        Age in years (normal, clipped to 18-90).
    female_share : float
        Share of women among participants who are not "other".
    bmi_median : float
        Median BMI (log-normal, geometric SD 1.16).
    pain_nrs_mean : float
        Mean usual pain (NRS 0-10) before sensitivity and distress effects; 0 = pain-free.
    duration_median_months : float
        Median pain duration (log-normal, geometric SD 2.5); 0 = pain-free.
    sensitivity_shift, facilitation_shift, cpm_shift, distress_shift : float
        Condition means of pain sensitivity S, TS facilitation F, CPM efficiency C and distress D.
    self_efficacy_shift, csi_shift : float
        Extra shift of self-efficacy and of the CSI trait beyond what distress carries.
    eih_shift : float
        Direct shift of the EIH propensity that the traits do not explain.
    age_slope : float
        EIH propensity per decade of age above the condition's mean age: negative in healthy
        adults (Naugle 2016), positive in knee OA (Toomey 2025), 0 where unknown.
    anxiety_weight : float
        EIH propensity per SD of latent anxiety (negative = more anxiety, less EIH; Toomey 2025
        found it in knee OA).
    il6_log_shift : float
        Shift of log IL-6 (low-grade inflammation in OA and chronic pain).
    source : str
        Where the profile comes from.
    """

    condition: str
    age_mean: float
    age_sd: float
    female_share: float
    bmi_median: float
    pain_nrs_mean: float
    duration_median_months: float
    sensitivity_shift: float
    facilitation_shift: float
    cpm_shift: float
    distress_shift: float
    self_efficacy_shift: float
    csi_shift: float
    eih_shift: float
    age_slope: float
    anxiety_weight: float
    il6_log_shift: float
    source: str


#: Participant profile of each condition (keys: :data:`eih_ml.data.contract.CONDITIONS`).
CONDITION_PROFILES: Mapping[str, ConditionProfile] = MappingProxyType(
    {
        "healthy": ConditionProfile(
            "healthy", age_mean=35, age_sd=12, female_share=0.5, bmi_median=24.0,
            pain_nrs_mean=0.0, duration_median_months=0.0, sensitivity_shift=0.0,
            facilitation_shift=0.0, cpm_shift=0.0, distress_shift=-1.2, self_efficacy_shift=0.5,
            csi_shift=-0.8, eih_shift=0.0, age_slope=-0.15, anxiety_weight=-0.1,
            il6_log_shift=0.0,
            source="Naugle 2012 (healthy effect sizes); Naugle 2016 (younger > older); "
            "Vaegter 2014 (women > men after cycling)",
        ),
        "low_back_pain": ConditionProfile(
            "low_back_pain", age_mean=45, age_sd=12, female_share=0.55, bmi_median=26.5,
            pain_nrs_mean=4.5, duration_median_months=60.0, sensitivity_shift=0.4,
            facilitation_shift=0.3, cpm_shift=-0.4, distress_shift=0.0, self_efficacy_shift=0.0,
            csi_shift=0.0, eih_shift=-0.3, age_slope=0.0, anxiety_weight=-0.1,
            il6_log_shift=0.15,
            source="Vaegter 2021 (28 % flare during walking, lower EIH); Tan 2022 (attenuated "
            "aerobic EIH in chronic MSK pain)",
        ),
        "knee_oa": ConditionProfile(
            "knee_oa", age_mean=64, age_sd=8, female_share=0.6, bmi_median=29.5,
            pain_nrs_mean=4.5, duration_median_months=72.0, sensitivity_shift=0.5,
            facilitation_shift=0.4, cpm_shift=-0.4, distress_shift=-0.2, self_efficacy_shift=0.0,
            csi_shift=0.0, eih_shift=-0.2, age_slope=0.2, anxiety_weight=-0.2,
            il6_log_shift=0.35,
            source="Toomey 2025 (knee OA: older age, less anxiety, lower expected pain -> "
            "larger EIH; < 20 % explained)",
        ),
        "neck_pain": ConditionProfile(
            "neck_pain", age_mean=44, age_sd=12, female_share=0.65, bmi_median=25.5,
            pain_nrs_mean=4.2, duration_median_months=48.0, sensitivity_shift=0.4,
            facilitation_shift=0.3, cpm_shift=-0.4, distress_shift=0.0, self_efficacy_shift=0.0,
            csi_shift=0.0, eih_shift=-0.3, age_slope=0.0, anxiety_weight=-0.1,
            il6_log_shift=0.1,
            source="Tan 2022 (attenuated EIH in chronic MSK pain)",
        ),
        "fibromyalgia": ConditionProfile(
            "fibromyalgia", age_mean=48, age_sd=10, female_share=0.9, bmi_median=27.0,
            pain_nrs_mean=6.0, duration_median_months=96.0, sensitivity_shift=1.6,
            facilitation_shift=1.2, cpm_shift=-1.0, distress_shift=0.7, self_efficacy_shift=-0.2,
            csi_shift=0.5, eih_shift=-0.5, age_slope=0.0, anxiety_weight=-0.1,
            il6_log_shift=0.2,
            source="Kosek 1996 (PPT fell after contraction in fibromyalgia); Vaegter 2016 (high "
            "sensitivity -> impaired EIH)",
        ),
        "whiplash": ConditionProfile(
            "whiplash", age_mean=40, age_sd=11, female_share=0.65, bmi_median=25.5,
            pain_nrs_mean=5.0, duration_median_months=30.0, sensitivity_shift=1.4,
            facilitation_shift=0.9, cpm_shift=-0.8, distress_shift=0.5, self_efficacy_shift=-0.1,
            csi_shift=0.3, eih_shift=-0.9, age_slope=0.0, anxiety_weight=-0.1,
            il6_log_shift=0.1,
            source="Van Oosterwijck 2012 (PPT fell after cycling in chronic whiplash); Hendriks "
            "2024 (CSI subgroups did not differ)",
        ),
        "other": ConditionProfile(
            "other", age_mean=45, age_sd=13, female_share=0.55, bmi_median=26.0,
            pain_nrs_mean=4.3, duration_median_months=48.0, sensitivity_shift=0.4,
            facilitation_shift=0.3, cpm_shift=-0.4, distress_shift=0.0, self_efficacy_shift=0.0,
            csi_shift=0.0, eih_shift=-0.3, age_slope=0.0, anxiety_weight=-0.1,
            il6_log_shift=0.1,
            source="as low_back_pain (generic chronic musculoskeletal pain)",
        ),
    }
)  # fmt: skip

# --------------------------------------------------------------------------------------------------
# Latent pain-modulation classes
# --------------------------------------------------------------------------------------------------

#: ``latent_phenotype`` of every participant in a scenario without latent classes.
NO_PHENOTYPE = "none"

#: Latent traits a class may shift (names of the ``latent_*`` ground-truth columns, without prefix).
_CLASS_TRAITS = (
    "sensitivity",
    "ts_facilitation",
    "cpm_efficiency",
    "distress",
    "catastrophizing",
    "fear",
    "anxiety",
    "depression",
    "self_efficacy",
    "csi",
)


@dataclass(frozen=True)
class LatentClass:
    """A discrete pain-modulation class: shifts of the latent traits (SD units) of its members.

    Parameters
    ----------
    name : str
        Code written to ``latent_phenotype`` (snake_case, as the profile codes of
        :mod:`eih_ml.features.profile`).
    description : str
        The class in words.
    shifts : tuple of (str, float)
        Trait -> shift added to the member's latent trait (traits of ``_CLASS_TRAITS``; a trait
        not listed is not shifted). The shifts are simulator choices: large enough (about 3-5 SD
        between classes on several traits) that the classes separate in the observed QST and
        questionnaires (BIC chooses 3 Gaussian components and their adjusted Rand index with the
        classes is about 0.95 on 600 participants; ``tests/test_phenotypes.py``).
    source : str
        Where the idea of the class comes from.
    """

    name: str
    description: str
    shifts: tuple[tuple[str, float], ...]
    source: str


#: The latent classes a scenario may mix (keys: class names).
LATENT_CLASSES: Mapping[str, LatentClass] = MappingProxyType(
    {
        c.name: c
        for c in (
            LatentClass(
                "anti_nociceptive",
                "Efficient CPM, normal temporal summation, high thresholds, low distress.",
                (
                    ("sensitivity", -1.9), ("ts_facilitation", -1.9), ("cpm_efficiency", 2.9),
                    ("distress", -1.0), ("catastrophizing", -1.0), ("fear", -0.7),
                    ("anxiety", -0.7), ("depression", -0.7), ("self_efficacy", 1.2),
                    ("csi", -0.7),
                ),
                "Yarnitsky, Granot & Granovsky 2014, Pain 155:663 (anti-nociceptive profile)",
            ),
            LatentClass(
                "pro_nociceptive",
                "Low pressure pain thresholds, inefficient CPM, facilitated temporal summation.",
                (("sensitivity", 3.0), ("ts_facilitation", 3.0), ("cpm_efficiency", -2.9)),
                "Yarnitsky, Granot & Granovsky 2014, Pain 155:663 (pro-nociceptive profile); "
                "Vaegter, Handberg & Graven-Nielsen 2016, Clin J Pain 32:58 (high sensitivity, "
                "impaired EIH)",
            ),
            LatentClass(
                "psychologically_driven",
                "Average QST; high catastrophizing, fear of movement, anxiety, depression and "
                "central sensitization symptoms, low self-efficacy.",
                (
                    ("distress", 3.0), ("catastrophizing", 3.0), ("fear", 2.6),
                    ("anxiety", 2.6), ("depression", 2.6), ("self_efficacy", -2.6),
                    ("csi", 2.6),
                ),
                "simulator assumption (check): a psychosocial subgroup whose QST is average; "
                "Hendriks 2024 (CSI tracks distress more than QST)",
            ),
        )
    }
)  # fmt: skip

# --------------------------------------------------------------------------------------------------
# Biomarkers
# --------------------------------------------------------------------------------------------------

#: The simulated biomarker panel: marker -> (unit, matrix, limit of detection in that unit).
#: Units and matrices follow EIH_REFERENCE.md section 5 (BDNF: serum, never mixed with plasma;
#: cortisol: saliva, strong diurnal rhythm); units, matrices and LODs equal the declarations of
#: ``eih_ml/data/default_dictionary.yaml``, so that a ``"<LOD"`` written here loads with the right LOD.
BIOMARKER_PANEL: Mapping[str, tuple[str, str, float]] = MappingProxyType(
    {
        "il6": ("pg/mL", "plasma", 0.7),
        "beta_endorphin": ("pg/mL", "plasma", 5.0),
        "aea": ("pmol/mL", "plasma", 0.1),
        "bdnf": ("ng/mL", "serum", 0.2),
        "cortisol": ("nmol/L", "saliva", 0.5),
    }
)

# Per marker: geometric mean, log SD, decimals written, non-detect written as "<LOD" (True) or as
# "<{lod}" (False). About 20 % of IL-6 and 16 % of beta-endorphin values fall below the LOD (common
# with standard immunoassays), about 2 % of AEA values, almost no cortisol or BDNF values
# (overall about 8 %). IL-6 is right-skewed (log SD 0.85, EIH_REFERENCE.md section 5).
_BIOMARKER_DISTRIBUTION: dict[str, tuple[float, float, int, bool]] = {
    "il6": (1.2, 0.85, 2, False),
    "beta_endorphin": (9.0, 0.60, 1, True),
    "aea": (0.45, 0.70, 3, False),
    "bdnf": (22.0, 0.40, 1, True),
    "cortisol": (6.0, 0.80, 2, False),
}

# Loading of each log-biomarker on the EIH random effect in a scenario with biomarker signal 1.0
# (scaled by Scenario.biomarker_signal). IL-6 inversely: inflammation, less inhibition.
_BIOMARKER_LOADINGS: dict[str, float] = {
    "il6": -0.2,
    "beta_endorphin": 0.25,
    "aea": 0.35,
    "bdnf": 0.1,
    "cortisol": 0.0,
}

# --------------------------------------------------------------------------------------------------
# Questionnaires: graded-response item models
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _ItemModel:
    """Graded-response model of one questionnaire (Samejima): P(Y >= k) = logistic(a(theta - b_k)).

    ``b_k = location + offset_j + spread * linspace(-1, 1, K)``, item offsets follow a fixed
    deterministic pattern. Reverse-keyed items (TSK 4, 8, 12, 16 as answered) see ``-theta`` and
    discriminate ``reverse_discrimination`` times as well. ``location``, ``discrimination`` and
    ``spread`` were tuned (Nelder-Mead on a 12,000-participant ``chronic_mixed`` sample) so that the
    total of participants with a pain condition has the target mean and SD and a typical published
    Cronbach's alpha (PCS 0.92, TSK-17 0.78, HADS subscales 0.82, CSI 0.88, PSEQ 0.92); see
    ``docs/simulator_calibration.md``.
    """

    prefix: str
    trait: str | tuple[str, ...]
    item_min: int
    item_max: int
    location: float
    discrimination: float
    spread: float
    reverse_items: tuple[int, ...] = ()
    reverse_discrimination: float = 0.6


_ITEM_MODELS: tuple[_ItemModel, ...] = (
    _ItemModel("pcs", "catastrophizing", 0, 4, location=0.61, discrimination=1.77, spread=1.59),
    _ItemModel(
        "tsk", "fear", 1, 4, location=0.79, discrimination=0.99, spread=2.44,
        reverse_items=(4, 8, 12, 16),
    ),
    _ItemModel(
        "hads", ("anxiety", "depression"), 0, 3, location=1.04, discrimination=1.61, spread=1.70,
    ),
    _ItemModel("csi", "csi", 0, 4, location=0.90, discrimination=0.93, spread=2.44),
    _ItemModel("pseq", "self_efficacy", 0, 6, location=-0.50, discrimination=1.94, spread=1.81),
)  # fmt: skip

# --------------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """Every parameter of one simulated study design.

    Values are calibrated in ``docs/simulator_calibration.md``; change one with
    :func:`dataclasses.replace` and pass the result to :func:`simulate_cohort`.

    Parameters
    ----------
    name, description : str
        Registry key and one-line summary.
    condition_mix : tuple of (str, float)
        Condition shares (normalised to sum 1); conditions from :data:`CONDITION_PROFILES`.
    baseline_effects : bool
        False = EIH independent of every baseline variable (condition, traits, age, sex): the
        participant propensity is the random effect alone. For permutation-style sanity tests.
    biomarker_signal : float
        Scale of the biomarker loadings on the EIH random effect (0 = no signal). Because the
        random effect is what no other measured variable captures, a signal adds predictive value
        beyond QST and questionnaires.
    session_probs : tuple of 3 floats
        Probability of 1, 2, 3 sessions per participant (mean 2).
    modality_probs : tuple of 3 floats
        Probability of aerobic, isometric, dynamic resistance per session.
    eih_mean_kpa : tuple of 3 floats
        Local-site EIH_abs (kPa) at full dose for propensity 0 (healthy), per modality; tuned so
        the healthy Cohen's d (mean change / SD of pre) is 0.41, 1.02, 0.83 (Naugle 2012).
    remote_ratio : float
        Remote-site EIH as a fraction of local EIH (local > remote: Vaegter 2014; Gomolka 2019;
        the magnitude is a simulator choice).
    response_sd : float
        ``c`` in ``1 + c * pi``: between-participant heterogeneity of the EIH multiplier.
    sensitivity_weight, facilitation_weight, cpm_weight : float
        Propensity per SD of pain sensitivity (-), TS facilitation (-) and CPM efficiency (+)
        (Vaegter 2016; Vaegter 2015; CPM explains about 5 %, Pediatr Phys Ther 2016).
    sensitization_threshold, sensitization_weight : float
        Extra propensity penalty per SD of sensitivity above the threshold: a sensitized state
        flips EIH to hyperalgesia (Kosek 1996; Vaegter 2016).
    sex_aerobic_weight : float
        Propensity of women after aerobic exercise (Vaegter 2014).
    random_effect_sd : float
        SD of the participant random effect (what baseline variables do not measure).
    day_sd_floor_kpa, day_sd_fraction : float
        SD of the session-level deviation of realised from expected EIH:
        ``floor + fraction * dose * mean_eih`` (day-to-day variation; sets the ICC).
    site_day_correlation : float
        Correlation of the local and remote day deviations.
    rest_sd_kpa : float
        SD of the true PPT change during quiet rest (expected change 0; Vaegter 2019).
    ppt_local_median_kpa, ppt_remote_median_kpa : float
        Baseline PPT of a man with average sensitivity (quadriceps, trapezius).
    ppt_sensitivity_log_sd, ppt_site_log_sd : float
        Log-PPT loading on sensitivity and site-specific participant SD (log-normal PPT;
        Rolke 2006).
    ppt_female_log, ppt_day_log_sd, ppt_trial_log_sd : float
        Log-PPT shift of women, day-to-day SD of log baseline, trial-to-trial SD (trial error;
        Mailloux 2021 group MDC 29-51 kPa).
    cpm_mean, cpm_efficiency_sd, cpm_session_sd : float
        CPM with a PPT test stimulus: relative PPT increase during conditioning,
        ``cpm_mean + cpm_efficiency_sd * C`` plus session noise.
    ts_first_mean, ts_increase_mean : float
        Temporal summation train (0-100): median first rating and last-minus-first increase of a
        participant with S = F = 0; both log-normal (QST parameters are, Rolke 2006), rising
        exp(0.3) per SD of S and exp(0.45) per SD of F.
    rest_fraction : float
        Share of sessions with a quiet-rest control.
    two_trial_fraction, one_trial_fraction : float
        Share of sessions with only two, or a single, PPT trial per site and time point.
    ts_single_fraction : float
        Share of participants with single-stimulus ratings (wind-up ratio, DFNS).
    item_missing_rate, questionnaire_missing_rate : float
        Missing questionnaire items (at random) and whole questionnaires per participant.
    biomarker_coverage : float
        Share of participants with the biomarker panel.
    other_sex_share : float
        Share of participants whose sex is recorded as "other".
    latent_classes : tuple of (str, float)
        Shares of the discrete latent classes of :data:`LATENT_CLASSES` (normalised to sum 1);
        empty (the default) = no latent classes, ``latent_phenotype`` is ``"none"`` and no extra
        random numbers are drawn (the other scenarios' output is unchanged).
    sources : tuple of str
        Literature behind the scenario.
    """

    name: str
    description: str
    condition_mix: tuple[tuple[str, float], ...]
    baseline_effects: bool = True
    biomarker_signal: float = 0.0
    session_probs: tuple[float, float, float] = (0.25, 0.5, 0.25)
    modality_probs: tuple[float, float, float] = (0.4, 0.3, 0.3)
    eih_mean_kpa: tuple[float, float, float] = (80.0, 168.0, 152.0)
    remote_ratio: float = 0.5
    response_sd: float = 0.55
    sensitivity_weight: float = 0.3
    facilitation_weight: float = 0.2
    cpm_weight: float = 0.2
    sensitization_threshold: float = 1.0
    sensitization_weight: float = 0.6
    sex_aerobic_weight: float = 0.5
    random_effect_sd: float = 0.9
    day_sd_floor_kpa: float = 12.0
    day_sd_fraction: float = 0.3
    site_day_correlation: float = 0.5
    rest_sd_kpa: float = 12.0
    ppt_local_median_kpa: float = 500.0
    ppt_remote_median_kpa: float = 380.0
    ppt_sensitivity_log_sd: float = 0.25
    ppt_site_log_sd: float = 0.12
    ppt_female_log: float = -0.2
    ppt_day_log_sd: float = 0.07
    ppt_trial_log_sd: float = 0.08
    cpm_mean: float = 0.22
    cpm_efficiency_sd: float = 0.1
    cpm_session_sd: float = 0.07
    ts_first_mean: float = 20.0
    ts_increase_mean: float = 10.0
    rest_fraction: float = 0.3
    two_trial_fraction: float = 0.15
    one_trial_fraction: float = 0.03
    ts_single_fraction: float = 0.5
    item_missing_rate: float = 0.025
    questionnaire_missing_rate: float = 0.01
    biomarker_coverage: float = 0.5
    other_sex_share: float = 0.01
    latent_classes: tuple[tuple[str, float], ...] = ()
    sources: tuple[str, ...] = ()


_CHRONIC_MIX: tuple[tuple[str, float], ...] = (
    ("healthy", 0.25),
    ("low_back_pain", 0.2),
    ("knee_oa", 0.15),
    ("neck_pain", 0.1),
    ("fibromyalgia", 0.1),
    ("whiplash", 0.08),
    ("other", 0.12),
)

_COMMON_SOURCES = (
    "Naugle, Fillingim & Riley 2012, J Pain 13:1139",
    "Hoffman 2004; Naugle 2014, MSSE 46:817",
    "Vaegter 2014, PAIN 155:158; Gomolka 2019, Pain Med 20:2272",
    "Vaegter 2019, Eur J Appl Physiol 119:91",
    "Rolke 2006, Eur J Pain 10:77",
)

#: Registry of named scenarios. ``chronic_mixed`` is the default.
SCENARIOS: Mapping[str, Scenario] = MappingProxyType(
    {
        s.name: s
        for s in (
            Scenario(
                "healthy",
                "Pain-free adults (the population of Naugle 2012's effect sizes).",
                (("healthy", 1.0),),
                sources=_COMMON_SOURCES,
            ),
            Scenario(
                "chronic_mixed",
                "Mixed clinical cohort: healthy controls and six chronic pain conditions.",
                _CHRONIC_MIX,
                sources=(*_COMMON_SOURCES, "Toomey 2025", "Vaegter 2016", "Tan 2022"),
            ),
            Scenario(
                "fibromyalgia",
                "Fibromyalgia only: high sensitivity, frequent hyperalgesic responses.",
                (("fibromyalgia", 1.0),),
                sources=(*_COMMON_SOURCES, "Kosek 1996, Pain 64:415", "Vaegter 2016"),
            ),
            Scenario(
                "knee_oa",
                "Knee osteoarthritis only (older; age and anxiety predict EIH as in Toomey 2025).",
                (("knee_oa", 1.0),),
                sources=(*_COMMON_SOURCES, "Toomey 2025, J Clin Med 14:8086"),
            ),
            Scenario(
                "whiplash",
                "Chronic whiplash only (PPT often falls after cycling).",
                (("whiplash", 1.0),),
                sources=(*_COMMON_SOURCES, "Van Oosterwijck 2012", "Hendriks 2024"),
            ),
            Scenario(
                "biomarker_signal",
                "As chronic_mixed, but the biomarker panel carries a modest signal about the "
                "part of EIH that QST and questionnaires miss.",
                _CHRONIC_MIX,
                biomarker_signal=1.0,
                sources=(*_COMMON_SOURCES, "EIH_REFERENCE.md section 5 (panel assumed)"),
            ),
            Scenario(
                "null",
                "As chronic_mixed, but EIH is independent of every baseline variable.",
                _CHRONIC_MIX,
                baseline_effects=False,
                sources=_COMMON_SOURCES,
            ),
            Scenario(
                "phenotyped",
                "Chronic musculoskeletal pain with three discrete, separable latent "
                "pain-modulation classes (anti-nociceptive, pro-nociceptive, psychologically "
                "driven) that shift QST and questionnaire traits; for phenotyping.",
                (("low_back_pain", 0.4), ("neck_pain", 0.3), ("knee_oa", 0.3)),
                latent_classes=(
                    ("anti_nociceptive", 0.4),
                    ("pro_nociceptive", 0.3),
                    ("psychologically_driven", 0.3),
                ),
                sources=(
                    *_COMMON_SOURCES,
                    "Yarnitsky, Granot & Granovsky 2014, Pain 155:663",
                    "Vaegter, Handberg & Graven-Nielsen 2016, Clin J Pain 32:58",
                ),
            ),
        )
    }
)

# --------------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------------


@dataclass
class SimulatedCohort:
    """A simulated study and the truth behind it.

    Attributes
    ----------
    cohort : pandas.DataFrame
        One row per participant x session in canonical raw columns (what a study exports).
        Numeric columns are float64 with NaN for a blank; biomarker columns hold floats, NaN (no
        sample) or a non-detect string (``"<LOD"`` or ``"<0.7"``).
    ground_truth : pandas.DataFrame
        Same rows, keyed by ``participant_id`` and ``session_id``: latent traits, protocol dose,
        ``expected_eih_local`` / ``expected_eih_remote`` (true expected EIH_abs in kPa for the
        session's protocol), realised EIH, true baseline PPT and uncensored biomarker values.
        ``latent_phenotype`` is the participant's latent class (:data:`LATENT_CLASSES`), or
        ``"none"`` in a scenario without latent classes.
    scenario : Scenario
        The parameters that produced the data.
    seed : int
        The seed of :func:`numpy.random.default_rng`.
    """

    cohort: pd.DataFrame
    ground_truth: pd.DataFrame
    scenario: Scenario
    seed: int

    def __repr__(self) -> str:
        n_people, n_rows = self.cohort["participant_id"].nunique(), len(self.cohort)
        return (
            f"<SimulatedCohort: {n_people} participant{'s' * (n_people != 1)}, "
            f"{n_rows} session{'s' * (n_rows != 1)}, scenario {self.scenario.name!r}, "
            f"seed {self.seed}>"
        )


# --------------------------------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------------------------------


def simulate_cohort(
    n_participants: int, scenario: str | Scenario = "chronic_mixed", seed: int = 0
) -> SimulatedCohort:
    """Simulate an EIH study of ``n_participants`` participants with 1-3 sessions each.

    Parameters
    ----------
    n_participants : int
        Number of participants, 1 to :data:`MAX_PARTICIPANTS`.
    scenario : str or Scenario
        A key of :data:`SCENARIOS` (default ``"chronic_mixed"``) or a :class:`Scenario`.
    seed : int
        Non-negative seed of :func:`numpy.random.default_rng`; the same seed gives the same data.

    Returns
    -------
    SimulatedCohort
        The observed cohort, its ground truth and the scenario.

    Raises
    ------
    ConfigError
        Unknown scenario name (the message lists the known ones).
    DataError
        ``n_participants`` or ``seed`` not a valid integer.

    Notes
    -----
    The model and its sources are described in the module docstring; calibration against the
    literature in ``docs/simulator_calibration.md``.
    """
    scen = _resolve_scenario(scenario)
    n = _check_int("n_participants", n_participants, 1, MAX_PARTICIPANTS)
    seed = _check_int("seed", seed, 0, None)
    rng = np.random.default_rng(seed)

    people = _draw_participants(n, scen, rng)
    people |= _draw_latent(people, rng)
    people |= _draw_latent_classes(people, scen, rng)
    people |= _draw_pain_history(people, rng)
    people |= _baseline_ppt(people, scen, rng)
    sessions = _draw_sessions(people, scen, rng)
    sessions |= _session_clinical(people, sessions, rng)
    eih = _draw_eih(people, sessions, scen, rng)

    measured = _ppt_columns(people, sessions, eih, scen, rng)
    cpm_cols, cpm_rel = _cpm_columns(people, sessions, scen, rng)
    measured |= cpm_cols
    measured |= _ts_columns(people, sessions, scen, rng)
    measured |= _questionnaire_items(people, scen, rng)
    bio_observed, bio_true = _biomarkers(people, scen, rng)
    measured |= bio_observed

    cohort = _assemble_cohort(people, sessions, measured)
    truth = _assemble_truth(people, sessions, eih, cpm_rel, bio_true)
    return SimulatedCohort(cohort=cohort, ground_truth=truth, scenario=scen, seed=seed)


def write_simulation(sim: SimulatedCohort, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write ``cohort.csv`` and ``ground_truth.csv`` into ``out_dir``, byte-reproducibly.

    Values are already rounded by :func:`simulate_cohort`; whole-number columns are written without
    a decimal point, blanks as empty fields, lines end in ``"\\n"``. Each file is written to a
    temporary file in ``out_dir`` and moved into place with :func:`os.replace`, so a reader never
    sees a half-written file.

    Parameters
    ----------
    sim : SimulatedCohort
        Result of :func:`simulate_cohort`.
    out_dir : str or path-like
        Directory; created if missing.

    Returns
    -------
    dict of str to Path
        ``{"cohort": .../cohort.csv, "ground_truth": .../ground_truth.csv}``.

    Raises
    ------
    DataError
        ``out_dir`` exists and is not a directory.
    """
    from eih_ml.atomic_io import output_folder

    out = output_folder(out_dir, "write_simulation's out_dir")
    paths = {"cohort": out / "cohort.csv", "ground_truth": out / "ground_truth.csv"}
    _atomic_write_csv(sim.cohort, paths["cohort"])
    _atomic_write_csv(sim.ground_truth, paths["ground_truth"])
    return paths


# --------------------------------------------------------------------------------------------------
# Argument checks
# --------------------------------------------------------------------------------------------------


def _resolve_scenario(scenario: str | Scenario) -> Scenario:
    if isinstance(scenario, Scenario):
        _check_scenario(scenario)
        return scenario
    if not isinstance(scenario, str) or scenario not in SCENARIOS:
        raise ConfigError(
            f"Unknown scenario {scenario!r}. Expected one of: {', '.join(SCENARIOS)}, "
            "or a Scenario instance."
        )
    return SCENARIOS[scenario]


def _check_scenario(scen: Scenario) -> None:
    unknown = [c for c, _ in scen.condition_mix if c not in CONDITION_PROFILES]
    if unknown:
        raise ConfigError(
            f"Scenario {scen.name!r} has unknown conditions {unknown}; "
            f"allowed: {', '.join(CONDITIONS)}."
        )
    shares = {
        name: getattr(scen, name)
        for name in (
            "rest_fraction",
            "two_trial_fraction",
            "one_trial_fraction",
            "ts_single_fraction",
            "item_missing_rate",
            "questionnaire_missing_rate",
            "biomarker_coverage",
            "other_sex_share",
        )
    }
    unknown_classes = [c for c, _ in scen.latent_classes if c not in LATENT_CLASSES]
    if unknown_classes:
        raise ConfigError(
            f"Scenario {scen.name!r} has unknown latent classes {unknown_classes}; "
            f"allowed: {', '.join(LATENT_CLASSES)}."
        )
    shares["one_trial_fraction + two_trial_fraction"] = (
        scen.one_trial_fraction + scen.two_trial_fraction
    )
    bad = {k: v for k, v in shares.items() if not 0.0 <= v <= 1.0}
    if bad:
        raise ConfigError(f"Scenario {scen.name!r}: shares must lie in [0, 1], got {bad}.")
    weights = [
        ("condition_mix", [p for _, p in scen.condition_mix]),
        ("session_probs", scen.session_probs),
        ("modality_probs", scen.modality_probs),
    ]
    if scen.latent_classes:  # empty = no latent classes
        weights.append(("latent_classes", [w for _, w in scen.latent_classes]))
    for label, probs in weights:
        arr = np.asarray(probs, dtype=float)
        if arr.size == 0 or np.any(arr < 0) or arr.sum() <= 0:
            raise ConfigError(
                f"Scenario {scen.name!r}: {label} must be non-negative weights with a positive "
                f"sum, got {tuple(probs)}."
            )


def _check_int(name: str, value: object, low: int, high: int | None) -> int:
    ok = isinstance(value, int | np.integer) and not isinstance(value, bool)
    if ok and value >= low and (high is None or value <= high):
        return int(value)  # type: ignore[arg-type]
    allowed = f"an integer >= {low}" if high is None else f"an integer from {low} to {high}"
    raise DataError(f"{name} must be {allowed}, got {value!r}.")


# --------------------------------------------------------------------------------------------------
# Participants and latent traits
# --------------------------------------------------------------------------------------------------


def _profile_array(codes: np.ndarray, attr: str) -> np.ndarray:
    """One :class:`ConditionProfile` attribute for every participant (``codes`` index CONDITIONS)."""
    return np.array([getattr(CONDITION_PROFILES[c], attr) for c in CONDITIONS], dtype=float)[codes]


def _draw_participants(n: int, scen: Scenario, rng: np.random.Generator) -> Arrays:
    """Condition, demographics, usual pain and the profile values of every participant."""
    names = [c for c, _ in scen.condition_mix]
    weights = np.array([w for _, w in scen.condition_mix], dtype=float)
    codes = np.array([CONDITIONS.index(c) for c in names])
    codes = codes[rng.choice(len(names), size=n, p=weights / weights.sum())]
    prof = {
        attr: _profile_array(codes, attr)
        for attr in ConditionProfile.__dataclass_fields__
        if attr not in ("condition", "source")
    }
    age = np.clip(np.round(rng.normal(prof["age_mean"], prof["age_sd"])), 18, 90)
    u_sex = rng.random(n)
    female_cut = (1 - scen.other_sex_share) * prof["female_share"]
    sex = np.where(
        u_sex < female_cut, "female", np.where(u_sex < 1 - scen.other_sex_share, "male", "other")
    )
    bmi = np.clip(np.round(prof["bmi_median"] * np.exp(rng.normal(0, 0.15, n)), 1), 16, 60)
    return {
        "condition": np.array(CONDITIONS)[codes],
        "age": age,
        "sex": sex,
        "female": (sex == "female") + 0.5 * (sex == "other"),
        "bmi": bmi,
        **{f"profile_{k}": v for k, v in prof.items()},
    }


_SHIFTS = ("sensitivity", "facilitation", "cpm", "distress", "self_efficacy", "csi")


def _draw_latent(people: Arrays, rng: np.random.Generator) -> Arrays:
    """Latent traits: standard normal within a condition plus the condition's shift.

    Sensitivity S drives facilitated TS F (r 0.4), lower CPM efficiency C (r -0.25) and a little
    distress D (r 0.25). Catastrophizing, fear, anxiety and depression load 0.65-0.8 on D;
    self-efficacy loads -0.6. The CSI trait loads on D only (it tracks distress more than QST;
    Hendriks 2024 found no EIH difference between CSI subgroups). ``random_effect`` is the part of
    the EIH propensity that no baseline variable measures.
    """
    n = people["age"].size
    z = rng.standard_normal((n, 11))
    s, f, c, d, e_cat, e_fear, e_anx, e_dep, e_se, e_csi, u = z.T
    shift = {k: people[f"profile_{k}_shift"] for k in _SHIFTS}
    sens = s + shift["sensitivity"]
    distress = 0.25 * s + np.sqrt(1 - 0.25**2) * d + shift["distress"]
    latent = {
        "sensitivity": sens,
        "ts_facilitation": 0.4 * s + np.sqrt(1 - 0.4**2) * f + shift["facilitation"],
        "cpm_efficiency": -0.25 * s + np.sqrt(1 - 0.25**2) * c + shift["cpm"],
        "distress": distress,
        "catastrophizing": 0.8 * distress + 0.6 * e_cat,
        "fear": 0.65 * distress + np.sqrt(1 - 0.65**2) * e_fear,
        "anxiety": 0.75 * distress + np.sqrt(1 - 0.75**2) * e_anx,
        "depression": 0.75 * distress + np.sqrt(1 - 0.75**2) * e_dep,
        "self_efficacy": -0.6 * distress + 0.8 * e_se + shift["self_efficacy"],
        "csi": 0.6 * distress + 0.8 * e_csi + shift["csi"],
    }
    return {**{f"latent_{k}": v for k, v in latent.items()}, "random_effect": u}


def _draw_latent_classes(people: Arrays, scen: Scenario, rng: np.random.Generator) -> Arrays:
    """The latent class of every participant and the traits shifted by it.

    Without ``scen.latent_classes`` every participant is ``"none"`` and no random number is drawn,
    so the random stream, and the output, of the scenarios without classes stay unchanged.
    """
    n = people["age"].size
    if not scen.latent_classes:
        return {"phenotype": np.full(n, NO_PHENOTYPE, dtype=object)}
    names = [c for c, _ in scen.latent_classes]
    weights = np.array([w for _, w in scen.latent_classes], dtype=float)
    codes = rng.choice(len(names), size=n, p=weights / weights.sum())
    out: Arrays = {"phenotype": np.array(names, dtype=object)[codes]}
    for trait in _CLASS_TRAITS:
        shift = np.array([dict(LATENT_CLASSES[c].shifts).get(trait, 0.0) for c in names])
        if np.any(shift):
            out[f"latent_{trait}"] = people[f"latent_{trait}"] + shift[codes]
    return out


def _draw_pain_history(people: Arrays, rng: np.random.Generator) -> Arrays:
    """Usual pain (NRS, before session noise) and pain duration (months); 0 for healthy."""
    n = people["age"].size
    healthy = people["condition"] == "healthy"
    usual = (
        people["profile_pain_nrs_mean"]
        + 0.6 * people["latent_sensitivity"]
        + 0.5 * people["latent_distress"]
        + rng.normal(0, 1.2, n)
    )
    duration = people["profile_duration_median_months"] * np.exp(rng.normal(0, 0.9, n))
    duration = np.clip(np.round(duration), 3, (people["age"] - 16) * 12)
    return {
        "pain_usual": np.where(healthy, 0.0, usual),
        "pain_duration_months": np.where(healthy, 0.0, duration),
    }


def _baseline_ppt(people: Arrays, scen: Scenario, rng: np.random.Generator) -> Arrays:
    """True baseline PPT (kPa) at the local, remote and CPM test sites: log-normal (Rolke 2006),
    lower with sensitivity and in women, with a site-specific participant deviation."""
    n = people["age"].size
    common = (
        scen.ppt_female_log * people["female"]
        - scen.ppt_sensitivity_log_sd * people["latent_sensitivity"]
    )
    site = rng.normal(0.0, scen.ppt_site_log_sd, (n, 3))
    return {
        "ppt_local_true": scen.ppt_local_median_kpa * np.exp(common + site[:, 0]),
        "ppt_remote_true": scen.ppt_remote_median_kpa * np.exp(common + site[:, 1]),
        "ppt_cpm_true": scen.ppt_remote_median_kpa * np.exp(common + site[:, 2]),
    }


# --------------------------------------------------------------------------------------------------
# Sessions and protocols
# --------------------------------------------------------------------------------------------------

# Protocol menus. Aerobic: %HRR or %VO2max treated on one scale, mostly effective intensities (as
# in the studies Naugle 2012 pooled) with some at <= 50 % (Naugle 2014); isometric: (%MVC,
# minutes) pairs, lower intensity held longer (Naugle 2012); dynamic resistance: Borg RPE 11-17 or
# %MVC 40-75.
_AEROBIC_INTENSITY = np.array([40, 50, 55, 60, 65, 70, 75, 80])
_AEROBIC_INTENSITY_P = np.array([0.05, 0.1, 0.1, 0.1, 0.15, 0.25, 0.15, 0.1])
_AEROBIC_DURATION = np.array([6, 10, 15, 20, 30])
_AEROBIC_DURATION_P = np.array([0.05, 0.2, 0.3, 0.3, 0.15])
_ISOMETRIC_PROTOCOLS = np.array([[20, 5], [25, 3], [30, 3], [30, 2], [40, 2], [50, 1]])
_RESISTANCE_RPE = np.array([11, 13, 15, 17])
_RESISTANCE_PCT = np.array([40, 50, 60, 70, 75])
_RESISTANCE_DURATION = np.array([10, 15, 20, 30])


def _logistic(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _dose(
    modality: np.ndarray, intensity: np.ndarray, unit: np.ndarray, duration: np.ndarray
) -> np.ndarray:
    """Protocol dose in [0, 1]: the share of a modality's full EIH effect a protocol produces.

    Aerobic: logistic in intensity centred at 57.5 % (HRR or VO2max; > 50 % needed, Hoffman 2004;
    70 % HRR works and 50 % HRR does not, Naugle 2014) times logistic in duration centred at 8 min
    (> 10 min needed, Hoffman 2004). Isometric: 0.8-1.0 rising with %MVC (EIH across intensities,
    Naugle 2012). Dynamic resistance: 0.6-1.0 rising with relative intensity (RPE 11-17 or 40-75 %).
    """
    aerobic = _logistic((intensity - 57.5) / 4.0) * _logistic((duration - 8.0) / 1.5)
    isometric = 0.8 + 0.2 * np.clip((intensity - 20.0) / 30.0, 0, 1)
    rel = np.where(unit == "rpe", (intensity - 11.0) / 6.0, (intensity - 40.0) / 35.0)
    resistance = 0.6 + 0.4 * np.clip(rel, 0, 1)
    return np.select(
        [modality == "aerobic", modality == "isometric"], [aerobic, isometric], resistance
    )


def _draw_sessions(people: Arrays, scen: Scenario, rng: np.random.Generator) -> Arrays:
    """Rows (participant x session): protocol, dose, trial counts, rest control, day factors."""
    n = people["age"].size
    sp = np.asarray(scen.session_probs, dtype=float)
    n_sessions = rng.choice(3, size=n, p=sp / sp.sum()) + 1
    person = np.repeat(np.arange(n), n_sessions)
    starts = np.cumsum(n_sessions) - n_sessions
    m = person.size
    protocol = _draw_protocols(m, scen, rng)
    u_trials = rng.random(m)
    n_trials = np.where(
        u_trials < scen.one_trial_fraction,
        1,
        np.where(u_trials < scen.one_trial_fraction + scen.two_trial_fraction, 2, 3),
    )
    return {
        "person": person,
        "session_no": np.arange(m) - np.repeat(starts, n_sessions) + 1,
        **protocol,
        "dose": _dose(
            protocol["modality"], protocol["intensity"], protocol["unit"], protocol["duration"]
        ),
        "n_trials": n_trials,
        "has_rest": rng.random(m) < scen.rest_fraction,
        # day-to-day factor on baseline PPT: local, remote (exercise day), local, remote (rest)
        "ppt_day": np.exp(rng.normal(0.0, scen.ppt_day_log_sd, (m, 4))),
    }


def _draw_protocols(m: int, scen: Scenario, rng: np.random.Generator) -> Arrays:
    """Modality, intensity, intensity unit and duration of ``m`` sessions."""
    mp = np.asarray(scen.modality_probs, dtype=float)
    modality = np.array(MODALITIES)[rng.choice(3, size=m, p=mp / mp.sum())]
    aer_i = rng.choice(_AEROBIC_INTENSITY, size=m, p=_AEROBIC_INTENSITY_P)
    aer_d = rng.choice(_AEROBIC_DURATION, size=m, p=_AEROBIC_DURATION_P)
    aer_u = np.where(rng.random(m) < 0.5, "pct_hrr", "pct_vo2max")
    iso = _ISOMETRIC_PROTOCOLS[rng.integers(0, len(_ISOMETRIC_PROTOCOLS), m)]
    res_rpe = rng.random(m) < 0.6
    res_i = np.where(res_rpe, rng.choice(_RESISTANCE_RPE, m), rng.choice(_RESISTANCE_PCT, m))
    res_d = rng.choice(_RESISTANCE_DURATION, m)
    is_aer, is_iso = modality == "aerobic", modality == "isometric"
    return {
        "modality": modality,
        "intensity": np.select([is_aer, is_iso], [aer_i, iso[:, 0]], res_i).astype(float),
        "unit": np.select(
            [is_aer, is_iso], [aer_u, "pct_mvc"], np.where(res_rpe, "rpe", "pct_mvc")
        ).astype(str),
        "duration": np.select([is_aer, is_iso], [aer_d, iso[:, 1]], res_d).astype(float),
    }


def _session_clinical(
    people: Arrays, sessions: Arrays, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Current pain (usual pain + session noise, NRS 0-10, 0 for healthy) and the pain expected
    during the exercise (NRS 0-10; driven by fear, sensitivity, usual pain and modality; a predictor
    in Toomey 2025)."""
    p, modality = sessions["person"], sessions["modality"]
    m = p.size
    healthy = people["condition"][p] == "healthy"
    pain = np.clip(np.round(people["pain_usual"][p] + rng.normal(0.0, 0.8, m)), 0, 10)
    extra = np.select([modality == "isometric", modality == "dynamic_resistance"], [1.0, 0.5], 0.0)
    expected = (
        2.0
        + 0.8 * people["latent_fear"][p]
        + 0.5 * people["latent_sensitivity"][p]
        + 0.3 * people["pain_usual"][p]
        + extra
        + rng.normal(0.0, 1.2, m)
    )
    return {
        "pain_nrs": np.where(healthy, 0.0, pain),
        "expected_exercise_pain": np.clip(np.round(expected), 0, 10),
    }


# --------------------------------------------------------------------------------------------------
# EIH
# --------------------------------------------------------------------------------------------------


def _propensity(people: Arrays, sessions: Arrays, scen: Scenario) -> np.ndarray:
    """Standardised EIH propensity ``pi`` of every session (see the module docstring)."""
    p = sessions["person"]
    u = people["random_effect"][p] * scen.random_effect_sd
    if not scen.baseline_effects:
        return u
    sens = people["latent_sensitivity"][p]
    age_dev = (people["age"] - people["profile_age_mean"])[p] / 10.0
    aerobic_woman = (sessions["modality"] == "aerobic") & (people["sex"][p] == "female")
    return (
        u
        + people["profile_eih_shift"][p]
        - scen.sensitivity_weight * sens
        - scen.sensitization_weight * np.maximum(0.0, sens - scen.sensitization_threshold)
        - scen.facilitation_weight * people["latent_ts_facilitation"][p]
        + scen.cpm_weight * people["latent_cpm_efficiency"][p]
        + people["profile_anxiety_weight"][p] * people["latent_anxiety"][p]
        + people["profile_age_slope"][p] * age_dev
        + scen.sex_aerobic_weight * aerobic_woman
    )


def _draw_eih(people: Arrays, sessions: Arrays, scen: Scenario, rng: np.random.Generator) -> Arrays:
    """Expected and realised EIH_abs (kPa) per session and site, and the quiet-rest change."""
    is_modality = [sessions["modality"] == m for m in MODALITIES]
    full = np.select(is_modality, scen.eih_mean_kpa) * sessions["dose"]
    pi = _propensity(people, sessions, scen)
    multiplier = 1.0 + scen.response_sd * pi
    expected_local = full * multiplier
    expected_remote = scen.remote_ratio * expected_local
    m = pi.size
    day_sd = scen.day_sd_floor_kpa + scen.day_sd_fraction * full
    r = scen.site_day_correlation
    eta = rng.standard_normal((m, 2))
    eta_remote = r * eta[:, 0] + np.sqrt(1 - r**2) * eta[:, 1]
    return {
        "propensity": pi,
        "multiplier": multiplier,
        "expected_local": expected_local,
        "expected_remote": expected_remote,
        "realised_local": expected_local + day_sd * eta[:, 0],
        "realised_remote": expected_remote + scen.remote_ratio * day_sd * eta_remote,
        "rest_local": rng.normal(0.0, scen.rest_sd_kpa, m),
        "rest_remote": rng.normal(0.0, scen.rest_sd_kpa * scen.remote_ratio, m),
    }


# --------------------------------------------------------------------------------------------------
# Observed QST
# --------------------------------------------------------------------------------------------------


def _trials(
    level: np.ndarray, n_trials: np.ndarray, k: int, scen: Scenario, rng: np.random.Generator
) -> np.ndarray:
    """``k`` PPT trials (kPa, one decimal) around ``level``; trials beyond ``n_trials`` are NaN."""
    noise = np.exp(rng.normal(0.0, scen.ppt_trial_log_sd, (level.size, k)))
    values = np.round(np.clip(level[:, None] * noise, 20.0, PPT_RANGE[1] - 50.0), 1)
    values[np.arange(1, k + 1)[None, :] > n_trials[:, None]] = np.nan
    return values


def _ppt_columns(
    people: Arrays, sessions: Arrays, eih: Arrays, scen: Scenario, rng: np.random.Generator
) -> Arrays:
    """PPT trials before and after the exercise and, in some sessions, before and after rest.

    Post = pre level + realised EIH (never below 30 % of pre); trials add log-normal noise."""
    p, n_trials, day = sessions["person"], sessions["n_trials"], sessions["ppt_day"]
    rest_trials = np.where(sessions["has_rest"], n_trials, 0)
    cols: Arrays = {}
    for j, site in enumerate(("local", "remote")):
        base = people[f"ppt_{site}_true"][p]
        pre, rest_pre = base * day[:, j], base * day[:, j + 2]
        levels = {
            "pre": (pre, n_trials),
            "post": (np.maximum(pre + eih[f"realised_{site}"], 0.3 * pre), n_trials),
            "rest_pre": (rest_pre, rest_trials),
            "rest_post": (np.maximum(rest_pre + eih[f"rest_{site}"], 0.3 * rest_pre), rest_trials),
        }
        for phase, (level, count) in levels.items():
            values = _trials(level, count, 3, scen, rng)
            cols |= {f"ppt_{site}_{phase}_{k + 1}": values[:, k] for k in range(3)}
    return cols


def _cpm_columns(
    people: Arrays, sessions: Arrays, scen: Scenario, rng: np.random.Generator
) -> tuple[Arrays, np.ndarray]:
    """CPM with a PPT test stimulus: two trials before and two during conditioning (parallel
    design; Reezigt 2021), in every session before the exercise. Returns the columns and the true
    relative CPM effect of each session."""
    p = sessions["person"]
    m = p.size
    rel = (
        scen.cpm_mean
        + scen.cpm_efficiency_sd * people["latent_cpm_efficiency"][p]
        + rng.normal(0.0, scen.cpm_session_sd, m)
    )
    before = people["ppt_cpm_true"][p] * sessions["ppt_day"][:, 1]
    two = np.full(m, 2)
    b = _trials(before, two, 2, scen, rng)
    d = _trials(before * np.maximum(1.0 + rel, 0.5), two, 2, scen, rng)
    cols = {f"cpm_test_before_{k + 1}": b[:, k] for k in range(2)}
    cols |= {f"cpm_test_during_{k + 1}": d[:, k] for k in range(2)}
    return cols, rel


def _ts_columns(
    people: Arrays, sessions: Arrays, scen: Scenario, rng: np.random.Generator
) -> Arrays:
    """Temporal summation: a train of 10 ratings (0-100) rising from ``first`` towards
    ``first + increase``, and five single-stimulus ratings for part of the participants (wind-up
    ratio, DFNS). First rating and increase are log-normal in S and F."""
    p = sessions["person"]
    m = p.size
    first = scen.ts_first_mean * np.exp(
        0.3 * people["latent_sensitivity"][p] + rng.normal(0.0, 0.3, m)
    )
    increase = scen.ts_increase_mean * np.exp(
        0.45 * people["latent_ts_facilitation"][p] + rng.normal(0.0, 0.35, m)
    )
    shape = 1.0 - np.exp(-np.arange(10) / 3.0)
    shape /= shape[-1]
    train = first[:, None] + increase[:, None] * shape[None, :] + rng.normal(0.0, 4.0, (m, 10))
    train = np.clip(np.round(train), 0, 100)
    single = np.clip(np.round(first[:, None] + rng.normal(0.0, 5.0, (m, 5))), 0, 100)
    has_single = rng.random(people["age"].size) < scen.ts_single_fraction
    single[~has_single[p]] = np.nan
    cols = {f"ts_rating_{k + 1}": train[:, k] for k in range(10)}
    cols |= {f"ts_single_{k + 1}": single[:, k] for k in range(5)}
    return cols


# --------------------------------------------------------------------------------------------------
# Questionnaires
# --------------------------------------------------------------------------------------------------


def _graded_response(
    theta: np.ndarray, model: _ItemModel, n_items: int, rng: np.random.Generator
) -> np.ndarray:
    """Item answers (n, n_items) of a graded-response model; ``theta`` (n, n_items) holds the
    latent trait each item measures."""
    k = model.item_max - model.item_min
    j = np.arange(1, n_items + 1)
    offsets = 0.35 * np.sin(1.7 * j)  # fixed, varied item difficulties
    tau = model.spread * np.linspace(-1.0, 1.0, k)
    b = model.location + offsets[:, None] + tau[None, :]
    a = np.full(n_items, model.discrimination)
    reverse = np.isin(j, model.reverse_items)
    a[reverse] *= model.reverse_discrimination
    # A reverse-keyed item as answered: P(answer >= k) = logistic(a(-theta - b'_k)), with
    # b' = -b in reverse order, so that 5 - answer follows the ordinary item model.
    b[reverse] = -b[reverse][:, ::-1]
    eff = np.where(reverse, -1.0, 1.0)[None, :] * theta
    prob = _logistic(a[None, :, None] * (eff[:, :, None] - b[None, :, :]))
    u = rng.random((theta.shape[0], n_items, 1))
    return (u < prob).sum(axis=2) + model.item_min


def _questionnaire_items(people: Arrays, scen: Scenario, rng: np.random.Generator) -> Arrays:
    """All questionnaire item columns (float, NaN = missing) from the latent traits."""
    n = people["age"].size
    cols: Arrays = {}
    for model in _ITEM_MODELS:
        q = QUESTIONNAIRES[model.prefix].n_items
        if isinstance(model.trait, tuple):  # HADS: odd items anxiety, even items depression
            first, second = (people[f"latent_{t}"] for t in model.trait)
            theta = np.where(np.arange(1, q + 1)[None, :] % 2 == 1, first[:, None], second[:, None])
        else:
            theta = np.repeat(people[f"latent_{model.trait}"][:, None], q, axis=1)
        answers = _graded_response(theta, model, q, rng).astype(float)
        answers[rng.random((n, q)) < scen.item_missing_rate] = np.nan
        answers[rng.random(n) < scen.questionnaire_missing_rate] = np.nan
        cols |= {f"{model.prefix}_{i + 1}": answers[:, i] for i in range(q)}
    return cols


# --------------------------------------------------------------------------------------------------
# Biomarkers
# --------------------------------------------------------------------------------------------------


def _biomarkers(people: Arrays, scen: Scenario, rng: np.random.Generator) -> tuple[Arrays, Arrays]:
    """Observed biomarker columns (object: float, NaN or a non-detect string) and the truth
    (uncensored values, NaN without the panel, and ``has_biomarkers``)."""
    n = people["age"].size
    has_panel = rng.random(n) < scen.biomarker_coverage
    observed: Arrays = {}
    true: Arrays = {"has_biomarkers": has_panel}
    for marker, (_unit, _matrix, lod) in BIOMARKER_PANEL.items():
        gmean, log_sd, decimals, lod_word = _BIOMARKER_DISTRIBUTION[marker]
        loading = float(np.clip(scen.biomarker_signal * _BIOMARKER_LOADINGS[marker], -0.9, 0.9))
        z = loading * people["random_effect"] + np.sqrt(1.0 - loading**2) * rng.standard_normal(n)
        log_value = np.log(gmean) + log_sd * z
        if marker == "il6":  # low-grade inflammation with adiposity and some conditions
            log_value += people["profile_il6_log_shift"] + 0.04 * (people["bmi"] - 25.0)
        value = np.exp(log_value)
        column = np.round(value, decimals).astype(object)
        column[value < lod] = "<LOD" if lod_word else f"<{lod:g}"
        column[~has_panel] = np.nan
        observed[f"bio_{marker}"] = column
        true[f"bio_{marker}_true"] = np.where(has_panel, value, np.nan)
    return observed, true


# --------------------------------------------------------------------------------------------------
# Assembly and output
# --------------------------------------------------------------------------------------------------


def _id_columns(n: int, sessions: Arrays) -> dict[str, np.ndarray]:
    width = max(5, len(str(n)))
    pid = np.char.add("P", np.char.zfill(np.arange(1, n + 1).astype(str), width))
    sid = np.char.add("S", sessions["session_no"].astype(str))
    return {"participant_id": pid[sessions["person"]], "session_id": sid}


_PPT_ORDER = [
    f"ppt_{site}_{phase}_{k}"
    for phase in ("pre", "post")
    for site in ("local", "remote")
    for k in (1, 2, 3)
] + [
    f"ppt_{site}_{phase}_{k}"
    for site in ("local", "remote")
    for phase in ("rest_pre", "rest_post")
    for k in (1, 2, 3)
]


_ITEM_PREFIXES = tuple(f"{m.prefix}_" for m in _ITEM_MODELS)


def _assemble_cohort(people: Arrays, sessions: Arrays, measured: Arrays) -> pd.DataFrame:
    """The observed cohort in a stable column order: ids, demographics, clinical, exercise, PPT,
    CPM, TS, questionnaire items, biomarkers. Participant-level arrays are repeated per row."""
    p = sessions["person"]
    cols: dict[str, np.ndarray] = {
        **_id_columns(people["age"].size, sessions),
        "age": people["age"][p],
        "sex": people["sex"][p],
        "bmi": people["bmi"][p],
        "condition": people["condition"][p],
        "pain_nrs": sessions["pain_nrs"],
        "pain_duration_months": people["pain_duration_months"][p],
        "expected_exercise_pain": sessions["expected_exercise_pain"],
        "exercise_modality": sessions["modality"],
        "exercise_intensity": sessions["intensity"],
        "exercise_intensity_unit": sessions["unit"],
        "exercise_duration_min": sessions["duration"],
        **{c: measured[c] for c in _PPT_ORDER},
        **{c: measured[c] for c in measured if c.startswith("cpm_")},
        "cpm_test_type": np.full(p.size, "threshold"),
        **{c: measured[c] for c in measured if c.startswith("ts_")},
        **{c: measured[c][p] for c in measured if c.startswith(_ITEM_PREFIXES)},
        **{c: measured[c][p] for c in measured if c.startswith("bio_")},
    }
    return pd.DataFrame(cols)


def _assemble_truth(
    people: Arrays, sessions: Arrays, eih: Arrays, cpm_rel: np.ndarray, bio_true: Arrays
) -> pd.DataFrame:
    """Ground truth per row (same keys as the cohort), floats rounded to 4 decimals."""
    p = sessions["person"]
    has_rest = sessions["has_rest"]
    cols: dict[str, np.ndarray] = {
        **_id_columns(people["age"].size, sessions),
        "condition": people["condition"][p],
        "exercise_modality": sessions["modality"],
        "dose": sessions["dose"],
        "latent_phenotype": people["phenotype"][p],
        **{k: v[p] for k, v in people.items() if k.startswith("latent_")},
        "random_effect": people["random_effect"][p],
        "eih_propensity": eih["propensity"],
        "eih_multiplier": eih["multiplier"],
        "expected_eih_local": eih["expected_local"],
        "expected_eih_remote": eih["expected_remote"],
        "realised_eih_local": eih["realised_local"],
        "realised_eih_remote": eih["realised_remote"],
        "realised_rest_local": np.where(has_rest, eih["rest_local"], np.nan),
        "realised_rest_remote": np.where(has_rest, eih["rest_remote"], np.nan),
        "hyperalgesic": eih["expected_local"] < 0,
        "ppt_local_true": people["ppt_local_true"][p],
        "ppt_remote_true": people["ppt_remote_true"][p],
        "cpm_true_rel": cpm_rel,
        **{k: v[p] for k, v in bio_true.items()},
    }
    frame = pd.DataFrame(cols)
    floats = frame.select_dtypes("float").columns
    frame[floats] = frame[floats].round(4)
    return frame


def _atomic_write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` through a temporary file in the same directory and
    :func:`os.replace`; float columns holding only whole numbers are written without ``.0``."""
    whole = {}
    for col in frame.select_dtypes("float").columns:
        values = frame[col].to_numpy()
        finite = values[~np.isnan(values)]
        if finite.size and np.all(finite == np.round(finite)):
            whole[col] = "Int64"
    out = frame.astype(whole)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            out.to_csv(fh, index=False, lineterminator="\n", na_rep="")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
