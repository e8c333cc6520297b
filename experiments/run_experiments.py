"""Run the research experiments and write their result tables into ``experiments/*/README.md``.

Each folder of ``experiments/`` is one research question: its configs (YAML, the keys of
``configs/default.yaml``) and a README. This script runs every config of every folder through
:func:`eih_ml.experiment.run_experiment`, tracked in the project's MLflow store (``mlflow.db`` and
``mlartifacts/`` in the project folder, or ``MLFLOW_TRACKING_URI``) unless ``--no-track``, keeps
each run's files in ``runs/experiments/<question>/<config>/`` (summary.json, metrics.csv, model)
and rewrites the README's result table between ``<!-- results:start -->`` and
``<!-- results:end -->`` with the date, the machine, each run's config digest and MLflow run id.

    .venv/bin/python experiments/run_experiments.py                      # all (make experiments)
    .venv/bin/python experiments/run_experiments.py --only model_families --no-track

The script holds the tables only; every number comes from the library (summary.json of each run,
the paired participant bootstrap, the simulator and ``reliability_ceiling``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"
START, END = "<!-- results:start -->", "<!-- results:end -->"

#: Participants of the large simulated cohort that approximates what a perfect model can reach.
ORACLE_N = 20_000
#: Reliabilities (between-session ICC of EIH_abs) of the ceiling table.
ICC_GRID = (0.3, 0.4, 0.5, 0.6, 0.7)
#: Row order of scenarios in the tables (from pain-free to the most often hyperalgesic).
SCENARIO_ORDER = ("healthy", "chronic_mixed", "knee_oa", "whiplash", "fibromyalgia")


@dataclass
class Run:
    """One config's run: what the README tables need from it."""

    config_path: Path
    summary: dict
    run_id: str | None
    seconds: float
    extra: dict = field(default_factory=dict)

    @property
    def stem(self) -> str:
        return self.config_path.stem

    @property
    def scenario(self) -> str:
        return self.summary["data"]["source"].get(
            "scenario", self.summary["data"]["source"]["kind"]
        )


class PrintProgress:
    """Stage lines on stdout (the library's Progress protocol), for a log that reads top to bottom."""

    def __init__(self, label: str):
        self.label = label
        self.started = time.perf_counter()
        self.done: dict[str, int] = {}
        self.total: dict[str, int] = {}

    def _print(self, text: str) -> None:
        print(f"[{time.perf_counter() - self.started:6.1f} s] {self.label}: {text}", flush=True)

    def stage(self, text: str) -> None:
        self._print(text)

    def start_model(self, name: str, total_folds: int) -> None:
        self.done[name], self.total[name] = 0, total_folds
        self._print(f"nested CV of {name} ({total_folds} outer folds)")

    def fold_done(self, name: str) -> None:
        self.done[name] += 1
        if self.done[name] == self.total[name]:
            self._print(f"{name}: all {self.total[name]} outer folds done")


# ------------------------------------------------------------------------------------- formatting
def fmt_ci(d: dict, name: str, digits: int = 3) -> str:
    """'0.712 (0.65 to 0.77)'."""
    value, lo, hi = d.get(name), d.get(f"{name}_ci_low"), d.get(f"{name}_ci_high")
    if value is None:
        return "-"
    if lo is None or hi is None:
        return f"{value:.{digits}f}"
    return f"{value:.{digits}f} ({lo:.{digits - 1}f} to {hi:.{digits - 1}f})"


def fmt_diff(d: dict, name: str) -> str:
    """'+0.012 (-0.010 to +0.035)' for a paired difference ``name``_difference."""
    key = f"{name}_difference"
    value, lo, hi = d.get(key), d.get(f"{key}_ci_low"), d.get(f"{key}_ci_high")
    if value is None or lo is None or hi is None:
        return "-"
    return f"{value:+.3f} ({lo:+.3f} to {hi:+.3f})"


def ci_verdict(d: dict, name: str, better: str) -> str:
    """Whether the paired CI of a difference excludes 0, read in the direction that is better."""
    lo, hi = d.get(f"{name}_difference_ci_low"), d.get(f"{name}_difference_ci_high")
    if lo is None or hi is None:
        return "not estimable"
    if lo <= 0 <= hi:
        return "no detectable difference (CI includes 0)"
    improved = lo > 0 if better == "higher" else hi < 0
    return "better with the extra information" if improved else "worse with the extra information"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def ordered(runs: list[Run]) -> list[Run]:
    """Runs by scenario (SCENARIO_ORDER, then by name), cohort size and config name."""

    def key(r: Run):
        rank = SCENARIO_ORDER.index(r.scenario) if r.scenario in SCENARIO_ORDER else 99
        return (rank, r.scenario, r.summary["data"]["n_participants"], r.stem)

    return sorted(runs, key=key)


