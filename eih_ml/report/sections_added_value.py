"""The report's added-value section: what each feature block adds beyond the others.

Each block (demographics, QST, questionnaires, biomarkers, ...) gets a sentence and a table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from eih_ml.report.formatting import DIGITS, METRIC_LABELS, num, pct, with_ci

if TYPE_CHECKING:
    from eih_ml.run_record import RunSummary

_BLOCK_NAMES: dict[str, str] = {
    "demographic": "demographics",
    "clinical": "clinical data",
    "qst": "QST",
    "psychological": "questionnaires",
    "biomarker": "the biomarker panel",
    "protocol": "the exercise protocol",
}


def _blocks_text(features: list[str]) -> str:
    from eih_ml.features.derive import block_of

    blocks = []
    for f in features:
        b = block_of(f)
        if b and b not in blocks:
            blocks.append(b)
    names = [_BLOCK_NAMES.get(b, b) for b in blocks]
    if len(names) <= 1:
        return "".join(names) or "the other features"
    return ", ".join(names[:-1]) + " and " + names[-1]


def added_value(summary: RunSummary, task: str, level: int) -> list[dict[str, Any]]:
    """The added-value section: per feature block, a sentence and its metric differences."""
    out: list[dict[str, Any]] = []
    features = summary.features
    key, verb, other, sym = {
        "classification": ("auroc", "discrimination", "brier", "ΔAUROC"),
        "multiclass": ("auroc_macro", "discrimination", "brier", "Δ macro AUROC"),
    }.get(task, ("r2", "explained variance", "rmse", "ΔR²"))
    for block, av in (summary.added_value or {}).items():
        name = _BLOCK_NAMES.get(block, block)
        if "note" in av and f"{key}_difference" not in av:
            out.append({"block": block, "sentence": f"{name.capitalize()}: {av['note']}."})
            continue
        added = av.get("features_added", [])
        base = _blocks_text([f for f in features if f not in added])
        d = av.get(f"{key}_difference")
        lo, hi = av.get(f"{key}_difference_ci_low"), av.get(f"{key}_difference_ci_high")
        if lo is not None and lo > 0:
            did = "added"
        elif hi is not None and hi < 0:
            did = "reduced"
        else:
            did = "did not add"
        phrase = {
            "added": f"added {verb}",
            "reduced": f"reduced {verb} (the extended model was worse)",
            "did not add": f"did not add {verb}",
        }[did]
        sentence = (
            f"{name[0].upper() + name[1:]} {phrase} beyond {base}: {sym} {num(d, 2, True)} "
            f"({level} % CI {num(lo, 2, True)} to {num(hi, 2, True)})."
        )
        od = DIGITS[other]
        rows = [
            {
                "metric": METRIC_LABELS[m],
                "base": num(av.get(f"{m}_base"), DIGITS[m]),
                "extended": num(av.get(f"{m}_extended"), DIGITS[m]),
                "difference": with_ci(
                    {
                        "d": av.get(f"{m}_difference"),
                        "d_ci_low": av.get(f"{m}_difference_ci_low"),
                        "d_ci_high": av.get(f"{m}_difference_ci_high"),
                    },
                    "d",
                    2 if m == key else od,
                    True,
                ),
                "better": pct(av.get(f"{m}_fraction_extended_better")),
            }
            for m in (key, other)
            if f"{m}_difference" in av
        ]
        out.append(
            {
                "block": block,
                "name": name,
                "model": av.get("model"),
                "n_added": len(added),
                "n_inputs": len([f for f in added if not f.endswith(("_nd", "_lod"))]),
                "n_base": av.get("n_base_features"),
                "sentence": sentence,
                "rows": rows,
                "n_boot": av.get("n_boot"),
                "did": did,
            }
        )
    return out
