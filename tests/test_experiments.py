"""The research experiments: valid configs, READMEs with question, result table and reproduce
command, and the runner's README rewriting (the experiments themselves run with `make
experiments`, not in the test suite)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from eih_ml.config import load_config

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "experiments"
FOLDERS = sorted(p for p in EXPERIMENTS.iterdir() if p.is_dir() and any(p.glob("*.yaml")))
CONFIGS = sorted(EXPERIMENTS.glob("*/*.yaml"))
START, END = "<!-- results:start -->", "<!-- results:end -->"


def _ids(path: Path) -> str:
    return str(path.relative_to(EXPERIMENTS))


def _runner():
    spec = importlib.util.spec_from_file_location(
        "run_experiments", EXPERIMENTS / "run_experiments.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up there
    spec.loader.exec_module(sys.modules[spec.name])
    return sys.modules[spec.name]


def test_the_research_questions_exist():
    assert {p.name for p in FOLDERS} >= {
        "model_families",
        "biomarker_added_value",
        "responder_rule_reliability",
    }


@pytest.mark.parametrize("path", CONFIGS, ids=_ids)
def test_config_is_valid(path):
    config = load_config(path)  # unknown keys and bad values raise ConfigError
    assert config.data.path is None, "experiments run on the built-in simulated scenarios"
    assert config.name == f"{path.parent.name}-{path.stem}"
    assert config.tracking.experiment == f"eih_ml-experiments-{path.parent.name}"
    assert not config.tracking.registry.enabled, "research runs must not move the champion"


def test_model_families_cover_the_required_scenarios():
    scenarios = {
        load_config(p).data.simulate.scenario
        for p in (EXPERIMENTS / "model_families").glob("*.yaml")
    }
    assert scenarios >= {"healthy", "chronic_mixed", "fibromyalgia"}


def test_biomarker_experiment_compares_no_signal_with_signal():
    configs = [load_config(p) for p in (EXPERIMENTS / "biomarker_added_value").glob("*.yaml")]
    assert {c.data.simulate.scenario for c in configs} == {"chronic_mixed", "biomarker_signal"}
    assert all(c.evaluation.added_value == ["biomarker"] for c in configs)


def test_responder_experiment_compares_gt0_with_training_2sem():
    configs = [load_config(p) for p in (EXPERIMENTS / "responder_rule_reliability").glob("*.yaml")]
    rules = {
        (c.outcome.rule, c.outcome.sem_source)
        for c in configs
        if c.outcome.task == "classification"
    }
    assert {("gt0", "training"), ("2sem", "training")} <= rules


@pytest.mark.parametrize("folder", FOLDERS, ids=lambda p: p.name)
def test_readme_has_question_results_and_reproduce_command(folder):
    text = (folder / "README.md").read_text(encoding="utf-8")
    assert "## Question" in text
    assert "## Reproduce" in text
    assert "make experiments" in text
    assert f"experiments/run_experiments.py --only {folder.name}" in text
    assert text.count(START) == 1 and text.count(END) == 1
    results = text.split(START, 1)[1].split(END, 1)[0]
    assert "|---" in results, "the results section holds no table: run `make experiments`"
    assert "config digest" in results and "UTC on" in results
    for config in sorted(folder.glob("*.yaml")):
        assert f"experiments/{folder.name}/{config.name}" in results, (
            f"{config.name} is not in the result table of {folder.name}: run "
            f"`.venv/bin/python experiments/run_experiments.py --only {folder.name}`"
        )


def test_runner_rewrites_only_between_the_markers(tmp_path):
    runner = _runner()
    readme = tmp_path / "README.md"
    readme.write_text(f"# Q\n\n## Question\n\nWhy?\n\n{START}\nold\n{END}\n\n## After\n", "utf-8")
    runner.write_results(readme, "| a |\n|---|\n| 1 |")
    assert readme.read_text("utf-8") == (
        f"# Q\n\n## Question\n\nWhy?\n\n{START}\n| a |\n|---|\n| 1 |\n{END}\n\n## After\n"
    )


def test_runner_refuses_a_readme_without_markers(tmp_path):
    runner = _runner()
    readme = tmp_path / "README.md"
    readme.write_text("# Q\n", "utf-8")
    with pytest.raises(SystemExit, match="lacks the markers"):
        runner.write_results(readme, "x")


def test_runner_names_unknown_experiments():
    with pytest.raises(SystemExit, match="Unknown experiment.*model_families"):
        _runner().experiment_folders(["no_such_question"])


def test_makefile_has_the_experiments_target():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "\nexperiments: install\n\t$(BIN)/python experiments/run_experiments.py\n" in makefile