def cohort_size(s: dict) -> str:
    return f"{s['data']['n_participants']} ({s['data']['n_sessions']})"


# ------------------------------------------------------------------------ question-specific extras
def paired_model_differences(result) -> dict:
    """Best model vs each other family on identical folds: paired participant-bootstrap CIs."""
    from eih_ml.evaluation.evaluate import paired_oof_comparison

    config = result.config
    task = config.outcome.task
    best = result.best_model
    best_oof = result.cvs[best].oof
    out = {}
    for model, cv in result.cvs.items():
        if model == best:
            continue
        diff = paired_oof_comparison(
            cv.oof,
            best_oof,
            task,
            n_boot=config.bootstrap.n_resamples,
            alpha=config.bootstrap.alpha,
            seed=config.seed,
        )
        out[model] = diff.as_dict()
    return {"best_vs": out}


_ORACLE_CACHE: dict[tuple, tuple] = {}


def large_cohort(scenario: str, seed: int):
    """Feature table and ground truth of a large simulated cohort (cached per scenario and seed)."""
    key = (scenario, seed)
    if key not in _ORACLE_CACHE:
        from eih_ml.data.load import load_frame
        from eih_ml.data.simulate import simulate_cohort
        from eih_ml.data.validate import validate_cohort
        from eih_ml.features.derive import derive_features

        sim = simulate_cohort(ORACLE_N, scenario=scenario, seed=seed)
        table_ = derive_features(validate_cohort(load_frame(sim.cohort)).data)
        truth = table_[["participant_id", "session_id"]].merge(
            sim.ground_truth, on=["participant_id", "session_id"], how="left"
        )
        _ORACLE_CACHE[key] = (table_, truth)
    return _ORACLE_CACHE[key]


def oracle(result) -> dict:
    """What a model that knew each session's true expected EIH would reach on the observed label.

    The simulator's ``expected_eih_{site}`` is the EIH a participant is expected to show with the
    session's protocol (participant traits, an unmeasured participant effect and the protocol);
    the observed outcome adds day-to-day variation and PPT trial noise. Computed on a separate
    large cohort of the same scenario (``ORACLE_N`` participants, seed + 1).
    """
    from sklearn.metrics import roc_auc_score

    from eih_ml.experiment import responder_rule
    from eih_ml.outcomes import define_outcome

    config = result.config
    o = config.outcome
    if o.measure != "abs" or o.against_rest or o.site == "global" or config.data.path:
        return {}
    table_, truth = large_cohort(config.data.simulate.scenario, config.data.simulate.seed + 1)
    outcome = define_outcome(
        table_, site=o.site, measure=o.measure, task=o.task, rule=responder_rule(config)
    )
    ok = outcome.values.notna().to_numpy()
    expected = truth[f"expected_eih_{o.site}"].to_numpy(float)[ok]
    observed = outcome.values.to_numpy(float)[ok]
    out = {
        "n_participants": ORACLE_N,
        "reliability": float(np.corrcoef(expected, observed)[0, 1] ** 2),
    }
    if o.task == "classification":
        y = outcome.y.to_numpy(float)[ok]
        out["auroc"] = float(roc_auc_score(y, expected))
        out["prevalence"] = float(y.mean())
    return out


EXTRAS: dict[str, Callable] = {
    "model_families": paired_model_differences,
    "responder_rule_reliability": oracle,
}


