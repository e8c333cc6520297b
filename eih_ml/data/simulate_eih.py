"""The simulated outcome: EIH propensity, expected and realised EIH_abs, quiet-rest change.

Step 4 and the EIH part of step 5 of the generative model described in
:mod:`eih_ml.data.simulate`::

    expected_eih[i, s, j] = site_ratio[j] * dose[s] * mean_eih[modality[s]] * (1 + c * pi[i, s])

with ``pi`` the participant's standardised propensity (:func:`_propensity`), plus a session-level
(day-to-day) deviation of the realised EIH that sets the between-session ICC (Gomolka 2019;
Vaegter 2019), and the PPT change over quiet rest (expected 0; Vaegter 2019).
"""

from __future__ import annotations

import numpy as np

from eih_ml.data.contract import MODALITIES
from eih_ml.data.simulate_arrays import Arrays
from eih_ml.data.simulate_scenarios import Scenario


def _propensity(people: Arrays, sessions: Arrays, scen: Scenario) -> np.ndarray:
    """Standardised EIH propensity ``pi`` of every session (see :mod:`eih_ml.data.simulate`)."""
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


def draw_eih(people: Arrays, sessions: Arrays, scen: Scenario, rng: np.random.Generator) -> Arrays:
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
