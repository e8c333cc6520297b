"""``eih-ml demo``: the main job end to end on the built-in default, a simulated cohort.

Simulate a literature-calibrated cohort -> validate it -> derive features and outcomes -> train
and validate the default experiment (configs/default.yaml) on it, tracked in MLflow -> explain a
new patient's prediction (uncertainty, factors, protocol what-if) in words and as a report.
Each stage prints what it did and writes its files under the output folder.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

    from eih_ml.experiment import ExperimentResult


def run_demo(
    out: Path,
    *,
    n_participants: int = 300,
    seed: int = 0,
    console: Console | None = None,
    track: bool | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> ExperimentResult:
    """Run the demo; returns the experiment result.

    ``overrides`` are ``key.path=value`` config overrides (the tests use a smaller search).
    """
    from rich.console import Console

    from eih_ml.config import load_config
    from eih_ml.data.load import load_study
    from eih_ml.data.simulate import simulate_cohort, write_simulation
    from eih_ml.data.validate import validate_cohort
    from eih_ml.experiment import run_experiment
    from eih_ml.features.derive import derive_features
    from eih_ml.features.summary import feature_summary, write_table
    from eih_ml.progress import RichProgress
    from eih_ml.summary_table import print_summary

    console = console or Console()
    out = Path(out)
    console.rule("1. Simulate a cohort (calibrated to the EIH literature)")
    sim = simulate_cohort(n_participants, scenario="chronic_mixed", seed=seed)
    paths = write_simulation(sim, out)
    console.print(repr(sim), markup=False)
    console.print(f"  wrote {paths['cohort']} and {paths['ground_truth']}")

    console.rule("2. Validate it against the data contract")
    report = validate_cohort(load_study(paths["cohort"]))
    console.print(report.format(max_rows=10), markup=False)

    console.rule("3. Derive features and EIH outcomes")
    table = derive_features(report.data)
    write_table(table, out / "features.csv")
    console.print(feature_summary(table))

    console.rule("4. Train and validate (participant-grouped nested cross-validation)")
    config = load_config(
        Path("configs/default.yaml") if Path("configs/default.yaml").is_file() else None,
        overrides,
        data=str(paths["cohort"]),
    )
    with RichProgress(console) as progress:
        result = run_experiment(config, output_dir=out / "run", progress=progress, track=track)
    print_summary(result.require_summary(), console)
    console.print(f"Results in {out / 'run'}")
    if result.run_id:
        console.print(f"MLflow run {result.run_id} ('make ui' shows it)")

    console.rule("5. Explain a new patient's prediction")
    from eih_ml.explain.text import as_text
    from eih_ml.report.patient import explain_patient, write_patient_report

    new = simulate_cohort(3, scenario="chronic_mixed", seed=seed + 1000).cohort
    new = new[[c for c in new.columns if "_post" not in c and "rest_" not in c]]
    pid = str(new["participant_id"].iloc[0])
    bundle = result.bundle
    if bundle is None:  # run_experiment always builds one for a demo run
        raise RuntimeError("The demo's experiment built no model bundle.")
    explained = explain_patient(bundle, new, pid)
    console.print(as_text(explained["explanation"]), markup=False)
    if len(explained["whatif"]):
        console.print(explained["whatif"].round(3).to_string(index=False), markup=False)
    report_path = write_patient_report(bundle, new, pid, out / "patient_report.html")
    console.print(f"Patient report: {report_path}")
    return result
