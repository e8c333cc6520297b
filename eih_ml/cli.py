"""The ``eih-ml`` command: a thin typer layer over the library.

Heavy libraries are imported inside each command so that ``eih-ml --help`` answers at once.
A user's error (bad data, dictionary or config) is printed without a traceback and exits with 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, cast

import typer

from eih_ml.errors import ConfigError, EihMlError

if TYPE_CHECKING:  # hints only: the commands import what they use when they run
    from rich.console import Console

    from eih_ml.bundle import ModelBundle
    from eih_ml.data.dictionary import ColumnDictionary
    from eih_ml.data.validate import CohortReport
    from eih_ml.evaluation.external import ExternalValidation
    from eih_ml.run_record import RunSummary

app = typer.Typer(
    name="eih-ml",
    help="Predict an individual's exercise-induced hypoalgesia (EIH) response: simulate, validate, "
    "derive features, train, explain, track and serve.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # Plain help text: rich-formatted help imports rich and markdown-it (~0.2 s) on every call.
    rich_markup_mode=None,
)

DictionaryOpt = Annotated[
    Path | None,
    typer.Option(
        "--dictionary",
        "-d",
        help="Column dictionary (YAML) mapping the study's columns, units and codes to the "
        "data contract. Default: canonical names.",
    ),
]


def _version(value: bool) -> None:
    if value:
        from eih_ml import __version__

        print(f"eih-ml {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Predict an individual's exercise-induced hypoalgesia (EIH) response.

    The commands simulate, validate, derive features, train, explain, track and serve.
    """


def _console(stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False, soft_wrap=True)


@app.command()
def validate(
    data: Annotated[Path, typer.Argument(help="Study file: CSV, TSV, Parquet or Excel (.xlsx).")],
    dictionary: DictionaryOpt = None,
    lenient: Annotated[
        bool,
        typer.Option(help="Blank offending cells and exclude unusable rows instead of failing."),
    ] = False,
    max_rows: Annotated[int, typer.Option(help="Violations to print (0 = all).", min=0)] = 50,
    json_out: Annotated[
        Path | None,
        typer.Option("--json", help="Write every violation and the participant flow as JSON."),
    ] = None,
) -> None:
    """Check a study file against the data contract and print a readable report.

    Exit code 0 when the data are valid (or, with --lenient, were made usable), 2 on a data error.
    """
    from eih_ml.data.load import load_study
    from eih_ml.data.validate import CohortValidationError, validate_cohort

    study = load_study(data, dictionary)
    try:
        report = validate_cohort(study, lenient=lenient)
    except CohortValidationError as exc:
        if json_out:
            _write_report_json(json_out, exc.report)
        _console().print(exc.report.format(max_rows=max_rows or None), markup=False)
        _console(stderr=True).print(
            f"[bold red]error:[/] {exc.report.n_errors} data error(s) in {data}. Fix them, "
            "or run with --lenient to blank them and go on."
        )
        raise typer.Exit(2) from None
    if json_out:
        _write_report_json(json_out, report)
    _console().print(report.format(max_rows=max_rows or None), markup=False)
    verdict = "valid" if report.ok else f"usable after blanking {report.n_errors} cell(s)"
    _console().print(f"[bold green]{data}: {verdict}.[/]")


def _write_report_json(path: Path, report: CohortReport) -> None:
    import json

    from eih_ml.atomic_io import write_text

    payload = report.summary() | {
        "violations": report.violations.astype(str).to_dict(orient="records"),
        "exclusions": report.exclusions.astype(str).to_dict(orient="records"),
        "notes": report.notes,
    }
    write_text(path, json.dumps(payload, indent=2) + "\n")


@app.command()
def features(
    data: Annotated[Path, typer.Argument(help="Study file: CSV, TSV, Parquet or Excel (.xlsx).")],
    out: Annotated[Path, typer.Option(help="Feature table to write (.csv or .parquet).")],
    dictionary: DictionaryOpt = None,
    lenient: Annotated[
        bool, typer.Option(help="Blank offending cells instead of failing on a data error.")
    ] = False,
) -> None:
    """Write the participant x session feature table with the EIH outcome columns."""
    from eih_ml.data.load import load_study
    from eih_ml.data.validate import validate_cohort
    from eih_ml.features.derive import derive_features
    from eih_ml.features.summary import feature_summary, write_table

    if out.suffix.lower() not in (".csv", ".parquet"):
        raise typer.BadParameter(f"--out must end in .csv or .parquet, got {out.name!r}")
    report = validate_cohort(load_study(data, dictionary), lenient=lenient)
    table = derive_features(report.data)
    write_table(table, out)
    _console().print(repr(report), markup=False)
    _console().print(feature_summary(table))
    _console().print(f"Wrote {table.shape[0]} rows x {table.shape[1]} columns to {out}.")


