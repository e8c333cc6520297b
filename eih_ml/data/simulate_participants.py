"""Simulated participants: demographics, latent traits, latent classes and true baseline PPT.

Steps 1-3 of the generative model described in :mod:`eih_ml.data.simulate`: condition and
demographics from the condition profile, the latent traits (and, in a scenario with latent
classes, the class that shifts them), usual pain and pain duration, and the true baseline pressure
pain threshold at each test site. Every function draws from ``rng`` in the order
:func:`eih_ml.data.simulate.simulate_cohort` calls them.
"""

from __future__ import annotations

import numpy as np

from eih_ml.data.contract import CONDITIONS
from eih_ml.data.simulate_arrays import Arrays
from eih_ml.data.simulate_profiles import (
    CLASS_TRAITS,
    CONDITION_PROFILES,
    LATENT_CLASSES,
    NO_PHENOTYPE,
    ConditionProfile,
)
from eih_ml.data.simulate_scenarios import Scenario


def _profile_array(codes: np.ndarray, attr: str) -> np.ndarray:
    """One :class:`ConditionProfile` attribute for every participant (``codes`` index CONDITIONS)."""
    return np.array([getattr(CONDITION_PROFILES[c], attr) for c in CONDITIONS], dtype=float)[codes]


def draw_participants(n: int, scen: Scenario, rng: np.random.Generator) -> Arrays:
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


def draw_latent(people: Arrays, rng: np.random.Generator) -> Arrays:
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


def draw_latent_classes(people: Arrays, scen: Scenario, rng: np.random.Generator) -> Arrays:
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
    for trait in CLASS_TRAITS:
        shift = np.array([dict(LATENT_CLASSES[c].shifts).get(trait, 0.0) for c in names])
        if np.any(shift):
            out[f"latent_{trait}"] = people[f"latent_{trait}"] + shift[codes]
    return out


def draw_pain_history(people: Arrays, rng: np.random.Generator) -> Arrays:
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


def baseline_ppt(people: Arrays, scen: Scenario, rng: np.random.Generator) -> Arrays:
    """True baseline PPT (kPa) at the local, remote and CPM test sites.

    Log-normal (Rolke 2006), lower with sensitivity and in women, with a site-specific participant
    deviation.
    """
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
