"""Simulated study designs: every parameter of a scenario, the named scenarios and their checks.

A :class:`Scenario` holds the condition mix, the EIH model's weights, the measurement noise, the
protocol menu shares and the missing-data rates of one simulated study; :data:`SCENARIOS` is the
registry of named scenarios that :func:`eih_ml.data.simulate.simulate_cohort` accepts by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from eih_ml.data.contract import CONDITIONS
from eih_ml.data.simulate_profiles import CONDITION_PROFILES, LATENT_CLASSES
from eih_ml.errors import ConfigError

__all__ = ["SCENARIOS", "Scenario"]

# --------------------------------------------------------------------------------------------------
# Scenarios
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """Every parameter of one simulated study design.

    Values are calibrated in ``docs/simulator_calibration.md``; change one with
    :func:`dataclasses.replace` and pass the result to
    :func:`~eih_ml.data.simulate.simulate_cohort`.

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
# Argument checks
# --------------------------------------------------------------------------------------------------


def resolve_scenario(scenario: str | Scenario) -> Scenario:
    """The Scenario named ``scenario`` in :data:`SCENARIOS`, or ``scenario`` itself, checked."""
    if isinstance(scenario, Scenario):
        check_scenario(scenario)
        return scenario
    if not isinstance(scenario, str) or scenario not in SCENARIOS:
        raise ConfigError(
            f"Unknown scenario {scenario!r}. Expected one of: {', '.join(SCENARIOS)}, "
            "or a Scenario instance."
        )
    return SCENARIOS[scenario]


def check_scenario(scen: Scenario) -> None:
    """Raise a ConfigError for unknown conditions or classes, or invalid shares or weights."""
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
