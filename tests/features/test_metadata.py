"""Feature metadata: every feature a model can see has a clinical label and domain; transformed
column names map back to their clinical input."""

from __future__ import annotations

from typing import get_args

import pytest
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.preprocessing import OneHotEncoder

from eih_ml.data import contract
from eih_ml.data.dictionary import default_dictionary
from eih_ml.data.validate import validate_cohort
from eih_ml.features.biomarkers import PANEL_MISSING, BiomarkerTransformer
from eih_ml.features.derive import BLOCKS, CATEGORICAL, block_of, derive_features, model_features
from eih_ml.features.metadata import (
    CATEGORY_LABELS,
    DOMAINS,
    Domain,
    FeatureInfo,
    feature_info,
    source_feature,
)
from eih_ml.features.protocol import INTENSITY_BANDS
from eih_ml.features.questionnaires import CSI_SEVERITY_BANDS
from tests.features.test_derive import rich_rows

BLOCK_DOMAIN = {
    "demographic": "demographic",
    "clinical": "clinical",
    "qst": "QST",
    "psychological": "psychological",
    "biomarker": "biomarker",
    "protocol": "protocol",
    "profile": "QST",
    "programme": "programme",
    "acute_eih": "QST",
}


@pytest.fixture(scope="module")
def table():
    return derive_features(validate_cohort(rich_rows()).data)


@pytest.fixture(scope="module")
def markers():
    return default_dictionary().biomarkers


def _is_generic(info: FeatureInfo) -> bool:
    """The fallback of feature_info: the column name with spaces."""
    return not info.label or info.label == info.name.replace("_", " ")


def test_domains_list_every_domain_once():
    assert sorted(DOMAINS) == sorted(get_args(Domain))
    assert BLOCK_DOMAIN.keys() == BLOCKS.keys()


def test_every_default_model_feature_has_a_label_in_its_blocks_domain(table, markers):
    feats = model_features(table)
    assert len(feats) == 27  # every block contributes (see test_derive)
    for name in feats:
        info = feature_info(name, markers)
        assert not _is_generic(info), name
        assert info.domain == BLOCK_DOMAIN[block_of(name)], name
        assert info.name == name
        if block_of(name) == "biomarker":  # value, non-detect flag and LOD name their marker
            marker = name.removeprefix("bio_").removesuffix("_nd").removesuffix("_lod")
            assert info.label.startswith(markers[marker].label), name


def test_every_feature_model_features_can_return_has_metadata(table, markers):
    """include can add any derived column that is not an outcome: each needs a real label."""
    everything = [c for c in table.columns if c not in contract.ID_COLUMNS]
    feats = model_features(table, include=everything)
    assert len(feats) > 50
    generic = [c for c in feats if _is_generic(feature_info(c, markers))]
    assert generic == []
    assert {feature_info(c, markers).domain for c in feats} <= set(DOMAINS)


def test_biomarker_labels_come_from_the_dictionary(markers):
    il6 = feature_info("bio_il6", markers)
    assert (il6.label, il6.unit, il6.domain) == ("Interleukin-6", "pg/mL", "biomarker")
    assert feature_info("bio_il6_nd", markers).label == "Interleukin-6 below detection limit"
    assert feature_info("bio_il6_below_lod", markers).label == "Interleukin-6 below detection limit"
    lod = feature_info("bio_il6_lod", markers)
    assert (lod.label, lod.unit) == ("Interleukin-6 limit of detection", "pg/mL")
    # Without a dictionary the marker name is used; a marker the dictionary lacks likewise.
    assert feature_info("bio_il6").label == "IL6"
    assert feature_info("bio_crp_nd", markers).label == "CRP below detection limit"
    assert feature_info(PANEL_MISSING).label == "Biomarker panel not measured"


def test_known_features_carry_unit_and_direction():
    pcs = feature_info("pcs_total")
    assert pcs.as_dict() == {
        "name": "pcs_total",
        "domain": "psychological",
        "label": "Pain catastrophizing (PCS)",
        "unit": "0-52",
        "better": "lower",
        "categorical": False,
        "description": "",
    }
    assert feature_info("ppt_local_pre").better == "higher"
    assert feature_info("age").better is None  # direction differs between populations
    assert (
        feature_info("ppt_local_post").label
        == "Pain threshold at the exercising muscle after exercise"
    )
    assert feature_info("tsk_n_missing").domain == "psychological"


def test_categorical_features_have_readable_categories():
    expected = {
        "sex": contract.SEXES,
        "condition": contract.CONDITIONS,
        "exercise_modality": contract.MODALITIES,
        "exercise_intensity_band": tuple(name for _, _, name in INTENSITY_BANDS),
        "csi_severity": tuple(label for _, _, label in CSI_SEVERITY_BANDS),
    }
    for feature, categories in expected.items():
        assert feature_info(feature).categorical, feature
        assert set(CATEGORY_LABELS[feature]) == set(categories), feature
    assert set(CATEGORICAL) <= set(CATEGORY_LABELS)
    assert CATEGORY_LABELS["condition"]["knee_oa"] == "knee osteoarthritis"


@pytest.mark.parametrize(
    ("transformed", "inputs", "source"),
    [
        ("condition_knee_oa", ["age", "condition"], "condition"),
        ("cat__condition_low_back_pain", ["condition"], "condition"),
        ("missingindicator_pcs_total", ["pcs_total"], "pcs_total"),
        ("num__missingindicator_pcs_total", ["pcs_total", "pcs"], "pcs_total"),
        ("bio_il6_below_lod", ["bio_il6", "bio_il6_nd", "bio_il6_lod"], "bio_il6"),
        ("bio__bio_il6", ["bio_il6"], "bio_il6"),
        (
            "exercise_modality_aerobic",
            ["exercise_intensity_rel", "exercise_modality"],
            "exercise_modality",
        ),
        # The longest matching input wins: a one-hot of sex_at_birth is not "sex".
        ("sex_at_birth_female", ["sex", "sex_at_birth"], "sex_at_birth"),
        (PANEL_MISSING, ["bio_il6"], PANEL_MISSING),
        ("unknown_feature", ["age"], "unknown_feature"),
    ],
)
def test_source_feature(transformed, inputs, source):
    assert source_feature(transformed, inputs) == source


def test_every_pipeline_output_maps_back_to_a_labelled_input(table, markers):
    feats = model_features(table)
    cats = [c for c in feats if c in CATEGORICAL]
    bio = [c for c in feats if block_of(c) == "biomarker"]
    num = [c for c in feats if c not in cats and c not in bio]
    ct = ColumnTransformer(
        [
            ("num", SimpleImputer(add_indicator=True, keep_empty_features=True), num),
            ("cat", OneHotEncoder(handle_unknown="ignore"), cats),
            ("bio", BiomarkerTransformer(lod_method="censored"), bio),
        ]
    )
    x = table[feats].copy()
    x.loc[x.index[0], "pcs_total"] = float("nan")  # so that a missing indicator exists
    ct.fit(x)
    names = ct.get_feature_names_out().tolist()
    assert "num__missingindicator_pcs_total" in names
    assert "cat__condition_knee_oa" in names
    assert "bio__bio_il6_below_lod" in names
    for name in names:
        src = source_feature(name, feats)
        if src == PANEL_MISSING:
            assert feature_info(src).domain == "biomarker"
            continue
        assert src in feats, name
        assert not _is_generic(feature_info(src, markers)), name
