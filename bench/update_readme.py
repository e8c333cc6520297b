"""Rewrite the results table of bench/README.md from bench/results/*.json."""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent
START, END = "<!-- results:start -->", "<!-- results:end -->"

#: benchmark -> [(label, key, unit, target text)]
ROWS = {
    "load_validate": [
        ("Load + validate 100,000 rows (1 core)", "load_validate_s", "s", "<= 5 s"),
        ("  ratio to pandas.read_csv of the same file", "ratio_to_read_csv", "x", ""),
    ],
    "cli_help": [
        ("`eih-ml --help`", "help_s", "s", "<= 0.5 s"),
        ("  ratio to `python -c pass`", "ratio_to_python_startup", "x", ""),
    ],
    "features": [
        ("Derive features for 100,000 rows (1 core)", "derive_features_s", "s", "<= 3 s"),
        ("  ratio to one pandas row-mean pass", "ratio_to_row_mean", "x", ""),
    ],
    "experiment": [
        (
            "Default experiment end to end (300 participants, untracked)",
            "default_experiment_s",
            "s",
            "<= 60 s",
        ),
        (
            "  same nested CV with eih_ml's API, ratio to the hand-written script",
            "ratio_same_job_to_handwritten",
            "x",
            "<= 1.3x",
        ),
        (
            "  whole experiment (CIs, added value, refit, model, report), ratio to the script",
            "ratio_to_handwritten",
            "x",
            "",
        ),
        ("  tracking overhead (existing store)", "tracking_overhead", "%", "<= 15 %"),
        (
            "  tracking overhead (first run, creates the store)",
            "tracking_overhead_new_store",
            "%",
            "",
        ),
    ],
    "explain": [
        (
            "One patient explained, full path from a record (raw values -> factors, OOD), p50",
            "one_patient_record_p50_ms",
            "ms",
            "<= 20 ms",
        ),
        (
            "  ratio to bare XGBoost predict + TreeSHAP of the prepared row",
            "ratio_record_to_bare",
            "x",
            "<= 3x",
        ),
        (
            "  the same from a one-row DataFrame (DataFrame out), p50",
            "one_patient_one_row_frame_p50_ms",
            "ms",
            "",
        ),
        ("  prepared row (predict_matrix), p50", "one_patient_model_path_p50_ms", "ms", ""),
        (
            "  bare XGBoost predict + shap.TreeExplainer, p50",
            "bare_xgboost_predict_plus_treeshap_p50_ms",
            "ms",
            "",
        ),
        (
            "  bare XGBoost predict + its own TreeSHAP (pred_contribs), p50",
            "bare_xgboost_predict_plus_pred_contribs_p50_ms",
            "ms",
            "",
        ),
        (
            "  ratio of the full path to that floor",
            "ratio_record_to_xgboost_pred_contribs",
            "x",
            "",
        ),
        ("10,000 patients explained", "batch_s", "s", "<= 5 s"),
    ],
    "serve_load": [
        (
            "Web API, one patient per request, one connection, p50",
            "sequential.p50_ms",
            "ms",
            "<= 50 ms",
        ),
        ("Web API, 1,000 requests on 4 connections, p50", "load.p50_ms", "ms", ""),
        ("Web API, 1,000 requests on 4 connections, p99", "load.p99_ms", "ms", ""),
        ("  errors", "load.errors", "", "0"),
        (
            "  in-process bundle.predict of the same patient (a record), p50",
            "baseline.bundle_predict_in_process.p50_ms",
            "ms",
            "",
        ),
    ],
    "evaluate": [
        (
            "External validation of 10,000 participants, 500 bootstrap resamples",
            "evaluate_s",
            "s",
            "<= 20 s",
        ),
        (
            "  ratio to predicting and scoring the cohort once",
            "ratio_to_predict_and_score_once",
            "x",
            "",
        ),
    ],
    "phenotypes": [
        (
            "Phenotyping 10,000 participants (k = 1..6 by BIC, profiles; no bootstrap)",
            "phenotyping_s",
            "s",
            "<= 10 s",
        ),
        ("  ratio to six bare GaussianMixture fits (k = 1..6)", "ratio_to_six_bare_fits", "x", ""),
        (
            "  + default 200-resample bootstrap stability (projected)",
            "bootstrap_200_projected_s",
            "s",
            "",
        ),
    ],
    "sweep": [
        ("Grid of 12 cells, Dask with 2 workers", "dask_2_workers_s", "s", ""),
        ("  sequential on local processes (cv.n_jobs 2 per cell)", "sequential_s", "s", ""),
        ("  ratio of Dask to sequential", "ratio_dask_to_sequential", "x", ""),
        ("  per-cell overhead of the cluster", "dask_per_cell_overhead", "%", "<= 10 %"),
        ("  cluster start-up", "cluster_startup_s", "s", ""),
        ("  same metrics on both backends", "same_metrics", "", "True"),
        (
            "  1,000 cells projected on 32 workers",
            "projected_1000_cells_s_by_workers.32",
            "s",
            "",
        ),
        ("  one XGBoost fit on 100,000 participants' sessions", "xgboost_100k.fit_s", "s", ""),
    ],
    "signal": [
        (
            "Best model's out-of-fold AUROC / oracle AUROC (5 seeds x 400 participants)",
            "best_ratio_to_oracle",
            "x",
            ">= 0.95x",
        ),
        ("  SD over seeds", "best_ratio_sd", "", ""),
        ("  best model", "best_model", "", ""),
        ("  elastic_net", "models.elastic_net.ratio_to_oracle.mean", "x", ""),
        ("  xgboost", "models.xgboost.ratio_to_oracle.mean", "x", ""),
        ("  elastic_net_dist", "models.elastic_net_dist.ratio_to_oracle.mean", "x", ""),
        ("  xgboost_dist", "models.xgboost_dist.ratio_to_oracle.mean", "x", ""),
        (
            "  best model / traits oracle (no random effect)",
            "models.xgboost_dist.ratio_to_traits_oracle.mean",
            "x",
            "",
        ),
        (
            "  traits oracle / full oracle (the ceiling for baseline measurements)",
            "traits_oracle_over_full_oracle.mean",
            "x",
            "",
        ),
        (
            "  xgboost_dist, random-intercept sessions minus independent, AUROC",
            "models.xgboost_dist.mixed_minus_independent_auroc.mean",
            "",
            "",
        ),
        (
            "  best minus the hand-written script, AUROC (same folds)",
            "best_minus_handwritten_auroc.mean",
            "",
            "> 0",
        ),
    ],
    "uncertainty": [
        (
            "90 % EIH interval: coverage of 1,000 new participants (mean of 5 cohorts)",
            "summary.eih_0.9.coverage.mean",
            "%",
            "88-92 %",
        ),
        (
            "  each condition averaged over cohorts: the lowest",
            "summary.eih_0.9.least_condition_on_average.coverage",
            "%",
            ">= 85 %",
        ),
        (
            "  least-covered condition within a cohort (mean)",
            "summary.eih_0.9.worst_condition.mean",
            "%",
            "",
        ),
        (
            "  least-covered condition (worst cohort)",
            "summary.eih_0.9.worst_condition.min",
            "%",
            "",
        ),
        ("  Venn-Abers range: median width", "summary.venn_abers_median_width.mean", "", ""),
        (
            "  one patient's prediction, ratio with/without the interval",
            "summary.interval_cost_ratio",
            "x",
            "",
        ),
    ],
    "scale": [
        (
            "Per-patient sigma(x) minus one sigma: log loss of P(EIH > 0), new participants",
            "heteroscedastic_minus_constant_log_loss_t0",
            "",
            "< 0 to be the default",
        ),
        ("  one sigma (the default)", "scores.t_0.constant.log_loss", "", ""),
        ("  heteroscedastic", "scores.t_0.heteroscedastic.log_loss", "", ""),
        ("  calibration slope, one sigma", "scores.t_0.constant.cal_slope", "", ""),
        ("  calibration slope, heteroscedastic", "scores.t_0.heteroscedastic.cal_slope", "", ""),
    ],
    "scaling": [("Training time against cohort size: log-log slope", "loglog_slope", "", "")],
}


