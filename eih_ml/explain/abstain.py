"""The minimum-information rule: when too little is measured, abstain instead of predicting.

A model fills in what is missing (imputation inside the pipeline, XGBoost's default branches),
so it will always return a number; for a patient with almost nothing measured that number is the
training cohort's average dressed up as a prediction. Clinical prediction models state the
information a prediction needs and decline to predict without it (TRIPOD 2015 item 9 and its
explanation: how missing predictors are handled at the point of use; Riley 2020 BMJ on
individual-level uncertainty). The rule here has two parts, both stored in the model bundle:

* **key measurements**: each is satisfied by any one of its features (e.g. a pressure pain
  threshold at the exercising muscle *or* at a remote site); the defaults are the exercise type and
  a PPT, the inputs EIH is defined on (``prediction.abstain.required``). A key measurement that the
  model does not use, or that fewer than ``training_share`` of the training sessions had, is
  dropped from the rule (and the drop recorded): a model cannot ask a clinic for what its own
  training data lacked;
* **a share of the core measurements**: a measurement (PPT at one site, CPM, temporal summation,
  a questionnaire, the exercise type, age...) is *core* when at least ``training_share`` of the
  training sessions had it; below ``min_measured_share`` of the core measured, the answer is an
  abstention.

An abstention names what to measure first: the missing key measurements, then the missing core
measurements in the order of the model's global importance (mean |SHAP|), as many as the share
needs. Every prediction also lists what was not measured, once, in clinical words ("PPT at both
sites, CPM"); those inputs are never shown as factors (:meth:`eih_ml.bundle.ModelBundle._factors`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from eih_ml.features.columns import is_missing

if TYPE_CHECKING:
    from eih_ml.config import AbstainConfig

#: Features that are computed from other inputs, not measured: never counted or named.
DERIVED = frozenset({"pain_modulation_profile", "bio_panel_missing", "phenotype_membership"})

#: Feature name prefixes -> (measurement key, measurement name), first match wins.
_MEASURES: tuple[tuple[str, str, str], ...] = (
    ("ppt_local_pre", "ppt_local", "PPT at the exercising muscle"),
    ("ppt_remote_pre", "ppt_remote", "PPT at a remote site"),
    ("cpm_sham", "cpm_sham", "sham CPM"),
    ("cpm_", "cpm", "CPM"),
    ("ts_", "ts", "temporal summation"),
    ("pcs_", "pcs", "pain catastrophizing (PCS)"),
    ("tsk_", "tsk", "fear of movement (TSK)"),
    ("hads_anxiety", "hads_a", "anxiety (HADS-A)"),
    ("hads_depression", "hads_d", "depression (HADS-D)"),
    ("csi_", "csi", "central sensitization symptoms (CSI)"),
    ("pseq_", "pseq", "pain self-efficacy (PSEQ)"),
    ("exercise_modality", "exercise_modality", "exercise type"),
    ("exercise_intensity", "exercise_intensity", "exercise intensity"),
    ("exercise_duration", "exercise_duration", "exercise duration"),
)

#: Measurements named together when all of them are missing.
_TOGETHER: tuple[tuple[frozenset[str], str], ...] = (
    (frozenset({"ppt_local", "ppt_remote"}), "PPT at both sites"),
    (frozenset({"hads_a", "hads_d"}), "HADS"),
    (
        frozenset({"exercise_modality", "exercise_intensity", "exercise_duration"}),
        "the exercise protocol",
    ),
)


#: An abstention names at most this many measurements to take first (then how many more).
ASK_AT_MOST = 5


@dataclass(frozen=True)
class Measurement:
    """One thing a clinic measures, and the model features derived from it."""

    key: str
    label: str
    features: tuple[str, ...]
    core: bool = True


@dataclass(frozen=True)
class KeyMeasurement:
    """A measurement the model needs: satisfied by any one of ``any_of``."""

    label: str
    any_of: tuple[str, ...]


def _measure_of(feature: str, feature_info: Mapping[str, dict]) -> tuple[str, str]:
    for prefix, key, label in _MEASURES:
        if feature.startswith(prefix):
            return key, label
    label = (feature_info.get(feature) or {}).get("label") or ""
    if not label:
        from eih_ml.features.metadata import feature_info as known

        label = known(feature).label
    if len(label) > 1 and label[1].islower():  # "Age" -> "age", never "IL-6" -> "iL-6"
        label = label[0].lower() + label[1:]
    return feature, label


def group_measurements(
    features: Sequence[str], feature_info: Mapping[str, dict]
) -> list[Measurement]:
    """The model's clinical inputs grouped into measurements (in first-feature order)."""
    groups: dict[str, tuple[str, list[str]]] = {}
    for f in features:
        if f in DERIVED or f.endswith(("_nd", "_lod")):
            continue
        key, label = _measure_of(f, feature_info)
        groups.setdefault(key, (label, []))[1].append(f)
    return [Measurement(k, label, tuple(fs)) for k, (label, fs) in groups.items()]


