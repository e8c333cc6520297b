"""Simulated exercise programmes: a prescription per participant and pain/function visits.

Built on a :class:`~eih_ml.data.simulate.SimulatedCohort`, from the **same latent traits** as the
acute EIH of its sessions (ground truth ``eih_propensity``, ``latent_csi``, ``latent_fear``), so a
model can learn whether acute EIH and the QST of the baseline session predict who benefits from a
programme. Each participant is prescribed a programme (modality, intensity with its unit, session
duration, sessions per week, 12 weeks) drawn at random (the "randomised protocol" case: the
prescription is independent of the patient) and visited at weeks 0, 4, 8 and 12.

Expected improvement of pain at week 12, as a fraction of baseline pain (NRS 0-10):
``mean_reduction x dose(minutes/week, intensity) x adherence x exp(b_eih z_eih - b_csi z_csi)``,
reached along ``1 - exp(-week / 4)``; observed pain is rounded to whole NRS points with visit
noise. Calibration (docs/simulator_calibration.md):

* mean relative reduction at 12 weeks 25 % in the exercise arm: exercise therapy for chronic low
  back pain improves pain by 15.2 points on 0-100 more than no treatment or usual care (Hayden
  2021, Cochrane CD009790), and knee-OA exercise by SMD 0.49 (Fransen 2015, Cochrane CD004376);
  a within-arm change of about 1.5 NRS points from 6 is of that size (check);
* dose: saturating in weekly minutes, ``1 - exp(-minutes / 90)`` normalised at 90 min/week, and
  rising with intensity to a plateau above 60 % of maximum; the shape is an assumption (Polaski
  2019, PLoS One 14:e0210418, found dose effects across chronic-pain trials inconsistent) (check);
* who responds: more efficient pain modulation (higher ``eih_propensity``) improves more, more
  central sensitization less (``b_eih`` = 0.25, ``b_csi`` = 0.2 per SD; assumption (check));
* adherence: mean about 75 %, lower with fear of movement and with more sessions a week (check);
* dropout before week 12 about 15 %, more likely with higher baseline pain and fear (attrition
  of exercise trials in chronic pain; check): its visits stop after week 4 or 8.

Function follows pain: the condition's score (low back pain: ODI; knee OA: WOMAC; neck pain and
whiplash: NDI; fibromyalgia: FIQR) improves by 0.8 x the relative pain improvement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from eih_ml.data.simulate import SimulatedCohort
from eih_ml.features.protocol import relative_intensity_array

if TYPE_CHECKING:
    import os
    from pathlib import Path

#: Visits of the simulated programme (weeks from baseline).
VISIT_WEEKS = (0, 4, 8, 12)
#: The function score each condition is followed with (None: pain only).
FUNCTION_SCORE = {
    "low_back_pain": ("odi_total", 100.0),
    "knee_oa": ("womac_total", 96.0),
    "neck_pain": ("ndi_total", 50.0),
    "whiplash": ("ndi_total", 50.0),
    "fibromyalgia": ("fiqr_total", 100.0),
}


@dataclass(frozen=True)
class ProgrammeParams:
    """Parameters of the programme simulation (defaults: module docstring, with sources)."""

    mean_reduction: float = 0.25
    b_eih: float = 0.25
    b_csi: float = 0.2
    minutes_scale: float = 90.0
    mean_adherence: float = 0.75
    dropout_rate: float = 0.15
    pain_noise: float = 0.8
    programme_weeks: int = 12


@dataclass
class SimulatedProgramme:
    """A simulated cohort with programme columns, its visits and the truth behind them."""

    cohort: pd.DataFrame
    visits: pd.DataFrame
    truth: pd.DataFrame
    params: ProgrammeParams

    def __repr__(self) -> str:
        return (
            f"<SimulatedProgramme: {self.truth.shape[0]} participants, {len(self.visits)} visits, "
            f"{int(self.truth['dropout'].sum())} dropouts>"
        )


def _prescriptions(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    modality = rng.choice(["aerobic", "isometric", "dynamic_resistance"], size=n)
    unit = np.select(
        [modality == "aerobic", modality == "isometric"], ["pct_hrr", "pct_mvc"], "rpe"
    ).astype(object)
    intensity = np.where(
        modality == "aerobic",
        rng.uniform(40, 75, n),
        np.where(modality == "isometric", rng.uniform(20, 50, n), rng.uniform(11, 15, n)),
    ).round(0)
    return {
        "programme_modality": modality.astype(object),
        "programme_intensity": intensity,
        "programme_intensity_unit": unit,
        "session_duration_min": rng.choice([20.0, 30.0, 45.0, 60.0], size=n),
        "sessions_per_week": rng.choice([1.0, 2.0, 3.0, 4.0, 5.0], size=n),
    }


def _z(x: np.ndarray) -> np.ndarray:
    sd = np.nanstd(x)
    return (x - np.nanmean(x)) / (sd if sd > 0 else 1.0)


def simulate_programme(
    sim: SimulatedCohort, params: ProgrammeParams | None = None, seed: int | None = None
) -> SimulatedProgramme:
    """Prescribe a programme to every participant of ``sim`` and simulate its visits.

    Parameters
    ----------
    sim : SimulatedCohort
        From :func:`eih_ml.data.simulate.simulate_cohort`.
    params : ProgrammeParams, optional
    seed : int, optional
        Default: the cohort's seed + 1 (an independent stream).

    Returns
    -------
    SimulatedProgramme
        ``cohort``: the sessions with the programme columns (the same on every session of a
        participant); ``visits``: participant_id, visit, weeks_from_baseline, pain_nrs, the
        condition's function score, adherence_pct; ``truth``: per participant the expected
        week-12 improvement (points and %), dose factor, adherence, dropout.
    """
    p = params or ProgrammeParams()
    rng = np.random.default_rng(sim.seed + 1 if seed is None else seed)
    first = ~sim.cohort["participant_id"].duplicated().to_numpy()
    people = sim.cohort.loc[first].reset_index(drop=True)
    truth_rows = sim.ground_truth.loc[first].reset_index(drop=True)
    n = len(people)
    rx = _prescriptions(n, rng)
    rx["programme_weeks"] = np.full(n, float(p.programme_weeks))
    rel = relative_intensity_array(
        rx["programme_intensity"], rx["programme_intensity_unit"], "borg_6_20"
    )
    minutes = rx["session_duration_min"] * rx["sessions_per_week"]
    dose = (1 - np.exp(-minutes / p.minutes_scale)) / (1 - np.exp(-1.0))
    dose *= np.clip(0.6 + 0.4 * np.clip(rel, 0, 0.6) / 0.6, 0.6, 1.0)
    fear = _z(truth_rows["latent_fear"].to_numpy(float))
    adherence = rng.beta(6.0, 2.0, n) - 0.05 * fear - 0.03 * (rx["sessions_per_week"] - 3)
    adherence = np.clip(adherence * p.mean_adherence / 0.75, 0.05, 1.0)
    eih = _z(truth_rows["eih_propensity"].to_numpy(float))
    csi = _z(truth_rows["latent_csi"].to_numpy(float))
    responsiveness = np.exp(p.b_eih * eih - p.b_csi * csi + rng.normal(0, 0.3, n))
    frac = np.clip(p.mean_reduction * dose * adherence / 0.75 * responsiveness, -0.3, 0.95)
    base_pain = pd.to_numeric(people["pain_nrs"], errors="coerce").to_numpy(float)
    base_pain = np.where(np.isfinite(base_pain), base_pain, 0.0)
    pain = _z(base_pain)
    logit = np.log(p.dropout_rate / (1 - p.dropout_rate)) + 0.4 * pain + 0.3 * fear
    dropout = rng.random(n) < 1 / (1 + np.exp(-logit))
    last_week = np.where(dropout, rng.choice([4, 8], size=n), VISIT_WEEKS[-1])
    condition = people["condition"].astype(str).to_numpy()
    rows = []
    for i in range(n):
        score = FUNCTION_SCORE.get(condition[i])
        f_base = None
        if score is not None:
            name, top = score
            f_base = float(
                np.clip(top * (0.25 + 0.05 * base_pain[i] + rng.normal(0, 0.08)), 0, top)
            )
        for k, w in enumerate(VISIT_WEEKS):
            if w > last_week[i]:
                break
            reached = (1 - np.exp(-w / 4.0)) / (1 - np.exp(-12 / 4.0))
            mean = base_pain[i] * (1 - frac[i] * reached)
            noise = 0.0 if w == 0 else rng.normal(0, p.pain_noise)
            row = {
                "participant_id": people["participant_id"].iloc[i],
                "visit": f"V{k + 1}",
                "weeks_from_baseline": float(w),
                "pain_nrs": float(np.clip(np.round(mean + noise), 0, 10)),
                "adherence_pct": np.nan if w == 0 else float(round(100 * adherence[i], 1)),
            }
            if score is not None:
                name, top = score
                f = f_base * (1 - 0.8 * frac[i] * reached) + (0 if w == 0 else rng.normal(0, 2.0))
                row[name] = float(np.clip(round(f, 1), 0, top))
            rows.append(row)
    visits = pd.DataFrame(rows)
    order = ["participant_id", "visit", "weeks_from_baseline", "pain_nrs"]
    order += [c for c in ("odi_total", "womac_total", "ndi_total", "fiqr_total") if c in visits]
    visits = visits[[*order, "adherence_pct"]]
    cohort = sim.cohort.copy()
    per_person = pd.DataFrame({"participant_id": people["participant_id"], **rx})
    cohort = cohort.merge(per_person, on="participant_id", how="left", sort=False)
    truth = pd.DataFrame(
        {
            "participant_id": people["participant_id"],
            "baseline_pain": base_pain,
            "expected_improvement_w12": base_pain * frac,
            "expected_improvement_pct_w12": 100 * frac,
            "dose_factor": dose,
            "minutes_per_week": minutes,
            "programme_intensity_rel": rel,
            "adherence": adherence,
            "responsiveness": responsiveness,
            "dropout": dropout,
        }
    )
    return SimulatedProgramme(cohort, visits, truth.round(4), p)


def write_programme(sim: SimulatedProgramme, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the simulated programme's three CSV files into ``out_dir``; returns their paths.

    ``cohort.csv`` (with the programme columns), ``visits.csv`` and ``programme_truth.csv``.
    """
    from pathlib import Path

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "cohort": out / "cohort.csv",
        "visits": out / "visits.csv",
        "programme_truth": out / "programme_truth.csv",
    }
    sim.cohort.to_csv(paths["cohort"], index=False)
    sim.visits.to_csv(paths["visits"], index=False)
    sim.truth.to_csv(paths["programme_truth"], index=False)
    return paths