# ----------------------------------------------------------------------------------------- tables
def model_families_table(runs: list[Run]) -> str:
    runs = ordered(runs)
    models = list(dict.fromkeys(m for r in runs for m in r.summary["models"]))
    rows = []
    for r in runs:
        s = r.summary
        cells = []
        for m in models:
            ev = s["models"].get(m)
            text = fmt_ci(ev["metrics"], "auroc") if ev else "-"
            cells.append(f"**{text}**" if m == s["best_model"] else text)
        prev = s["outcome"]["prevalence"]
        rows.append([r.scenario, cohort_size(s), f"{prev:.2f}", *cells, s["best_model"]])
    out = [
        "AUROC (95 % participant-bootstrap CI) of the out-of-fold predictions, per model family "
        "and scenario; bold = best in its scenario.",
        "",
        table(
            ["scenario", "participants (sessions)", "responder share", *models, "best"],
            rows,
        ),
        "",
        "Is the best family distinguishable from the others? Paired differences on identical "
        "folds (best minus other; Brier: negative = best is better):",
        "",
    ]
    diff_rows = []
    for r in runs:
        for other, d in r.extra.get("best_vs", {}).items():
            verdict = (
                "indistinguishable (CI includes 0)"
                if d["auroc_difference_ci_low"] <= 0
                else "best is better"
            )
            diff_rows.append(
                [
                    r.scenario,
                    r.summary["best_model"],
                    other,
                    fmt_diff(d, "auroc"),
                    fmt_diff(d, "brier"),
                    verdict,
                ]
            )
    out.append(
        table(
            ["scenario", "best", "vs", "ΔAUROC (95 % CI)", "ΔBrier (95 % CI)", "verdict (AUROC)"],
            diff_rows,
        )
    )
    out += ["", "Brier score and calibration slope (95 % CI):", ""]
    cal_rows = []
    for r in runs:
        for m, ev in r.summary["models"].items():
            mt = ev["metrics"]
            cal_rows.append(
                [r.scenario, m, fmt_ci(mt, "brier"), fmt_ci(mt, "calibration_slope", 2)]
            )
    out.append(table(["scenario", "model", "Brier", "calibration slope"], cal_rows))
    return "\n".join(out)


def biomarker_table(runs: list[Run]) -> str:
    runs = ordered(runs)
    rows = []
    for r in runs:
        s = r.summary
        av = s["added_value"].get("biomarker", {})
        if "note" in av or not av:
            rows.append([r.scenario, "-", av.get("note", "not run"), *["-"] * 6])
            continue
        # Markers with almost no non-detects are missing only when the panel is.
        shares = [v for k, v in s["missing_data"]["per_feature"].items() if k.startswith("bio_")]
        panel = 1.0 - min(shares, default=1.0)
        rows.append(
            [
                r.scenario,
                av["model"],
                cohort_size(s),
                f"{panel:.0%}",
                f"{av['auroc_base']:.3f} → {av['auroc_extended']:.3f}",
                fmt_diff(av, "auroc"),
                f"{av['brier_base']:.3f} → {av['brier_extended']:.3f}",
                fmt_diff(av, "brier"),
                ci_verdict(av, "auroc", "higher"),
            ]
        )
    return "\n".join(
        [
            "Same model without → with the biomarker block, on identical participant-grouped "
            "folds; Δ = with − without, 95 % CI from a paired participant bootstrap. ΔAUROC > 0 "
            "and ΔBrier < 0 mean the panel helps.",
            "",
            table(
                [
                    "scenario",
                    "model",
                    "participants (sessions)",
                    "sessions with the panel",
                    "AUROC",
                    "ΔAUROC (95 % CI)",
                    "Brier",
                    "ΔBrier (95 % CI)",
                    "verdict (AUROC)",
                ],
                rows,
            ),
        ]
    )


