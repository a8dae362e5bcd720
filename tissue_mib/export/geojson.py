"""Flagged regions as a GeoJSON FeatureCollection of QuPath annotations.

Each connected component of flagged spots (`obs['tissue_mib_region']`) becomes one polygon
in full-resolution image pixels (x right, y down, as `obsm['spatial']`): the union of discs
around its spots and of the graph edges between them, of radius 0.55 x the spot pitch (so
neighbouring spots merge into one outline) and never smaller than the spot itself. QuPath opens it with File > Import objects.
"""

from __future__ import annotations

import json
import logging
import uuid
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree
import scipy.sparse as sp
from shapely import MultiLineString, MultiPoint
from shapely.geometry import mapping

from tissue_mib.errors import InputError
from tissue_mib.pl.sections import select_library
from tissue_mib.utils import atomic_write, plain

logger = logging.getLogger(__name__)

CLASSIFICATION = {"name": "Anomalous", "color": [220, 20, 60]}


def _pitch(xy: np.ndarray) -> float:
    """Median nearest-neighbour distance between spot centres (full-res pixels)."""
    if len(xy) < 2:
        return 0.0
    d, _ = cKDTree(xy).query(xy, k=2)
    return float(np.median(d[:, 1]))


def _outline(xy: np.ndarray, graph: sp.csr_matrix, radius: float):
    """Union of discs of `radius` around the spots and of the buffered edges between them."""
    rows, cols = sp.triu(graph, k=1).nonzero()
    edges = MultiLineString([[xy[i], xy[j]] for i, j in zip(rows, cols)]) if rows.size else None
    shape = MultiPoint(xy).buffer(radius, quad_segs=8)
    return shape.union(edges.buffer(radius, quad_segs=8)) if edges is not None else shape


def regions_geojson(adata, *, library_id: str | None = None) -> dict:
    """The flagged regions of one section as a GeoJSON FeatureCollection (dict), one Feature per region.

    Properties: objectType "annotation", classification {name "Anomalous", color}, name,
    n_spots, area_um2 (the outline's area in µm²), mean_score, min_qvalue (these four also under
    `measurements`, which QuPath lists), and `top_genes`: the region's most deviating genes
    ("GENE +z; ...", from `tl.regions.rank_deviating_genes` when it has run, else absent).
    Runs `tl.regions.flagged_regions` first when `obs['tissue_mib_region']` is absent.
    """
    from tissue_mib.tl.regions import GENES_KEY, REGION_KEY, flagged_regions, region_genes
    from tissue_mib.tl.tensors import microns_per_pixel

    if "spatial" not in adata.obsm:
        raise InputError("obsm['spatial']: missing; the AnnData has no spot coordinates")
    for key in ("tissue_mib_score", "tissue_mib_qvalue"):
        if key not in adata.obs:
            raise InputError(f"obs['{key}']: missing; score the section first")
    if REGION_KEY not in adata.obs:
        flagged_regions(adata)
    lib, mask = select_library(adata, library_id)
    xy_all = np.asarray(adata.obsm["spatial"], dtype=np.float64)[mask]
    obs = adata.obs[mask]
    spot_diameter = float(adata.uns.get("spatial", {}).get(lib, {}).get("scalefactors", {}).get("spot_diameter_fullres", 0.0))
    radius = max(0.55 * _pitch(xy_all), 0.5 * spot_diameter, 1.0)
    section = str(obs["section"].iloc[0]) if "section" in obs and len(obs) else lib
    um2_per_px2 = microns_per_pixel(adata, lib) ** 2
    genes = region_genes(adata) if GENES_KEY in adata.uns else None
    features = []
    regions = obs[REGION_KEY]
    graph = sp.csr_matrix(adata.obsp["spatial_connectivities"])[mask][:, mask]
    for region in regions.cat.categories:
        sel = (regions == region).to_numpy()
        if not sel.any():
            continue
        shape = _outline(xy_all[sel], graph[sel][:, sel], radius)
        stats = {
            "n_spots": int(sel.sum()),
            "area_um2": float(shape.area * um2_per_px2),
            "mean_score": float(obs["tissue_mib_score"].to_numpy()[sel].mean()),
            "min_qvalue": float(obs["tissue_mib_qvalue"].to_numpy()[sel].min()),
        }
        top = {} if genes is None else {"top_genes": _top_genes(genes, str(region))}
        features.append({
            "type": "Feature",
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"tissue-mib/{section}/region/{region}")),
            "geometry": mapping(shape),
            "properties": {
                "objectType": "annotation",
                "classification": CLASSIFICATION,
                "name": f"{section} region {region}",
                **stats,
                **top,
                "measurements": stats,
            },
        })
    return {"type": "FeatureCollection", "features": features}


def _top_genes(table, region: str, n: int = 5) -> str:
    """The region's `n` most deviating genes as "GENE +z; GENE -z" (z to one decimal)."""
    rows = table[table["region"] == region].nsmallest(n, "rank")
    return "; ".join(f"{g} {z:+.1f}" for g, z in zip(rows["gene"], rows["z"]))


def write_geojson(adata, path: str | Path, *, library_id: str | None = None) -> Path:
    """Write `regions_geojson` to `path` atomically (a section with no flagged spot gives an empty collection)."""
    collection = regions_geojson(adata, library_id=library_id)
    path = Path(path)
    with atomic_write(path, suffix=".geojson") as tmp:
        tmp.write_text(json.dumps(plain(collection)))
    logger.debug("wrote %d region(s) to %s", len(collection["features"]), path)
    return path
