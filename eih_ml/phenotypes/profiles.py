"""Cluster profiles in original units with 95 % CIs, EIH by cluster, plain descriptions."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

#: Outcome columns profiled per cluster when present (participant mean over sessions).
OUTCOME_COLUMNS: tuple[str, ...] = ("eih_abs_local", "eih_abs_remote", "eih_abs_global")

#: A feature enters a cluster's description when its mean differs from the cohort mean by more
#: than this many cohort SDs.
DESCRIBE_SD = 0.5

#: Labels of the outcome columns (EIH_abs = PPT post - pre, positive = hypoalgesia).
_OUTCOME_LABELS = {
    "eih_abs_local": "EIH at the exercising muscle (PPT post - pre)",
    "eih_abs_remote": "EIH at a remote site (PPT post - pre)",
    "eih_abs_global": "EIH, mean of both sites (PPT post - pre)",
}


def label_of(name: str) -> str:
    """Clinician-readable label of a feature or of an EIH outcome column.

    A feature's label is that of :func:`eih_ml.features.metadata.feature_info`.
    """
    from eih_ml.features.metadata import feature_info

    return _OUTCOME_LABELS.get(name) or feature_info(name).label


def unit_of(name: str) -> str:
    """Unit of a feature or EIH outcome column ("" when it has none)."""
    from eih_ml.features.metadata import feature_info

    return "kPa" if name in _OUTCOME_LABELS else feature_info(name).unit


# ------------------------------------------------------------------------------------- profiles


def _mean_ci(values: np.ndarray) -> tuple[int, float, float, float, float]:
    """n, mean, SD (ddof 1) and 95 % t interval of the observed values."""
    from scipy.stats import t

    x = values[np.isfinite(values)]
    n = x.size
    if n == 0:
        return 0, math.nan, math.nan, math.nan, math.nan
    mean = float(x.mean())
    if n == 1:
        return 1, mean, math.nan, math.nan, math.nan
    sd = float(x.std(ddof=1))
    half = float(t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    return n, mean, sd, mean - half, mean + half


def cluster_profiles(
    people: pd.DataFrame, features: Sequence[str], outcomes: Sequence[str], k: int
) -> pd.DataFrame:
    """Per cluster and for the whole cohort: n, mean, SD and 95 % CI of each feature and outcome.

    Parameters
    ----------
    people : pandas.DataFrame
        Participant table with a ``cluster`` column (1..k); features in original units, not
        imputed (profiles use observed values only).
    features, outcomes : sequence of str
        Clustering features and outcome columns (``eih_abs_*``) to profile.
    k : int
        Number of clusters.

    Returns
    -------
    pandas.DataFrame
        Columns ``cluster`` ("cohort", "1", ...), ``kind`` ("feature"/"outcome"), ``name``,
        ``label``, ``unit``, ``n``, ``mean``, ``sd``, ``ci_low``, ``ci_high``,
        ``std_difference`` ((cluster mean - cohort mean) / cohort SD) and, for outcomes,
        ``responder_share`` (EIH > 0) with its Wilson 95 % interval.

    Notes
    -----
    95 % CI of a mean: Student t. Of a share: Wilson 1927, J Am Stat Assoc 22:209
    (:func:`eih_ml.evaluation.calibration.wilson_interval`).
    """
    from eih_ml.evaluation.calibration import wilson_interval

    rows = []
    groups = [("cohort", np.ones(len(people), dtype=bool))] + [
        (str(c), (people["cluster"] == c).to_numpy()) for c in range(1, k + 1)
    ]
    cohort_stats = {}
    for kind, names in (("feature", features), ("outcome", outcomes)):
        for name in names:
            values = people[name].to_numpy(dtype=float)
            _, cmean, csd, _, _ = _mean_ci(values)
            cohort_stats[name] = (cmean, csd)
            for group, mask in groups:
                n, mean, sd, lo, hi = _mean_ci(values[mask])
                row = {
                    "cluster": group,
                    "kind": kind,
                    "name": name,
                    "label": label_of(name),
                    "unit": unit_of(name),
                    "n": n,
                    "mean": mean,
                    "sd": sd,
                    "ci_low": lo,
                    "ci_high": hi,
                    "std_difference": (mean - cmean) / csd
                    if n and np.isfinite(csd) and csd > 0
                    else math.nan,
                }
                if kind == "outcome":
                    x = values[mask]
                    x = x[np.isfinite(x)]
                    if x.size:
                        events = int((x > 0).sum())
                        low, high = wilson_interval(events, x.size)
                        row |= {
                            "responder_share": events / x.size,
                            "responder_ci_low": float(low),
                            "responder_ci_high": float(high),
                        }
                rows.append(row)
    columns = [
        "cluster", "kind", "name", "label", "unit", "n", "mean", "sd", "ci_low", "ci_high",
        "std_difference", "responder_share", "responder_ci_low", "responder_ci_high",
    ]  # fmt: skip
    return pd.DataFrame(rows).reindex(columns=columns)


def _phrase(label: str) -> str:
    """A label inside a sentence: lower-case first letter unless it starts an acronym."""
    if len(label) > 1 and label[0].isupper() and label[1].islower():
        return label[0].lower() + label[1:]
    return label


def describe_clusters(
    profiles: pd.DataFrame, k: int, threshold: float = DESCRIBE_SD
) -> dict[int, str]:
    """A plain clinical description of each cluster from its feature profile.

    A feature enters a cluster's description when the cluster mean differs from the cohort mean
    by more than ``threshold`` cohort SDs, largest difference first, in the words of
    :func:`eih_ml.features.metadata.feature_info` labels, "higher/lower" for a measurement and
    "more/less" for a questionnaire trait: e.g. "Lower pain threshold at the exercising muscle
    (-1.4 SD), lower conditioned pain modulation (-1.2 SD) and more pain catastrophizing (PCS)
    (+0.8 SD) than the cohort". The EIH of the cluster follows when outcome columns exist (mean and responder
    share), as a description, not as a clustering input.

    Parameters
    ----------
    profiles : pandas.DataFrame
        :func:`cluster_profiles` output.
    k : int
        Number of clusters.
    threshold : float, default 0.5
        Cohort SDs.

    Returns
    -------
    dict of int to str
    """
    from eih_ml.features.metadata import feature_info

    out: dict[int, str] = {}
    for c in range(1, k + 1):
        rows = profiles[profiles["cluster"] == str(c)]
        if k == 1:
            text = "The whole cohort: no subgroups (one cluster)."
        else:
            feats = rows[(rows["kind"] == "feature") & (rows["std_difference"].abs() > threshold)]
            feats = feats.reindex(feats["std_difference"].abs().sort_values(ascending=False).index)
            parts = []
            for _, r in feats.iterrows():
                d = float(r["std_difference"])
                info = feature_info(r["name"])
                # a measurement is higher or lower; a questionnaire trait is more or less
                if info.domain == "psychological":
                    word = "more" if d > 0 else "less"
                else:
                    word = "higher" if d > 0 else "lower"
                parts.append(f"{word} {_phrase(info.label)} ({d:+.1f} SD)")
            if parts:
                text = _join(parts)
                text = text[0].upper() + text[1:] + " than the cohort."
            else:
                text = (
                    f"Close to the cohort average on every clustering feature (all within "
                    f"{threshold:g} SD)."
                )
        eih = rows[(rows["kind"] == "outcome") & (rows["name"] == "eih_abs_local")]
        if len(eih) and eih["n"].iloc[0] > 0:
            r = eih.iloc[0]
            text += (
                f" EIH at the exercising muscle: mean {r['mean']:+.0f} kPa"
                + (
                    f" (95 % CI {r['ci_low']:+.0f} to {r['ci_high']:+.0f})"
                    if np.isfinite(r["ci_low"])
                    else ""
                )
                + f", {r['responder_share']:.0%} with a threshold increase."
            )
        out[c] = text
    return out


def _join(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]
