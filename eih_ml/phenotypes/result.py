"""``PhenotypeResult``: what a phenotype analysis found, with its JSON form."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import pandas as pd

from eih_ml.json_values import json_safe
from eih_ml.phenotypes.profiles import label_of, unit_of

if TYPE_CHECKING:
    from eih_ml.phenotypes.transformer import PhenotypeClusters

#: Methods behind the analysis, written into ``phenotypes.json``.
SOURCES = (
    "Gaussian mixture by EM: scikit-learn GaussianMixture (Dempster, Laird & Rubin 1977, "
    "J R Stat Soc B 39:1)",
    "BIC: Schwarz 1978, Ann Stat 6:461 (lower is better)",
    "adjusted Rand index: Hubert & Arabie 1985, J Classif 2:193",
    "bootstrap cluster stability and cluster-wise Jaccard: Hennig 2007, Comput Stat Data Anal "
    "52:258",
    "pain-modulation profiles: Yarnitsky, Granot & Granovsky 2014, Pain 155:663",
)


@dataclass
class PhenotypeResult:
    """Everything :func:`find_phenotypes` found.

    Attributes
    ----------
    k : int
        Number of clusters.
    k_selection : {"bic", "fixed"}
        How ``k`` was chosen: the BIC minimum over :data:`K_AUTO`, or fixed by the user.
    bic : dict of int to float or None
        BIC of every candidate k (lower is better); None where a fit failed (see ``notes``).
    features : list of str
        Clustering features used.
    participants : pandas.DataFrame
        One row per analysed participant (index ``participant_id``): features (participant means
        over sessions, not imputed), outcome columns, ``n_sessions``, ``cluster`` (1..k, 1 = the
        largest mixing weight) and ``probability`` (membership probability of that cluster).
    probabilities : pandas.DataFrame
        Membership probability of every cluster (columns ``phenotype_1`` ...), same index.
    profiles : pandas.DataFrame
        Long table: per cluster (and ``cohort``), each feature's and outcome's n, mean, 95 % CI,
        difference from the cohort in cohort SDs, and the responder share of each outcome.
    descriptions : dict of int to str
        Cluster -> plain-language description.
    stability : dict
        Participant-bootstrap stability (adjusted Rand index) at ``k``.
    dropped : list of str
        Participants left out: more than ``max_missing_share`` of the features missing.
    n_imputed : dict of str to int
        Per feature, analysed participants whose missing value was imputed with the median.
    model : PhenotypeClusters
        The fitted transformer at ``k`` (medians, standardization, mixture).
    settings : dict
        Arguments of the analysis.
    notes : list of str
        Anything a reader should know (failed fits, convergence, small clusters).
    """

    k: int
    k_selection: Literal["bic", "fixed"]
    bic: dict[int, float | None]
    features: list[str]
    participants: pd.DataFrame
    probabilities: pd.DataFrame
    profiles: pd.DataFrame
    descriptions: dict[int, str]
    stability: dict
    dropped: list[str]
    n_imputed: dict[str, int]
    model: PhenotypeClusters
    settings: dict
    notes: list[str] = field(default_factory=list)

    @property
    def n_participants(self) -> int:
        """Participants analysed (after the drop rule)."""
        return len(self.participants)

    def __repr__(self) -> str:
        how = "BIC" if self.k_selection == "bic" else "fixed"
        ari = self.stability.get("ari_mean")
        stab = (
            f"stability ARI {ari:.2f} ({self.stability['ari_p2_5']:.2f}-"
            f"{self.stability['ari_p97_5']:.2f})"
            if ari is not None
            else "stability not assessed"
        )
        return (
            f"<PhenotypeResult: {self.n_participants} participants, k = {self.k} ({how}), "
            f"{stab}, {len(self.dropped)} dropped>"
        )

    def clusters(self) -> pd.DataFrame:
        """``participant_id``, ``cluster``, ``probability``: one row per analysed participant."""
        out = self.participants[["cluster", "probability"]].reset_index()
        return out.rename(columns={out.columns[0]: "participant_id"})

    def to_dict(self) -> dict:
        """Everything but participant-level rows, as JSON-ready Python objects (NaN -> None)."""
        prof = self.profiles
        clusters = []
        for c in range(1, self.k + 1):
            rows = prof[prof["cluster"] == str(c)]
            feats = rows[rows["kind"] == "feature"]
            outs = rows[rows["kind"] == "outcome"]
            entry = {
                "cluster": c,
                "n": int((self.participants["cluster"] == c).sum()),
                "share": float((self.participants["cluster"] == c).mean()),
                "mixing_weight": float(self.model.weights_[c - 1]),
                "mean_probability": float(
                    self.participants.loc[self.participants["cluster"] == c, "probability"].mean()
                ),
                "jaccard_stability": (self.stability.get("cluster_jaccard") or {}).get(str(c)),
                "description": self.descriptions[c],
                "features": {
                    r["name"]: _row_stats(r, ("std_difference",)) for _, r in feats.iterrows()
                },
                "eih": {
                    r["name"]: _row_stats(
                        r, ("std_difference", "responder_share", "responder_ci_low",
                            "responder_ci_high"),
                    )
                    for _, r in outs.iterrows()
                },
            }  # fmt: skip
            clusters.append(entry)
        cohort = prof[prof["cluster"] == "cohort"]
        payload = {
            "k": self.k,
            "k_selection": self.k_selection,
            "bic": {str(k): v for k, v in self.bic.items()},
            "bic_difference_to_best": _bic_differences(self.bic),
            "features": [
                {
                    "name": f,
                    "label": label_of(f),
                    "unit": unit_of(f),
                    "n_imputed": self.n_imputed[f],
                }
                for f in self.features
            ],
            "n_participants_analysed": self.n_participants,
            "participants_dropped": {
                "n": len(self.dropped),
                "rule": f"more than {self.settings['max_missing_share']:.0%} of the "
                f"{len(self.features)} clustering features missing",
                "participant_ids": list(self.dropped),
            },
            "stability": self.stability,
            "cohort": {
                r["name"]: _row_stats(
                    r, ("responder_share", "responder_ci_low", "responder_ci_high")
                )
                for _, r in cohort.iterrows()
            },  # fmt: skip
            "clusters": clusters,
            "method": {
                "model": "scikit-learn GaussianMixture on participant means over sessions",
                "covariance_type": self.settings["covariance_type"],
                "n_init": self.settings["n_init"],
                "random_state": self.settings["seed"],
                "standardization": "z-scores with the analysed participants' mean and SD, "
                "learned inside PhenotypeClusters.fit",
                "imputation": "a missing feature value is replaced by the column median of the "
                "analysed participants, inside PhenotypeClusters.fit (profiles use observed "
                "values only)",
                "k_candidates": list(self.bic),
                "description_rule": f"features whose cluster mean differs from the cohort mean "
                f"by more than {self.settings['describe_sd']} cohort SD",
                "confidence_intervals": "95 % t interval of the mean; Wilson interval of a "
                "responder share",
                "responder": "participant's mean EIH over sessions > 0 (positive = hypoalgesia)",
                "sources": list(SOURCES),
            },
            "notes": list(self.notes),
        }
        return json_safe(payload)


def _row_stats(row: pd.Series, extra: Sequence[str] = ()) -> dict:
    keys = ("n", "mean", "sd", "ci_low", "ci_high", *extra)
    return {k: row[k] for k in keys if k in row.index and not _isnan(row[k])} | {
        "label": row["label"],
        "unit": row["unit"],
    }


def _isnan(value: object) -> bool:
    return isinstance(value, float) and math.isnan(value)


def _bic_differences(bic: dict[int, float | None]) -> dict[str, float | None]:
    finite = [v for v in bic.values() if v is not None]
    best = min(finite) if finite else None
    return {str(k): (None if v is None or best is None else v - best) for k, v in bic.items()}
