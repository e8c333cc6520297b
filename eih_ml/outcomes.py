"""EIH outcome definitions and responder rules (EIH_REFERENCE.md section 1).

Sign convention: positive = hypoalgesia. For pressure pain thresholds that is post - pre > 0.

* ``eih_abs_{site}`` = PPT_post - PPT_pre (kPa): the default, more reliable than % (between-session
  ICC 0.40-0.54, Gomolka 2019 Pain Med 20:2272; 0.45-0.57, Vaegter 2019 Eur J Appl Physiol 119:91).
* ``eih_rel_{site}`` = 100 x (post - pre) / pre (%): secondary (ICC < 0.33, Gomolka 2019).
* ``eih_adj_{site}`` = exercise change - quiet-rest change (Vaegter 2019), when rest columns exist.
* ``global``: the mean over local and remote, defined only when both sites were measured (sites
  are never pooled silently).

Responder rules, each recording the threshold actually used: ``gt0`` (change > 0), ``sem``
(> 1 SEM), ``2sem`` (> 2 SEM; as Kemp 2020 J Pain 21:708 for CPM), ``mdc95``
(> 1.96 x sqrt(2) x SEM) and ``pct`` (relative change > X %); with ``SEM = SD x sqrt(1 - ICC)``.
The SD comes from a published reliability study (config) or from the training participants
only (one session per participant), re-estimated in every training fold. Three classes:
hypoalgesic (> +threshold), non-responder, hyperalgesic (< -threshold).

Target of a binary label (``outcome.target``): ``hypoalgesia`` (default; 1 = change > +threshold,
a responder) or ``hyperalgesia`` (1 = change < -threshold: pain sensitivity *rises* after
exercise, the paradoxical response seen in part of the patients with central sensitization or
fibromyalgia; EIH_REFERENCE.md section 1, "Attenuated or paradoxical responses"). The same rules
give the threshold, mirrored.

Responder labels are unstable (between-session kappa 0.43-0.46, Vaegter 2019; kappa < 0.36 for CPM,
Kemp 2020): :func:`reliability_ceiling` reports the best a perfect model could reach.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from eih_ml.data import contract
from eih_ml.errors import ConfigError, DataError

Site = Literal["local", "remote", "global"]
Measure = Literal["abs", "rel", "adj"]
Rule = Literal["gt0", "sem", "2sem", "mdc95", "pct"]
Target = Literal["hypoalgesia", "hyperalgesia"]
TARGETS: tuple[str, ...] = ("hypoalgesia", "hyperalgesia")
Task = Literal["classification", "regression", "multiclass"]

RULES: tuple[str, ...] = ("gt0", "sem", "2sem", "mdc95", "pct")
TASKS: tuple[str, ...] = ("classification", "multiclass", "regression")
SEM_SOURCES: tuple[str, ...] = ("published", "training")
#: The three classes of ``task="multiclass"``, in the order of their codes 0, 1, 2.
CLASS_NAMES = ("hyperalgesic", "non_responder", "hypoalgesic")
#: Out-of-fold and prediction columns of the three class probabilities.
PROBABILITY_COLUMNS = tuple(f"p_{c}" for c in CLASS_NAMES)


def class_name(task: str, code: float) -> str:
    """A label code in words: the class name (multiclass), or ``label 0`` / ``label 1``."""
    if task == "multiclass":
        return CLASS_NAMES[int(code)].replace("_", "-")
    return f"label {int(code)}"


def eih_outcomes(ppt: pd.DataFrame) -> pd.DataFrame:
    """All EIH outcome columns computable from trial-mean PPTs.

    Parameters
    ----------
    ppt : pandas.DataFrame
        Trial means ``ppt_{site}_{phase}`` (from :func:`eih_ml.features.qst.ppt_means`).

    Returns
    -------
    pandas.DataFrame
        ``eih_abs_{site}``, ``eih_rel_{site}``, and where rest columns exist
        ``rest_change_{site}`` and ``eih_adj_{site}``; plus ``*_global`` when both sites exist.

    Examples
    --------
    >>> ppt = pd.DataFrame({"ppt_local_pre": [300.0], "ppt_local_post": [345.0]})
    >>> eih_outcomes(ppt).round(1).to_dict("records")
    [{'eih_abs_local': 45.0, 'eih_rel_local': 15.0}]
    """
    out = pd.DataFrame(index=ppt.index)
    sites = []
    for site in contract.SITES:
        pre, post = ppt.get(f"ppt_{site}_pre"), ppt.get(f"ppt_{site}_post")
        if pre is None or post is None:
            continue
        sites.append(site)
        out[f"eih_abs_{site}"] = post - pre
        with np.errstate(divide="ignore", invalid="ignore"):
            out[f"eih_rel_{site}"] = (100.0 * (post - pre) / pre).where(pre > 0)
        rest_pre, rest_post = ppt.get(f"ppt_{site}_rest_pre"), ppt.get(f"ppt_{site}_rest_post")
        if rest_pre is not None and rest_post is not None:
            out[f"rest_change_{site}"] = rest_post - rest_pre
            out[f"eih_adj_{site}"] = out[f"eih_abs_{site}"] - out[f"rest_change_{site}"]
    if len(sites) == 2:
        for measure in ("abs", "rel", "adj"):
            cols = [f"eih_{measure}_{s}" for s in sites]
            if all(c in out.columns for c in cols):
                out[f"eih_{measure}_global"] = out[cols].mean(axis=1, skipna=False)
        if all(f"rest_change_{s}" in out.columns for s in sites):
            out["rest_change_global"] = out[[f"rest_change_{s}" for s in sites]].mean(
                axis=1, skipna=False
            )
    return out


@dataclass(frozen=True)
class ResponderRule:
    """A responder rule with its parameters; :meth:`threshold` gives the value actually used.

    Parameters
    ----------
    rule : {"gt0", "sem", "2sem", "mdc95", "pct"}
    pct : float
        Threshold in % for ``pct`` (compared with the relative change).
    sem : float, optional
        Published SEM of the outcome (kPa).
    sd, icc : float, optional
        Published SD of the outcome and between-session ICC: SEM = SD x sqrt(1 - ICC).
    sem_source : {"published", "training"}
        ``training`` estimates SD from the training participants of each fold (one session
        each) and combines it with ``icc``.
    """

    rule: Rule = "gt0"
    pct: float = 10.0
    target: Target = "hypoalgesia"
    sem: float | None = None
    sd: float | None = None
    icc: float | None = 0.5
    sem_source: Literal["published", "training"] = "training"

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ConfigError(f"outcome.rule must be one of {', '.join(RULES)}; got {self.rule!r}")
        if self.target not in TARGETS:
            raise ConfigError(
                f"outcome.target must be one of {', '.join(TARGETS)}; got {self.target!r}"
            )
        if self.sem_source not in SEM_SOURCES:
            raise ConfigError(
                f"outcome.sem_source must be one of {', '.join(SEM_SOURCES)}; "
                f"got {self.sem_source!r}"
            )
        if self.icc is not None and not 0.0 <= self.icc < 1.0:
            raise ConfigError(f"outcome.reliability.icc must be in [0, 1); got {self.icc}")
        for key in ("sem", "sd"):
            value = getattr(self, key)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(
                    f"outcome.reliability.{key} must be a positive number (kPa); got {value}"
                )
        published_sem_missing = self.sem is None and (self.sd is None or self.icc is None)
        if self.needs_sem and self.sem_source == "published" and published_sem_missing:
            raise ConfigError(
                f"Responder rule {self.rule!r} with sem_source 'published' needs "
                "outcome.reliability.sem (kPa), or both sd (kPa) and icc, from a published "
                "reliability study (e.g. Vaegter 2019: ICC 0.45-0.57). Or set "
                "sem_source: training."
            )
        if self.needs_sem and self.sem_source == "training" and self.icc is None:
            raise ConfigError(
                f"Responder rule {self.rule!r} with sem_source 'training' needs "
                "outcome.reliability.icc (e.g. 0.5: Gomolka 2019, Vaegter 2019)."
            )

    @property
    def needs_sem(self) -> bool:
        """True for the SEM-based rules."""
        return self.rule in ("sem", "2sem", "mdc95")

    @property
    def multiplier(self) -> float:
        """SEM multiples of the threshold: 1, 2 or 1.96 x sqrt(2)."""
        return {"sem": 1.0, "2sem": 2.0, "mdc95": 1.96 * math.sqrt(2.0)}.get(self.rule, 0.0)

    @property
    def uses_training_data(self) -> bool:
        """True when the threshold must be re-estimated inside every training fold."""
        return self.needs_sem and self.sem_source == "training"

    def threshold(
        self, values: np.ndarray | None = None, groups: np.ndarray | None = None
    ) -> float:
        """The threshold in the outcome's unit (kPa, or % for ``pct``).

        Parameters
        ----------
        values : array, optional
            Training outcome values (needed when ``uses_training_data``).
        groups : array, optional
            Participant of each value: the SD is taken over one (the first) session per
            participant, so participants with many sessions do not dominate.
        """
        if self.rule == "gt0":
            return 0.0
        if self.rule == "pct":
            return float(self.pct)
        if self.sem_source == "published":
            if self.sem is not None:
                return float(self.multiplier * self.sem)
            # __post_init__ refused a published SEM rule with neither sem nor sd and icc
            assert self.sd is not None and self.icc is not None
            return float(self.multiplier * self.sd * math.sqrt(1.0 - self.icc))
        # __post_init__ refused a training SEM rule without icc
        assert self.icc is not None
        if values is None:
            raise ValueError("this rule needs the training outcome values")
        v = pd.Series(np.asarray(values, dtype=float))
        if groups is not None:
            # The first session *with an outcome* of each participant: drop missing values
            # before keeping one session, so a missing first session does not drop the person.
            g = pd.Series(np.asarray(groups))
            ok = v.notna().to_numpy()
            v, g = v[ok], g[ok]
            v = v[~g.duplicated().to_numpy()]
        v = v.dropna()
        if len(v) < 3:
            raise DataError(
                f"Only {len(v)} participants with an outcome in a training fold: too few to "
                "estimate the SD for an SEM-based responder threshold. Use a published SEM "
                "(outcome.reliability.sem) or more data."
            )
        return float(self.multiplier * v.std(ddof=1) * math.sqrt(1.0 - self.icc))

    def describe(self) -> dict:
        """Plain dict of the rule and its parameters."""
        return asdict(self)


def label(
    values: np.ndarray | pd.Series, threshold: float, task: Task, target: Target = "hypoalgesia"
) -> np.ndarray:
    """Responder labels: 1 = hypoalgesic responder (binary), or 0/1/2 for three classes.

    Binary: value > threshold; with ``target="hyperalgesia"``, 1 = value < -threshold (a
    value equal to -threshold is not hyperalgesic). Three classes (:data:`CLASS_NAMES`): 0
    hyperalgesic (< -threshold), 1 non-responder, 2 hypoalgesic (> +threshold). Missing values
    stay NaN.

    Examples
    --------
    >>> label(np.array([-30.0, 0.0, 12.0, np.nan]), 10.0, "multiclass").tolist()
    [0.0, 1.0, 2.0, nan]
    >>> label(np.array([-30.0, -10.0, 12.0]), 10.0, "classification", "hyperalgesia").tolist()
    [1.0, 0.0, 0.0]
    """
    if target not in TARGETS:
        raise ConfigError(f"target must be one of {', '.join(TARGETS)}; got {target!r}")
    if task not in TASKS:
        raise ConfigError(f"task must be one of {', '.join(TASKS)}; got {task!r}")
    v = np.asarray(values, dtype=float)
    out = np.full(v.shape, np.nan)
    ok = np.isfinite(v)
    if task == "multiclass":
        out[ok] = np.where(v[ok] > threshold, 2.0, np.where(v[ok] < -threshold, 0.0, 1.0))
    elif target == "hyperalgesia":
        out[ok] = (v[ok] < -threshold).astype(float)
    else:
        out[ok] = (v[ok] > threshold).astype(float)
    return out


@dataclass
class Outcome:
    """The outcome of an experiment for every analysed row, with its provenance.

    Attributes
    ----------
    name : str
        Column of the continuous outcome (e.g. ``eih_abs_local``).
    values : pandas.Series
        Continuous outcome (kPa or %), positive = hypoalgesia.
    task : str
        classification, multiclass or regression.
    rule : ResponderRule or None
        The responder rule (None for regression).
    threshold : float or None
        The threshold on all analysed participants (None when it is estimated per fold).
    y : pandas.Series
        Labels (classification) or the values (regression).
    excluded : int
        Rows with no outcome at this site and measure (counted in the participant flow).
    """

    name: str
    values: pd.Series
    task: Task
    rule: ResponderRule | None
    threshold: float | None
    y: pd.Series
    excluded: int = 0
    notes: list[str] = field(default_factory=list)
    #: A programme outcome's definition and flow (eih_ml.programme); None for acute EIH.
    programme: dict | None = None

    def provenance(self) -> dict:
        """What defines the label: outcome column, task, rule, threshold (safe to log)."""
        return {
            "outcome": self.name,
            "source": "programme" if self.programme else "acute",
            "programme": self.programme,
            "task": self.task,
            "target": self.rule.target if self.rule and self.task == "classification" else None,
            "rule": self.rule.rule if self.rule else None,
            "threshold": self.threshold,
            "threshold_per_fold": bool(self.rule and self.rule.uses_training_data),
            "rule_parameters": self.rule.describe() if self.rule else None,
            "rows_without_outcome": self.excluded,
        }

    def __repr__(self) -> str:
        if self.task == "regression":
            return f"<Outcome {self.name}: regression, {len(self.y)} rows>"
        counts = pd.Series(self.y).value_counts().sort_index()
        thr = "per fold" if self.threshold is None else f"{self.threshold:.3g}"
        if self.task == "multiclass":
            names = dict(enumerate(CLASS_NAMES))
        else:
            hyper = self.rule is not None and self.rule.target == "hyperalgesia"
            positive = "hyperalgesic" if hyper else "responders"
            names = {0: "others" if positive == "hyperalgesic" else "non-responders", 1: positive}
        classes = ", ".join(
            f"{int(n)} {names.get(int(k), k)}"
            for k, n in zip(counts.index.to_numpy(), counts.to_numpy(), strict=True)
        )
        rule = self.rule.rule if self.rule is not None else "none"
        return (
            f"<Outcome {self.name}: {self.task}, rule {rule} > {thr}; {len(self.y)} "
            f"sessions: {classes}>"
        )


def outcome_column(site: Site, measure: Measure, rule: Rule | None = None) -> str:
    """Column holding the continuous outcome; the ``pct`` rule always reads the relative change."""
    return f"eih_{'rel' if rule == 'pct' else measure}_{site}"


def define_outcome(
    table: pd.DataFrame,
    *,
    site: Site = "local",
    measure: Measure = "abs",
    task: Task = "classification",
    rule: ResponderRule | None = None,
    against_rest: bool = False,
    groups: pd.Series | None = None,
) -> Outcome:
    """Build the outcome of an experiment from a feature table with outcome columns.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`eih_ml.features.derive.derive_features`.
    site, measure : str
        Which EIH column (``eih_{measure}_{site}``).
    task : {"classification", "multiclass", "regression"}
    rule : ResponderRule, optional
        Responder rule (default ``gt0``); ignored for regression.
    against_rest : bool
        Compare the exercise change with the quiet-rest change (``eih_abs - rest_change``);
        needs rest columns.
    groups : pandas.Series, optional
        Participant ids (default ``table["participant_id"]``).

    Raises
    ------
    ConfigError
        The site or measure was not measured; the message lists what exists.
    DataError
        No row has this outcome.
    """
    if task not in TASKS:
        raise ConfigError(f"outcome.task must be one of {', '.join(TASKS)}; got {task!r}")
    rule = rule or ResponderRule()
    rule_used = None if task == "regression" else rule
    name = outcome_column(
        site, "adj" if against_rest else measure, rule_used.rule if rule_used else None
    )
    if (against_rest or measure == "adj") and rule_used and rule_used.rule == "pct":
        raise ConfigError(
            "The pct rule reads the relative change (eih_rel_*); it cannot be against_rest or "
            "use measure 'adj'. Use another rule (e.g. sem or gt0) for the rest-adjusted change."
        )
    if name not in table.columns:
        available = sorted(c for c in table.columns if c.startswith("eih_"))
        hint = (
            " Quiet-rest columns (ppt_{site}_rest_pre_k / rest_post_k) are needed for "
            "against_rest or measure 'adj'."
            if ("adj" in name)
            else ""
        )
        raise ConfigError(
            f"Outcome {name} cannot be computed from these data; available outcomes: "
            f"{', '.join(available) or 'none'}.{hint} Change outcome.site / outcome.measure."
        )
    values = table[name].astype(float)
    excluded = int(values.isna().sum())
    if excluded == len(values):
        raise DataError(
            f"No row has a value for {name} (every pre or post PPT at this site is missing)."
        )
    notes = []
    if excluded:
        notes.append(f"{excluded} row(s) without {name} are left out of this experiment.")
    if task == "regression":
        return Outcome(name, values, task, None, None, values, excluded, notes)
    if rule.uses_training_data:
        if groups is None and "participant_id" not in table.columns:
            raise ConfigError(
                "An SEM threshold from the training data needs participant ids (one session "
                "per participant): pass groups=... or keep the participant_id column."
            )
        g = table["participant_id"] if groups is None else groups
        threshold_all = rule.threshold(values.to_numpy(), np.asarray(g))
        threshold = None
        notes.append(
            f"Threshold re-estimated in each training fold; on all participants it is "
            f"{threshold_all:.3g}."
        )
    else:
        threshold = threshold_all = rule.threshold()
    y = pd.Series(
        label(values, threshold_all, task, rule.target), index=values.index, name=f"{name}_label"
    )
    return Outcome(name, values, task, rule, threshold, y, excluded, notes)


def reliability_ceiling(icc: float, prevalence: float, n: int = 400_000, seed: int = 0) -> dict:
    """The best agreement a perfect model can have with a label measured once.

    A session's observed EIH is ``X = T + E`` with reliability ``icc`` (the share of variance that
    is stable between sessions). A perfect model knows ``T``. Returned:

    * ``max_r2``: for regression on X, ``corr(T, X)^2 = icc``;
    * ``max_auroc``: AUROC of T for the label ``X > c`` (c set by ``prevalence``);
    * ``retest_kappa``: Cohen's kappa between labels of two sessions (literature: 0.43-0.46 for
      EIH, Vaegter 2019; not significant in Gomolka 2019);
    * ``retest_agreement``: their raw agreement.

    Computed by a seeded simulation of bivariate normal scores (n draws).

    Examples
    --------
    >>> c = reliability_ceiling(0.5, 0.5)
    >>> round(c["retest_kappa"], 2)  # 2/pi * arcsin(0.5) = 0.333
    0.33
    """
    if not 0.0 < icc < 1.0:
        raise ConfigError(f"icc must be between 0 and 1 (exclusive); got {icc}")
    if not 0.0 < prevalence < 1.0:
        raise ConfigError(f"prevalence must be between 0 and 1 (exclusive); got {prevalence}")
    rng = np.random.default_rng(seed)
    t = rng.standard_normal(n)
    x1 = math.sqrt(icc) * t + math.sqrt(1 - icc) * rng.standard_normal(n)
    x2 = math.sqrt(icc) * t + math.sqrt(1 - icc) * rng.standard_normal(n)
    cut = np.quantile(x1, 1.0 - prevalence)
    y1, y2 = x1 > cut, x2 > cut
    from sklearn.metrics import roc_auc_score

    auroc = roc_auc_score(y1, t)
    agree = float(np.mean(y1 == y2))
    p1, p2 = y1.mean(), y2.mean()
    chance = p1 * p2 + (1 - p1) * (1 - p2)
    return {
        "icc": icc,
        "prevalence": prevalence,
        "max_r2": icc,
        "max_auroc": float(auroc),
        "retest_kappa": float((agree - chance) / (1 - chance)),
        "retest_agreement": agree,
    }
