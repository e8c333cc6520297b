"""Multi-site simulated studies: sites with their own case mix and measurement shifts.

Pooled EIH studies differ between sites in who is recruited (case mix) and in how pressure pain
thresholds are measured (algometer, probe, rate, timing of the post-exercise test). A model that
does not travel shows it in internal-external cross-validation (``cv.scheme: leave_site_out``)
and in external validation (``eih-ml evaluate``); these tests need sites whose shift is known.

Each :class:`SiteSpec` is simulated by :func:`eih_ml.data.simulate.simulate_cohort` with its own
scenario (optionally another condition mix) and an independent seed spawned from the study
seed, then measured with that site's shift:

* ``ppt_scale`` and ``ppt_offset_kpa``: every PPT reading (pre, post, quiet rest, and CPM test
  stimuli given as thresholds) becomes ``scale * reading + offset``; a miscalibrated algometer
  or another probe. A gain changes EIH in kPa by the same factor; an offset cancels in EIH but
  shifts every threshold a model reads as a predictor;
* ``post_offset_kpa``: added to the post-exercise readings only (not the quiet-rest control):
  e.g. a later post-test after exercise, when EIH has partly faded (Vaegter 2014 report EIH
  fading within ~15 min). It moves each measured EIH by the offset: the site looks miscalibrated
  to a model from the other sites, with the same patients.

Readings stay positive (clipped at 1 kPa, as an algometer cannot read below its start force).
``ground_truth`` keeps every latent value unchanged and adds ``site`` and the site's shift
parameters, so a test can compare what was measured with what was true.

Participant ids are prefixed with the site name (``site_2-P00001``): ids are unique across
sites, as a pooled export would make them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from eih_ml.errors import ConfigError

if TYPE_CHECKING:
    import os

    from eih_ml.data.simulate import SimulatedCohort
    from eih_ml.data.simulate_scenarios import Scenario

__all__ = [
    "SiteSpec",
    "four_sites_one_shifted",
    "read_site_specs",
    "simulate_sites",
    "site_specs_from_dicts",
]

#: Lowest reading an algometer gives (kPa): a shifted reading is clipped here.
MIN_READING_KPA = 1.0


@dataclass(frozen=True)
class SiteSpec:
    """One site of a pooled study.

    Parameters
    ----------
    name : str
        Site label (the ``site`` column), also the prefix of its participant ids.
    n_participants : int
        Participants recruited at this site.
    scenario : str
        Simulator scenario (:data:`eih_ml.data.simulate.SCENARIOS`), default ``chronic_mixed``.
    condition_mix : mapping of str to float, optional
        Case mix: replaces the scenario's condition weights (normalised to 1), e.g.
        ``{"fibromyalgia": 0.6, "healthy": 0.4}``.
    ppt_scale, ppt_offset_kpa : float
        Measurement shift of every PPT reading: ``scale * reading + offset`` (default 1, 0).
    post_offset_kpa : float
        Added to the post-exercise PPT readings only (default 0).
    """

    name: str
    n_participants: int
    scenario: str = "chronic_mixed"
    condition_mix: Mapping[str, float] | None = field(default=None)
    ppt_scale: float = 1.0
    ppt_offset_kpa: float = 0.0
    post_offset_kpa: float = 0.0

    @property
    def shifted(self) -> bool:
        """Whether this site measures differently from the reference."""
        return (self.ppt_scale, self.ppt_offset_kpa, self.post_offset_kpa) != (1.0, 0.0, 0.0)


def four_sites_one_shifted(
    n_per_site: int = 150, post_offset_kpa: float = -40.0
) -> tuple[SiteSpec, ...]:
    """Four sites of the same population; the fourth tests later after exercise.

    Its post-exercise thresholds read ``post_offset_kpa`` lower: fewer responders than a model
    from the other three sites expects (the test case of leave-site-out and recalibration).
    """
    return (
        SiteSpec("site_1", n_per_site),
        SiteSpec("site_2", n_per_site),
        SiteSpec("site_3", n_per_site),
        SiteSpec("site_4", n_per_site, post_offset_kpa=post_offset_kpa),
    )


def site_specs_from_dicts(items: Sequence[Mapping]) -> tuple[SiteSpec, ...]:
    """Site specifications from plain mappings (a YAML file's ``sites`` list).

    Raises
    ------
    ConfigError
        An unknown key, a missing name or size, a value of the wrong type: the message names the
        site and the key.
    """
    known = {f.name for f in dataclasses.fields(SiteSpec)}
    specs = []
    for i, item in enumerate(items, start=1):
        if not isinstance(item, Mapping):
            raise ConfigError(f"site {i}: expected a mapping of site settings; found {item!r}.")
        unknown = sorted(set(item) - known)
        if unknown:
            raise ConfigError(
                f"site {i} ({item.get('name', '?')}): unknown setting(s) {', '.join(unknown)}; "
                f"known: {', '.join(sorted(known))}."
            )
        for key in ("name", "n_participants"):
            if key not in item:
                raise ConfigError(f"site {i}: {key} is required.")
        try:
            specs.append(
                SiteSpec(
                    name=str(item["name"]),
                    n_participants=_int(item["n_participants"]),
                    scenario=str(item.get("scenario", "chronic_mixed")),
                    condition_mix=dict(item["condition_mix"])
                    if item.get("condition_mix")
                    else None,
                    ppt_scale=float(item.get("ppt_scale", 1.0)),
                    ppt_offset_kpa=float(item.get("ppt_offset_kpa", 0.0)),
                    post_offset_kpa=float(item.get("post_offset_kpa", 0.0)),
                )
            )
        except (TypeError, ValueError) as exc:
            raise ConfigError(
                f"site {i} ({item.get('name', '?')}): {exc}. Fix: n_participants a whole "
                "number, the shifts numbers in kPa, condition_mix condition: weight."
            ) from None
    return tuple(specs)


def _int(value: float | str) -> int:
    if isinstance(value, bool) or float(value) != int(float(value)):
        raise ValueError(f"n_participants must be a whole number, found {value!r}")
    return int(float(value))


def simulate_sites(sites: Sequence[SiteSpec], seed: int = 0) -> SimulatedCohort:
    """Simulate a pooled study of several sites (see the module docstring).

    Parameters
    ----------
    sites : sequence of SiteSpec
        At least one site; names must be unique.
    seed : int
        Study seed: each site gets an independent stream spawned from it
        (:class:`numpy.random.SeedSequence`), so a site's participants do not change when another
        site is added after it, and the same seed gives the same bytes.

    Returns
    -------
    SimulatedCohort
        ``cohort`` with a ``site`` column after the ids; ``ground_truth`` with ``site``,
        ``site_ppt_scale``, ``site_ppt_offset_kpa`` and ``site_post_offset_kpa``; the first
        site's scenario.

    Raises
    ------
    ConfigError
        No site, duplicate names, an unknown scenario or condition, a non-positive scale.
    """
    from eih_ml.data.simulate import SimulatedCohort, check_int
    from eih_ml.data.simulate_scenarios import resolve_scenario

    sites = list(sites)
    if not sites:
        raise ConfigError("simulate_sites needs at least one site.")
    names = [s.name for s in sites]
    if len(set(names)) != len(names) or any(not n.strip() for n in names):
        raise ConfigError(f"Site names must be unique and not blank; found {names}.")
    seed = check_int("seed", seed, 0, None)
    streams = np.random.SeedSequence(seed).spawn(len(sites))
    cohorts: list[pd.DataFrame] = []
    truths: list[pd.DataFrame] = []
    scenarios: list[Scenario] = []
    for spec, stream in zip(sites, streams, strict=True):
        if not (math.isfinite(spec.ppt_scale) and spec.ppt_scale > 0):
            raise ConfigError(
                f"site {spec.name}: ppt_scale must be above 0; found {spec.ppt_scale}."
            )
        scen = _site_scenario(spec, resolve_scenario(spec.scenario))
        scenarios.append(scen)
        sim = _simulate_one(spec, scen, int(stream.generate_state(1)[0]))
        cohorts.append(sim.cohort)
        truths.append(sim.ground_truth)
    cohort = pd.concat(cohorts, ignore_index=True)
    truth = pd.concat(truths, ignore_index=True)
    return SimulatedCohort(cohort=cohort, ground_truth=truth, scenario=scenarios[0], seed=seed)


def _site_scenario(spec: SiteSpec, scen: Scenario) -> Scenario:
    if not spec.condition_mix:
        return scen
    total = float(sum(spec.condition_mix.values()))
    if not total > 0 or any(w < 0 for w in spec.condition_mix.values()):
        raise ConfigError(
            f"site {spec.name}: condition_mix weights must be 0 or more and not all 0; "
            f"found {dict(spec.condition_mix)}."
        )
    mix = tuple((str(c), float(w) / total) for c, w in spec.condition_mix.items())
    return dataclasses.replace(scen, name=f"{scen.name}@{spec.name}", condition_mix=mix)


def _simulate_one(spec: SiteSpec, scen: Scenario, seed: int) -> SimulatedCohort:
    from eih_ml.data.simulate import simulate_cohort
    from eih_ml.data.simulate_scenarios import check_scenario

    check_scenario(scen)
    sim = simulate_cohort(spec.n_participants, scenario=scen, seed=seed)
    cohort = measure_with_shift(sim.cohort, spec)
    prefix = f"{spec.name}-"
    cohort["participant_id"] = prefix + cohort["participant_id"].astype(str)
    cohort.insert(2, "site", spec.name)
    truth = sim.ground_truth.copy()
    truth["participant_id"] = prefix + truth["participant_id"].astype(str)
    truth.insert(2, "site", spec.name)
    truth["site_ppt_scale"] = spec.ppt_scale
    truth["site_ppt_offset_kpa"] = spec.ppt_offset_kpa
    truth["site_post_offset_kpa"] = spec.post_offset_kpa
    return dataclasses.replace(sim, cohort=cohort, ground_truth=truth)


def measure_with_shift(cohort: pd.DataFrame, spec: SiteSpec) -> pd.DataFrame:
    """The cohort's PPT readings as the site's equipment and timing give them.

    ``scale * reading + offset`` for every PPT reading (and CPM test stimuli measured as
    thresholds), then ``post_offset_kpa`` on the post-exercise readings; rounded to 0.1 kPa as
    the simulator writes them, clipped at :data:`MIN_READING_KPA`. Missing readings stay missing.
    """
    out = cohort.copy()
    if not spec.shifted:
        return out
    ppt = [c for c in out.columns if c.startswith("ppt_")]
    post = [c for c in ppt if "_post_" in c and "_rest_" not in c]
    cpm = [c for c in out.columns if c.startswith("cpm_test_") and c != "cpm_test_type"]
    rows = (
        out["cpm_test_type"].eq("threshold").to_numpy()
        if cpm and "cpm_test_type" in out.columns
        else np.zeros(len(out), dtype=bool)
    )

    def device(values: pd.DataFrame) -> pd.DataFrame:
        return values * spec.ppt_scale + spec.ppt_offset_kpa

    out[ppt] = device(out[ppt])
    out[post] = out[post] + spec.post_offset_kpa
    out[ppt] = out[ppt].clip(lower=MIN_READING_KPA).round(1)
    if rows.any():
        out.loc[rows, cpm] = device(out.loc[rows, cpm]).clip(lower=MIN_READING_KPA).round(1)
    return out


def read_site_specs(path: str | os.PathLike[str]) -> tuple[SiteSpec, ...]:
    """The ``sites`` list of a YAML file as :class:`SiteSpec` (see :func:`site_specs_from_dicts`).

    Raises
    ------
    ConfigError
        The file is missing or not YAML, has no ``sites`` list, or a site is invalid.
    """
    from pathlib import Path

    import yaml

    path = Path(path)
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"Cannot read the sites file {path}: {exc.strerror}.") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"The sites file {path} is not valid YAML: {exc}.") from None
    items = loaded.get("sites") if isinstance(loaded, dict) else None
    if not isinstance(items, list) or not items:
        raise ConfigError(
            f"The sites file {path} needs a 'sites' list, e.g. sites: [{{name: site_1, "
            "n_participants: 150}}, ...]; see configs/simulate/four_sites.yaml."
        )
    try:
        return site_specs_from_dicts(items)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