@app.command()
def phenotypes(
    data: Annotated[Path, typer.Argument(help="Study file: CSV, TSV, Parquet or Excel (.xlsx).")],
    out: Annotated[
        Path,
        typer.Option(
            help="Folder for phenotypes.json, clusters.csv (participant-level), profiles.csv "
            "and the PNG figures."
        ),
    ],
    k: Annotated[
        str,
        typer.Option("--k", help="Number of clusters: 'auto' (lowest BIC over 1-6) or 2-6."),
    ] = "auto",
    bootstrap: Annotated[
        int,
        typer.Option(help="Participant bootstrap resamples for the stability (0 = skip).", min=0),
    ] = 200,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same clusters.", min=0)] = 0,
    dictionary: DictionaryOpt = None,
    lenient: Annotated[
        bool, typer.Option(help="Blank offending cells instead of failing on a data error.")
    ] = False,
) -> None:
    """Find data-driven pain-modulation phenotypes by clustering on QST and questionnaires.

    Participants are clustered on QST and questionnaires (Gaussian mixture, k by BIC); the
    output has the clusters' stability, profiles and EIH by cluster.
    """
    from eih_ml.data.load import load_study
    from eih_ml.data.validate import validate_cohort
    from eih_ml.features.derive import derive_features
    from eih_ml.phenotypes import K_AUTO, K_FIXED, find_phenotypes, write_phenotypes

    choice = k.strip().lower()
    if choice != "auto" and not (choice.isdigit() and int(choice) in K_FIXED):
        raise typer.BadParameter(
            f"must be 'auto' or an integer from {K_FIXED[0]} to {K_FIXED[-1]}, got {k!r}",
            param_hint="'--k'",
        )
    report = validate_cohort(load_study(data, dictionary), lenient=lenient, require_outcome=False)
    result = find_phenotypes(
        derive_features(report.data),
        k="auto" if choice == "auto" else int(choice),
        n_bootstrap=bootstrap,
        seed=seed,
    )
    paths = write_phenotypes(result, out)
    console = _console()
    console.print(repr(report), markup=False)
    console.print(repr(result), markup=False)
    bic = ", ".join(
        f"{c}: {v:.0f}{' *' if c == result.k else ''}" if v is not None else f"{c}: failed"
        for c, v in result.bic.items()
    )
    how = f"lowest BIC over k = {K_AUTO[0]}-{K_AUTO[-1]}" if choice == "auto" else "fixed"
    console.print(f"k = {result.k} ({how}); BIC {bic}", markup=False)
    st = result.stability
    if st.get("ari_mean") is not None:
        console.print(
            f"Stability over {st['n_resamples']} participant bootstrap resamples: adjusted Rand "
            f"index {st['ari_mean']:.2f} (95 % {st['ari_p2_5']:.2f}-{st['ari_p97_5']:.2f}).",
            markup=False,
        )
    else:
        console.print(f"Stability not assessed: {st.get('reason')}.", markup=False)
    sizes = result.participants["cluster"].value_counts()
    for c, text in result.descriptions.items():
        n = int(sizes.get(c, 0))
        console.print(
            f"Cluster {c} (n = {n}, {n / result.n_participants:.0%}): {text}", markup=False
        )
    for note in result.notes:
        console.print(f"note: {note}", markup=False)
    console.print(
        f"Wrote {', '.join(p.name for p in paths.values())} to {out} "
        "(clusters.csv holds one row per participant).",
        markup=False,
    )


