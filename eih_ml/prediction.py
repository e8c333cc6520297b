"""The prediction row: every output column of a prediction, declared once.

A prediction answers, per patient, with the columns of :data:`COLUMNS`: the ids, the
pain-modulation profile, the task's prediction and uncertainty, the top factors, the
out-of-distribution flag and the minimum-information rule's verdict. Every face derives its
columns from this one declaration:

* :meth:`eih_ml.bundle.ModelBundle.predict` orders its output by :func:`column_names` and
  refuses to answer with a column not declared here;
* the MLflow pyfunc's output schema is :func:`mlflow_output_schema`;
* the JSON API's per-patient ``Prediction`` model (:mod:`eih_ml.serve.response_models`) is
  generated from :data:`COLUMNS`, so its OpenAPI schema, its validation of every answer and
  its field descriptions are these.

A column's ``tasks`` say which models have it (``classification``, ``multiclass``,
``regression``); a column of a task may still be absent from an answer when the model has no
calibration for it (``probability_low``/``probability_high`` need a Venn-Abers calibration,
``eih_low``/``eih_high`` the quantile heads, ``prediction_set`` and the intervals a conformal
calibration).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from eih_ml.features.profile import PROFILES
from eih_ml.outcomes import TASKS

if TYPE_CHECKING:
    from mlflow.types import Schema

#: How a column's values are typed: text, a real number, a flag, or the top factors (a JSON list
#: of objects in the bundle's table and the pyfunc, a list of objects in the JSON API).
Kind = Literal["string", "double", "boolean", "factors"]
#: Every class name a prediction may give (responder models, hyperalgesia models, three classes).
CLASS_CHOICES = ("responder", "non-responder", "hyperalgesic", "not hyperalgesic", "hypoalgesic")
_NOT_SET = object()


@dataclass(frozen=True)
class OutputColumn:
    """One column of a prediction.

    Attributes
    ----------
    name
        The column's name, the same in every face.
    kind
        How its values are typed (:data:`Kind`).
    description
        What it means, in one or two sentences (the API's documentation).
    tasks
        The tasks whose models have it.
    required
        Present with a value on every row of those models; otherwise it may be missing (no
        calibration for it) or empty (an abstained row, :attr:`emptied_on_abstain`).
    emptied_on_abstain
        A number or class made from the inputs: empty when the model abstains (too little
        measured), which gives a reason instead.
    choices
        The values a text column can take, when they are a closed list.
    default
        The API model's default when an answer leaves the column out (unset: no default for a
        required column, None for any other).
    """

    name: str
    kind: Kind
    description: str
    tasks: tuple[str, ...] = TASKS
    required: bool = False
    emptied_on_abstain: bool = False
    choices: tuple[str, ...] | None = None
    default: object = _NOT_SET

    @property
    def has_default(self) -> bool:
        """Is there an API default (an explicit one, or None for a column that is not required)."""
        return self.default is not _NOT_SET or not self.required

    @property
    def api_default(self) -> object:
        """The API model's default (see :attr:`default`)."""
        return None if self.default is _NOT_SET else self.default

    @property
    def mlflow_type(self) -> str:
        """The column's type in an MLflow schema (the top factors are JSON text there)."""
        return "string" if self.kind == "factors" else self.kind


_CLASSIFIERS = ("classification", "multiclass")

