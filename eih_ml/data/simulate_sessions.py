"""Simulated sessions: how many each participant attends, the exercise protocol and its dose.

One row per participant x session: the protocol (modality, intensity and its unit, duration)
drawn from the protocol menus, its dose in [0, 1] (Hoffman 2004; Naugle 2012; Naugle 2014), the
number of PPT trials, whether a quiet-rest control was run, the day factors on baseline PPT and
the pain reported at the session (current pain, pain expected during the exercise).
"""

from __future__ import annotations

import numpy as np

from eih_ml.data.contract import MODALITIES
from eih_ml.data.simulate_arrays import Arrays, logistic
from eih_ml.data.simulate_scenarios import Scenario

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


def _dose(
    modality: np.ndarray, intensity: np.ndarray, unit: np.ndarray, duration: np.ndarray
) -> np.ndarray:
    """Protocol dose in [0, 1]: the share of a modality's full EIH effect a protocol produces.

    Aerobic: logistic in intensity centred at 57.5 % (HRR or VO2max; > 50 % needed, Hoffman 2004;
    70 % HRR works and 50 % HRR does not, Naugle 2014) times logistic in duration centred at 8 min
    (> 10 min needed, Hoffman 2004). Isometric: 0.8-1.0 rising with %MVC (EIH across intensities,
    Naugle 2012). Dynamic resistance: 0.6-1.0 rising with relative intensity (RPE 11-17 or 40-75 %).
    """
    aerobic = logistic((intensity - 57.5) / 4.0) * logistic((duration - 8.0) / 1.5)
    isometric = 0.8 + 0.2 * np.clip((intensity - 20.0) / 30.0, 0, 1)
    rel = np.where(unit == "rpe", (intensity - 11.0) / 6.0, (intensity - 40.0) / 35.0)
    resistance = 0.6 + 0.4 * np.clip(rel, 0, 1)
    return np.select(
        [modality == "aerobic", modality == "isometric"], [aerobic, isometric], resistance
    )


def draw_sessions(people: Arrays, scen: Scenario, rng: np.random.Generator) -> Arrays:
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


def session_clinical(
    people: Arrays, sessions: Arrays, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Current pain and the pain expected during the exercise (both NRS 0-10).

    Current pain is usual pain + session noise, 0 for healthy participants. Expected pain is driven
    by fear, sensitivity, usual pain and modality (a predictor in Toomey 2025).
    """
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
