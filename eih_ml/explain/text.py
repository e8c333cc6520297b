"""Plain-language explanation of one patient's prediction, for clinicians.

Structure: the prediction with its uncertainty; the three to five strongest factors, each with the
patient's value, how it compares with the training cohort (percentile) and the direction of its
effect; caveats (decision support, not a diagnosis; the cohort the model was built on; the
label's limited reliability; out-of-distribution warnings).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from eih_ml.features.metadata import CATEGORY_LABELS

if TYPE_CHECKING:
    from eih_ml.bundle import BundleMeta


def value_text(f: dict) -> str:
    """A factor's value in clinical words (category label, unit, 'not measured')."""
    value = f.get("value")
    if value is None:
        return "not measured"
    if isinstance(value, str):
        return CATEGORY_LABELS.get(f["feature"], {}).get(value, value.replace("_", " "))
    unit = f.get("unit") or ""
    if unit.startswith("0-"):
        unit = f"(scale {unit})"
    if unit == "fraction of maximum":
        return f"{100 * value:.0f} % of maximum"
    return f"{value:.3g} {unit}".strip()


def _percentile_text(p: float | None) -> str:
    if p is None:
        return ""
    if p >= 50:
        return f", higher than about {p:.0f} % of the training cohort"
    return f", lower than about {100 - p:.0f} % of the training cohort"


def factor_sentences(
    factors: list[dict], task: str, target: str | None = None, programme: bool = False
) -> list[str]:
    """One sentence per factor.

    ``target`` is the bundle's ``meta.outcome.target``: a hyperalgesia model (binary) and a
    multiclass model (whose attributions explain the hyperalgesic class) speak of the chance of
    more pain; a responder model of the chance of relief; a regression of the predicted relief.
    """
    if programme:
        effect = (
            "chance of a clinically important improvement"
            if task == "classification"
            else "predicted improvement with the programme"
        )
    elif task == "multiclass" or target == "hyperalgesia":
        effect = "chance of more pain after exercise"
    elif task == "classification":
        effect = "chance of pain relief after exercise"
    else:
        effect = "predicted pain relief after exercise"
    out = []
    for f in factors:
        verb = "raises" if f["direction"] == "raises" else "lowers"
        if f.get("value") is None:
            # The model reacts to the missing value, not to a measurement: say so.
            out.append(
                f"{f['label']} was not measured. For patients without this measurement the "
                f"model's estimate is different: here its absence {verb} the {effect}."
            )
            continue
        out.append(
            f"{f['label']}: {value_text(f)}{_percentile_text(f.get('percentile'))}. "
            f"This {verb} the {effect}."
        )
    return out


def headline(row: dict, task: str, meta: BundleMeta) -> str:
    """The prediction with its uncertainty, in one or two sentences.

    An abstained row (the model's minimum-information rule, :mod:`eih_ml.explain.abstain`)
    has no prediction: its headline is the reason and what to measure first.
    """
    if row.get("abstained"):
        return str(row["abstain_reason"])
    programme = meta.outcome.programme
    if programme:
        return _programme_headline(row, task, meta, programme)
    level = _level(row, meta)
    site = meta.outcome.site_in_words
    if task == "classification" and meta.outcome.target == "hyperalgesia":
        p = float(row["probability"])
        risk = float(meta.outcome.risk_threshold or 0.5)
        text = (
            f"Estimated probability of more pain sensitivity after this exercise (exercise-induced "
            f"hyperalgesia: pressure pain threshold at {site} falling{_rule_text(meta)}): "
            f"{100 * p:.0f} %."
        )
        if p >= risk:
            text = "Risk of more pain after this exercise. " + text
        if row.get("prediction_set"):
            text += f" At {level} % confidence the possible outcomes are: {row['prediction_set']}."
        return text
    if task == "multiclass":
        return _multiclass_headline(row, meta, site, level)
    if task == "classification":
        p = float(row["probability"])
        verdict = (
            "likely to have less pain sensitivity after exercise (a hypoalgesic response)"
            if p >= 0.5
            else "unlikely to have a clear hypoalgesic response to exercise"
        )
        text = (
            f"This patient is {verdict}: estimated probability {100 * p:.0f} % "
            f"(pressure pain threshold at {site} rising after exercise"
            f"{_rule_text(meta)})."
        )
        if row.get("prediction_set"):
            text += f" At {level} % confidence the possible outcomes are: {row['prediction_set']}."
        return text
    eih = float(row["eih_kpa"])  # the column's name is historical: the outcome's own unit
    direction = "rise" if eih >= 0 else "fall"
    unit = meta.outcome.unit
    text = (
        f"Predicted change of the pressure pain threshold at {site} after exercise: "
        f"{eih:+.0f} {unit} (a {direction}; positive means less pain sensitivity)."
    )
    if row.get("interval_low") is not None:
        text += (
            f" At {level} % confidence it lies between {float(row['interval_low']):+.0f} and "
            f"{float(row['interval_high']):+.0f} {unit}."
        )
    return text


