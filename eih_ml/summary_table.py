"""Print an experiment's metrics as a table: each metric with its confidence interval."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from eih_ml.run_record import RunSummary
    from eih_ml.sweep import SweepResult

CLASSIFICATION_COLUMNS = (
    "auroc",
    "auprc",
    "brier",
    "brier_scaled",
    "calibration_intercept",
    "calibration_slope",
)
REGRESSION_COLUMNS = ("rmse", "mae", "r2", "calibration_slope")
MULTICLASS_COLUMNS = (
    "auroc_macro",
    "auroc_hyperalgesic",
    "auroc_hypoalgesic",
    "brier",
    "balanced_accuracy",
    "calibration_slope_hyperalgesic",
)
COLUMNS = {"classification": CLASSIFICATION_COLUMNS, "multiclass": MULTICLASS_COLUMNS}


def metric_with_ci(metrics: dict, name: str) -> str:
    """'0.712 (0.65 to 0.77)' from a dict holding name, name_ci_low, name_ci_high."""
    return _fmt(metrics, name)


def _fmt(metrics: dict, name: str) -> str:
    value = metrics.get(name)
    if value is None or value != value:
        return "-"
    lo, hi = metrics.get(f"{name}_ci_low"), metrics.get(f"{name}_ci_high")
    ok = lo is not None and hi is not None and lo == lo and hi == hi
    ci = f" ({lo:.2f} to {hi:.2f})" if ok else ""
    return f"{value:.3f}{ci}"


def print_summary(summary: RunSummary, console: Console) -> None:
    """A rich table of models x metrics, then sample size, reliability ceiling and added value."""
    from rich.table import Table

    task = summary.outcome.task
    cols = COLUMNS.get(task, REGRESSION_COLUMNS)
    table = Table(title=f"{summary.name}: {summary.outcome.outcome} ({task})")
    # the model's name is what a reader looks for: never cut it (the metrics wrap instead)
    table.add_column("model", no_wrap=True, min_width=max(len(m) + 2 for m in summary.models))
    for c in cols:
        table.add_column(c, justify="right")
    for model, ev in summary.models.items():
        mark = " *" if model == summary.best_model else ""
        table.add_row(model + mark, *(_fmt(ev.metrics, c) for c in cols))
    console.print(table)
    if summary.model_choice:
        console.print(f"* chosen by {summary.model_choice.rule}; 95 % participant-bootstrap CIs.")
    else:
        console.print(f"* best by {summary.primary_metric}; 95 % participant-bootstrap CIs.")
    console.print(f"Sample size: {summary.sample_size['verdict']}")
    rc = summary.reliability_ceiling
    if rc:  # acute EIH's; a programme outcome has none (its reliability is not known here)
        console.print(
            f"Reliability ceiling (ICC {rc['icc']:.2f}): max R2 {rc['max_r2']:.2f}, max AUROC "
            f"{rc['max_auroc']:.2f}, test-retest kappa of the label {rc['retest_kappa']:.2f}."
        )
    programme = summary.outcome.programme
    if programme:
        flow = programme["flow"]
        console.print(
            f"Programme outcome: {programme['description']}; {flow['analysed']} of "
            f"{flow['participants']} participants analysed ({flow['dropout']} dropout, "
            f"{flow['no_baseline']} without a baseline, {flow['baseline_zero']} with a baseline "
            "of 0)."
        )
    uncertainty = summary.uncertainty or {}
    interval = uncertainty.get("eih_interval")
    if interval:
        level = f"{float(uncertainty['confidence_level']):g}"
        oof = interval["oof"].get(level, {})
        by_condition = {
            k: v for k, v in oof.items() if k not in ("all",) and not k.startswith("width")
        }
        worst = min(by_condition.items(), key=lambda kv: kv[1]) if by_condition else None
        console.print(
            f"EIH interval at {100 * float(level):g} % (out of fold): covers "
            f"{100 * oof.get('all', float('nan')):.0f} %"
            + (f", least in {worst[0]} ({100 * worst[1]:.0f} %)" if worst else "")
            + f"; median width {oof.get('width_median', float('nan')):.0f} {interval['unit']} "
            f"(10th-90th percentile {oof.get('width_p10', float('nan')):.0f}-"
            f"{oof.get('width_p90', float('nan')):.0f})."
        )
    for name, comparison in summary.model_comparisons.items():
        console.print(f"{name} (paired, same folds): {added_value_text(comparison)}")
    for block, av in summary.added_value.items():
        if "note" in av:
            console.print(f"Added value of {block}: {av['note']}")
        else:
            console.print(f"Added value of {block} ({av['model']}): {added_value_text(av)}")


def added_value_text(av: dict) -> str:
    """'auroc +0.012 (-0.010 to +0.035); brier ...' from a paired comparison."""
    parts = []
    for key in av:
        if key.endswith("_difference"):
            m = key.removesuffix("_difference")
            lo, hi = av.get(f"{key}_ci_low"), av.get(f"{key}_ci_high")
            if av[key] is None or lo is None or hi is None:
                continue
            parts.append(f"{m} {av[key]:+.3f} ({lo:+.3f} to {hi:+.3f})")
    return "; ".join(parts)


def sweep_table(result: SweepResult) -> Table:
    """A rich table of a sweep: one row per cell, its axis values, status and score with CI."""
    from rich.table import Table
    from rich.text import Text

    axes = list(result.grid.axes)
    table = Table(title=f"Grid {result.grid.name}: {len(result.rows)} cells")
    for col in ["cell", *axes, "status", "best model", "score", "seconds"]:
        table.add_column(col, overflow="fold")
    for r in result.rows:
        status = "done before" if r.get("skipped") else r["status"]
        score = "-"
        if r.get("primary_metric") and r.get("value") is not None:
            metrics = {
                r["primary_metric"]: r["value"],
                f"{r['primary_metric']}_ci_low": r.get("ci_low"),
                f"{r['primary_metric']}_ci_high": r.get("ci_high"),
            }
            score = f"{r['primary_metric']} {_fmt(metrics, r['primary_metric'])}"
        cells = [
            str(r["cell"]),
            *(str(r["values"].get(a, "")) for a in axes),
            status,
            str(r.get("best_model") or "-"),
            score,
            "-" if r.get("skipped") else f"{r.get('seconds', 0):.1f}",
        ]
        table.add_row(*(Text(c) for c in cells))  # "[xgboost]" is a value, not markup
    return table