def feature_masks(columns: Mapping[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """Per input feature, True where a row has it measured (a detection-limit flag counts).

    Computed once per prediction call and shared by the rule and the factor list.
    """
    out: dict[str, np.ndarray] = {}
    numeric: list[str] = []
    for f, v in columns.items():
        if f.endswith(("_nd", "_lod")):
            continue
        if not isinstance(v, np.ndarray) or v.dtype.kind == "O":
            out[f] = np.fromiter((not is_missing(x) for x in v), dtype=bool, count=n)
        else:
            numeric.append(f)
    if numeric:  # one block: a handful of operations for 1 row or 10,000
        block = np.isfinite(np.array([columns[f] for f in numeric], dtype=float).reshape(-1, n))
        out |= dict(zip(numeric, block, strict=True))
    censored = [f for f in out if f + "_nd" in columns]
    if censored:  # below the detection limit: measured, the value is censored
        nd = np.array([columns[f + "_nd"] for f in censored], dtype=float).reshape(-1, n)
        for f, below in zip(censored, np.nan_to_num(nd) == 1, strict=True):
            out[f] = out[f] | below
    return out


def measured_mask(
    columns: Mapping[str, np.ndarray],
    features: Sequence[str],
    n: int,
    masks: Mapping[str, np.ndarray] | None = None,
) -> np.ndarray:
    """True where a row has any of ``features`` measured (``masks``: :func:`feature_masks`)."""
    if masks is None:
        present = {f: columns[f] for f in features if f in columns}
        present |= {f + "_nd": columns[f + "_nd"] for f in features if f + "_nd" in columns}
        masks = feature_masks(present, n)
    out = np.zeros(n, dtype=bool)
    for f in features:
        m = masks.get(f)
        if m is not None:
            out |= m
    return out


def _columns(X: pd.DataFrame) -> dict[str, np.ndarray]:
    """A model matrix as named arrays: numbers as float, anything else as object."""
    return {
        c: X[c].to_numpy(dtype=float, na_value=np.nan)
        if pd.api.types.is_numeric_dtype(X[c]) and not pd.api.types.is_bool_dtype(X[c])
        else X[c].to_numpy(dtype=object)
        for c in X.columns
    }


@dataclass
class Assessment:
    """Per row: abstained or not, the reason, and the measurements not taken."""

    abstained: np.ndarray
    reasons: list[str | None]
    not_measured: list[list[str]]
    n_measured: np.ndarray

    def not_measured_text(self) -> list[str]:
        """Per row, e.g. "PPT at both sites, CPM" ("" when everything was measured)."""
        return [", ".join(m) for m in self.not_measured]


@dataclass
class AbstainRule:
    """Key measurements and a minimum share of core measurements (see the module docstring)."""

    measurements: tuple[Measurement, ...] = ()
    required: tuple[KeyMeasurement, ...] = ()
    min_measured_share: float = 0.5
    enabled: bool = True
    training_share: float = 0.5
    #: Key measurements left out of the rule, each with why.
    dropped: tuple[str, ...] = field(default_factory=tuple)
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    # -------------------------------------------------------------------------------- fitting
    @classmethod
    def fit(
        cls,
        settings: AbstainConfig,
        X: pd.DataFrame,
        feature_info: Mapping[str, dict],
        importance: Mapping[str, float] | None = None,
    ) -> AbstainRule:
        """The rule of a model trained on ``X`` (its model matrix), from ``prediction.abstain``.

        ``importance`` (feature -> mean |SHAP|) orders the measurements an abstention asks for.
        """
        from eih_ml.errors import ConfigError
        from eih_ml.features.metadata import KNOWN_FEATURES

        n = len(X)
        columns = _columns(X)
        fm = feature_masks(columns, n)
        share = {
            m.key: float(measured_mask(columns, m.features, n, fm).mean()) if n else 0.0
            for m in group_measurements(list(X.columns), feature_info)
        }
        weight = dict(importance or {})
        measurements = sorted(
            group_measurements(list(X.columns), feature_info),
            key=lambda m: -max((weight.get(f, 0.0) for f in m.features), default=0.0),
        )  # stable: equal importance keeps the column order
        measurements = [  # biomarkers are an optional block: never core
            Measurement(
                m.key,
                m.label,
                m.features,
                share[m.key] >= settings.training_share and not m.key.startswith("bio_"),
            )
            for m in measurements
        ]
        required, dropped = [], []
        for r in settings.required:
            unknown = [f for f in r.any_of if f not in X.columns and f not in KNOWN_FEATURES]
            if unknown:
                raise ConfigError(
                    f"prediction.abstain.required names {', '.join(map(repr, unknown))}, not a "
                    "model feature. Name features of the feature table ('eih-ml features DATA "
                    "--out FILE' lists them), e.g. ppt_local_pre or exercise_modality."
                )
            kept = []
            for f in r.any_of:
                if f not in X.columns:
                    continue
                had = float(measured_mask(columns, [f], n, fm).mean()) if n else 0.0
                if had >= settings.training_share:
                    kept.append(f)
            if kept:
                required.append(KeyMeasurement(r.label, tuple(kept)))
            else:
                why = (
                    "the model does not use it"
                    if not any(f in X.columns for f in r.any_of)
                    else f"fewer than {100 * settings.training_share:.0f} % of the training "
                    "sessions had it"
                )
                dropped.append(f"{r.label}: {why}")
        return cls(
            tuple(measurements),
            tuple(required),
            float(settings.min_measured_share),
            bool(settings.enabled),
            float(settings.training_share),
            tuple(dropped),
        )

    # ----------------------------------------------------------------------------- assessing
    @property
    def n_core(self) -> int:
        """How many core measurements the share is counted over."""
        return sum(m.core for m in self.measurements)

    @property
    def n_needed(self) -> int:
        """Core measurements a prediction needs (the share, rounded up)."""
        return math.ceil(self.min_measured_share * self.n_core - 1e-9)

    def assess(
        self,
        columns: Mapping[str, np.ndarray],
        n: int,
        feature_measured: Mapping[str, np.ndarray] | None = None,
    ) -> Assessment:
        """Abstentions, reasons and measurements not taken of ``n`` rows of model features.

        ``feature_measured``: :func:`feature_masks` of ``columns`` when the caller has them.
        """
        fm = feature_masks(columns, n) if feature_measured is None else feature_measured
        names = tuple(fm)
        measurements, required = self._weights(names)
        F = np.array([fm[f] for f in names], dtype=np.int32).reshape(len(names), n)
        measured = (measurements @ F) > 0  # measurement x row, one product for any n
        key_ok = (required @ F) > 0
        core = np.array([m.core for m in self.measurements], dtype=bool)
        n_measured = measured[core].sum(axis=0).astype(int)
        abstained = np.zeros(n, dtype=bool)
        if self.enabled:
            abstained = (n_measured < self.n_needed) | ~key_ok.all(axis=0)
        reasons: list[str | None] = [None] * n
        not_measured: list[list[str]] = []
        by_key = {m.key: m for m in self.measurements}
        keys = [m.key for m in self.measurements]
        named: dict[tuple[str, ...], list[str]] = {}  # rows share a few patterns of missingness
        for i in range(n):
            missing = tuple(keys[j] for j in np.flatnonzero(~measured[:, i]))
            if missing not in named:
                named[missing] = _named(list(missing), by_key)
            not_measured.append(named[missing])
            if abstained[i]:
                absent = [r for r, ok in zip(self.required, key_ok[:, i], strict=True) if not ok]
                reasons[i] = self._reason(i, absent, list(missing), int(n_measured[i]), by_key)
        return Assessment(abstained, reasons, not_measured, n_measured)

    def _weights(self, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
        """Which of ``names`` make each measurement and each key measurement (cached per order)."""
        if names not in self._cache:
            at = {f: j for j, f in enumerate(names)}
            W = np.zeros((len(self.measurements), len(names)), dtype=np.int32)
            for i, m in enumerate(self.measurements):
                W[i, [at[f] for f in m.features if f in at]] = 1
            R = np.zeros((len(self.required), len(names)), dtype=np.int32)
            for i, r in enumerate(self.required):
                R[i, [at[f] for f in r.any_of if f in at]] = 1
            self._cache[names] = (W, R)
        return self._cache[names]

    def _reason(
        self,
        i: int,
        absent: list[KeyMeasurement],
        missing: list[str],
        k: int,
        by_key: Mapping[str, Measurement],
    ) -> str:
        problems, ask = [], [r.label for r in absent]
        need = self.n_needed
        if absent:
            verb = "is" if len(absent) == 1 else "are"
            problems.append(f"{_join([r.label for r in absent])} {verb} missing")
        more = 0
        if k < need:
            verb = "was" if k == 1 else "were"
            problems.append(
                f"{k} of the {self.n_core} core measurements {verb} taken and this model needs "
                f"at least {need}"
            )
            covered = {f for r in absent for f in r.any_of}
            short = need - k - len(absent)  # each key measurement taken counts once
            for key in missing:  # in the order of the model's global importance
                m = by_key[key]
                if short <= 0:
                    break
                if m.core and not covered.intersection(m.features):
                    if len(ask) < ASK_AT_MOST:
                        ask.append(m.label)
                    else:
                        more += 1
                    short -= 1
        then = f", then {more} more of those not measured" if more else ""
        return (
            f"Not enough measurements to predict: {'; '.join(problems)}. "
            f"Measure {_join(ask)} first{then}."
        )

    def describe(self) -> str:
        """The rule in one sentence (model card, web page)."""
        if not self.enabled:
            return "This model predicts however little is measured (no minimum-information rule)."
        share = f"at least {self.n_needed} of its {self.n_core} core measurements were taken"
        if self.required:
            known = _join([r.label for r in self.required])
            verb = "is" if len(self.required) == 1 else "are"
            return f"This model predicts only when {known} {verb} known and {share}."
        return f"This model predicts only when {share}."

    # ------------------------------------------------------------------------------------ I/O
    def to_dict(self) -> dict:
        """JSON form (stored in the bundle's meta)."""
        return {
            "enabled": self.enabled,
            "min_measured_share": self.min_measured_share,
            "training_share": self.training_share,
            "required": [{"label": r.label, "any_of": list(r.any_of)} for r in self.required],
            "measurements": [
                {"key": m.key, "label": m.label, "features": list(m.features), "core": m.core}
                for m in self.measurements
            ],
            "dropped": list(self.dropped),
        }

    @classmethod
    def from_dict(cls, d: Mapping) -> AbstainRule:
        """Inverse of :meth:`to_dict`."""
        return cls(
            tuple(
                Measurement(m["key"], m["label"], tuple(m["features"]), bool(m["core"]))
                for m in d["measurements"]
            ),
            tuple(KeyMeasurement(r["label"], tuple(r["any_of"])) for r in d["required"]),
            float(d["min_measured_share"]),
            bool(d["enabled"]),
            float(d["training_share"]),
            tuple(d.get("dropped", ())),
        )

    @classmethod
    def unruled(cls, features: Sequence[str], feature_info: Mapping[str, dict]) -> AbstainRule:
        """A bundle saved before the rule existed: name what is missing, never abstain."""
        return cls(tuple(group_measurements(features, feature_info)), enabled=False)


def _named(missing: list[str], by_key: Mapping[str, Measurement]) -> list[str]:
    """Missing measurement keys -> names, groups named once ("PPT at both sites")."""
    out: list[str] = []
    done: set[str] = set()
    gone = set(missing)
    biomarkers = [k for k in by_key if k.startswith("bio_")]
    for key in missing:
        if key in done:
            continue
        for keys, label in _TOGETHER:
            present = keys & set(by_key)
            if key in present and len(present) > 1 and present <= gone:
                out.append(label)
                done |= present
                break
        else:
            if key in biomarkers and len(biomarkers) > 1 and set(biomarkers) <= gone:
                out.append("the biomarker panel")
                done |= set(biomarkers)
            else:
                out.append(by_key[key].label)
                done.add(key)
    return out


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]
