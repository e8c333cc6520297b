"""Who the simulated participants are: condition profiles and latent pain-modulation classes.

:data:`CONDITION_PROFILES` gives, per condition, the demographics, usual pain and the shifts of the
latent traits and of the EIH propensity (steps 1, 2 and 4 of the generative model described in
:mod:`eih_ml.data.simulate`). :data:`LATENT_CLASSES` are the discrete classes a scenario with
``latent_classes`` (e.g. ``phenotyped``) mixes; each shifts the latent traits of its members.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "CONDITION_PROFILES",
    "LATENT_CLASSES",
    "NO_PHENOTYPE",
    "ConditionProfile",
    "LatentClass",
]

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
CLASS_TRAITS = (
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
        Trait -> shift added to the member's latent trait (traits of ``CLASS_TRAITS``; a trait
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
