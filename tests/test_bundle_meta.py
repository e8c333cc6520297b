"""The bundle's metadata is a typed record (BundleMeta) that still reads like the dict it was.

What is on disk does not change: a saved bundle, loaded and saved again, writes the same
``bundle.json`` bytes; a bundle written before some keys existed (and in another key order)
still loads, predicts, and is written back byte for byte.
"""

from __future__ import annotations

import json
import shutil

import pandas as pd
import pytest

from eih_ml.bundle import BundleMeta, ModelBundle
from eih_ml.data.simulate import simulate_cohort
from eih_ml.errors import ModelError


def patients(n: int = 4) -> pd.DataFrame:
    raw = simulate_cohort(n, seed=99).cohort
    return raw[[c for c in raw.columns if "_post" not in c and "rest_" not in c]]


@pytest.fixture(scope="module")
def saved(xgboost_experiment, tmp_path_factory):
    return xgboost_experiment.bundle.save(tmp_path_factory.mktemp("bundle") / "b")


def test_the_metadata_is_typed_and_reads_like_the_dict(xgboost_experiment, saved):
    bundle = xgboost_experiment.bundle
    meta = bundle.meta
    assert isinstance(meta, BundleMeta)
    assert meta.task == meta["task"] == bundle.task == "classification"
    assert meta.outcome["outcome"] == meta["outcome"]["outcome"]
    assert meta.get("no such key") is None and meta.get("no such key", 3) == 3
    assert "abstain" in meta and "reference" not in meta
    on_disk = json.loads((saved / "bundle.json").read_text(encoding="utf-8"))
    on_disk.pop("reference")
    assert meta.to_dict() == on_disk and list(meta) == list(on_disk)
    assert {**meta} == dict(meta.items()) == on_disk  # the dict spread of older code
    with pytest.raises(KeyError):
        meta["no such key"]


def test_a_saved_bundle_saved_again_writes_the_same_bytes(saved, tmp_path):
    loaded = ModelBundle.load(saved)
    assert isinstance(loaded.meta, BundleMeta)
    again = loaded.save(tmp_path / "again")
    assert (again / "bundle.json").read_bytes() == (saved / "bundle.json").read_bytes()
    # a copy at another confidence level changes that key only, in its place
    other = loaded.at_level(0.8)
    assert list(other.meta) == list(loaded.meta)
    assert other.meta.confidence_level == 0.8 and loaded.meta.confidence_level == 0.9
    assert {**other.meta.to_dict(), "confidence_level": 0.9} == loaded.meta.to_dict()


def test_an_older_bundle_still_loads_predicts_and_is_written_back_unchanged(saved, tmp_path):
    old = tmp_path / "old"
    shutil.copytree(saved, old)
    data = json.loads((old / "bundle.json").read_text(encoding="utf-8"))
    # keys added after the first bundle format: gone; the remaining keys in another order
    for key in ("abstain", "levels", "conformal_levels", "protocol_randomized", "dictionary"):
        data.pop(key)
    data["derive"].pop("profile")
    reference = data.pop("reference")
    data = {**dict(reversed(list(data.items()))), "reference": reference}
    data["threshold"] = 0  # an integer stays an integer
    text = json.dumps(data, indent=2)
    (old / "bundle.json").write_text(text, encoding="utf-8")
    bundle = ModelBundle.load(old)
    assert "abstain" not in bundle.meta and bundle.meta.abstain is None
    assert bundle.meta.levels == [] and bundle.offered_levels == (0.9,)
    assert not bundle.abstain_rule.enabled  # names what is missing but never abstains
    raw = patients()
    out = bundle.predict(raw)
    assert len(out) == len(raw) and not out["abstained"].any()
    written = bundle.save(tmp_path / "rewritten") / "bundle.json"
    assert written.read_text(encoding="utf-8") == text


def test_metadata_that_is_not_a_bundle_s_is_refused_by_name(saved, tmp_path):
    bad = tmp_path / "bad"
    shutil.copytree(saved, bad)
    data = json.loads((bad / "bundle.json").read_text(encoding="utf-8"))
    del data["features"]
    (bad / "bundle.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ModelError, match=r"has no 'features': it is not the metadata"):
        ModelBundle.load(bad)
    (bad / "bundle.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError, match="is not JSON"):
        ModelBundle.load(bad)
    data["features"], data["format"] = ["age"], 2
    (bad / "bundle.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ModelError, match="bundle format 2 is not 1"):
        ModelBundle.load(bad)


def test_a_plain_mapping_given_to_the_bundle_is_read_into_the_record(xgboost_experiment):
    b = xgboost_experiment.bundle
    copy = ModelBundle(b.pipeline, b.conformal, {**b.meta, "model": "renamed"}, b.reference)
    assert isinstance(copy.meta, BundleMeta) and copy.meta.model == "renamed"
    assert list(copy.meta) == list(b.meta)
    with pytest.raises(ModelError, match="has a wrong"):
        ModelBundle(b.pipeline, b.conformal, {**b.meta, "features": "age"}, b.reference)
