"""``eih-ml demo``: the main job end to end on the built-in default, a simulated cohort.

Simulate a literature-calibrated cohort -> validate it -> derive features and outcomes -> train
and validate the default experiment (configs/default.yaml) on it. Each stage prints what it did
and writes its files under the output folder.
"""

from __future__ import annotations

from pathlib import Path


def run_demo(out: Path, *, n_participants: int = 300, seed: int = 0, console=None, track=None):
    """Run the demo; returns the experiment result."""
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
        data=str(paths["cohort"]),
    )
    with RichProgress(console) as progress:
        result = run_experiment(config, output_dir=out / "run", progress=progress, track=track)
    print_summary(result.summary, console)
    console.print(f"Results in {out / 'run'}")
    return result
