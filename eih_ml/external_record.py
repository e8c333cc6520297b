"""The external-validation record: a validation's summary as typed objects, born where it is computed.

:class:`ExternalSummary` is what :func:`eih_ml.evaluation.external.external_validation` returns
as ``result.summary`` and what ``external_validation.json`` holds. Its parts are typed records:
:class:`ValidatedModel` (the model's task and outcome), :class:`ValidationCohort` (source and
counts), :class:`CaseMix` (standardized differences and the membership model's AUROC) and
:class:`ModelUpdating` (the updates compared, one :class:`UpdateComparison` each). Parts whose
shape belongs to another module (metrics, curves, subgroups, per-site results, the confusion
matrix) stay plain mappings, documented where they are computed.

One serializer: :meth:`ExternalSummary.to_json` writes exactly the keys that were set, in
declaration order, as strict JSON (no NaN); :meth:`ExternalSummary.read` reads the file back and
names the file and the key when it is not an eih_ml external validation. Every record also reads
like the mapping it replaces (:class:`eih_ml.run_record.Record`).

Everything here is aggregate: no participant-level value is a field.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from eih_ml.errors import DataError
from eih_ml.run_record import Record


class ValidatedModel(Record):
    """The validated model's task and outcome."""

    task: str
    outcome: str
    target: str | None = None


class ValidationCohort(Record):
    """Where the validation cohort came from and its size (counts only)."""

    source: str
    n_participants: int
    n_sessions: int


class CaseMix(Record):
    """Standardized differences of every model input, validation minus development.

    ``numeric`` and ``categories`` hold one row per feature (per level); ``membership_auroc`` is
    set when the development cohort was given (:func:`eih_ml.evaluation.external.case_mix`).
    """

    numeric: list[dict[str, Any]] = []
    categories: list[dict[str, Any]] = []
    n_relevant: int = 0
    largest: float = 0.0
    membership_auroc: float | None = None


class UpdateComparison(Record):
    """One update's cross-validated metrics on the validation cohort.

    Its gain over the model as it is, ``<loss>_gain`` and ``<loss>_gain_ci_low`` (``brier`` or
    ``rmse``), is kept under those names (as extra keys).
    """

    cross_validated: dict[str, Any]
    parameters: dict[str, Any] = {}


class ModelUpdating(Record):
    """The updates compared (:func:`eih_ml.evaluation.external.recalibration`).

    A three-class model has no updates: only ``note`` is set.
    """

    methods: dict[str, UpdateComparison] = {}
    recommended: str | None = None
    loss: str | None = None
    note: str = ""


class ExternalSummary(Record):
    """An external validation's summary: aggregates only, as ``external_validation.json`` holds it."""

    model: ValidatedModel
    cohort: ValidationCohort
    threshold: float | None
    metrics: dict[str, Any]
    curves: dict[str, Any] = {}
    subgroups: dict[str, Any] = {}
    case_mix: CaseMix
    ood_share: float
    updating: ModelUpdating
    notes: list[str] = []
    #: The three-class confusion matrix (:func:`eih_ml.evaluation.multiclass.confusion`).
    confusion: dict[str, Any] | None = None
    #: Per-site results (:func:`eih_ml.evaluation.sites.site_results`), multi-site cohorts only.
    sites: dict[str, Any] | None = None
    #: The validated model's URI, set when the summary is written.
    model_uri: str | None = None

    def to_json(self) -> str:
        """The text of ``external_validation.json`` (indented, strict JSON: no NaN)."""
        from eih_ml.json_values import json_safe

        return json.dumps(json_safe(self.to_dict()), indent=2, default=str)

    @classmethod
    def read(cls, path: str | Path) -> ExternalSummary:
        """Read an ``external_validation.json``.

        Raises
        ------
        DataError
            The file is missing, is not JSON, or is not an eih_ml external validation (the
            message names the file and the first key that is missing or wrong).
        """
        path = Path(path)
        if not path.is_file():
            raise DataError(
                f"{path} does not exist: give an external_validation.json written by "
                "'eih-ml evaluate'."
            )
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise DataError(
                f"{path} is not JSON ({exc}); it is not an eih_ml external validation."
            ) from exc
        return cls.from_mapping(data, path)

    @classmethod
    def from_mapping(
        cls, data: object, source: str | Path = "the external validation"
    ) -> ExternalSummary:
        """A summary from its JSON form, or from a mapping of its parts (returned as is if it is one).

        Raises
        ------
        DataError
            ``data`` is not an eih_ml external validation; the message names ``source`` and the
            first key that is missing or wrong.
        """
        if isinstance(data, cls):
            return data
        if not isinstance(data, Mapping):
            raise DataError(
                f"{source} holds {type(data).__name__}, not an eih_ml external validation."
            )
        return cls.validated(data, source, "an eih_ml external validation")

    def __repr__(self) -> str:
        name = next((k for k in ("auroc", "auroc_macro", "rmse") if k in self.metrics), None)
        value = None if name is None else self.metrics[name]
        score = f"{name} {float(value):.3f}" if name is not None and value is not None else "n/a"
        return (
            f"<ExternalSummary {self.model.outcome} ({self.model.task}): "
            f"{self.cohort.n_participants} participants, {score}; "
            f"recommended update {self.updating.recommended or 'n/a'}>"
        )