def _level(row: dict, meta: BundleMeta) -> int:
    """The row's confidence level (the model's when the row has none), in percent."""
    return round(100 * float(row.get("confidence_level", meta.confidence_level)))


def _programme_headline(row: dict, task: str, meta: BundleMeta, programme: dict) -> str:
    """A programme outcome: the chance of a clinically important improvement, or its size."""
    level = _level(row, meta)
    week = f"week {float(programme['week']):g}"
    if task == "classification":
        p = float(row["probability"])
        text = (
            f"Estimated chance of a clinically important improvement with this programme "
            f"({programme['description']}): {100 * p:.0f} %."
        )
        if row.get("prediction_set"):
            text += f" At {level} % confidence the possible outcomes are: {row['prediction_set']}."
        return text
    unit = meta.outcome.unit
    what = (
        "pain"
        if programme["measure"] == "pain_nrs"
        else programme["measure"].removesuffix("_total").upper()
    )
    v = float(row["eih_kpa"])
    text = (
        f"Predicted improvement of {what} at {week} of this programme: {v:+.1f} {unit} "
        f"(positive means better)."
    )
    if row.get("interval_low") is not None:
        text += (
            f" At {level} % confidence it lies between {float(row['interval_low']):+.1f} and "
            f"{float(row['interval_high']):+.1f} {unit}."
        )
    return text


def _multiclass_headline(row: dict, meta: BundleMeta, site: str, level: int) -> str:
    """Three probabilities, the risk flag and the conformal set of a three-class model."""
    p = {k: float(row[f"p_{k}"]) for k in ("hyperalgesic", "non_responder", "hypoalgesic")}
    risk = float(meta.outcome.risk_threshold or 0.5)
    thr = meta.threshold
    band = (
        f"by more than {float(thr):.3g}{_spaced(meta.outcome.unit)} either way"
        if thr
        else "either way"
    )
    text = (
        f"Estimated chances after this exercise: less pain sensitivity "
        f"{100 * p['hypoalgesic']:.0f} %, no clear change {100 * p['non_responder']:.0f} %, more "
        f"pain sensitivity {100 * p['hyperalgesic']:.0f} % (the pressure pain threshold at {site} "
        f"changing {band})."
    )
    if p["hyperalgesic"] >= risk:
        text = (
            f"Risk of more pain after this exercise (the chance of exercise-induced hyperalgesia "
            f"is at least {100 * risk:.0f} %). " + text
        )
    if row.get("prediction_set"):
        text += f" At {level} % confidence the possible outcomes are: {row['prediction_set']}."
    return text


def _rule_text(meta: BundleMeta) -> str:
    thr = meta.threshold
    if meta.outcome.rule == "gt0" or thr is None or thr == 0:
        return ""
    return f" by more than {thr:.3g}{_spaced(meta.outcome.unit)}"


def _spaced(unit: str) -> str:
    """A unit as written after a number: ``%`` straight after it, any other after a space."""
    return unit if unit == "%" else f" {unit}"


def caveats(meta: BundleMeta, row: dict) -> list[str]:
    """What the clinician must keep in mind."""
    cohort = meta.training_cohort
    conditions = ", ".join(
        f"{CATEGORY_LABELS['condition'].get(k, k)} ({v})"
        for k, v in sorted(cohort.get("conditions", {}).items(), key=lambda kv: -kv[1])
    )
    source = cohort.get("source", {})
    simulated = " (a simulated cohort)" if source.get("kind") == "simulated" else ""
    rc = meta.reliability_ceiling
    out = [
        "This is decision support, not a diagnosis: weigh it with the clinical picture.",
        f"The model was built on {cohort['n_participants']} participants{simulated}"
        + (f": {conditions}." if conditions else "."),
    ]
    if rc:
        out.append(
            "Exercise-induced hypoalgesia measured once is only moderately reproducible "
            f"(between-session ICC about {rc['icc']:.2f}; the same person is classified the same "
            f"way on two days with kappa about {rc['retest_kappa']:.2f}), so no prediction can be "
            "more certain than the measurement it predicts."
        )
    if meta.outcome.programme:
        from eih_ml.explain.prescription import caveat

        out.append(caveat(meta))
    if row.get("ood"):
        out.append(
            "Caution, this patient differs from the training cohort: "
            + str(row["ood_reasons"])
            + "."
        )
    return out


