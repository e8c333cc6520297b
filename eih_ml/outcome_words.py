"""The outcome in words: one vocabulary for its measure, site, unit and definition.

Every face that names the outcome (the experiment report, the patient text, the web app's
model card, the CLI table) reads it from here, so a relative EIH is in % and a global site is
the mean of both sites everywhere. The outcome is described by its provenance mapping
(:meth:`eih_ml.outcomes.Outcome.provenance`, the ``outcome`` of a summary or a bundle's
metadata): ``outcome`` (the column, ``eih_{measure}_{site}`` or a programme's
``followup_...``), ``task``, ``target``, ``rule`` and ``programme``.

EIH is the change of the pressure pain threshold from before to after exercise, positive =
less pain sensitivity (hypoalgesia); the relative change is 100 × (post − pre) / pre and the
rest-adjusted change subtracts the change after quiet rest (EIH_REFERENCE.md §1; Vaegter et
al. 2014, Pain 155:158).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

#: The acute EIH column: ``eih_{measure}_{site}`` (:func:`eih_ml.outcomes.outcome_column`).
OUTCOME_COLUMN = re.compile(r"^eih_(abs|rel|adj)_(local|remote|global)$")

#: Each site in a few words, for sentences ("the pressure pain threshold at ...").
SITE_WORDS: dict[str, str] = {
    "local": "the exercising muscle",
    "remote": "a remote site",
    "global": "the exercising muscle and a remote site (their mean)",
}

#: Each site defined, for the report's outcome section.
SITE_DEFINITIONS: dict[str, str] = {
    "local": "the exercising muscle (local site)",
    "remote": "a remote, non-exercising site",
    "global": "the mean of the local and remote sites",
}

#: Each measure defined, for the report's outcome section.
MEASURE_DEFINITIONS: dict[str, str] = {
    "abs": "absolute change in pressure pain threshold, post − pre (kPa)",
    "rel": "relative change in pressure pain threshold, 100 × (post − pre) / pre (%)",
    "adj": "change after exercise minus change after quiet rest (kPa)",
}

_CHANGE_WORDS: dict[str, str] = {
    "abs": "Change (kPa)",
    "rel": "Percentage change",
    "adj": "Change after exercise minus change after quiet rest (kPa)",
}


def outcome_parts(name: str) -> tuple[str | None, str | None]:
    """The measure and site of an acute EIH column, or ``(None, None)`` for any other name.

    Examples
    --------
    >>> outcome_parts("eih_rel_remote")
    ('rel', 'remote')
    >>> outcome_parts("followup_pain_nrs_w12")
    (None, None)
    """
    m = OUTCOME_COLUMN.match(str(name))
    return (m.group(1), m.group(2)) if m else (None, None)


def outcome_unit(outcome: Mapping[str, Any]) -> str:
    """The outcome's unit: kPa, %, NRS points or points.

    kPa for absolute or rest-adjusted EIH, % for relative EIH or a programme's percentage change,
    NRS points for a programme's pain change, points for a questionnaire's.

    Examples
    --------
    >>> outcome_unit({"outcome": "eih_abs_local"}), outcome_unit({"outcome": "eih_rel_global"})
    ('kPa', '%')
    >>> outcome_unit({"outcome": "followup_pain_nrs_w12",
    ...               "programme": {"change": "abs", "measure": "pain_nrs"}})
    'NRS points'
    """
    programme = outcome.get("programme")
    if programme:
        if programme.get("change") == "pct":
            return "%"
        return "NRS points" if programme.get("measure") == "pain_nrs" else "points"
    measure, _ = outcome_parts(outcome.get("outcome", ""))
    return "%" if measure == "rel" else "kPa"


def outcome_site(outcome: Mapping[str, Any]) -> str:
    """Where the pressure pain threshold was measured, in words (``the exercising muscle``)."""
    _, site = outcome_parts(outcome.get("outcome", ""))
    return SITE_WORDS.get(site or "local", SITE_WORDS["local"])


def outcome_in_words(outcome: Mapping[str, Any], threshold: float | None = None) -> str:
    """The outcome's definition in one sentence, with the responder cut-off when there is one.

    Parameters
    ----------
    outcome : mapping
        The outcome's provenance (see the module docstring).
    threshold : float, optional
        The cut-off the final model used (None: the rule's, estimated from the data).

    Examples
    --------
    >>> outcome_in_words({"outcome": "eih_abs_local", "task": "classification",
    ...                   "target": "hypoalgesia", "rule": "gt0"}, 0.0)  # doctest: +NORMALIZE_WHITESPACE
    "Change (kPa) of the pressure pain threshold at the exercising muscle from before to after
    exercise; a responder's threshold rises by more than 0 kPa (rule gt0)."
    """
    programme = outcome.get("programme")
    task = outcome.get("task", "classification")
    if programme:
        text = f"Programme outcome: {programme.get('description', outcome.get('outcome'))}"
        if task == "classification":
            return text + "; a responder reaches it."
        return text + "."
    measure, _ = outcome_parts(outcome.get("outcome", ""))
    change = _CHANGE_WORDS.get(measure or "abs", _CHANGE_WORDS["abs"])
    base = (
        f"{change} of the pressure pain threshold at {outcome_site(outcome)} "
        "from before to after exercise"
    )
    if task == "regression":
        return base + "; positive means less pain sensitivity after exercise."
    unit = outcome_unit(outcome)
    cut = (
        f"more than {threshold:g}{'' if unit == '%' else ' '}{unit}"
        if isinstance(threshold, int | float)
        else "more than the rule's cut-off"
    )
    rule = outcome.get("rule")
    if task == "multiclass":
        return (
            f"{base}; three classes: hypoalgesic (the threshold rises by {cut}), hyperalgesic "
            f"(it falls by {cut}) and non-responder (neither; rule {rule})."
        )
    if outcome.get("target") == "hyperalgesia":
        return f"{base}; hyperalgesia means the threshold falls by {cut} (rule {rule})."
    return f"{base}; a responder's threshold rises by {cut} (rule {rule})."
