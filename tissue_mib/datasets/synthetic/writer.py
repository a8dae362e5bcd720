"""Write a synthetic section as a Space Ranger-style folder plus its full-resolution pyramidal TIFF.

Folder `<out>/<NAME>/`: `filtered_feature_bc_matrix.h5` (10x HDF5 v3 layout),
`spatial/tissue_positions.csv` (headed, Space Ranger 2.x), `spatial/scalefactors_json.json`,
`spatial/tissue_hires_image.png`, `spatial/tissue_lowres_image.png`, `fullres_image.tif`
(tiled 256 px, JPEG, pyramid levels as SubIFDs, resolution in pixels per cm) and
`truth.csv` (barcode, domain, anomaly_kind). Every file is written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import tifffile
from PIL import Image

from tissue_mib.datasets.synthetic.config import SPOT_UM
from tissue_mib.datasets.synthetic.section import SyntheticSection
from tissue_mib.utils import atomic_write

MATRIX_FILE = "filtered_feature_bc_matrix.h5"
FULLRES_FILE = "fullres_image.tif"
TRUTH_FILE = "truth.csv"
_PYRAMID_MIN_PX = 512
_JPEG_QUALITY = 90
_PNG_LEVEL = 1  # fast; the images carry pixel noise that compresses poorly anyway


def _strings(values) -> np.ndarray:
    """Fixed-length byte strings, as Space Ranger writes them."""
    return np.array([str(v).encode() for v in values])


def write_10x_h5(path: Path, section: SyntheticSection) -> None:
    """The in-tissue counts as a 10x HDF5 v3 matrix (features x barcodes CSC, gzip)."""
    counts = section.counts  # CSR spots x genes == CSC genes x spots
    n_genes = len(section.gene_ids)
    with atomic_write(path) as tmp, h5py.File(tmp, "w", track_order=False) as f:
        f.attrs["filetype"] = "matrix"
        f.attrs["library_ids"] = _strings([section.name])
        f.attrs["original_gem_groups"] = np.array([1], dtype=np.int64)
        f.attrs["chemistry_description"] = "Spatial 3' v1"
        f.attrs["software_version"] = "tissue-mib synthetic"
        f.attrs["version"] = 2
        m = f.create_group("matrix")
        opts = {"compression": "gzip", "track_times": False}
        m.create_dataset("barcodes", data=_strings(section.truth.index), **opts)
        m.create_dataset("data", data=counts.data.astype(np.int32), **opts)
        m.create_dataset("indices", data=counts.indices.astype(np.int64), **opts)
        m.create_dataset("indptr", data=counts.indptr.astype(np.int64), **opts)
        m.create_dataset("shape", data=np.array([n_genes, counts.shape[0]], dtype=np.int32), track_times=False)
        feats = m.create_group("features")
        feats.create_dataset("id", data=_strings(section.gene_ids), **opts)
        feats.create_dataset("name", data=_strings(section.gene_symbols), **opts)
        feats.create_dataset("feature_type", data=_strings(["Gene Expression"] * n_genes), **opts)
        feats.create_dataset("genome", data=_strings(["SYN1"] * n_genes), **opts)
        feats.create_dataset("_all_tag_keys", data=_strings(["genome"]), track_times=False)


def scalefactors(section: SyntheticSection) -> dict[str, float]:
    """Space Ranger scale factors: hires at most `hires_px` and lowres `lowres_px` on the long side."""
    longest = max(section.image.shape[:2])
    return {
        "spot_diameter_fullres": SPOT_UM / section.mpp,
        "fiducial_diameter_fullres": 1.615 * SPOT_UM / section.mpp,
        "tissue_hires_scalef": min(1.0, section.config.hires_px / longest),
        "tissue_lowres_scalef": min(1.0, section.config.lowres_px / longest),
        "microns_per_pixel": section.mpp,
    }


def _resized(image: np.ndarray, scale: float) -> Image.Image:
    pil = Image.fromarray(image)
    if scale == 1.0:
        return pil
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return pil.resize(size, Image.Resampling.LANCZOS)


def write_pyramid_tiff(path: Path, image: np.ndarray, *, mpp: float) -> None:
    """Tiled JPEG TIFF with halved levels down to about 512 px as SubIFDs; resolution = 1e4 / mpp px/cm."""
    levels = [image]
    while max(levels[-1].shape[:2]) > 2 * _PYRAMID_MIN_PX:
        levels.append(np.asarray(Image.fromarray(levels[-1]).reduce(2)))
    opts = {
        "tile": (256, 256),
        "compression": "jpeg",
        "compressionargs": {"level": _JPEG_QUALITY},
        "photometric": "rgb",
        "resolutionunit": "CENTIMETER",
        "metadata": None,
    }
    px_per_cm = 1e4 / mpp
    with atomic_write(path) as tmp, tifffile.TiffWriter(tmp) as tif:
        tif.write(levels[0], subifds=len(levels) - 1, resolution=(px_per_cm, px_per_cm), description=f"tissue-mib synthetic section; {mpp} um/px", **opts)
        for i, level in enumerate(levels[1:], start=1):
            tif.write(level, subfiletype=1, resolution=(px_per_cm / 2**i, px_per_cm / 2**i), **opts)


def write_section_folder(section: SyntheticSection, folder: Path) -> Path:
    """Write `section` as a Space Ranger-style folder at `folder`; returns the full-resolution TIFF path."""
    spatial = folder / "spatial"
    spatial.mkdir(parents=True, exist_ok=True)
    write_10x_h5(folder / MATRIX_FILE, section)
    with atomic_write(spatial / "tissue_positions.csv") as tmp:
        section.spots[["in_tissue", "array_row", "array_col", "pxl_row_in_fullres", "pxl_col_in_fullres"]].to_csv(tmp, index_label="barcode")
    factors = scalefactors(section)
    with atomic_write(spatial / "scalefactors_json.json") as tmp:
        tmp.write_text(json.dumps(factors, indent=2))
    for key in ("hires", "lowres"):
        with atomic_write(spatial / f"tissue_{key}_image.png") as tmp:
            _resized(section.image, factors[f"tissue_{key}_scalef"]).save(tmp, format="PNG", compress_level=_PNG_LEVEL)
    with atomic_write(folder / TRUTH_FILE) as tmp:
        section.truth.to_csv(tmp, index_label="barcode")
    write_pyramid_tiff(folder / FULLRES_FILE, section.image, mpp=section.mpp)
    return folder / FULLRES_FILE