@app.command()
def simulate(
    out: Annotated[Path, typer.Option(help="Folder for cohort.csv and ground_truth.csv.")],
    n: Annotated[
        int | None, typer.Option("--n", help="Number of participants [default: 300].", min=1)
    ] = None,
    scenario: Annotated[
        str | None,
        typer.Option(
            help="healthy, chronic_mixed, fibromyalgia, knee_oa, whiplash, biomarker_signal, "
            "null or phenotyped (latent pain-modulation classes in ground_truth.csv) "
            "[default: chronic_mixed]."
        ),
    ] = None,
    seed: Annotated[int, typer.Option(help="Random seed: same seed, same bytes.")] = 0,
    sites: Annotated[
        Path | None,
        typer.Option(
            help="YAML file with a 'sites' list (name, n_participants, scenario, condition_mix, "
            "ppt_scale, ppt_offset_kpa, post_offset_kpa): a pooled multi-site study with a site "
            "column, e.g. configs/simulate/four_sites.yaml. Replaces --n and --scenario."
        ),
    ] = None,
    programme: Annotated[
        bool,
        typer.Option(
            "--programme",
            help="Also prescribe each participant an exercise programme (programme columns in "
            "cohort.csv) and write its visits (visits.csv: pain and function at weeks 0, 4, 8, "
            "12, with dropout) and programme_truth.csv.",
        ),
    ] = False,
) -> None:
    """Simulate a literature-calibrated cohort in canonical columns (with its ground truth)."""
    from eih_ml.data.simulate import simulate_cohort, write_simulation

    if sites is not None:
        from eih_ml.data.simulate_sites import read_site_specs, simulate_sites

        if n is not None or scenario is not None:
            raise ConfigError(
                "--sites sets each site's size and scenario; leave out --n and --scenario "
                "(or set them per site in the YAML file)."
            )
        sim = simulate_sites(read_site_specs(sites), seed=seed)
    else:
        sim = simulate_cohort(n or 300, scenario=scenario or "chronic_mixed", seed=seed)
    paths: dict[str, object] = dict(write_simulation(sim, out))
    _console().print(f"{sim!r}")
    if programme:
        from eih_ml.data.simulate_programme import simulate_programme, write_programme

        prog = simulate_programme(sim)
        paths |= write_programme(prog, out)
        _console().print(f"{prog!r}")
    for name, path in paths.items():
        _console().print(f"  {name}: {path}")


@app.command()
def train(
    config: Annotated[
        Path | None, typer.Argument(help="Experiment config (YAML); default: configs/default.yaml")
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="Study file replacing data.path of the config.")
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a config value: key.path=value (repeatable)."),
    ] = None,
    output_dir: Annotated[
        Path | None, typer.Option(help="Results folder (default runs/<config name>).")
    ] = None,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db "
            "in the project folder)."
        ),
    ] = None,
    no_track: Annotated[bool, typer.Option("--no-track", help="Do not log to MLflow.")] = False,
    dictionary: DictionaryOpt = None,
) -> None:
    """Train and validate models with participant-grouped nested cross-validation.

    ``--dictionary`` (or ``data.dictionary``) is kept in the model bundle: predict, explain and
    evaluate then read study files through it unless given another.
    """
    from eih_ml.config import load_config
    from eih_ml.experiment import run_experiment
    from eih_ml.progress import RichProgress
    from eih_ml.summary_table import print_summary

    overrides = list(set_ or [])
    if tracking_uri:
        overrides.append(f"tracking.tracking_uri={tracking_uri}")
    if dictionary is not None:
        overrides.append(f"data.dictionary={dictionary}")
    cfg = load_config(config or _default_config(), overrides, data=str(data) if data else None)
    if not cfg.data.path:
        sim = cfg.data.simulate
        _console().print(
            f"No study file (--data or data.path): training on a simulated cohort "
            f"({sim.n_participants} participants, scenario {sim.scenario}, seed {sim.seed}). "
            "Pass --data FILE for your own data.",
            markup=False,
        )
    with RichProgress(_console()) as progress:
        result = run_experiment(
            cfg, output_dir=output_dir, progress=progress, track=not no_track and None
        )
    print_summary(cast("RunSummary", result.summary), _console())  # run_experiment sets it
    _console().print(f"Results: {result.output_dir}/summary.json")
    if result.run_id:
        _console().print(f"MLflow run: {result.run_id}")


