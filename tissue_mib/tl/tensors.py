"""Prepared AnnData (the output of `pp.prepare`) -> the engine's `MultiModalData`."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp
from anndata import AnnData

from tissue_mib.errors import InputError
from tissue_mib.pp.panel import GenePanel
from tissue_mib.train import MultiModalData
from tissue_mib.train.data import in_neighbours, neighbourhood

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


def model_genes(prepared: AnnData, rows: np.ndarray | None = None) -> np.ndarray:
    """The gene input of the models, float32, for `rows` (default all): X z-scored per gene with the panel's
    healthy reference (N, G), or its principal components (N, n_pcs), when the prep config says `scale`
    (the default), else X as it is (`GenePanel.model_inputs`)."""
    x = prepared.X if rows is None else prepared.X[rows]
    x = x.toarray() if sp.issparse(x) else np.asarray(x)
    record = prepared.uns.get("tissue_mib_prep", {})
    if not record.get("config", {}).get("scale", False):
        return x.astype(np.float32, copy=False)
    return GenePanel.from_dict(record["panel"]).model_inputs(x)


def to_data(prepared: AnnData, modalities: tuple[str, ...], *, graph: bool) -> MultiModalData:
    """genes (N, G) float32 = `model_genes` (scaled X), histology (N, P, P, 3) uint8 = obsm patches, groups = section
    codes; with `graph`, edge_index from obsp['spatial_connectivities']."""
    _check_modalities(prepared, modalities)
    edge_index = graph_edges(prepared) if graph else None
    return _data(prepared, modalities, None, edge_index, section_codes(prepared))


def chunks(prepared: AnnData, modalities: tuple[str, ...], *, graph: bool, hops: int,
           size: int) -> Iterator[tuple[np.ndarray, MultiModalData]]:
    """`to_data` in chunks of at most `size` target rows, so that no model input of the whole section
    is ever held: yields (targets, data), where `data` holds the targets first, then (with `graph`) the
    rest of their `hops`-hop neighbourhood with the edges among them. Predicting the first
    len(targets) rows of `data` with the same `hops` gives exactly what `to_data` gives, since each
    target's neighbourhood is whole. With `graph`, targets follow `spatial_order`, so that a chunk,
    and each run of consecutive targets in it (a batch), is a compact patch of tissue whose
    neighbourhood adds a thin band of rows, not a strip across the section."""
    _check_modalities(prepared, modalities)
    groups = section_codes(prepared)
    edges = graph_edges(prepared) if graph else None
    if graph:
        order = spatial_order(np.asarray(prepared.obsm["spatial"], dtype=np.float64), groups, edges)
        in_csr = in_neighbours(edges, prepared.n_obs)
    else:
        order = np.arange(prepared.n_obs)
    for start in range(0, len(order), size):
        targets = order[start : start + size]
        rows, edge_index = neighbourhood(in_csr, targets, hops) if graph else (targets, None)
        yield targets, _data(prepared, modalities, rows, edge_index, groups[rows])


def spatial_order(xy: np.ndarray, groups: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Row order by section, then along a Z-order (Morton) curve of the spots' positions snapped to
    a grid of the median edge length (the spot pitch): any run of consecutive rows covers a compact
    patch. On a 316 x 316 square grid, runs of 128 spots have 2.2 rows per spot in their 3-hop
    neighbourhood in this order, 7.0 in row-major order."""
    lengths = np.linalg.norm(xy[edges[0]] - xy[edges[1]], axis=1) if edges.size else np.zeros(0)
    pitch = float(np.median(lengths[lengths > 0])) if (lengths > 0).any() else 1.0
    cells = np.clip(np.floor((xy - xy.min(axis=0)) / pitch), 0, 2**31 - 1).astype(np.uint64)
    return np.lexsort((_spread_bits(cells[:, 0]) | (_spread_bits(cells[:, 1]) << np.uint64(1)), groups))


def _spread_bits(v: np.ndarray) -> np.ndarray:
    """The 32 low bits of each uint64 in `v` moved to the even bit positions (a Morton code's half)."""
    v = v & np.uint64(0xFFFFFFFF)
    for shift, mask in ((16, 0x0000FFFF0000FFFF), (8, 0x00FF00FF00FF00FF), (4, 0x0F0F0F0F0F0F0F0F),
                        (2, 0x3333333333333333), (1, 0x5555555555555555)):
        v = (v | (v << np.uint64(shift))) & np.uint64(mask)
    return v


def _check_modalities(prepared: AnnData, modalities: tuple[str, ...]) -> None:
    unknown = set(modalities) - set(MODALITIES)
    if unknown:
        raise InputError(f"modalities {sorted(unknown)} unknown; tissue models read {', '.join(MODALITIES)}")
    if "histology" in modalities:
        missing = libraries_without_image(prepared)
        if missing:
            raise InputError(f"section(s) {', '.join(missing)}: no image, but the model needs histology patches")


def _data(prepared: AnnData, modalities: tuple[str, ...], rows: np.ndarray | None, edge_index: np.ndarray | None,
          groups: np.ndarray) -> MultiModalData:
    """MultiModalData of `rows` of `prepared` (None: all) with the given edges (relabelled to `rows`)."""
    mods = {"genes": model_genes(prepared, rows)}
    if "histology" in modalities:
        patches = prepared.obsm["tissue_mib_patches"]
        mods["histology"] = np.asarray(patches if rows is None else patches[rows], dtype=np.uint8)
    try:
        return MultiModalData(modalities=mods, edge_index=edge_index, groups=groups)
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
