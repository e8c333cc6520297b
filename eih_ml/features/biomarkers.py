"""Biomarker preprocessing inside the model pipeline: non-detects, transforms, a missing panel.

Values below the limit of detection (LOD) follow Hornung & Reed (1990, Appl Occup Environ Hyg
5:46): substitute LOD/sqrt(2) when the detected values are not highly skewed (geometric standard
deviation, GSD < 3) and LOD/2 when they are; or keep them left-censored (LOD substituted, with an
indicator column). Choosing between sqrt(2) and 2 uses the cohort's GSD, a cohort statistic, so
this is a transformer fitted inside each training fold (the leakage rule, ARCHITECTURE.md).

Transforms: log for right-skewed concentrations (IL-6 and most markers), square root for cortisol
(normalised it better than log in Kobayashi 2015). Non-detects are always counted and flagged.
A participant without the panel gets NaN values and ``bio_panel_missing = 1``.

Input columns per marker (written by :func:`eih_ml.data.load.load_study`): ``bio_{m}`` (value,
NaN for a non-detect), ``bio_{m}_nd`` (1 non-detect, 0 detected, NaN missing) and ``bio_{m}_lod``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted, validate_data

from eih_ml.data.contract import BIOMARKER_LOD_SUFFIX, BIOMARKER_ND_SUFFIX

LodMethod = Literal["auto", "sqrt2", "half", "censored"]
Transform = Literal["auto", "log", "sqrt", "none"]

#: Markers transformed with the square root under ``value_transform="auto"`` (Kobayashi 2015).
SQRT_MARKERS = frozenset({"cortisol"})
GSD_CUTOFF = 3.0
PANEL_MISSING = "bio_panel_missing"


def _is_helper(name: str) -> bool:
    return name.endswith((BIOMARKER_ND_SUFFIX, BIOMARKER_LOD_SUFFIX))


class BiomarkerTransformer(TransformerMixin, BaseEstimator):
    """Substitute non-detects, transform concentrations and flag a missing panel.

    Parameters
    ----------
    lod_method : {"auto", "sqrt2", "half", "censored"}, default "auto"
        ``auto`` picks LOD/sqrt(2) or LOD/2 per marker from the training fold's GSD of detected
        values (Hornung & Reed 1990); ``censored`` substitutes the LOD and adds a
        ``bio_{m}_below_lod`` indicator.
    value_transform : {"auto", "log", "sqrt", "none"}, default "auto"
        ``auto``: square root for cortisol, natural log for the others. (Not named
        ``transform``: scikit-learn stores each parameter as an attribute of the same name,
        which would hide the :meth:`transform` method.)
    missing_indicator : bool, default True
        Add ``bio_panel_missing`` (1 when every marker of the row is missing).

    Attributes
    ----------
    markers_ : list of str
        Marker value columns seen in ``fit``.
    lod_divisor_ : dict
        Per marker, the divisor applied to the LOD (sqrt(2), 2 or 1).
    transform_ : dict
        Per marker, the transform applied.
    gsd_ : dict
        Per marker, the geometric standard deviation of detected training values.
    """

    def __init__(
        self,
        lod_method: LodMethod = "auto",
        value_transform: Transform = "auto",
        missing_indicator: bool = True,
    ):
        self.lod_method = lod_method
        self.value_transform = value_transform
        self.missing_indicator = missing_indicator

    def _frame(self, X, reset: bool) -> pd.DataFrame:
        arr = validate_data(self, X, reset=reset, ensure_all_finite="allow-nan", dtype=np.float64)
        # Column names are those seen in fit (feature_names_in_), so a transform input given as
        # an array, or with other names, is read by position exactly as in fit; validate_data has
        # already checked the number of columns and warned about mismatched names.
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = [f"x{i}" for i in range(arr.shape[1])]
        return pd.DataFrame(arr, columns=[str(c) for c in names])

    def fit(self, X, y=None):
        """Learn, per marker, the LOD divisor from the detected values' GSD."""
        if self.lod_method not in ("auto", "sqrt2", "half", "censored"):
            raise ValueError(
                f"lod_method must be auto, sqrt2, half or censored; got {self.lod_method!r}"
            )
        if self.value_transform not in ("auto", "log", "sqrt", "none"):
            raise ValueError(
                f"value_transform must be auto, log, sqrt or none; got {self.value_transform!r}"
            )
        frame = self._frame(X, reset=True)
        self.markers_ = [c for c in frame.columns if not _is_helper(c)]
        self.gsd_, self.lod_divisor_, self.transform_ = {}, {}, {}
        for m in self.markers_:
            detected = frame[m].to_numpy()
            detected = detected[np.isfinite(detected) & (detected > 0)]
            gsd = float(np.exp(np.std(np.log(detected), ddof=1))) if len(detected) > 2 else np.nan
            self.gsd_[m] = gsd
            if self.lod_method == "censored":
                divisor = 1.0
            elif self.lod_method == "half" or (
                self.lod_method == "auto" and np.isfinite(gsd) and gsd >= GSD_CUTOFF
            ):
                divisor = 2.0
            else:
                divisor = float(np.sqrt(2.0))
            self.lod_divisor_[m] = divisor
            name = m.removeprefix("bio_")
            if self.value_transform == "auto":
                self.transform_[m] = "sqrt" if name in SQRT_MARKERS else "log"
            else:
                self.transform_[m] = self.value_transform
        return self

    def transform(self, X):
        """Return transformed marker values (+ indicators), one column per output name."""
        check_is_fitted(self, "markers_")
        # Read by position from the validated array: no frame per call (one patient at a time
        # is the web app's case, where building frames cost more than the arithmetic).
        arr = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=np.float64)
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = [f"x{i}" for i in range(arr.shape[1])]
        pos = {str(c): j for j, c in enumerate(names)}
        out = []
        all_missing = np.ones(len(arr), dtype=bool)
        for m in self.markers_:
            value = arr[:, pos[m]].copy()
            nd_col, lod_col = m + BIOMARKER_ND_SUFFIX, m + BIOMARKER_LOD_SUFFIX
            if nd_col in pos and lod_col in pos:
                nd = arr[:, pos[nd_col]] == 1
                value[nd] = arr[nd, pos[lod_col]] / self.lod_divisor_[m]
            else:
                nd = np.zeros(len(arr), dtype=bool)
            all_missing &= ~np.isfinite(value)
            out.append(self._apply(value, self.transform_[m]))
            if self.lod_method == "censored":
                out.append(nd.astype(float))
        if self.missing_indicator:
            out.append(all_missing.astype(float))
        return np.column_stack(out) if out else np.empty((len(arr), 0))

    @staticmethod
    def _apply(value: np.ndarray, how: str) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            if how == "log":
                res = np.log(value)
            elif how == "sqrt":
                res = np.sqrt(value)
            else:
                return value
        res[~np.isfinite(res)] = np.nan  # concentrations are >= 0 after validation
        return res

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns."""
        check_is_fitted(self, "markers_")
        names = []
        for m in self.markers_:
            names.append(m)
            if self.lod_method == "censored":
                names.append(m + "_below_lod")
        if self.missing_indicator:
            names.append(PANEL_MISSING)
        return np.asarray(names, dtype=object)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags
