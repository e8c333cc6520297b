"""Three-class metrics: against scikit-learn, hand-worked values and the bootstrap."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, log_loss, roc_auc_score

from eih_ml.errors import DataError
from eih_ml.evaluation import metrics as metrics_module
from eih_ml.evaluation.bootstrap import bootstrap_metrics
from eih_ml.evaluation.metrics import MULTICLASS_METRICS, UndefinedMetricError
from eih_ml.evaluation.multiclass import confusion, multiclass_metrics
from eih_ml.explain.conformal import ConformalCalibration, describe_set
from eih_ml.outcomes import CLASS_NAMES


def random_probabilities(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and informative probabilities (a softmax of a noisy one-hot)."""
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.15, 0.45, 0.40])
    logits = 1.2 * np.eye(3)[y] + rng.normal(0, 1, (n, 3))
    P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return y, P


def test_the_metric_names_use_the_outcome_class_names():
    assert metrics_module._CLASSES == CLASS_NAMES  # metrics.py keeps its own copy


def test_multiclass_metrics_equal_scikit_learn():
    y, P = random_probabilities(400, seed=3)
    m = multiclass_metrics(y, P)
    assert list(m) == list(MULTICLASS_METRICS)
    assert m["auroc_macro"] == pytest.approx(
        roc_auc_score(y, P, multi_class="ovr", average="macro"), abs=1e-12
    )
    for j, name in enumerate(CLASS_NAMES):
        assert m[f"auroc_{name}"] == pytest.approx(roc_auc_score(y == j, P[:, j]), abs=1e-12)
        assert m[f"brier_{name}"] == pytest.approx(np.mean((P[:, j] - (y == j)) ** 2))
    assert m["log_loss"] == pytest.approx(log_loss(y, P), abs=1e-9)
    assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, P.argmax(axis=1)))
    assert m["accuracy"] == pytest.approx(np.mean(y == P.argmax(axis=1)))
    assert m["auroc_macro"] > 0.7  # informative probabilities


def test_multiclass_brier_is_hand_worked_and_scaled_against_the_prevalence():
    y = np.array([0, 1, 2, 2])
    P = np.array([[0.8, 0.1, 0.1], [0.2, 0.6, 0.2], [0.1, 0.2, 0.7], [0.3, 0.3, 0.4]])
    m = multiclass_metrics(y, P)
    # rows: .06, .24, .14, .54 -> mean .245
    assert m["brier"] == pytest.approx(0.245)
    # reference: predicting the prevalences (.25, .25, .5) for everyone: sum phi (1 - phi)
    assert m["brier_scaled"] == pytest.approx(1 - 0.245 / (0.1875 + 0.1875 + 0.25))
    # predicting the prevalences themselves scores exactly 0 on the scaled Brier
    prev = np.tile([0.25, 0.25, 0.5], (4, 1))
    assert multiclass_metrics(y, prev)["brier_scaled"] == pytest.approx(0.0, abs=1e-12)


def test_perfect_probabilities_are_calibrated_and_discriminate():
    rng = np.random.default_rng(8)
    n = 6000
    logits = rng.normal(0, 1.5, (n, 3))
    P = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=p) for p in P])  # outcomes drawn from the probabilities
    m = multiclass_metrics(y, P)
    for name in CLASS_NAMES:
        assert m[f"calibration_slope_{name}"] == pytest.approx(1.0, abs=0.1)
        assert m[f"calibration_intercept_{name}"] == pytest.approx(0.0, abs=0.1)
    # permuted outcomes: chance-level discrimination
    perm = multiclass_metrics(rng.permutation(y), P)
    assert perm["auroc_macro"] == pytest.approx(0.5, abs=0.03)


def test_a_missing_class_is_undefined_and_bad_input_is_a_clear_error():
    y = np.array([1, 2, 2, 1])
    P = np.full((4, 3), 1 / 3)
    with pytest.raises(UndefinedMetricError, match="no row is hyperalgesic"):
        multiclass_metrics(y, P)
    with pytest.raises(DataError, match=r"rows x 3 classes .* found shape \(4,\)"):
        multiclass_metrics(y, P[:, 0])
    with pytest.raises(DataError, match="expected labels 0, 1, 2"):
        multiclass_metrics(np.array([0, 1, 2, 3]), P)
    with pytest.raises(DataError, match=r"probabilities in \[0, 1\]"):
        multiclass_metrics(np.array([0, 1, 2, 2]), P * 4)


def test_confusion_counts_and_rates():
    y = np.array([0, 0, 1, 1, 2, 2, 2])
    P = np.array(
        [
            [0.6, 0.3, 0.1],
            [0.2, 0.7, 0.1],
            [0.1, 0.8, 0.1],
            [0.1, 0.4, 0.5],
            [0.1, 0.2, 0.7],
            [0.1, 0.3, 0.6],
            [0.1, 0.6, 0.3],
        ]
    )
    c = confusion(y, P)
    assert c["counts"] == [[1, 1, 0], [0, 1, 1], [0, 1, 2]]
    assert c["recall"] == pytest.approx([0.5, 0.5, 2 / 3])
    assert c["precision"] == pytest.approx([1.0, 1 / 3, 2 / 3])
    nothing_predicted = confusion(y, np.tile([0.1, 0.1, 0.8], (7, 1)))
    assert nothing_predicted["precision"][0] is None  # undefined, not 0


def test_bootstrap_resamples_participants_of_a_three_class_model():
    y, P = random_probabilities(300, seed=5)
    groups = np.repeat(np.arange(150), 2)
    result = bootstrap_metrics(y, P, groups, multiclass_metrics, n_boot=200, seed=1).as_dict()
    for key in ("auroc_macro", "brier", "calibration_slope_hyperalgesic"):
        assert result[f"{key}_ci_low"] < result[key] < result[f"{key}_ci_high"]
    assert result["n_boot"] + result["n_boot_skipped"] == 200


def test_multiclass_conformal_sets_hold_their_coverage():
    """LAC sets (Sadinle 2019) fitted on one half cover ~90 % of the other half."""
    y, P = random_probabilities(4000, seed=11)
    cal = ConformalCalibration.fit(y[:2000], P[:2000], "multiclass", 0.9)
    sets = cal.sets(P[2000:])
    covered = sets[np.arange(2000), y[2000:]]
    assert covered.mean() == pytest.approx(0.9, abs=0.025)
    assert sets.shape == (2000, 3)
    names = ("hyperalgesic", "non-responder", "hypoalgesic")
    assert describe_set(np.array([True, False, False]), names) == "hyperalgesic"
    assert describe_set(np.array([True, True, False]), names) == (
        "hyperalgesic or non-responder (uncertain)"
    )
    assert describe_set(np.array([True, True, True]), names).startswith("any of hyperalgesic")
