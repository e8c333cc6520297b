"""Feature metadata: domain, clinician-readable label, unit and the direction of better modulation.

Explanations, reports and the web app read names from here, never from column names.
``better`` says which direction of the feature goes with better pain modulation in the
literature (EIH_REFERENCE.md): "higher", "lower", or None where the evidence is mixed (age: younger
> older in healthy adults, Naugle 2016; older > younger in knee OA, Toomey 2025) or absent.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from typing import Literal, get_args

from eih_ml.data.contract import BIOMARKER_LOD_SUFFIX, BIOMARKER_ND_SUFFIX

#: The model feature that the phenotype membership columns (phenotype_1 ... phenotype_k of
#: eih_ml.phenotypes.PhenotypeClusters) are attributed to, as one clinical input.
PHENOTYPE_FEATURE = "phenotype_membership"

#: Domains in the order reports show them: the registry of feature domains.
Domain = Literal[
    "QST",
    "psychological",
    "biomarker",
    "clinical",
    "demographic",
    "protocol",
    "programme",
]
#: The domains as a tuple, in the same order.
DOMAINS: tuple[Domain, ...] = get_args(Domain)
Better = Literal["higher", "lower"] | None


@dataclass(frozen=True)
class FeatureInfo:
    """What a feature means to a clinician."""

    name: str
    domain: Domain
    label: str
    unit: str = ""
    better: Better = None
    categorical: bool = False
    description: str = ""

    def as_dict(self) -> dict:
        """Plain dict (for JSON, reports and the web app)."""
        return asdict(self)


def _f(
    name: str,
    domain: Domain,
    label: str,
    unit: str = "",
    better: Better = None,
    categorical: bool = False,
    description: str = "",
) -> FeatureInfo:
    return FeatureInfo(name, domain, label, unit, better, categorical, description)


KNOWN_FEATURES: dict[str, FeatureInfo] = {
    f.name: f
    for f in (
        _f("age", "demographic", "Age", "years"),
        _f("sex", "demographic", "Sex", categorical=True),
        _f("bmi", "demographic", "Body-mass index", "kg/m²"),
        _f("condition", "clinical", "Pain condition", categorical=True),
        _f("pain_nrs", "clinical", "Current pain intensity", "0-10", "lower"),
        _f("pain_duration_months", "clinical", "Pain duration", "months", "lower"),
        _f(
            "expected_exercise_pain",
            "clinical",
            "Expected pain during exercise",
            "0-10",
            "lower",
            description="Lower expected exercise pain went with larger EIH (Toomey 2025).",
        ),
        _f(
            "ppt_local_pre",
            "QST",
            "Pain threshold at the exercising muscle",
            "kPa",
            "higher",
            description="Low baseline thresholds (high pain sensitivity) went with impaired EIH "
            "(Vaegter, Handberg & Graven-Nielsen 2016).",
        ),
        _f("ppt_remote_pre", "QST", "Pain threshold at a remote site", "kPa", "higher"),
        _f(
            "pain_modulation_profile",
            "QST",
            "Pain-modulation profile",
            categorical=True,
            description="Efficient or inefficient CPM x normal or facilitated temporal "
            "summation (Yarnitsky 2014).",
        ),
        _f("cpm_test_before", "QST", "CPM test stimulus before conditioning"),
        _f("cpm_test_during", "QST", "CPM test stimulus during conditioning"),
        _f("cpm_sham_before", "QST", "Sham CPM test stimulus before conditioning"),
        _f("cpm_sham_during", "QST", "Sham CPM test stimulus during conditioning"),
        _f(
            "cpm_sham_abs",
            "QST",
            "Conditioned pain modulation, sham conditioning",
            description="Change under a sham (e.g. lukewarm water) conditioning stimulus.",
        ),
        _f(
            "cpm_abs",
            "QST",
            "Conditioned pain modulation",
            "kPa",
            "higher",
            description="Positive = inhibition (the descending pain control works).",
        ),
        _f("cpm_pct", "QST", "Conditioned pain modulation", "%", "higher"),
        _f(
            "cpm_sham_corrected_abs",
            "QST",
            "Conditioned pain modulation, sham-corrected",
            "kPa",
            "higher",
        ),
        _f(
            "ts_diff",
            "QST",
            "Temporal summation of pain",
            "rating points",
            "lower",
            description="Last minus first rating of a stimulus train; higher = facilitated "
            "pain processing.",
        ),
        _f(
            "ts_peak_nadir", "QST", "Temporal summation (peak over nadir)", "rating points", "lower"
        ),
        _f("ts_ratio", "QST", "Wind-up ratio", "ratio", "lower"),
        _f("ts_slope", "QST", "Temporal summation slope", "points per stimulus", "lower"),
        _f("pcs_total", "psychological", "Pain catastrophizing (PCS)", "0-52", "lower"),
        _f("pcs_rumination", "psychological", "Catastrophizing: rumination", "0-16", "lower"),
        _f("pcs_magnification", "psychological", "Catastrophizing: magnification", "0-12", "lower"),
        _f("pcs_helplessness", "psychological", "Catastrophizing: helplessness", "0-24", "lower"),
        _f("tsk_total", "psychological", "Fear of movement (TSK)", "score", "lower"),
        _f(
            "hads_anxiety",
            "psychological",
            "Anxiety (HADS-A)",
            "0-21",
            "lower",
            description="Less anxiety went with larger EIH in knee OA (Toomey 2025).",
        ),
        _f("hads_depression", "psychological", "Depression (HADS-D)", "0-21", "lower"),
        _f("csi_total", "psychological", "Central sensitization symptoms (CSI)", "0-100", "lower"),
        _f(
            "csi_severity",
            "psychological",
            "Central sensitization severity band (CSI)",
            categorical=True,
            description="Neblett 2017 bands of the CSI part A total.",
        ),
        _f("pseq_total", "psychological", "Pain self-efficacy (PSEQ)", "0-60", "higher"),
        _f("exercise_modality", "protocol", "Exercise type", categorical=True),
        _f(
            "exercise_intensity_rel",
            "protocol",
            "Exercise intensity",
            "fraction of maximum",
            "higher",
            description="Aerobic EIH needs roughly > 50 % VO2max (Hoffman 2004; Naugle 2014).",
        ),
        _f(
            "exercise_intensity_band",
            "protocol",
            "Exercise intensity band (ACSM)",
            categorical=True,
            description="Aerobic sessions only: light < 40 %, moderate 40-59 %, vigorous >= 60 %.",
        ),
        _f("exercise_duration_min", "protocol", "Exercise duration", "min", "higher"),
        _f("programme_modality", "programme", "Programme exercise type", categorical=True),
        _f(
            "programme_intensity_rel",
            "programme",
            "Programme intensity",
            "fraction of maximum",
            description="Normalised by its unit as a session's intensity.",
        ),
        _f("session_duration_min", "programme", "Programme session duration", "min"),
        _f("sessions_per_week", "programme", "Programme sessions per week", "per week"),
        _f("programme_weeks", "programme", "Programme length", "weeks"),
        _f(
            "programme_minutes_per_week",
            "programme",
            "Programme exercise per week",
            "min/week",
            description="Session duration x sessions per week (ACSM 2021: 150 min/week of "
            "moderate aerobic activity).",
        ),
        _f(
            "baseline_eih_local",
            "QST",
            "Acute EIH at the baseline session (exercising muscle)",
            "kPa",
            "higher",
            description="Pressure pain threshold change after the baseline session's exercise.",
        ),
        _f(
            "baseline_eih_remote",
            "QST",
            "Acute EIH at the baseline session (remote site)",
            "kPa",
            "higher",
        ),
        _f("bio_panel_missing", "biomarker", "Biomarker panel not measured"),
        _f(
            "phenotype_membership",
            "QST",
            "Data-driven pain-modulation phenotype (cluster of QST and questionnaires)",
        ),
    )
}

#: Readable category names for categorical features (for plain-language text).
CATEGORY_LABELS: dict[str, dict[str, str]] = {
    "condition": {
        "healthy": "no pain condition",
        "low_back_pain": "low back pain",
        "knee_oa": "knee osteoarthritis",
        "neck_pain": "neck pain",
        "fibromyalgia": "fibromyalgia",
        "whiplash": "whiplash-associated disorder",
        "other": "another pain condition",
    },
    "programme_modality": {
        "aerobic": "an aerobic programme",
        "isometric": "an isometric programme",
        "dynamic_resistance": "a dynamic resistance programme",
    },
    "exercise_modality": {
        "aerobic": "aerobic exercise",
        "isometric": "isometric exercise",
        "dynamic_resistance": "dynamic resistance exercise",
    },
    "sex": {"female": "female", "male": "male", "other": "other"},
    "pain_modulation_profile": {
        "anti_nociceptive": "anti-nociceptive",
        "pro_nociceptive": "pro-nociceptive",
        "inefficient_cpm": "inefficient CPM only",
        "facilitated_ts": "facilitated TS only",
        "not_assessable": "not assessable",
    },
    "exercise_intensity_band": {
        "light": "light intensity",
        "moderate": "moderate intensity",
        "vigorous": "vigorous intensity",
    },
    "csi_severity": {
        "subclinical": "subclinical",
        "mild": "mild",
        "moderate": "moderate",
        "severe": "severe",
        "extreme": "extreme",
    },
}

_PPT_FAMILY = re.compile(
    r"ppt_(local|remote)_(pre|post|rest_pre|rest_post)(_n_trials|_single_trial)?"
)
_PPT_SITE = {"local": "at the exercising muscle", "remote": "at a remote site"}
_PPT_PHASE = {
    "pre": "before exercise",
    "post": "after exercise",
    "rest_pre": "before quiet rest",
    "rest_post": "after quiet rest",
}
#: Questionnaire scale -> the score whose label names it (for ``{scale}_n_missing``).
_SCALE_SCORE = {
    "pcs": "pcs_total",
    "tsk": "tsk_total",
    "hads_anxiety": "hads_anxiety",
    "hads_depression": "hads_depression",
    "csi": "csi_total",
    "pseq": "pseq_total",
}


def feature_info(name: str, biomarkers: dict | None = None) -> FeatureInfo:
    """Metadata of a model feature (biomarker labels and units from the column dictionary).

    Parameters
    ----------
    name : str
        A feature name such as ``pcs_total`` or ``bio_il6``.
    biomarkers : dict, optional
        Marker -> object with ``label`` and ``unit`` attributes (the dictionary's ``biomarkers``).

    Examples
    --------
    >>> feature_info("pcs_total").label
    'Pain catastrophizing (PCS)'
    >>> feature_info("bio_il6").domain
    'biomarker'
    """
    if name in KNOWN_FEATURES:
        return KNOWN_FEATURES[name]
    if name.startswith("bio_"):
        # The transformer's indicator and the loader's helper columns name their marker.
        suffix = next(
            (
                x
                for x in ("_below_lod", BIOMARKER_ND_SUFFIX, BIOMARKER_LOD_SUFFIX)
                if name.endswith(x)
            ),
            "",
        )
        marker = name.removesuffix(suffix).removeprefix("bio_") if suffix else name[4:]
        spec = (biomarkers or {}).get(marker)
        label = (
            (getattr(spec, "label", "") or marker.replace("_", " ").upper())
            if spec
            else (marker.replace("_", " ").upper())
        )
        unit = getattr(spec, "unit", "") if spec else ""
        if suffix in ("_below_lod", BIOMARKER_ND_SUFFIX):
            return FeatureInfo(name, "biomarker", f"{label} below detection limit")
        if suffix == BIOMARKER_LOD_SUFFIX:
            return FeatureInfo(name, "biomarker", f"{label} limit of detection", unit)
        return FeatureInfo(name, "biomarker", label, unit)
    if m := _PPT_FAMILY.fullmatch(name):
        site, phase, extra = m.groups()
        label = f"Pain threshold {_PPT_SITE[site]} {_PPT_PHASE[phase]}"
        if extra == "_n_trials":
            return FeatureInfo(name, "QST", f"{label}: number of trials", "trials")
        if extra == "_single_trial":
            return FeatureInfo(name, "QST", f"{label}: single trial only", categorical=True)
        return FeatureInfo(name, "QST", label, "kPa")
    if name.endswith("_n_missing") and (score := _SCALE_SCORE.get(name[: -len("_n_missing")])):
        scale = KNOWN_FEATURES[score].label
        return FeatureInfo(name, "psychological", f"{scale}: missing items", "items")
    if name.startswith(("ppt_", "cpm_", "ts_")):
        return FeatureInfo(name, "QST", name.replace("_", " "))
    return FeatureInfo(name, "clinical", name.replace("_", " "))


def source_feature(transformed_name: str, inputs: list[str]) -> str:
    """The clinical input feature a transformed column comes from (one-hot, indicators).

    Examples
    --------
    >>> source_feature("condition_knee_oa", ["age", "condition"])
    'condition'
    >>> source_feature("missingindicator_pcs_total", ["pcs_total"])
    'pcs_total'
    >>> source_feature("bio_il6_below_lod", ["bio_il6"])
    'bio_il6'
    """
    name = transformed_name.split("__", 1)[-1]
    name = name.removeprefix("missingindicator_")
    if name in inputs:
        return name
    if re.fullmatch(r"phenotype_\d+", name):  # PhenotypeClusters' membership probabilities
        return PHENOTYPE_FEATURE
    if name.endswith("_below_lod") and name.removesuffix("_below_lod") in inputs:
        return name.removesuffix("_below_lod")
    for col in sorted(inputs, key=len, reverse=True):
        if name.startswith(col + "_"):
            return col
    return name
