"""Minimum sample size for developing a prediction model (Riley et al. 2019, 2020).

Implements the criteria of Riley RD, Snell KIE, Ensor J, et al. Minimum sample size for developing
a multivariable prediction model: Part I - continuous outcomes; Part II - binary and time-to-event
outcomes. Stat Med 2019;38:1262-1275 and 1276-1296; and Riley RD, Ensor J, Snell KIE, et al.
Calculating the sample size required for developing a clinical prediction model. BMJ
2020;368:m441, exactly as written in ../shared/domain/EIH_REFERENCE.md section 6, and checked
criterion by criterion against the reference implementation ``pmsampsize`` (PyPI 0.1.0, which
mirrors the R package; tests/evaluation/test_sample_size.py).

``p`` is the number of candidate predictor **parameters** (a categorical predictor with k levels
counts k - 1, a spline term counts its degrees of freedom), not the number of predictors kept.

Binary outcome (Cox-Snell R², prevalence phi), S = target shrinkage (default 0.9):

1. Shrinkage: ``n = ceil(p / ((S - 1) * ln(1 - R²_cs / S)))``.
2. Small optimism in apparent R² (0.05 on the Nagelkerke scale): ``max R² = 1 - exp(2 lnL_null / n)``
   with ``lnL_null = E ln(E/n) + (n - E) ln(1 - E/n)``, ``E = n phi``; ``S2 = R²_cs / (R²_cs + 0.05
   max R²)``; then criterion 1 with S2.
3. Precise overall risk (margin 0.05): ``n = ceil((1.96 / 0.05)² phi (1 - phi))``.

Continuous outcome (adjusted R², outcome mean ``intercept`` and SD ``sd``):

1. Smallest ``n >= p + 2`` with ``S = 1 + (p - 2) / (n ln(1 - R²_app)) >= 0.9``,
   ``R²_app = (R²(n - p - 1) + p) / (n - 1)``.
2. ``n = ceil(1 + p (1 - R²) / 0.05)``.
3. Residual SD within a multiplicative margin of error (MMOE) of 1.1: from n = 234 upward until
   ``sqrt(max(df / chi2_0.025(df), chi2_0.975(df) / df)) <= 1.1``, ``df = n - p - 1`` (equals
   ``234 + p`` at MMOE 1.1).
4. Intercept (mean outcome) within MMOE 1.1: from the largest of 1-3 upward until
   ``(|intercept| + t_0.975(df) sqrt(sd² (1 - R²) / n)) / |intercept| <= 1.1``.

The required n is the largest of the criteria. Published EIH studies have 24-135 participants,
far below these minima; :meth:`SampleSizeResult.verdict` says so in plain words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np

from eih_ml.errors import ConfigError

__all__ = [
    "CRITERION_LABELS",
    "SampleSizeResult",
    "r2_cs_from_c_statistic",
    "sample_size_binary",
    "sample_size_continuous",
]

#: Human label of each criterion key in :attr:`SampleSizeResult.criteria`.
CRITERION_LABELS: dict[str, str] = {
    "shrinkage": "criterion 1, shrinkage",
    "r2_optimism": "criterion 2, optimism in R²",
    "overall_risk": "criterion 3, precise overall risk",
    "residual_sd": "criterion 3, precise residual SD",
    "intercept": "criterion 4, precise intercept",
}


# --------------------------------------------------------------------------------------------
# Result
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, repr=False)
class SampleSizeResult:
    """Minimum sample size for model development, per criterion, with a plain-language verdict.

    Attributes
    ----------
    outcome : {"binary", "continuous"}
    n_required : int
        Minimum number of participants: the largest criterion.
    criteria : dict of str to int
        Participants required by each criterion, in criterion order (keys in
        :data:`CRITERION_LABELS`).
    n_parameters : int
        Candidate predictor parameters ``p``.
    r2 : float
        Anticipated Cox-Snell R² (binary) or adjusted R² (continuous) used.
    shrinkage : float
        Target shrinkage of criterion 1.
    expected_shrinkage : float
        Shrinkage expected at ``n_required`` (binary: the larger of the target and criterion 2's
        S2, as reported by pmsampsize; continuous: ``S`` of criterion 1 at ``n_required``).
    prevalence : float or None
        Anticipated outcome prevalence (binary).
    c_statistic : float or None
        C-statistic from which ``r2`` was derived (binary), if given.
    max_r2 : float or None
        Largest possible Cox-Snell R² at this prevalence (binary).
    intercept, sd, mmoe : float or None
        Anticipated mean and SD of the outcome and the multiplicative margin of error (continuous).
    available_n, available_events : int or None
        Participants (and events) available in the study, if known.
    """

    outcome: Literal["binary", "continuous"]
    n_required: int
    criteria: dict[str, int]
    n_parameters: int
    r2: float
    shrinkage: float
    expected_shrinkage: float
    prevalence: float | None = None
    c_statistic: float | None = None
    max_r2: float | None = None
    intercept: float | None = None
    sd: float | None = None
    mmoe: float | None = None
    available_n: int | None = None
    available_events: int | None = None
    inputs: dict[str, Any] = field(default_factory=dict)

    @property
    def limiting_criterion(self) -> str:
        """Key of the criterion that sets ``n_required`` (the first, if several tie)."""
        return max(self.criteria, key=lambda k: self.criteria[k])

    @property
    def events_required(self) -> float | None:
        """Expected events at ``n_required``: ``n_required * prevalence`` (binary)."""
        return None if self.prevalence is None else self.n_required * self.prevalence

    @property
    def events_per_parameter(self) -> float | None:
        """Events per candidate parameter (EPP) at ``n_required`` (binary)."""
        e = self.events_required
        return None if e is None else e / self.n_parameters

    @property
    def subjects_per_parameter(self) -> float:
        """Participants per candidate parameter at ``n_required``."""
        return self.n_required / self.n_parameters

    @property
    def adequate(self) -> bool | None:
        """Whether the available sample meets the minimum (None if ``available_n`` is unknown).

        For a binary outcome with ``available_events`` given, the events must also reach
        ``ceil(events_required)``.
        """
        return self._adequate(self.available_n, self.available_events)

    def _adequate(self, n: int | None, events: int | None) -> bool | None:
        if n is None:
            return None
        ok = n >= self.n_required
        if events is not None and self.events_required is not None:
            ok = ok and events >= math.ceil(self.events_required - 1e-9)
        return ok

    def with_available(
        self, available_n: int | None, available_events: int | None = None
    ) -> SampleSizeResult:
        """A copy with the available sample set (for :attr:`adequate` and :meth:`verdict`)."""
        _check_available(available_n, available_events, self.outcome)
        return replace(self, available_n=available_n, available_events=available_events)

    def verdict(self, available_n: int | None = None, available_events: int | None = None) -> str:
        """One plain sentence (or three) on whether the study is large enough.

        Parameters
        ----------
        available_n : int, optional
            Participants available; default :attr:`available_n`.
        available_events : int, optional
            Events available (binary); default :attr:`available_events`. Without it, events are
            estimated as ``available_n * prevalence``.

        Returns
        -------
        str
            E.g. ``"Too small: 120 participants available, 662 required (criterion 2, optimism in
            R²), 18 % of the minimum; 0.9 events per candidate parameter available (21 events
            expected at prevalence 0.174), 4.8 required. ..."``
        """
        n = self.available_n if available_n is None else available_n
        events = self.available_events if available_events is None else available_events
        if available_n is not None or available_events is not None:
            _check_available(n, events, self.outcome)
        label = CRITERION_LABELS[self.limiting_criterion]
        need = f"{self.n_required:,} required ({label})"
        if n is None:
            text = f"Minimum sample size: {need}"
            if self.events_required is not None:
                text += (
                    f", i.e. {math.ceil(self.events_required - 1e-9):,} events and "
                    f"{self.events_per_parameter:.1f} events per candidate parameter"
                )
            return text + ". Give available_n for a verdict on the study."
        share = 100.0 * n / self.n_required
        epp = ""
        if self.prevalence is not None:
            if events is None:
                ev, how = n * self.prevalence, f"expected at prevalence {self.prevalence:g}"
            else:
                ev, how = float(events), "observed"
            epp = (
                f"; {ev / self.n_parameters:.1f} events per candidate parameter available "
                f"({ev:.0f} events {how}), {self.events_per_parameter:.1f} required"
            )
        if self._adequate(n, events):
            return (
                f"Adequate: {n:,} participants available, {need}{epp}. Still report "
                "optimism-corrected performance and the calibration slope."
            )
        severity = "Far too small" if share < 50.0 else "Too small"
        return (
            f"{severity}: {n:,} participants available, {need}, {share:.0f} % of the minimum{epp}. "
            f"A model with {self.n_parameters} candidate parameters will be overfitted: prefer a "
            "penalised model with fewer parameters, report optimism-corrected performance with "
            "its confidence interval, and present the results as exploratory."
        )

    def as_dict(self) -> dict[str, float]:
        """Flat numbers for logging: ``n_required``, ``n_required_<criterion>``, ``r2``, ..."""
        out: dict[str, float] = {"n_required": float(self.n_required)}
        out.update({f"n_required_{k}": float(v) for k, v in self.criteria.items()})
        out["n_parameters"] = float(self.n_parameters)
        out["r2"] = self.r2
        out["expected_shrinkage"] = self.expected_shrinkage
        out["subjects_per_parameter"] = self.subjects_per_parameter
        if self.events_per_parameter is not None:
            out["events_required"] = float(self.events_required or 0.0)
            out["events_per_parameter"] = self.events_per_parameter
        if self.available_n is not None:
            out["available_n"] = float(self.available_n)
        return out

    def __repr__(self) -> str:
        if self.outcome == "binary":
            spec = f"R²cs {self.r2:g}, prevalence {self.prevalence:g}"
            if self.c_statistic is not None:
                spec += f" (from C {self.c_statistic:g})"
        else:
            spec = f"R² {self.r2:g}, intercept {self.intercept:g}, SD {self.sd:g}"
        crit = ", ".join(f"{k} {v}" for k, v in self.criteria.items())
        avail = "" if self.available_n is None else f"; {self.available_n} available"
        return (
            f"<SampleSizeResult {self.outcome}: {self.n_required} required "
            f"({CRITERION_LABELS[self.limiting_criterion]}); {self.n_parameters} parameters, {spec}; "
            f"{crit}{avail}>"
        )


def _check_available(n: int | None, events: int | None, outcome: str) -> None:
    for name, v in (("available_n", n), ("available_events", events)):
        if v is not None and (not isinstance(v, int | np.integer) or isinstance(v, bool) or v < 0):
            raise ConfigError(f"{name} must be a non-negative integer; found {v!r}.")
    if events is not None and outcome != "binary":
        raise ConfigError(
            "available_events applies to a binary outcome only; found it for a continuous outcome. "
            "Fix: leave available_events out."
        )
    if events is not None and (n is None or events > n):
        raise ConfigError(
            f"available_events ({events}) needs available_n and cannot exceed it ({n})."
        )


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _check_parameters(p: Any) -> int:
    if not isinstance(p, int | np.integer) or isinstance(p, bool) or p < 1:
        raise ConfigError(
            f"n_parameters must be a positive integer (the number of candidate predictor "
            f"parameters); found {p!r}. Fix: count every coefficient the model may estimate."
        )
    return int(p)


def _check_fraction(name: str, value: Any, hint: str) -> float:
    ok = isinstance(value, int | float | np.floating) and not isinstance(value, bool)
    if not ok or not 0.0 < float(value) < 1.0:
        raise ConfigError(f"{name} must lie strictly between 0 and 1; found {value!r}. {hint}")
    return float(value)


# --------------------------------------------------------------------------------------------
# C-statistic -> Cox-Snell R²
# --------------------------------------------------------------------------------------------


def r2_cs_from_c_statistic(
    c_statistic: float, prevalence: float, *, n: int = 1_000_000, seed: int = 123456
) -> float:
    """Approximate the Cox-Snell R² of a model from its C-statistic and the outcome prevalence.

    Simulates a large data set in which the linear predictor is N(0, 1) for non-events and
    N(sqrt(2) * Phi^-1(C), 1) for events (so that the C-statistic is C), with ``int(prevalence *
    n)`` events and ``int((1 - prevalence) * n)`` non-events; fits an unpenalised logistic
    regression of the outcome on the linear predictor; returns
    ``1 - exp(-(null deviance - deviance) / n)``.

    Parameters
    ----------
    c_statistic : float in (0.5, 1)
        Anticipated (ideally optimism-adjusted) C-statistic.
    prevalence : float in (0, 1)
        Anticipated outcome prevalence.
    n : int, default 1,000,000
        Size of the simulated data set.
    seed : int, default 123456
        Seed of the legacy ``numpy.random.RandomState`` generator (pmsampsize's default seed).

    Returns
    -------
    float
        Cox-Snell R², unrounded (:func:`sample_size_binary` rounds it to 4 decimals, as pmsampsize
        does).

    Notes
    -----
    Riley RD, Van Calster B, Collins GS. A note on estimating the Cox-Snell R² from a reported
    C statistic (AUROC) to inform sample size calculations for developing a prediction model with a
    binary outcome. Stat Med 2021;40:859-864; Riley et al. BMJ 2020;368:m441; EIH_REFERENCE.md
    section 6.

    Reproducibility with pmsampsize 0.1.0 (``cstat2rsq``): the reference draws ``int(phi n)``
    N(0, 1) values labelled 0, then ``int((1 - phi) n)`` N(mu, 1) values labelled 1 - i.e. its
    event block has proportion 1 - phi. Mapping ``y -> 1 - y`` and ``lp -> mu - lp`` turns that
    data set into exactly the design described above (events at prevalence phi with lp ~ N(mu, 1),
    non-events N(0, 1)) and leaves both deviances unchanged. We draw the same numbers from the same
    generator and apply that map, so a given seed reproduces the reference R² (to ~1e-12) while the
    code reads as the documented design.
    """
    from scipy.stats import norm

    from eih_ml.evaluation.metrics import fit_logistic

    c = float(c_statistic)
    if not 0.5 < c < 1.0:
        raise ConfigError(
            f"c_statistic must lie strictly between 0.5 and 1; found {c_statistic!r}. "
            "A C-statistic of 0.5 means no discrimination (R² = 0, no finite sample size)."
        )
    phi = _check_fraction("prevalence", prevalence, "Give the expected responder proportion.")
    mu = math.sqrt(2.0) * float(norm.ppf(c))
    rs = np.random.RandomState(seed)
    n_first, n_second = int(phi * n), int((1.0 - phi) * n)
    first = rs.normal(loc=0.0, scale=1.0, size=n_first)
    second = rs.normal(loc=mu, scale=1.0, size=n_second)
    # map (first: y=0, second: y=1) -> events = mu - first ~ N(mu, 1), non-events = mu - second
    lp = mu - np.concatenate([first, second])
    y = np.concatenate([np.ones(n_first), np.zeros(n_second)])
    total = y.size
    fit = fit_logistic(np.column_stack([np.ones(total), lp]), y, start=np.array([0.0, 1.0]))
    ybar = n_first / total
    ll_null = n_first * math.log(ybar) + n_second * math.log(1.0 - ybar)
    lr = 2.0 * (fit.log_likelihood - ll_null)  # null deviance - deviance
    return float(1.0 - math.exp(-lr / total))


# --------------------------------------------------------------------------------------------
# Binary outcome
# --------------------------------------------------------------------------------------------


def sample_size_binary(
    n_parameters: int,
    prevalence: float,
    *,
    r2_cs: float | None = None,
    c_statistic: float | None = None,
    shrinkage: float = 0.9,
    margin: float = 0.05,
    seed: int = 123456,
    available_n: int | None = None,
    available_events: int | None = None,
) -> SampleSizeResult:
    """Minimum sample size to develop a model for a binary outcome (e.g. EIH responder).

    Parameters
    ----------
    n_parameters : int
        Candidate predictor parameters ``p``.
    prevalence : float in (0, 1)
        Anticipated outcome proportion ``phi`` (e.g. the responder rate).
    r2_cs : float, optional
        Anticipated Cox-Snell R² (from a previous model; use an adjusted, not apparent, value).
    c_statistic : float, optional
        Anticipated C-statistic, converted with :func:`r2_cs_from_c_statistic` and rounded to 4
        decimals (as pmsampsize). Give exactly one of ``r2_cs`` and ``c_statistic``.
    shrinkage : float, default 0.9
        Target expected shrinkage of criterion 1 (0.9: predictor effects shrunk by <= 10 %).
    margin : float, default 0.05
        Absolute margin of error of the overall risk estimate (criterion 3).
    seed : int, default 123456
        Seed of the C-statistic simulation (pmsampsize's default, so results agree).
    available_n, available_events : int, optional
        The study's participants and events, for :attr:`SampleSizeResult.adequate` and
        :meth:`SampleSizeResult.verdict`.

    Returns
    -------
    SampleSizeResult
        ``criteria`` keys ``shrinkage``, ``r2_optimism``, ``overall_risk``.

    Raises
    ------
    ConfigError
        For inputs outside their range, both or neither of ``r2_cs`` / ``c_statistic``, an R²
        that is not below the target shrinkage, or an R² above the maximum possible at this
        prevalence.

    Notes
    -----
    Riley RD et al. Stat Med 2019;38:1276-1296 (criteria, eqs. 11, 20-23) and BMJ 2020;368:m441;
    EIH_REFERENCE.md section 6. Arithmetic follows pmsampsize 0.1.0 (``pmsampsize_bin``) step by
    step, including the literal 1.96 of criterion 3 and computing ``max R²`` at criterion 1's n
    (algebraically it depends on ``phi`` only). Example: ``sample_size_binary(24, 0.174,
    r2_cs=0.288)`` gives criteria 623, 662, 221 -> 662.
    """
    p = _check_parameters(n_parameters)
    phi = _check_fraction("prevalence", prevalence, "Give the expected responder proportion.")
    s = _check_fraction("shrinkage", shrinkage, "The recommended target is 0.9.")
    moe = _check_fraction("margin", margin, "The recommended margin is 0.05.")
    if (r2_cs is None) == (c_statistic is None):
        raise ConfigError(
            "sample_size_binary needs exactly one of r2_cs (anticipated Cox-Snell R²) and "
            f"c_statistic; found r2_cs={r2_cs!r}, c_statistic={c_statistic!r}. Fix: give one."
        )
    if c_statistic is not None:  # and r2_cs is None: exactly one of them is given
        r2 = round(r2_cs_from_c_statistic(float(c_statistic), phi, seed=seed), 4)
    else:
        r2 = _check_fraction("r2_cs", r2_cs, "Give an anticipated Cox-Snell R².")
    if r2 >= s:
        raise ConfigError(
            f"The anticipated Cox-Snell R² ({r2:g}) must be below the target shrinkage ({s:g}) for "
            "criterion 1 to be defined. Fix: check that r2_cs is a Cox-Snell (not Nagelkerke) R²."
        )
    _check_available(available_n, available_events, "binary")

    # criterion 1: expected shrinkage >= s
    n1 = math.ceil(p / ((s - 1.0) * math.log(1.0 - r2 / s)))
    # criterion 2: small difference between apparent and adjusted Nagelkerke R² (0.05)
    e1 = n1 * phi
    ln_l_null = e1 * math.log(e1 / n1) + (n1 - e1) * math.log(1.0 - e1 / n1)
    max_r2 = 1.0 - math.exp(2.0 * ln_l_null / n1)
    if r2 > max_r2:
        raise ConfigError(
            f"The anticipated Cox-Snell R² ({r2:g}) exceeds the largest possible at prevalence "
            f"{phi:g} ({max_r2:.3f}; Riley et al. 2019, eq. 23). Fix: check the R² and prevalence."
        )
    s2 = r2 / (r2 + 0.05 * max_r2)
    n2 = math.ceil(p / ((s2 - 1.0) * math.log(1.0 - r2 / s2)))
    # criterion 3: overall risk within +/- margin
    n3 = math.ceil(((1.96 / moe) ** 2) * (phi * (1.0 - phi)))
    criteria = {"shrinkage": n1, "r2_optimism": n2, "overall_risk": n3}
    return SampleSizeResult(
        outcome="binary",
        n_required=max(criteria.values()),
        criteria=criteria,
        n_parameters=p,
        r2=r2,
        shrinkage=s,
        expected_shrinkage=max(s, s2),
        prevalence=phi,
        c_statistic=None if c_statistic is None else float(c_statistic),
        max_r2=max_r2,
        available_n=available_n,
        available_events=available_events,
        inputs={
            "n_parameters": p,
            "prevalence": phi,
            "r2_cs": r2_cs,
            "c_statistic": c_statistic,
            "shrinkage": s,
            "margin": moe,
            "seed": seed,
        },
    )


# --------------------------------------------------------------------------------------------
# Continuous outcome
# --------------------------------------------------------------------------------------------


def _expected_shrinkage_linear(n: np.ndarray, p: int, r2: float) -> np.ndarray:
    """``S = 1 + (p - 2) / (n ln(1 - R²_app))``, ``R²_app = (R²(n - p - 1) + p) / (n - 1)``."""
    r2_app = (r2 * (n - p - 1) + p) / (n - 1)
    return 1.0 + (p - 2) / (n * np.log(1.0 - r2_app))


def _first_n(start: int, ok: Any, chunk: int = 4096, limit: int = 100_000_000) -> int:
    """Smallest integer n >= start with ``ok(n)`` true, by a linear scan in vectorised chunks.

    Used where the criterion need not be monotone in n (criterion 1), to keep the reference's
    "first n that meets it" semantics exactly.
    """
    lo = start
    while lo < limit:
        n = np.arange(lo, lo + chunk, dtype=float)
        hit = np.flatnonzero(ok(n))
        if hit.size:
            return int(n[hit[0]])
        lo += chunk
        chunk *= 2
    raise ConfigError(  # pragma: no cover - only for absurd inputs
        f"No sample size below {limit:,} meets the criterion; check the inputs."
    )


def _first_n_monotone(start: int, ok: Any, what: str, limit: int = 10**12) -> int:
    """Smallest integer n >= start with ``ok(n)``, for a criterion that stays met once met.

    Exponential search then bisection: O(log n) evaluations, the same answer as a linear scan.
    """

    def met(n: int) -> bool:
        return bool(ok(np.array([float(n)]))[0])

    if met(start):
        return start
    lo, step = start, 1
    while not met(lo + step):
        lo += step
        step *= 2
        if lo > limit:
            raise ConfigError(what)
    hi = lo + step  # met(hi) and not met(lo)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if met(mid):
            hi = mid
        else:
            lo = mid
    return hi


def sample_size_continuous(
    n_parameters: int,
    r2: float,
    *,
    intercept: float,
    sd: float,
    shrinkage: float = 0.9,
    mmoe: float = 1.1,
    available_n: int | None = None,
) -> SampleSizeResult:
    """Minimum sample size to develop a model for a continuous outcome (e.g. EIH magnitude).

    Parameters
    ----------
    n_parameters : int
        Candidate predictor parameters ``p``.
    r2 : float in (0, 1)
        Anticipated adjusted R² of the model.
    intercept : float
        Anticipated mean outcome in the population (the intercept with centred predictors), in
        the outcome's unit; must not be 0 (criterion 4 is a relative margin around it).
    sd : float > 0
        Anticipated SD of the outcome, same unit.
    shrinkage : float, default 0.9
        Target expected shrinkage of criterion 1.
    mmoe : float > 1, default 1.1
        Multiplicative margin of error for the residual SD (criterion 3) and the intercept
        (criterion 4).
    available_n : int, optional
        The study's participants, for :attr:`SampleSizeResult.adequate` and the verdict.

    Returns
    -------
    SampleSizeResult
        ``criteria`` keys ``shrinkage``, ``r2_optimism``, ``residual_sd``, ``intercept``.

    Notes
    -----
    Riley RD et al. Stat Med 2019;38:1262-1275 and BMJ 2020;368:m441; EIH_REFERENCE.md section 6.
    Example: ``sample_size_continuous(25, 0.2, intercept=1.9, sd=0.6)`` gives 918, 401, 259, 918
    -> 918 (pmsampsize's test 2.1).

    Differences from pmsampsize 0.1.0 (and the R package, whose code is the same):

    * Criterion 4: once the search loop is entered the reference uses ``t.ppf(0.025, df)`` (a
      negative quantile) where it means ``t.ppf(0.975, df)``, so it always stops one step after
      ``max(n1, n2, n3)``. We search until the margin is really met; results agree whenever the
      intercept criterion is already met at ``max(n1, n2, n3)`` (all of pmsampsize's examples)
      and are larger otherwise - this matters for EIH, whose mean response is small relative to
      its SD.
    * Criterion 4 uses ``|intercept|`` (the reference divides by the signed intercept, which makes
      the criterion always "met" for a negative mean).
    * Criterion 3 starts at n = 234 as the R package and EIH_REFERENCE.md; pmsampsize 0.1.0
      hard-codes ``234 + p``, the same value at the default MMOE of 1.1.
    """
    from scipy.stats import chi2, t

    p = _check_parameters(n_parameters)
    r2 = _check_fraction("r2", r2, "Give an anticipated adjusted R².")
    s = _check_fraction("shrinkage", shrinkage, "The recommended target is 0.9.")
    for name, value in (("intercept", intercept), ("sd", sd), ("mmoe", mmoe)):
        if not isinstance(value, int | float | np.floating) or not math.isfinite(value):
            raise ConfigError(f"{name} must be a finite number; found {value!r}.")
    if sd <= 0:
        raise ConfigError(f"sd must be positive (the outcome's SD); found {sd!r}.")
    if intercept == 0:
        raise ConfigError(
            "intercept (the anticipated mean outcome) must not be 0: criterion 4 asks for its "
            "confidence interval to lie within a multiplicative margin of it. Fix: give the "
            "expected mean EIH on the reported scale (e.g. 20 kPa)."
        )
    if not mmoe > 1.0:
        raise ConfigError(f"mmoe must be greater than 1 (default 1.1); found {mmoe!r}.")
    _check_available(available_n, None, "continuous")

    # criterion 1: smallest n >= p + 2 with expected shrinkage >= s
    with np.errstate(divide="ignore", invalid="ignore"):
        n1 = _first_n(p + 2, lambda n: _expected_shrinkage_linear(n, p, r2) >= s)
    # criterion 2: small optimism in R² (apparent - adjusted <= 0.05)
    n2 = math.ceil(1 + ((p * (1 - r2)) / 0.05))

    # criterion 3: residual SD within mmoe, from n = 234 upward (df = n - p - 1 >= 1)
    def resid_ok(n: np.ndarray) -> np.ndarray:
        df = n - p - 1
        ratio = np.maximum(df / chi2.ppf(0.025, df), chi2.ppf(0.975, df) / df)
        return np.sqrt(ratio) <= mmoe

    n3 = _first_n(max(234, p + 2), resid_ok)

    # criterion 4: intercept within mmoe
    a = abs(float(intercept))

    def intercept_ok(n: np.ndarray) -> np.ndarray:
        half = t.ppf(0.975, n - p - 1) * np.sqrt(sd**2 * (1 - r2) / n)
        return (a + half) / a <= mmoe

    n4 = _first_n_monotone(
        max(n1, n2, n3),
        intercept_ok,
        f"Criterion 4 needs more than 10^12 participants: the anticipated mean ({intercept:g}) is "
        f"tiny relative to the SD ({sd:g}), so a {100 * (mmoe - 1):g} % relative margin around it "
        "cannot be reached. Fix: check intercept and sd (same unit, mean on the reported scale).",
    )
    criteria = {"shrinkage": n1, "r2_optimism": n2, "residual_sd": n3, "intercept": n4}
    n_final = max(criteria.values())
    expected = float(_expected_shrinkage_linear(np.array([float(n_final)]), p, r2)[0])
    return SampleSizeResult(
        outcome="continuous",
        n_required=n_final,
        criteria=criteria,
        n_parameters=p,
        r2=r2,
        shrinkage=s,
        expected_shrinkage=expected,
        intercept=float(intercept),
        sd=float(sd),
        mmoe=float(mmoe),
        available_n=available_n,
        inputs={
            "n_parameters": p,
            "r2": r2,
            "intercept": intercept,
            "sd": sd,
            "shrinkage": s,
            "mmoe": mmoe,
        },
    )