def responder_table(runs: list[Run]) -> str:
    from eih_ml.outcomes import ResponderRule, reliability_ceiling

    # gt0, then the SEM-based rules, then the continuous outcome.
    runs = sorted(
        runs,
        key=lambda r: (
            r.summary["outcome"]["task"] != "classification",
            r.summary["outcome"]["rule"] != "gt0",
            r.stem,
        ),
    )
    models = list(dict.fromkeys(m for r in runs for m in r.summary["models"]))
    rows = []
    for r in runs:
        s = r.summary
        o, rc, ora = s["outcome"], s["reliability_ceiling"], r.extra
        classification = o["task"] == "classification"
        metric = "auroc" if classification else "r2"
        best = s["models"][s["best_model"]]["metrics"][metric]
        if classification:
            ceiling = rc["max_auroc"]
            share = (best - 0.5) / (ceiling - 0.5)
            where = " on all participants" if o.get("threshold_per_fold") else ""
            rule = f"{o['rule']} (> {o['final_threshold']:.1f} kPa{where})"
            prev = f"{o['prevalence']:.2f}"
            ceiling_text = f"max AUROC {ceiling:.3f}, κ {rc['retest_kappa']:.2f}"
            oracle_text = (
                f"AUROC {ora['auroc']:.3f} (reliability {ora['reliability']:.2f})"
                if "auroc" in ora
                else "-"
            )
        else:
            ceiling = rc["max_r2"]
            share = best / ceiling
            rule = "none: EIH_abs in kPa (regression)"
            prev = "-"
            ceiling_text = f"max R² {ceiling:.3f}"
            oracle_text = f"R² {ora['reliability']:.3f}" if "reliability" in ora else "-"
        cells = [
            fmt_ci(s["models"][m]["metrics"], metric) if m in s["models"] else "-" for m in models
        ]
        rows.append(
            [
                rule,
                prev,
                metric.upper().replace("R2", "R²"),
                *cells,
                f"{rc['icc']:.2f}: {ceiling_text}",
                f"{max(share, 0.0):.0%}",
                oracle_text,
            ]
        )
    out = [
        f"{cohort_size(runs[0].summary)} participants (sessions) per rule; 95 % participant-"
        "bootstrap CIs. Ceiling = what a perfect model of the stable part of EIH reaches when the "
        "label's between-session reliability is the configured ICC (`reliability_ceiling`); "
        "share = (best − 0.5)/(ceiling − 0.5) for AUROC, best/ceiling for R². Simulation oracle = "
        f"the simulator's true expected EIH of each session used as the score, on {ORACLE_N:,} "
        "new participants of the same scenario (its reliability = corr(expected, observed)²).",
        "",
        table(
            [
                "responder rule",
                "responder share",
                "metric",
                *models,
                "ceiling at ICC",
                "share of ceiling (best)",
                "simulation oracle",
            ],
            rows,
        ),
    ]
    # The ceiling over the published range of reliabilities, for each rule's prevalence.
    ref = next((r for r in runs if r.summary["outcome"]["task"] == "classification"), None)
    if ref is not None:
        cfg = ref.summary["data"]["source"]
        table_, _ = large_cohort(cfg["scenario"], cfg["seed"] + 1)
        values = table_["eih_abs_local"].to_numpy(float)
        ok = np.isfinite(values)
        values, groups = values[ok], table_["participant_id"].to_numpy()[ok]
        gt0_prev = float(np.mean(values > 0))
        grid_rows = []
        for icc in ICC_GRID:
            thr = ResponderRule(rule="2sem", icc=icc, sem_source="training").threshold(
                values, groups
            )
            sem_prev = float(np.mean(values > thr))
            a = reliability_ceiling(icc, gt0_prev)
            b = reliability_ceiling(icc, sem_prev)
            grid_rows.append(
                [
                    f"{icc:.1f}",
                    f"{icc:.2f}",
                    f"{gt0_prev:.2f}",
                    f"{a['max_auroc']:.3f}",
                    f"{a['retest_kappa']:.2f}",
                    f"{thr:.0f}",
                    f"{sem_prev:.2f}",
                    f"{b['max_auroc']:.3f}",
                    f"{b['retest_kappa']:.2f}",
                ]
            )
        out += [
            "",
            "The ceiling for ICC 0.3–0.7 (published between-session ICC of EIH_abs: 0.40–0.57). "
            "Responder shares and the 2 SEM threshold (SEM = SD × √(1 − ICC), SD over one session "
            f"per participant) from {ORACLE_N:,} simulated {cfg['scenario']} participants:",
            "",
            table(
                [
                    "ICC",
                    "max R²",
                    "gt0: responder share",
                    "gt0: max AUROC",
                    "gt0: retest κ",
                    "2sem: threshold (kPa)",
                    "2sem: responder share",
                    "2sem: max AUROC",
                    "2sem: retest κ",
                ],
                grid_rows,
            ),
        ]
    return "\n".join(out)


def generic_table(runs: list[Run]) -> str:
    from eih_ml.summary_table import CLASSIFICATION_COLUMNS, REGRESSION_COLUMNS

    rows = []
    for r in runs:
        s = r.summary
        cols = (
            CLASSIFICATION_COLUMNS
            if s["outcome"]["task"] == "classification"
            else REGRESSION_COLUMNS
        )
        for m, ev in s["models"].items():
            rows.append([r.stem, m, *(f"{c} {fmt_ci(ev['metrics'], c)}" for c in cols)])
    return table(["config", "model", *(["metric"] * 6)], rows)


TABLES: dict[str, Callable[[list[Run]], str]] = {
    "model_families": model_families_table,
    "biomarker_added_value": biomarker_table,
    "responder_rule_reliability": responder_table,
}


# ------------------------------------------------------------------------------------- provenance
def git_state() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False
        )
        return done.stdout.strip()

    commit = git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    return f"{commit}{' + uncommitted changes' if dirty else ''}"


def machine() -> str:
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return (
        f"{platform.node() or 'unknown host'} ({platform.system()} {platform.machine()}, "
        f"{os.cpu_count()} CPUs, load average at start {load}), Python "
        f"{platform.python_version()}"
    )