@app.command()
def sweep(
    grid: Annotated[
        Path,
        typer.Argument(help="Grid file (YAML): name, base config, overrides and axes to vary."),
    ],
    out: Annotated[
        Path | None,
        typer.Option(help="Grid folder (default runs/sweeps/<grid name>): cells, sweep.json."),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(help="Run the cells on a running Dask scheduler (tcp://HOST:PORT)."),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            help="Run the cells on a local Dask cluster of this many worker processes.", min=1
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="Override a value of every cell: key.path=value (repeatable)."),
    ] = None,
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI.")] = None,
    no_track: Annotated[bool, typer.Option("--no-track", help="Do not log to MLflow.")] = False,
) -> None:
    """Run every combination of a grid's axes as one tracked experiment (reruns skip done cells).

    Exit code 1 when a cell failed (the others still ran), 2 for a bad grid.
    """
    from eih_ml.summary_table import sweep_table
    from eih_ml.sweep import read_grid, run_sweep

    if scheduler and workers:
        raise ConfigError("Give --scheduler or --workers, not both.")
    overrides = list(set_ or [])
    if tracking_uri:
        overrides.append(f"tracking.tracking_uri={tracking_uri}")
    parsed = read_grid(grid, overrides)
    folder = out or Path("runs") / "sweeps" / parsed.name
    console = _console()
    backend = (
        f"Dask scheduler {scheduler}"
        if scheduler
        else f"a local Dask cluster of {workers} workers"
        if workers
        else "local processes"
    )
    console.print(
        f"Grid {parsed.name!r}: {len(parsed.cells)} cells on {backend}; results in {folder}.",
        markup=False,
    )

    def report(row: dict) -> None:
        what = "skipped (done before)" if row.get("skipped") else row["status"]
        value = row.get("value")
        score = f" {row.get('primary_metric')} {value:.3f}" if isinstance(value, float) else ""
        console.print(f"  cell {row['cell']}: {what}{score}", markup=False)

    result = run_sweep(
        parsed,
        folder,
        scheduler=scheduler,
        workers=workers,
        track=False if no_track else None,
        on_cell=report,
    )
    console.print(sweep_table(result))
    console.print(f"Summary: {folder / 'sweep_summary.csv'}", markup=False)
    if result.failed:
        for row in result.failed:
            console.print(f"cell {row['cell']} failed: {row['error']}", markup=False)
        raise typer.Exit(1)


def _default_config() -> Path:
    path = Path("configs/default.yaml")
    if not path.is_file():
        raise ConfigError(
            "No config given and configs/default.yaml is not in this folder; pass a config path."
        )
    return path


ModelOpt = Annotated[
    str,
    typer.Option(
        "--model",
        help="Model: a folder written by 'eih-ml train' (runs/<name>/model), "
        "models:/NAME@champion, models:/m-<id> or runs:/<run_id>/model.",
    ),
]


def _dictionary_for(bundle: ModelBundle, given: Path | None) -> Path | ColumnDictionary | None:
    """The column dictionary a study file is read through when ``bundle`` predicts from it.

    ``--dictionary`` when given, else the one the model was trained through (kept in its bundle),
    else None (canonical names).
    """
    if given is not None:
        return given
    kept = bundle.dictionary
    if kept is not None:
        _console(stderr=True).print(
            f"Reading the file through the model's training dictionary ({kept.source}); pass "
            "--dictionary to use another.",
            markup=False,
        )
    return kept


ConfidenceOpt = Annotated[
    float | None,
    typer.Option(
        "--confidence",
        help="Confidence level of the prediction set and the EIH interval, one the model was "
        "calibrated at (e.g. 0.8, 0.9, 0.95); default the model's own.",
    ),
]


@app.command()
def predict(
    model: ModelOpt,
    input: Annotated[
        Path, typer.Option("--input", help="Patients in the data contract's columns.")
    ],
    out: Annotated[Path, typer.Option(help="Predictions to write (.csv or .parquet).")],
    dictionary: DictionaryOpt = None,
    confidence: ConfidenceOpt = None,
) -> None:
    """Predict, with uncertainty, top factors and an out-of-distribution flag, for every row.

    A row with too little measured for the model's minimum-information rule gets no prediction
    but abstained = true, the reason and what to measure first (abstain_reason).
    """
    from eih_ml.data.load import load_study
    from eih_ml.features.summary import write_table
    from eih_ml.tracking import load_model

    if out.suffix.lower() not in (".csv", ".parquet"):
        raise typer.BadParameter(f"--out must end in .csv or .parquet, got {out.name!r}")
    bundle = load_model(model)
    if confidence is not None:
        bundle = bundle.at_level(confidence)
    predictions = bundle.predict(load_study(input, _dictionary_for(bundle, dictionary)))
    write_table(predictions, out)
    flagged = int(predictions["ood"].sum())
    abstained = int(predictions["abstained"].sum())
    notes = []
    if abstained:
        notes.append(
            f"{abstained} without a prediction: not enough measurements (abstain_reason says "
            "what to measure first)"
        )
    if flagged:
        notes.append(f"{flagged} flagged as outside the training cohort")
    _console().print(
        f"{bundle!r}\nWrote {len(predictions)} row(s) to {out}"
        + (f"; {'; '.join(notes)}." if notes else ".")
        + f"\n{bundle.abstain_rule.describe()}"
    )


