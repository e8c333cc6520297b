"""Write a phenotype analysis into a folder: JSON, CSV tables and PNG figures, atomically."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from eih_ml.atomic_io import atomic_path, output_folder, write_text

if TYPE_CHECKING:
    from eih_ml.phenotypes.analysis import PhenotypeResult

#: File names written by :func:`write_phenotypes`.
FILES = {
    "json": "phenotypes.json",
    "clusters": "clusters.csv",
    "profiles": "profiles.csv",
    "profile_plot": "phenotype_profiles.png",
    "eih_plot": "phenotype_eih.png",
}


def write_phenotypes(result: PhenotypeResult, out_dir: str | os.PathLike[str]) -> dict[str, Path]:
    """Write the analysis into ``out_dir`` (created if missing); each file atomically.

    Files: ``phenotypes.json`` (k, BIC per k, stability, cluster profiles and descriptions,
    participants dropped, method), ``clusters.csv`` (participant_id, cluster, probability of
    that cluster and of every cluster: participant-level data, for the user's own folder),
    ``profiles.csv`` (:func:`~eih_ml.phenotypes.analysis.cluster_profiles`),
    ``phenotype_profiles.png`` and, when EIH was measured, ``phenotype_eih.png``.

    Parameters
    ----------
    result : PhenotypeResult
    out_dir : str or path-like

    Returns
    -------
    dict of str to Path
        Keys of :data:`FILES` that were written.

    Raises
    ------
    DataError
        ``out_dir`` exists and is not a directory.
    """
    from eih_ml.phenotypes.plots import eih_figure, profile_figure, save_png

    out = output_folder(Path(out_dir))
    paths: dict[str, Path] = {}
    paths["json"] = write_text(
        out / FILES["json"], json.dumps(result.to_dict(), indent=2, allow_nan=False) + "\n"
    )
    clusters = result.clusters().merge(
        result.probabilities.reset_index().rename(columns={"index": "participant_id"}),
        on="participant_id",
    )
    for key, frame in (("clusters", clusters), ("profiles", result.profiles)):
        with atomic_path(out / FILES[key]) as tmp:
            frame.to_csv(tmp, index=False, lineterminator="\n", float_format="%.6g")
        paths[key] = out / FILES[key]
    paths["profile_plot"] = save_png(profile_figure(result), out / FILES["profile_plot"])
    fig = eih_figure(result)
    if fig is not None:
        paths["eih_plot"] = save_png(fig, out / FILES["eih_plot"])
    return paths
