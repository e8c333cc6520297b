"""The report's outcome sections: the outcome, its reliability ceiling and the sample size.

The outcome and its definition, the reliability ceiling of single-session EIH, and the sample
size against the required minimum.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eih_ml.outcome_words import MEASURE_DEFINITIONS, SITE_DEFINITIONS
from eih_ml.report.formatting import CLASS_LABELS, integer, num, pct

if TYPE_CHECKING:
    from eih_ml.run_record import RunSummary

_RULES: dict[str, str] = {
    "gt0": "EIH > 0, i.e. any increase in pressure pain threshold",
    "sem": "EIH > 1 SEM",
    "2sem": "EIH > 2 SEM",
    "mdc95": "EIH > MDC95 = 1.96 × √2 × SEM",
    "pct": "relative EIH > the given percentage",
}

_CRITERIA: dict[str, str] = {
    "shrinkage": "Criterion 1: expected shrinkage of the predictor effects ≥ 0.9",
    "r2_optimism": "Criterion 2: small optimism in apparent R² (≤ 0.05)",
    "overall_risk": "Criterion 3: overall risk (prevalence) estimated within ±0.05",
    "residual_sd": "Criterion 3: residual SD estimated within 10 %",
    "intercept": "Criterion 4: precise intercept (advisory for a change score)",
}


def outcome_definition(summary: RunSummary, config: dict[str, Any], task: str) -> dict[str, Any]:
    """The outcome section: outcome, site, measure, unit, responder rule, threshold, prevalence."""
    o = summary.outcome
    oc = config.get("outcome") or {}
    name = o.outcome
    measure, site = (o.measure, o.site) if o.site else (oc.get("measure"), oc.get("site"))
    unit = o.unit
    best = summary.models.get(summary.best_model)
    folds = best.folds if best is not None else []
    fold_thresholds = [float(f["threshold"]) for f in folds if f.get("threshold") is not None]
    rp = o.rule_parameters or {}
    rule = o.rule
    rule_text: str | None
    if rule in ("sem", "2sem", "mdc95"):
        src = rp.get("sem_source")
        rule_text = f"{_RULES[rule]}, SEM = SD × √(1 − ICC) with ICC {num(rp.get('icc'), 2)}"
        if src == "training":
            rule_text += ", SD from the training participants (one session each), per fold"
        elif rp.get("sem") is not None:
            rule_text += f", published SEM {num(rp.get('sem'), 1)} kPa"
        else:
            rule_text += f", published SD {num(rp.get('sd'), 1)} kPa"
    elif rule == "pct":
        rule_text = f"relative EIH > {num(rp.get('pct'), 1)} %"
    else:
        rule_text = _RULES.get(rule, str(rule)) if rule else None
    per_fold = None
    if o.threshold_per_fold and fold_thresholds:
        per_fold = (
            f"The threshold was re-estimated in each of the {len(fold_thresholds)} outer training "
            f"folds from training participants only: {num(min(fold_thresholds), 1)} to "
            f"{num(max(fold_thresholds), 1)} {unit}; the final model used "
            f"{num(o.final_threshold, 1)} {unit}."
        )
    elif task == "classification":
        per_fold = (
            "The threshold is fixed (it does not depend on the data), so every fold used the same "
            "value."
        )
    # the final model's threshold; a summary written before it was recorded has the rule's
    cut = o.final_threshold if "final_threshold" in o else o.threshold
    classes = o.class_prevalence or {}
    return {
        "name": name,
        "site": SITE_DEFINITIONS.get(site, site) if site else site,
        "measure": MEASURE_DEFINITIONS.get(measure, measure) if measure else measure,
        "unit": unit,
        "task": task,
        "rule": rule_text,
        "threshold": None if cut is None else num(cut, 1),
        "per_fold": per_fold,
        "prevalence": None if o.prevalence is None else pct(o.prevalence, 1),
        "class_prevalence": ", ".join(
            f"{label} {pct(classes[k], 1)}" for k, label in CLASS_LABELS if k in classes
        )
        or None,
        "rows_without_outcome": o.rows_without_outcome,
        "notes": o.notes,
        "programme": o.programme,
        "randomized": bool((config.get("data") or {}).get("protocol_randomized")),
    }


def ceiling(summary: RunSummary, task: str) -> dict[str, Any] | None:
    """The reliability ceiling: the best AUROC or R² the outcome's ICC allows, or None."""
    c = summary.reliability_ceiling
    if not c:
        return None
    best = summary.models.get(summary.best_model)
    m = best.metrics if best is not None else {}
    icc = c.get("icc")
    if task in ("classification", "multiclass"):
        value, ceil = m.get("auroc"), c.get("max_auroc")
        which, label = "AUROC", "the responder label"
        if task == "multiclass":  # the ceiling of the clinically critical class against the rest
            value, which = m.get("auroc_hyperalgesic"), "AUROC of hyperalgesic vs rest"
            label = "the hyperalgesic label (against the other two classes)"
        reached = ""
        if value is not None and value <= 0.5:
            reached = f"The best model's {which} of {num(value)} is no better than chance."
        elif value is not None and ceil and ceil > 0.5:
            reached = (
                f"The best model's {which} of {num(value)} covers "
                f"{pct(min((value - 0.5) / (ceil - 0.5), 1.0))} of the distance from chance "
                "(0.50) to this ceiling."
            )
        text = (
            f"EIH measured in one session has a between-session reliability (ICC) of about "
            f"{num(icc)}: only that share of its variance is stable within a person. Even a "
            f"perfect model that knew each person's true EIH could therefore reach at most an "
            f"AUROC of {num(ceil)} for {label}, and two sessions of the same person "
            f"would agree on the label in {pct(c.get('retest_agreement'))} of cases (κ = "
            f"{num(c.get('retest_kappa'))}). Read the model's performance against this ceiling, "
            f"not against 1.0. {reached}"
        )
    else:
        value, ceil = m.get("r2"), c.get("max_r2")
        reached = ""
        if value is not None and value <= 0:
            reached = (
                f"The best model's R² of {num(value)} explains none of it: it predicts no better "
                "than the mean EIH."
            )
        elif value is not None and ceil:
            reached = f"The best model's R² of {num(value)} is {pct(value / ceil)} of this ceiling."
        text = (
            f"EIH measured in one session has a between-session reliability (ICC) of about "
            f"{num(icc)}: only that share of its variance is stable within a person. Even a "
            f"perfect model could therefore explain at most R² = {num(ceil)} of a single "
            f"session's EIH. Read the model's R² against this ceiling, not against 1.0. {reached}"
        )
    return {
        "rows": [
            ("Between-session ICC assumed", num(icc)),
            ("Maximum R² (continuous EIH)", num(c.get("max_r2"))),
            (
                "Maximum AUROC (hyperalgesic label)"
                if task == "multiclass"
                else "Maximum AUROC (responder label)",
                num(c.get("max_auroc")),
            ),
            ("Test–retest κ of the label", num(c.get("retest_kappa"))),
            ("Test–retest agreement of the label", pct(c.get("retest_agreement"))),
        ],
        "text": text.strip(),
    }


def sample_size(summary: RunSummary) -> dict[str, Any]:
    """The sample-size section: minimum sample size per criterion against those available."""
    ss = summary.sample_size or {}
    crit = ss.get("criteria", {})
    rows = [
        {
            "name": _CRITERIA.get(k, k),
            "n": integer(v),
            "binding": v == ss.get("n_required") and k != "intercept",
        }
        for k, v in crit.items()
    ]
    facts = [("Candidate predictor parameters", integer(ss.get("n_parameters")))]
    if ss.get("prevalence") is not None:
        facts.append(("Outcome prevalence", pct(ss["prevalence"], 1)))
        facts.append(("Anticipated Cox–Snell R²", num(ss.get("anticipated_r2_cs"), 3)))
        facts.append(("Events available", integer(ss.get("events_available"))))
    if ss.get("anticipated_r2") is not None:
        facts.append(("Anticipated R²", num(ss["anticipated_r2"], 2)))
    return {
        "required": integer(ss.get("n_required")),
        "available": integer(ss.get("n_available")),
        "rows": rows,
        "facts": facts,
        "adequate": ss.get("adequate"),
        "verdict": ss.get("verdict"),
        "note": ss.get("note"),
    }