def _fmt(value, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "%":
        return f"{100 * value:.1f} %"
    if unit == "x":
        return f"{value:.2f}x"
    if isinstance(value, float):
        return f"{value:.3g} {unit}".strip()
    return f"{value} {unit}".strip()


def _label(line: str) -> str:
    """The measure of a table line, as ROWS spells it (``| {label} | ...``)."""
    return line.split("|")[1][1:-1]


def _previous_rows(old_table: str, rows: list[tuple[str, str, str, str]]) -> list[str]:
    """A benchmark's current lines in the README: from its first measure, while they are its own.

    Matched by the measures ROWS declares for it, so a benchmark whose rows are not all indented
    sub-rows (the web API's) keeps every line.
    """
    lines = old_table.splitlines()[2:]
    labels = {label for label, *_ in rows}
    for i, line in enumerate(lines):
        if line.startswith("| ") and _label(line) == rows[0][0]:
            kept = [line]
            for following in lines[i + 1 :]:
                if not following.startswith("| ") or _label(following) not in labels:
                    break
                kept.append(following)
            return kept
    return []


def table(old_table: str = "") -> str:
    """The results table; a benchmark not re-run here keeps its rows from ``old_table``."""
    lines = ["| measure | result | target | peak memory | measured on |", "|---|---|---|---|---|"]
    for name, rows in ROWS.items():
        path = HERE / "results" / f"{name}.json"
        if not path.is_file():
            lines += _previous_rows(old_table, rows)
            continue
        data = json.loads(path.read_text())
        m = data.get("machine", {})
        where = (
            f"{m.get('cores')} cores {m.get('cpu', '')}, load {m.get('load_average_1min', 0):.1f}"
        )
        mem = f"{data.get('peak_memory_mb', 0):.0f} MB"
        for i, (label, key, unit, target) in enumerate(rows):
            value = _lookup(data, key)
            lines.append(
                f"| {label} | {_fmt(value, unit)} | {target} | {mem if i == 0 else ''} | "
                f"{where if i == 0 else ''} |"
            )
    return "\n".join(lines)


def _lookup(data: dict, key: str):
    """``key`` at the top level, or a dotted path (``load.p50_ms``); a key that itself holds a
    dot (``eih_0.9``) is matched whole, the longest match first."""
    node, parts, i = data, key.split("."), 0
    while i < len(parts):
        for j in range(len(parts), i, -1):
            part = ".".join(parts[i:j])
            if isinstance(node, dict) and part in node:
                node, i = node[part], j
                break
        else:
            return None
    return node


def main() -> None:
    readme = HERE / "README.md"
    text = readme.read_text()
    head, rest = text.split(START, 1)
    old, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{table(old.strip())}\n{END}{tail}")


if __name__ == "__main__":
    main()