@app.command()
def explain(
    model: ModelOpt,
    input: Annotated[
        Path, typer.Option("--input", help="Patients in the data contract's columns.")
    ],
    participant: Annotated[str, typer.Option(help="participant_id of the patient to explain.")],
    out: Annotated[Path, typer.Option(help="Report to write (.html).")] = Path("report.html"),
    session: Annotated[str | None, typer.Option(help="session_id (default: the first).")] = None,
    dictionary: DictionaryOpt = None,
    confidence: ConfidenceOpt = None,
) -> None:
    """Write a self-contained patient report: prediction, uncertainty, factors, what-if."""
    from eih_ml.data.load import load_study
    from eih_ml.report.patient import write_patient_report
    from eih_ml.tracking import load_model

    if out.suffix.lower() not in (".html", ".htm"):
        raise typer.BadParameter(
            f"--out must end in .html, got {out.name!r}: the report is a self-contained HTML "
            "page (print it to PDF from the browser; its print layout is made for that)."
        )
    bundle = load_model(model)
    if confidence is not None:
        bundle = bundle.at_level(confidence)
    write_patient_report(
        bundle, load_study(input, _dictionary_for(bundle, dictionary)), participant, out, session
    )
    _console().print(f"Wrote the report for participant {participant} to {out}.")


@app.command()
def evaluate(
    model: ModelOpt,
    data: Annotated[
        Path, typer.Option("--data", help="Validation cohort with pre and post PPTs (the outcome).")
    ],
    out: Annotated[Path, typer.Option(help="Folder for the validation results.")],
    dictionary: DictionaryOpt = None,
    development: Annotated[
        Path | None,
        typer.Option(help="The development cohort, for the case-mix membership model."),
    ] = None,
    bootstrap: Annotated[
        int, typer.Option(help="Participant-bootstrap resamples for every CI.", min=50)
    ] = 500,
    track: Annotated[
        bool, typer.Option("--track/--no-track", help="Log an evaluation run to MLflow.")
    ] = True,
    update: Annotated[
        str | None,
        typer.Option(
            help="Also write the updated model to OUT/updated_model: 'recommended' (the "
            "simplest update that helps, if any), intercept, logistic or refit. Tracked: logged "
            "in the validation run and, for a models:/ URI, registered as a new version with "
            "its lineage (alias 'updated'; the champion does not move).",
        ),
    ] = None,
    tracking_uri: Annotated[
        str | None, typer.Option(help="MLflow tracking URI (default as for train).")
    ] = None,
) -> None:
    """Validate a trained model on a new cohort: discrimination, calibration, case mix, updating."""
    from eih_ml.data.load import load_study
    from eih_ml.evaluation.external import external_validation, write_external_validation
    from eih_ml.tracking import load_model, track_external_validation

    bundle = load_model(model, tracking_uri)
    through = _dictionary_for(bundle, dictionary)
    study = load_study(data, through)
    dev = load_study(development, through) if development is not None else None
    result = external_validation(bundle, study, n_boot=bootstrap, development=dev)
    paths = write_external_validation(result, out, model_uri=model)
    s = result.summary
    m = s.metrics
    lines = [
        f"{bundle!r}",
        f"Validation cohort: {s.cohort.n_participants} participants, "
        f"{s.cohort.n_sessions} sessions; {100 * s.ood_share:.0f} % flagged out of "
        "distribution.",
    ]
    for key in (
        "auroc",
        "auroc_macro",
        "auroc_hyperalgesic",
        "calibration_slope",
        "calibration_slope_hyperalgesic",
        "calibration_intercept",
        "brier",
        "r2",
        "rmse",
    ):
        if key in m and m[key] is not None:
            lines.append(
                f"  {key}: {m[key]:.3f} ({m.get(key + '_ci_low') or float('nan'):.3f} to "
                f"{m.get(key + '_ci_high') or float('nan'):.3f})"
            )
    if s.updating.recommended is not None:
        lines.append(f"Recommended update: {s.updating.recommended}.")
    else:
        lines.append(s.updating.note)
    run_id = None
    if track:
        run_id = track_external_validation(s, model, tracking_uri=tracking_uri)
        lines.append(f"MLflow run {run_id} (experiment eih_ml-external-validation).")
    if update is not None:
        lines += _write_update(bundle, result, update, model, out, run_id, tracking_uri)
    lines.append(f"Results: {paths['report']}")
    _console().print("\n".join(lines))