def provenance(exp: str, runs: list[Run], started: dt.datetime, host: str, track: bool) -> str:
    from eih_ml import __version__

    total = sum(r.seconds for r in runs)
    runs = ordered(runs)
    rows = [
        [
            f"`{r.config_path.relative_to(ROOT)}`",
            r.scenario,
            cohort_size(r.summary),
            f"`{r.summary['config_digest']}`",
            f"`{r.run_id}`" if r.run_id else "not tracked",
            f"{r.seconds:.0f}",
        ]
        for r in runs
    ]
    header = [
        "config",
        "scenario",
        "participants (sessions)",
        "config digest",
        "MLflow run id",
        "seconds",
    ]
    tracked = "not tracked (--no-track)"
    if track and runs:
        from eih_ml.config import load_config

        name = load_config(runs[0].config_path).tracking.experiment
        tracked = f"MLflow experiment `{name}` in the project store (`make ui` to browse)"
    return "\n".join(
        [
            f"_Run {started:%Y-%m-%d %H:%M} UTC on {host}; eih_ml {__version__}, git "
            f"{git_state()}; {total:.0f} s in all; {tracked}. Run files: "
            f"`runs/experiments/{exp}/<config>/`._",
            "",
            table(header, rows),
        ]
    )


def write_results(readme: Path, text: str) -> None:
    """Replace what lies between the result markers of a README."""
    content = readme.read_text(encoding="utf-8")
    if START not in content or END not in content or content.index(START) > content.index(END):
        raise SystemExit(
            f"{readme} lacks the markers {START} ... {END}; add them around the table."
        )
    head, rest = content.split(START, 1)
    _, tail = rest.split(END, 1)
    readme.write_text(f"{head}{START}\n{text}\n{END}{tail}", encoding="utf-8")


# ------------------------------------------------------------------------------------------- main
def experiment_folders(only: list[str] | None) -> list[Path]:
    folders = sorted(p for p in EXPERIMENTS.iterdir() if p.is_dir() and any(p.glob("*.yaml")))
    if only:
        unknown = sorted(set(only) - {p.name for p in folders})
        if unknown:
            names = ", ".join(p.name for p in folders)
            raise SystemExit(f"Unknown experiment(s) {', '.join(unknown)}; experiments: {names}.")
        folders = [p for p in folders if p.name in only]
    return folders


def run_config(path: Path, out_root: Path, track: bool, overrides: list[str]) -> Run:
    from eih_ml.config import load_config
    from eih_ml.experiment import run_experiment

    exp = path.parent.name
    config = load_config(path, overrides)
    started = time.perf_counter()
    result = run_experiment(
        config,
        output_dir=out_root / exp / path.stem,
        progress=PrintProgress(f"{exp}/{path.stem}"),
        track=track,
    )
    extra_fn = EXTRAS.get(exp)
    extra = extra_fn(result) if extra_fn else {}
    seconds = time.perf_counter() - started
    return Run(path, result.summary, result.run_id, seconds, extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", nargs="+", metavar="NAME", help="Experiment folder(s) to run.")
    parser.add_argument("--no-track", action="store_true", help="Do not log runs to MLflow.")
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=ROOT / "runs" / "experiments",
        help="Where each run's files go (default: runs/experiments, ignored by git).",
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="Override a key of every config (e.g. for a quick smoke run: "
        "--set data.simulate.n_participants=80); the tables then show the digests of the "
        "overridden configs.",
    )
    parser.add_argument(
        "--print-only",
        action="store_true",
        help="Print the result tables instead of rewriting the READMEs.",
    )
    args = parser.parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    # The embedded MLflow store and its artifacts are the project's (mlflow.db, mlartifacts/).
    os.chdir(ROOT)
    host = machine()
    track = not args.no_track
    overall = time.perf_counter()
    for folder in experiment_folders(args.only):
        started = dt.datetime.now(dt.UTC)
        runs = [
            run_config(path, args.output_dir.resolve(), track, args.set)
            for path in sorted(folder.glob("*.yaml"))
        ]
        body = TABLES.get(folder.name, generic_table)(runs)
        text = provenance(folder.name, runs, started, host, track) + "\n\n" + body
        if args.print_only:
            print(text, flush=True)
        else:
            write_results(folder / "README.md", text)
            print(f"{folder.name}: results written to {folder / 'README.md'}", flush=True)
    print(f"all done in {time.perf_counter() - overall:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
