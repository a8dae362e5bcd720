"""The legacy Spatial Transcriptomics layout of her2st (Andersson et al. 2021).

Folder layout: `counts/{s}.tsv.gz` (spots "{x}x{y}" x gene symbols), `spotfiles/{s}_selection.tsv`
(x, y, new_x, new_y, pixel_x, pixel_y, selected), optional `images/image_index.csv` + images,
`pathologist_labels/{s}_labeled_coordinates.tsv`, `expression_clusters/{s}-cluster-annotation.tsv.gz`
and `expression_clusters/cluster_annotation_parsed.csv`. Joins follow its PROVENANCE.md.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
import pandas as pd
from anndata import AnnData

from tissue_mib.errors import InputError
from tissue_mib.io.images import SlideImage, load_rgb
from tissue_mib.io.section import build_section, gene_table
from tissue_mib.io.validate import GRID_MAX, check_unique, match_positions

logger = logging.getLogger(__name__)

GRID_PITCH_UM = 200.0
SPOT_DIAMETER_UM = 100.0
HIRES_MAX_SIDE = 2000  # a downscaled copy of a full-res image is stored as 'hires'


def is_legacy_st_folder(folder: Path) -> bool:
    return (folder / "counts").is_dir() and any((folder / "counts").glob("*.tsv*"))


def legacy_st_sections(folder: Path) -> list[str]:
    """Section names with a count matrix in `folder/counts`."""
    return sorted(p.name.split(".")[0] for p in (folder / "counts").glob("*.tsv*"))


def read_legacy_st(
    folder: str | os.PathLike,
    *,
    section: str | None,
    image: str | os.PathLike | None = None,
    labels_dir: str | os.PathLike | None = None,
) -> AnnData:
    """Read one section (e.g. "B1") of a legacy ST folder.

    `image`: a full-resolution H&E in the spot-table pixel frame (default: the folder's own
    from `images/image_index.csv`, if any). `labels_dir`: a folder of
    `{section}_labeled_coordinates.tsv` (default: `folder/pathologist_labels`).
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    known = legacy_st_sections(folder)
    if section is None:
        raise InputError(f"{folder}: legacy ST folder with many sections; pass section= (one of {', '.join(known)})")
    counts_path = folder / "counts" / f"{section}.tsv.gz"
    if not counts_path.is_file():
        raise InputError(f"{counts_path}: no count matrix for section {section!r} (known: {', '.join(known)})")
    counts = _read_counts(counts_path)
    sel_path = folder / "spotfiles" / f"{section}_selection.tsv"
    sel = _read_table(sel_path, ["x", "y", "new_x", "new_y", "pixel_x", "pixel_y", "selected"])
    sel = sel[sel["selected"] == 1]
    sel.index = _spot_names(sel, where=str(sel_path), round_xy=False)
    check_unique(sel.index, what="selected spot", where=str(sel_path))
    pixels = sel[["pixel_x", "pixel_y"]].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(pixels).all():
        raise InputError(f"{sel_path}: pixel_x / pixel_y hold {int((~np.isfinite(pixels)).sum())} values that are not finite numbers")
    sel[["pixel_x", "pixel_y"]] = pixels
    keep = match_positions(counts.index.to_numpy(), sel.index.to_numpy(), positions_file=str(sel_path), matrix_file=str(counts_path))
    counts = counts[keep]
    spots = sel.loc[counts.index]
    xy = spots[["pixel_x", "pixel_y"]].to_numpy(dtype=np.float64)
    mpp = fit_microns_per_pixel(sel, where=str(sel_path))
    scalefactors = {"spot_diameter_fullres": SPOT_DIAMETER_UM / mpp, "microns_per_pixel": mpp}

    images, image_files = {}, {}
    if image is None:
        image, hires = _indexed_image(folder, section)
        if hires is not None:
            hires_path, scale = hires
            images["hires"], image_files["hires"] = load_rgb(hires_path), str(hires_path)
            scalefactors["tissue_hires_scalef"] = scale
    if image is not None:
        with SlideImage(image) as slide:
            images["hires"], scalefactors["tissue_hires_scalef"] = slide.thumbnail(HIRES_MAX_SIDE)
            image_files["hires"] = f"{image} (downscaled copy)"

    obs = pd.DataFrame(
        {"array_row": spots["y"].astype(int).to_numpy(), "array_col": spots["x"].astype(int).to_numpy(), "in_tissue": 1},
        index=counts.index,
    )
    _join_pathologist_labels(obs, folder, section, labels_dir)
    _join_expression_clusters(obs, folder, section)
    return build_section(
        counts.to_numpy(dtype=np.float32),
        obs=obs,
        var=gene_table(None, counts.columns.to_numpy()),
        xy=xy,
        library_id=section,
        layout="legacy_st",
        grid="square",
        spot_diameter_um=SPOT_DIAMETER_UM,
        scalefactors=scalefactors,
        images=images,
        image_files=image_files,
        fullres_image=image,
        source=str(counts_path),
    )


def fit_microns_per_pixel(sel: pd.DataFrame, *, where: str) -> float:
    """µm per full-res pixel from a least-squares fit of pixel_x, pixel_y on the refined array
    coordinates new_x, new_y (200 µm grid pitch)."""
    if len(sel) < 3:
        raise InputError(f"{where}: fewer than 3 selected spots; cannot fit the pixel scale")
    A = np.c_[sel["new_x"].to_numpy(float), sel["new_y"].to_numpy(float), np.ones(len(sel))]
    coef, *_ = np.linalg.lstsq(A, sel[["pixel_x", "pixel_y"]].to_numpy(float), rcond=None)
    px_per_step = (np.hypot(coef[0, 0], coef[0, 1]) + np.hypot(coef[1, 0], coef[1, 1])) / 2
    if not np.isfinite(px_per_step) or px_per_step <= 0:
        raise InputError(f"{where}: pixel coordinates do not follow the array grid; cannot fit the pixel scale")
    return float(GRID_PITCH_UM / px_per_step)