#: The prediction row, in output order (each task's columns are these, filtered by ``tasks``).
COLUMNS: tuple[OutputColumn, ...] = (
    OutputColumn(
        "participant_id",
        "string",
        "The patient's id (patient-1, ... when none was given).",
        required=True,
    ),
    OutputColumn(
        "session_id", "string", "The session's id (row-1, ... when none was given).", required=True
    ),
    OutputColumn(
        "pain_modulation_profile",
        "string",
        "Efficient or inefficient CPM x normal or facilitated temporal summation "
        "(Yarnitsky 2014; cut-offs in GET /api/model).",
        required=True,
        choices=PROFILES,
    ),
    OutputColumn(
        "predicted_class",
        "string",
        "Classification and multiclass models: the most probable class.",
        tasks=_CLASSIFIERS,
        emptied_on_abstain=True,
        choices=CLASS_CHOICES,
    ),
    OutputColumn(
        "probability",
        "double",
        "Probability of the positive class (classification): a hypoalgesic response, or "
        "hyperalgesia for a model of outcome.target hyperalgesia.",
        tasks=("classification",),
        emptied_on_abstain=True,
    ),
    OutputColumn(
        "p_hyperalgesic",
        "double",
        "Probability of more pain sensitivity after exercise (multiclass).",
        tasks=("multiclass",),
        emptied_on_abstain=True,
    ),
    OutputColumn(
        "p_non_responder",
        "double",
        "Probability of no clear change (multiclass).",
        tasks=("multiclass",),
        emptied_on_abstain=True,
    ),
    OutputColumn(
        "p_hypoalgesic",
        "double",
        "Probability of less pain sensitivity after exercise (multiclass).",
        tasks=("multiclass",),
        emptied_on_abstain=True,
    ),
    OutputColumn(
        "hyperalgesia_risk",
        "boolean",
        "p_hyperalgesic at or above the model's outcome.risk_threshold (multiclass).",
        tasks=("multiclass",),
        emptied_on_abstain=True,
    ),
    OutputColumn(
        "prediction_set",
        "string",
        "Conformal prediction set at confidence_level (classification, multiclass).",
        tasks=_CLASSIFIERS,
        emptied_on_abstain=True,
    ),
    OutputColumn(
        "probability_low",
        "double",
        "Venn-Abers range of the probability, lower end (classification): how often earlier "
        "patients with a similar score had the outcome.",
        tasks=("classification",),
        emptied_on_abstain=True,
    ),
    OutputColumn(
        "probability_high",
        "double",
        "Venn-Abers range of the probability, upper end (classification).",
        tasks=("classification",),
        emptied_on_abstain=True,
    ),
    OutputColumn(
        "eih_kpa",
        "double",
        "Predicted change of the pressure pain threshold, kPa (regression).",
        tasks=("regression",),
        emptied_on_abstain=True,
    ),
    OutputColumn(
        "interval_low",
        "double",
        "Conformal interval, kPa (regression).",
        tasks=("regression",),
        emptied_on_abstain=True,
    ),
    OutputColumn(
        "interval_high",
        "double",
        "Conformal interval, kPa (regression).",
        tasks=("regression",),
        emptied_on_abstain=True,
    ),
    OutputColumn(
        "eih_low",
        "double",
        "Prediction interval of this patient's EIH at confidence_level, lower end "
        "(conformalized quantile regression; kPa, or % for a relative outcome).",
        emptied_on_abstain=True,
    ),
    OutputColumn(
        "eih_high",
        "double",
        "Prediction interval of this patient's EIH, upper end.",
        emptied_on_abstain=True,
    ),
    OutputColumn(
        "confidence_level",
        "double",
        "The confidence level of the prediction set and the intervals.",
        required=True,
    ),
    OutputColumn(
        "top_factors",
        "factors",
        "The strongest contributors to the prediction, with the patient's value, its "
        "percentile in the training cohort and the direction (empty when the model abstains).",
        required=True,
    ),
    OutputColumn(
        "ood",
        "boolean",
        "True when the patient lies outside the training cohort.",
        required=True,
    ),
    OutputColumn(
        "ood_reasons",
        "string",
        "Why the patient lies outside the training cohort ('' when not).",
        required=True,
    ),
    OutputColumn(
        "abstained",
        "boolean",
        "True when too little was measured for the model's minimum-information rule "
        "(GET /api/model: abstain_rule): the prediction fields are then null and "
        "abstain_reason says what to measure first.",
        required=True,
        default=False,
    ),
    OutputColumn(
        "abstain_reason",
        "string",
        "Why the model abstained and what to measure first.",
    ),
    OutputColumn(
        "not_measured",
        "string",
        "The measurements not taken, named once (e.g. 'PPT at both sites, CPM'); they are "
        "never among top_factors.",
        required=True,
        default="",
    ),
)

#: The columns by name.
BY_NAME: dict[str, OutputColumn] = {c.name: c for c in COLUMNS}
#: The columns an abstained row leaves empty: it gets a reason, not a number.
EMPTIED_ON_ABSTAIN: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.emptied_on_abstain)


def columns_for(task: str) -> tuple[OutputColumn, ...]:
    """The columns of a model of ``task``, in output order.

    Raises
    ------
    ValueError
        ``task`` is not one of :data:`eih_ml.outcomes.TASKS`.
    """
    if task not in TASKS:
        raise ValueError(f"Expected a task among {', '.join(TASKS)}; found {task!r}.")
    return tuple(c for c in COLUMNS if task in c.tasks)


def column_names(task: str) -> list[str]:
    """The names of :func:`columns_for` ``task``, in output order."""
    return [c.name for c in columns_for(task)]


def ordered(columns: dict[str, list], task: str) -> dict[str, list]:
    """A prediction's named columns in the declared order of ``task``.

    Raises
    ------
    RuntimeError
        A column is not declared in :data:`COLUMNS` for ``task``: a column added in one place
        only (declare it here, and every face has it).
    """
    names = column_names(task)
    undeclared = [c for c in columns if c not in BY_NAME or task not in BY_NAME[c].tasks]
    if undeclared:
        raise RuntimeError(
            f"Prediction column(s) {', '.join(undeclared)} are not declared for {task} models "
            "in eih_ml.prediction.COLUMNS; declare each there (name, type, description, tasks)."
        )
    return {name: columns[name] for name in names if name in columns}


def mlflow_output_schema(task: str) -> Schema:
    """The MLflow pyfunc's output schema of a model of ``task`` (:func:`columns_for`)."""
    from mlflow.types import ColSpec, Schema

    return Schema([ColSpec(c.mlflow_type, c.name, required=c.required) for c in columns_for(task)])