def _write_update(
    bundle: ModelBundle,
    result: ExternalValidation,
    update: str,
    model: str,
    out: Path,
    run_id: str | None,
    tracking_uri: str | None,
) -> list[str]:
    """``evaluate --update``: the updated model written (and logged) with its lineage."""
    from eih_ml.evaluation.updating import UPDATE_METHODS, updated_bundle

    if update not in ("recommended", *UPDATE_METHODS):
        raise ConfigError(
            f"--update must be recommended, {', '.join(UPDATE_METHODS)}; found {update!r}."
        )
    method = result.summary.updating.recommended if update == "recommended" else update
    if method in (None, "none"):
        return ["No update written: no update improved the model on this cohort."]
    new = updated_bundle(bundle, result, method, model_uri=model, validation_run=run_id)
    folder = Path(out) / "updated_model"
    new.save(folder)
    lines = [f"Updated model ({method}): {folder}"]
    if run_id is not None:
        from eih_ml.tracking import register_update

        logged = register_update(new, model, run_id, tracking_uri=tracking_uri)
        if logged["registered"]:
            lines.append(
                f"Registered as {logged['registered']} (alias 'updated', updated from {model}); "
                "the champion did not move."
            )
        else:
            lines.append(
                f"Logged as {logged['model_uri']} (not registered: {model} is no models:/ URI)."
            )
    return lines


@app.command()
def serve(
    model: ModelOpt,
    host: Annotated[
        str, typer.Option(help="Interface to bind (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.", min=1, max=65535)] = 8000,
) -> None:
    """Start the clinician web app and JSON prediction API for one model.

    With EIH_ML_API_TOKEN set, every page and API call needs that token.

    API: 'Authorization: Bearer <token>'; browser: the sign-in form. See docs/web_app.md.

    Nothing sent is stored or logged.
    """
    import logging.config
    import os

    import uvicorn

    from eih_ml.serve.app import TOKEN_ENV, create_app, log_config
    from eih_ml.tracking import load_model

    token = os.environ.get(TOKEN_ENV)
    config = log_config()
    logging.config.dictConfig(config)
    loopback = host in ("127.0.0.1", "localhost")
    if not token and host not in ("127.0.0.1", "localhost", "::1"):
        _console(stderr=True).print(
            f"[bold yellow]warning:[/] serving on {host} without {TOKEN_ENV}: anyone who can "
            "reach this port can use the model. Set a token (see docs/web_app.md)."
        )
    _check_port_free(host, port)
    bundle = load_model(model)
    application = create_app(
        bundle,
        token,
        model_uri=model,
        allowed_hosts=["127.0.0.1", "localhost"] if loopback else None,
    )
    _console().print(
        f"{bundle!r}\nServing on http://{host}:{port} "
        f"({'token required' if token else 'no token'}); Ctrl-C stops it.",
        markup=False,
    )
    uvicorn.run(
        application,
        host=host,
        port=port,
        access_log=False,
        log_config=config,
        server_header=False,
    )


