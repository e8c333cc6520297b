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

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, Self

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted, validate_data

from eih_ml.data.contract import BIOMARKER_LOD_SUFFIX, BIOMARKER_ND_SUFFIX

if TYPE_CHECKING:
    from numpy.typing import ArrayLike
    from sklearn.utils import Tags

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
    ) -> None:
        self.lod_method = lod_method
        self.value_transform = value_transform
        self.missing_indicator = missing_indicator

    def _frame(self, X: ArrayLike, reset: bool) -> pd.DataFrame:
        arr = validate_data(self, X, reset=reset, ensure_all_finite="allow-nan", dtype=np.float64)
        # Column names are those seen in fit (feature_names_in_), so a transform input given as
        # an array, or with other names, is read by position exactly as in fit; validate_data has
        # already checked the number of columns and warned about mismatched names.
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = [f"x{i}" for i in range(arr.shape[1])]
        return pd.DataFrame(arr, columns=[str(c) for c in names])

    def fit(self, X: ArrayLike, y: object = None) -> Self:
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

    def transform(self, X: ArrayLike) -> np.ndarray:
        """Return transformed marker values (+ indicators), one column per output name."""
        check_is_fitted(self, "markers_")
        arr = validate_data(self, X, reset=False, ensure_all_finite="allow-nan", dtype=np.float64)
        return self.transform_array(arr)

    def transform_array(self, arr: np.ndarray) -> np.ndarray:
        """The arithmetic of :meth:`transform` on an already validated array.

        Parameters
        ----------
        arr : numpy.ndarray
            2-D float64 array, columns by position as seen in :meth:`fit`
            (``feature_names_in_``); NaN for missing values. Not validated.

        Returns
        -------
        numpy.ndarray
            Transformed marker values (+ indicators), one column per
            :meth:`get_feature_names_out` name.
        """
        return self.array_transform()(arr)

    def array_transform(self) -> Callable[[np.ndarray], np.ndarray]:
        """:meth:`transform_array` with the column layout worked out once, for repeated calls.

        One patient at a time is the web app's case, where scikit-learn's per-call validation
        and even resolving column names cost more than the arithmetic (see
        :mod:`eih_ml.explain.compiled_prep`). The returned function reads its input by position
        as seen in :meth:`fit` and holds the fitted values as they are now.

        Returns
        -------
        callable
            ``f(arr) -> numpy.ndarray``, equal to ``self.transform_array(arr)``.
        """
        if not hasattr(self, "markers_"):  # check_is_fitted costs more than a patient's arithmetic
            raise NotFittedError(f"This {type(self).__name__} is not fitted yet; call fit first.")
        names = getattr(self, "feature_names_in_", None)
        if names is None:
            names = [f"x{i}" for i in range(self.n_features_in_)]
        pos = {str(c): j for j, c in enumerate(names)}
        markers = list(self.markers_)
        helped = [
            i
            for i, m in enumerate(markers)
            if m + BIOMARKER_ND_SUFFIX in pos and m + BIOMARKER_LOD_SUFFIX in pos
        ]
        how = [self.transform_[m] for m in markers]
        return _ArrayTransform(
            value=np.array([pos[m] for m in markers], dtype=np.intp),
            nd=np.array([pos[markers[i] + BIOMARKER_ND_SUFFIX] for i in helped], dtype=np.intp),
            lod=np.array([pos[markers[i] + BIOMARKER_LOD_SUFFIX] for i in helped], dtype=np.intp),
            helped=None if len(helped) == len(markers) else np.array(helped, dtype=np.intp),
            divisor=np.array([self.lod_divisor_[markers[i]] for i in helped], dtype=np.float64),
            log=np.array([h == "log" for h in how], dtype=bool),
            sqrt=np.array([h == "sqrt" for h in how], dtype=bool),
            transformed=np.array([h in ("log", "sqrt") for h in how], dtype=bool),
            any_log="log" in how,
            any_sqrt="sqrt" in how,
            all_transformed=all(h in ("log", "sqrt") for h in how),
            censored=self.lod_method == "censored",
            indicator=bool(self.missing_indicator),
        )

    def get_feature_names_out(self, input_features: ArrayLike | None = None) -> np.ndarray:
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

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


@dataclass(frozen=True, eq=False)
class _ArrayTransform:
    """The arithmetic of :meth:`BiomarkerTransformer.transform_array`, the layout resolved.

    Column positions are those of the transformer's input; per-marker arrays follow
    ``markers_``. All markers are handled at once (a few numpy calls, whatever their number).
    """

    value: np.ndarray  # position of each marker's value column
    nd: np.ndarray  # positions of the _nd columns of the markers with both helper columns
    lod: np.ndarray  # positions of their _lod columns
    helped: np.ndarray | None  # which markers have helper columns (None: every marker)
    divisor: np.ndarray  # LOD divisor of each of them
    log: np.ndarray  # per marker: natural log
    sqrt: np.ndarray  # per marker: square root
    transformed: np.ndarray  # per marker: log or square root
    any_log: bool
    any_sqrt: bool
    all_transformed: bool
    censored: bool  # add a below-LOD indicator after each marker
    indicator: bool  # add bio_panel_missing

    def __call__(self, arr: np.ndarray) -> np.ndarray:
        n, k = len(arr), len(self.value)
        value = arr.take(self.value, axis=1)
        flag = None
        if len(self.nd):  # non-detects: LOD / divisor
            flag = arr.take(self.nd, axis=1) == 1
            sub = arr.take(self.lod, axis=1) / self.divisor
            if self.helped is None:
                np.copyto(value, sub, where=flag)
            else:
                value[:, self.helped] = np.where(flag, sub, value[:, self.helped])
        step = 2 if self.censored else 1
        out = np.empty((n, step * k + (1 if self.indicator else 0)))
        res = out[:, 0 : step * k : step]  # a view: the marker columns of out
        np.copyto(res, value)
        if self.any_log or self.any_sqrt:
            with np.errstate(divide="ignore", invalid="ignore"):
                if self.any_log:
                    np.log(value, out=res, where=self.log)
                if self.any_sqrt:
                    np.sqrt(value, out=res, where=self.sqrt)
            # concentrations are >= 0 after validation: a non-finite log or root is missing
            bad = ~np.isfinite(res)
            if not self.all_transformed:
                bad &= self.transformed
            res[bad] = np.nan
        if self.censored:
            nd = np.zeros((n, k))
            if flag is not None:
                nd[:, slice(None) if self.helped is None else self.helped] = flag
            out[:, 1 : 2 * k : 2] = nd
        if self.indicator:
            out[:, -1] = ~np.logical_or.reduce(np.isfinite(value), axis=1)
        return out