def uncertainty_sentences(row: dict, meta: BundleMeta) -> list[str]:
    """The patient's own uncertainty in plain words, one sentence per measure.

    * the Venn-Abers range of the probability (:mod:`eih_ml.explain.venn_abers`): how often
      earlier patients with a similar model score had the outcome;
    * the prediction interval of EIH (:mod:`eih_ml.explain.eih_interval`): where this patient's
      change of the pain threshold is expected to lie, at the chosen confidence level.

    Empty for an abstained row and for a model without these measures.
    """
    if row.get("abstained"):
        return []
    out = []
    level = _level(row, meta)
    lo, hi = row.get("probability_low"), row.get("probability_high")
    if lo is not None and hi is not None:
        n = (meta.venn_abers or {}).get("n_calibration")
        if meta.outcome.programme:
            what = "a clinically important improvement"
        elif meta.outcome.target == "hyperalgesia":
            what = "more pain sensitivity after exercise"
        else:
            what = "a hypoalgesic response"
        earlier = f"{n} earlier predictions" if n else "earlier predictions"
        out.append(
            f"Of {earlier} checked against the outcome, those with a score like this one were "
            f"followed by {what} {_range(100 * float(lo), 100 * float(hi))} % of the time "
            "(Venn-Abers range; a wide range means few similar patients)."
        )
    lo, hi = row.get("eih_low"), row.get("eih_high")
    if lo is not None and hi is not None:
        unit = (meta.eih_interval or {}).get("unit", "kPa")
        site = meta.outcome.site_in_words
        out.append(
            f"At {level} % confidence, this patient's change of the pressure pain threshold at "
            f"{site} after exercise lies between {float(lo):+.0f} and {float(hi):+.0f} {unit}: "
            f"of 100 patients given such a range, about {level} find their change inside it "
            "(positive means less pain sensitivity)."
        )
    return out


def _range(lo: float, hi: float) -> str:
    """'51 to 55' or '52' when both ends round alike."""
    a, b = round(lo), round(hi)
    return f"{a}" if a == b else f"{a} to {b}"


def patient_explanation(row: dict, meta: BundleMeta, task: str, n_factors: int = 5) -> dict:
    """Headline, factor sentences and caveats for one prediction row (from ``bundle.predict``)."""
    factors = row["top_factors"]
    if isinstance(factors, str):
        factors = json.loads(factors)
    from eih_ml.features.profile import PROFILE_TEXT

    profile = row.get("pain_modulation_profile") or "not_assessable"
    missing = row.get("not_measured") or ""
    return {
        "headline": headline(row, task, meta),
        "uncertainty": uncertainty_sentences(row, meta),
        "abstained": bool(row.get("abstained")),
        "not_measured": f"Not measured: {missing}." if missing else "",
        "profile": _sentence(PROFILE_TEXT.get(profile, PROFILE_TEXT["not_assessable"])),
        "factors": factor_sentences(
            factors[:n_factors],
            task,
            meta.outcome.target,
            bool(meta.outcome.programme),
        ),
        "caveats": caveats(meta, row),
    }


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + "."


def as_text(explanation: dict) -> str:
    """The explanation as plain text (CLI, logs without patient data must not use this)."""
    lines = [explanation["headline"], *explanation.get("uncertainty", [])]
    lines.append(explanation.get("profile", ""))
    if explanation.get("not_measured"):
        lines.append(explanation["not_measured"])
    if explanation["factors"]:
        lines += ["", "Strongest factors:"]
        lines += [f"  {i}. {s}" for i, s in enumerate(explanation["factors"], 1)]
    lines += ["", "Keep in mind:"] + [f"  - {c}" for c in explanation["caveats"]]
    return "\n".join(lines)
