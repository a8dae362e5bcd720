"""Prepared AnnData (the output of `pp.prepare`) -> the engine's `MultiModalData`."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from tissue_mib.errors import InputError
from tissue_mib.pp.panel import GenePanel
from tissue_mib.train import MultiModalData

LIBRARY_KEY = "library_id"
MODALITIES = ("genes", "histology")


def libraries_without_image(prepared: AnnData) -> list[str]:
    """Library ids of `prepared` that have no histology patches."""
    libs = list(prepared.obs[LIBRARY_KEY].astype(str).unique())
    if "tissue_mib_patches" not in prepared.obsm:
        return libs
    source = prepared.uns.get("tissue_mib_patches", {}).get("source_image", {})
    return [lib for lib in libs if not source.get(lib)]


def uses_graph(method, modalities: tuple[str, ...]) -> bool:
    """Whether `method` encodes the genes with a graph encoder (then batches carry k-hop subgraphs)."""
    return "genes" in modalities and method.is_graph("genes")


def graph_edges(prepared: AnnData) -> np.ndarray:
    """(2, E) int64 (source, target) from obsp['spatial_connectivities']."""
    if "spatial_connectivities" not in prepared.obsp:
        raise InputError("prepared data has no obsp['spatial_connectivities'] (run pp.prepare)")
    graph = sp.coo_matrix(prepared.obsp["spatial_connectivities"])
    return np.stack([graph.row, graph.col]).astype(np.int64)


def section_codes(prepared: AnnData) -> np.ndarray:
    """(N,) int64 section id per row (codes of obs['library_id'])."""
    return prepared.obs[LIBRARY_KEY].astype("category").cat.codes.to_numpy().astype(np.int64)


def model_genes(prepared: AnnData) -> np.ndarray:
    """The gene input of the models, float32: X z-scored per gene with the panel's healthy
    reference (N, G), or its principal components (N, n_pcs), when the prep config says `scale`
    (the default), else X as it is (`GenePanel.model_inputs`)."""
    x = prepared.X.toarray() if sp.issparse(prepared.X) else np.asarray(prepared.X)
    record = prepared.uns.get("tissue_mib_prep", {})
    if not record.get("config", {}).get("scale", False):
        return x.astype(np.float32, copy=False)
    return GenePanel.from_dict(record["panel"]).model_inputs(x)


def to_data(prepared: AnnData, modalities: tuple[str, ...], *, graph: bool) -> MultiModalData:
    """genes (N, G) float32 = `model_genes` (scaled X), histology (N, P, P, 3) uint8 = obsm patches, groups = section
    codes; with `graph`, edge_index from obsp['spatial_connectivities']."""
    unknown = set(modalities) - set(MODALITIES)
    if unknown:
        raise InputError(f"modalities {sorted(unknown)} unknown; tissue models read {', '.join(MODALITIES)}")
    if "histology" in modalities:
        missing = libraries_without_image(prepared)
        if missing:
            raise InputError(f"section(s) {', '.join(missing)}: no image, but the model needs histology patches")
    mods = {"genes": model_genes(prepared)}
    if "histology" in modalities:
        mods["histology"] = np.asarray(prepared.obsm["tissue_mib_patches"], dtype=np.uint8)
    edge_index = graph_edges(prepared) if graph else None
    try:
        return MultiModalData(modalities=mods, edge_index=edge_index, groups=section_codes(prepared))
    except InputError as exc:
        raise InputError(f"prepared data ({', '.join(prepared.obs[LIBRARY_KEY].astype(str).unique())}): {exc}") from exc


def coords_um(prepared: AnnData) -> np.ndarray:
    """Spot centres (N, 2) in micrometres (obsm['spatial'] x the library's microns_per_pixel)."""
    xy = np.asarray(prepared.obsm["spatial"], dtype=np.float64)
    out = np.empty_like(xy)
    libs = prepared.obs[LIBRARY_KEY].astype(str).to_numpy()
    for lib in np.unique(libs):
        out[libs == lib] = xy[libs == lib] * microns_per_pixel(prepared, lib)
    return out


def microns_per_pixel(adata: AnnData, lib: str) -> float:
    """Micrometres per full-resolution pixel of library `lib`: its scalefactors' `microns_per_pixel`,
    else the spot diameter in µm (metadata `spot_diameter_um`, Visium's 55 by default) over
    `spot_diameter_fullres`."""
    spatial = adata.uns.get("spatial", {}).get(lib, {})
    scale = spatial.get("scalefactors", {})
    mpp = scale.get("microns_per_pixel")
    if mpp is None and "spot_diameter_fullres" in scale:
        mpp = float(spatial.get("metadata", {}).get("spot_diameter_um", 55.0)) / float(scale["spot_diameter_fullres"])
    if mpp is None:
        raise InputError(f"section {lib}: uns['spatial'][{lib!r}]['scalefactors'] has no microns_per_pixel")
    return float(mpp)