def _read_counts(path: Path) -> pd.DataFrame:
    try:
        counts = pd.read_csv(path, sep="\t", index_col=0)
    except Exception as exc:  # noqa: BLE001 - gzip/parse errors
        raise InputError(f"{path}: cannot read counts TSV ({type(exc).__name__}: {exc})") from None
    counts.index = counts.index.astype(str)
    check_unique(counts.index, what="spot name", where=str(path))
    non_numeric = [c for c, t in counts.dtypes.items() if not np.issubdtype(t, np.number)]
    if non_numeric:
        raise InputError(f"{path}: non-numeric count columns, e.g. {non_numeric[:3]}")
    return counts


def _read_table(path: Path, columns: list[str]) -> pd.DataFrame:
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        table = pd.read_csv(path, sep="\t")
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{path}: cannot read table ({type(exc).__name__}: {exc})") from None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise InputError(f"{path}: missing columns {missing}")
    return table


def _indexed_image(folder: Path, section: str) -> tuple[Path | None, tuple[Path, float] | None]:
    """From `images/image_index.csv`: (full-res image or None, (downscaled image, scale) or None)."""
    index = folder / "images" / "image_index.csv"
    if not index.is_file():
        return None, None
    table = pd.read_csv(index)
    rows = table[table["section"] == section]
    if rows.empty:
        return None, None
    row = rows.iloc[0]
    path, scale = folder / "images" / str(row["file"]), float(row["scale_spotfile_pixel_to_file"])
    if not path.is_file():
        raise InputError(f"{index}: lists {path.name} for {section}, but the file is missing")
    return (path, None) if scale == 1.0 else (None, (path, scale))


def read_labels(path: str | os.PathLike) -> pd.Series:
    """A pathologist label table (`x`, `y`, `label`, tab-separated): the label of each spot,
    indexed by its name "{x}x{y}" (x, y rounded). Rows without coordinates are left out; a spot
    labelled twice is an error."""
    path = Path(path)
    lab = _read_table(path, ["x", "y", "label"])
    lab = lab[lab["x"].notna() & lab["y"].notna()]
    names = _spot_names(lab, where=str(path), round_xy=True)
    check_unique(names, what="spot", where=str(path))
    return pd.Series(lab["label"].to_numpy(), index=names, name="label")


def _spot_names(table: pd.DataFrame, *, where: str, round_xy: bool) -> pd.Index:
    """Spot names "{x}x{y}" from the x, y columns: numbers (rounded when `round_xy`, else whole)
    in [0, GRID_MAX]."""
    parts = []
    for col in ("x", "y"):
        values = pd.to_numeric(table[col], errors="coerce").to_numpy(dtype=np.float64)
        values = np.round(values) if round_xy else values
        bad = ~(np.isfinite(values) & (values == np.round(values)) & (values >= 0) & (values <= GRID_MAX))
        if bad.any():
            i = int(np.argmax(bad))
            kind = "a number" if round_xy else "an integer"
            raise InputError(f"{where}: {col} = {table[col].iloc[i]!r} in row {i + 1}: must be {kind} in [0, {GRID_MAX}]")
        parts.append(values.astype(np.int64).astype(str))
    return pd.Index(np.char.add(np.char.add(parts[0], "x"), parts[1]))


def _join_pathologist_labels(obs: pd.DataFrame, folder: Path, section: str, labels_dir) -> None:
    """obs['pathologist_label'] (categorical, NaN where unlabelled), keyed on the rounded refined x, y."""
    explicit = labels_dir is not None
    labels_dir = Path(labels_dir) if explicit else folder / "pathologist_labels"
    path = labels_dir / f"{section}_labeled_coordinates.tsv"
    if not path.is_file():
        if explicit:
            raise InputError(f"{path}: no pathologist labels for section {section!r} in labels_dir")
        return
    obs["pathologist_label"] = pd.Categorical(read_labels(path).reindex(obs.index))
    n = int(obs["pathologist_label"].notna().sum())
    if n == 0:
        raise InputError(f"{path}: labels match none of the {len(obs)} spots of section {section}")
    logger.info("%s: %d of %d spots labelled", path, n, len(obs))


def _join_expression_clusters(obs: pd.DataFrame, folder: Path, section: str) -> None:
    """obs['expression_cluster'] (categorical cluster id) and obs['weak_is_cancer'] (bool; False
    where the spot has no cluster), from the authors' per-patient expression clusters."""
    path = folder / "expression_clusters" / f"{section}-cluster-annotation.tsv.gz"
    parsed = folder / "expression_clusters" / "cluster_annotation_parsed.csv"
    if not path.is_file() or not parsed.is_file():
        return
    clusters = _read_table(path, ["x", "y", "label"])
    clusters.index = _spot_names(clusters, where=str(path), round_xy=False)
    check_unique(clusters.index, what="spot", where=str(path))
    cluster = clusters["label"].reindex(obs.index)
    annot = pd.read_csv(parsed)
    annot = annot[annot["patient"] == section[0]].set_index("cluster")["is_cancer_cluster"]
    obs["expression_cluster"] = pd.Categorical(cluster.map(lambda c: np.nan if pd.isna(c) else str(int(c))))
    obs["weak_is_cancer"] = cluster.map(annot).eq(True).to_numpy(dtype=bool)