def _check_port_free(host: str, port: int) -> None:
    """Raise a clear error (exit 2) when ``host:port`` cannot be bound, before "Serving on"."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise ConfigError(
                f"Cannot serve on {host}:{port}: {exc.strerror or exc}. Another program (perhaps "
                f"another eih-ml serve) is using the port. Fix: stop it, or pass --port with a "
                "free port."
            ) from None


@app.command()
def compare(
    experiment: Annotated[str, typer.Option(help="MLflow experiment name.")] = "eih_ml-default",
    metric: Annotated[str, typer.Option(help="Metric to sort by (descending).")] = "auroc",
    tracking_uri: Annotated[str | None, typer.Option(help="MLflow tracking URI.")] = None,
    limit: Annotated[int, typer.Option(help="Runs to show.", min=1)] = 20,
    grid: Annotated[
        str | None, typer.Option(help="Only the runs of this sweep grid (its name).")
    ] = None,
) -> None:
    """Experiment runs side by side: what differs in their configs, metrics with CIs."""
    from rich.table import Table

    from eih_ml.summary_table import metric_with_ci
    from eih_ml.tracking import compare_runs

    runs = compare_runs(experiment, metric, tracking_uri, grid=grid).head(limit)
    if runs.empty:
        where = f" from grid {grid!r}" if grid else ""
        _console().print(
            f"No runs{where} in experiment {experiment!r} yet: run 'eih-ml train' or "
            "'eih-ml sweep' first.",
            markup=False,
        )
        return
    table = Table(title=f"{experiment}: runs sorted by {metric}")
    varying = [c for c in runs.columns if c.startswith("params.")]
    metrics = [metric] + [
        m for m in ("auroc", "brier", "calibration_slope", "r2", "rmse") if m != metric
    ]
    metrics = [m for m in metrics if f"metrics.{m}" in runs.columns]
    for col in [
        "run",
        "started",
        "best model",
        *(c.removeprefix("params.") for c in varying),
        *metrics,
    ]:
        table.add_column(col, overflow="fold")
    for _, r in runs.iterrows():
        values = {
            str(k).removeprefix("metrics."): v
            for k, v in r.items()
            if str(k).startswith("metrics.")
        }
        table.add_row(
            f"{r.get('tags.mlflow.runName', '')} ({str(r['run_id'])[:8]})",
            str(r.get("start_time", ""))[:16],
            str(r.get("tags.eih_ml.best_model", "")),
            *(str(r[c]) for c in varying),
            *(metric_with_ci(values, m) for m in metrics),
        )
    _console().print(table)
    if not varying:
        _console().print("The runs' configs do not differ.")


@app.command()
def ui(
    host: Annotated[
        str, typer.Option(help="Interface to bind (loopback by default).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 5000,
    tracking_uri: Annotated[str | None, typer.Option(help="Backend store URI.")] = None,
) -> None:
    """Start the MLflow UI on the project's tracking store."""
    import os
    import shutil

    from eih_ml.tracking import artifact_root, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    exe = shutil.which("mlflow") or str(Path(sys.executable).parent / "mlflow")
    args = [
        exe,
        "server",
        "--backend-store-uri",
        uri,
        "--default-artifact-root",
        artifact_root(uri).as_uri(),
        "--host",
        host,
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    _console().print(f"MLflow UI on http://{host}:{port} (store {uri}); Ctrl-C stops it.")
    env = {
        **os.environ,
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
    }
    os.execve(exe, args, env)


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for everything the demo writes.")] = Path(
        "demo_output"
    ),
    n: Annotated[int, typer.Option("--n", help="Participants to simulate.", min=20)] = 300,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Run the main job end to end on the built-in default: a simulated cohort."""
    from eih_ml.demo import run_demo

    run_demo(out, n_participants=n, seed=seed, console=_console())


@app.command()
def report(
    run: Annotated[
        str,
        typer.Argument(
            help="A run folder written by 'eih-ml train' (runs/<name>), an MLflow run id, "
            "or 'latest' (the newest experiment run)."
        ),
    ],
    out: Annotated[Path, typer.Option(help="Report to write (.html).")] = Path("report.html"),
    experiment: Annotated[
        str | None,
        typer.Option(help="With 'latest': the MLflow experiment to look in (default: all)."),
    ] = None,
    tracking_uri: Annotated[
        str | None,
        typer.Option(
            help="MLflow tracking URI (default: MLFLOW_TRACKING_URI, else sqlite:///mlflow.db "
            "in this folder)."
        ),
    ] = None,
) -> None:
    """Write the experiment report (TRIPOD+AI): a self-contained HTML page of one run's results."""
    import tempfile

    from eih_ml.report.experiment_report import resolve_run, write_experiment_report

    with tempfile.TemporaryDirectory(prefix="eih_ml_report_") as tmp:
        run_dir = resolve_run(run, tracking_uri, experiment=experiment, dst=tmp)
        write_experiment_report(run_dir, out)
    _console().print(f"Wrote the experiment report of {run} to {out}.", markup=False)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``eih-ml`` console script."""
    try:
        app(args=argv, prog_name="eih-ml")
    except EihMlError as exc:
        from rich.markup import escape

        _console(stderr=True).print(f"[bold red]error:[/] {escape(str(exc))}")
        sys.exit(exc.exit_code)


if __name__ == "__main__":  # pragma: no cover
    main()
