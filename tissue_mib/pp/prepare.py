"""The whole preprocessing chain, cached: sections on disk -> model-ready AnnData + gene panel."""

from __future__ import annotations

import logging
import os
from dataclasses import asdict, dataclass, fields, replace

import anndata as ad
import numpy as np
from anndata import AnnData

from tissue_mib import __version__
from tissue_mib.checks import check_float, check_int, check_positive
from tissue_mib.errors import InputError
from tissue_mib.pp import cache
from tissue_mib.pp._util import LIBRARY_KEY, library_ids, library_masks
from tissue_mib.pp.batch import combat_apply, combat_fit, with_reference
from tissue_mib.pp.graph import spatial_graph
from tissue_mib.pp.panel import GenePanel, select_panel
from tissue_mib.pp.patches import default_patch_um, image_source, patches
from tissue_mib.pp.qc import TARGET_SUM, normalize, qc
from tissue_mib.pp.stain import macenko_normalize
from tissue_mib.settings import progress

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PrepConfig:
    """Parameters of `prepare` (all enter the cache key).

    min_spots: keep genes seen in at least this many spots of the training cohort.
    n_top_genes: panel size (clamped to the genes available). target_sum: counts per spot
    before log1p. max_missing: largest fraction of panel genes a section may lack.
    batch_correction: None or "combat" (genes, across sections). patch_um: patch side in µm
    (None: one spot diameter, fixed from the training cohort). patch_size: P (pixels).
    stain_normalization: None or "macenko". n_neighs: neighbours of the kNN graph (no grid).
    scale: the model reads per-gene z-scores against the healthy reference (`GenePanel.scale`,
    clipped at +-10, as `sc.pp.scale`); `X` itself stays log-normalised. n_pcs: the model reads
    the top n_pcs principal axes of the scaled genes (fitted on the training cohort, kept in the
    panel) instead of every gene; None: every gene.
    """

    min_spots: int = 10
    n_top_genes: int = 3000
    target_sum: float = TARGET_SUM
    max_missing: float = 0.2
    batch_correction: str | None = None
    patch_um: float | None = None
    patch_size: int = 32
    stain_normalization: str | None = None
    n_neighs: int = 6
    scale: bool = True
    n_pcs: int | None = None

    def __post_init__(self):
        if self.batch_correction not in (None, "combat"):
            raise InputError(f"PrepConfig.batch_correction must be None or 'combat', got {self.batch_correction!r}")
        if self.stain_normalization not in (None, "macenko"):
            raise InputError(f"PrepConfig.stain_normalization must be None or 'macenko', got {self.stain_normalization!r}")
        for name, lo in (("min_spots", 0), ("n_top_genes", 1), ("patch_size", 1), ("n_neighs", 1)):
            object.__setattr__(self, name, check_int(getattr(self, name), name=f"PrepConfig.{name}", lo=lo))
        object.__setattr__(self, "target_sum", check_positive(self.target_sum, name="PrepConfig.target_sum"))
        object.__setattr__(self, "max_missing", check_float(self.max_missing, name="PrepConfig.max_missing", lo=0.0, hi=1.0))
        if self.patch_um is not None:
            object.__setattr__(self, "patch_um", check_positive(self.patch_um, name="PrepConfig.patch_um"))
        if self.n_pcs is not None:
            object.__setattr__(self, "n_pcs", check_int(self.n_pcs, name="PrepConfig.n_pcs", lo=1))
            if not self.scale:
                raise InputError(f"PrepConfig.n_pcs = {self.n_pcs} needs scale=True")

    def to_dict(self) -> dict:
        """The set fields (None left out, so the dict is h5ad/YAML safe)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @classmethod
    def from_dict(cls, d: dict) -> PrepConfig:
        """Inverse of `to_dict`; unknown keys raise InputError."""
        known = {f.name: f for f in fields(cls)}
        unknown = set(d) - set(known)
        if unknown:
            raise InputError(f"PrepConfig: unknown field(s) {sorted(unknown)}; known: {sorted(known)}")
        numeric = {"min_spots", "n_top_genes", "patch_size", "n_neighs", "n_pcs", "target_sum", "max_missing", "patch_um"}

        def cast(key, value):  # numbers are checked (and cast) in __post_init__
            if value is None or key in numeric:
                return value
            return _bool(value) if key == "scale" else str(value)

        return cls(**{k: cast(k, v) for k, v in d.items()})


def _bool(value) -> bool:
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if isinstance(value, (bool, int, np.integer)) and value in (0, 1):
        return bool(value)
    raise InputError(f"PrepConfig: expected true or false, got {value!r}")


def split_sections(adatas: AnnData | list[AnnData]) -> list[AnnData]:
    """One AnnData per library (copies), each with only its own `uns['spatial']` entry."""
    adatas = [adatas] if isinstance(adatas, AnnData) else list(adatas)
    if not adatas:
        raise InputError("prepare: no sections given")
    sections = []
    for a in adatas:
        if "spatial" not in a.obsm:
            raise InputError(f"section {','.join(library_ids(a))}: no obsm['spatial'] (spot centres)")
        for lib, rows in library_masks(a):
            sec = a[rows].copy() if not rows.all() else a.copy()  # deep copies uns: inputs stay untouched
            spatial = sec.uns.get("spatial", {})
            sec.uns["spatial"] = {lib: spatial[lib]} if lib in spatial else {}
            sections.append(sec)
    libs = [library_ids(s)[0] for s in sections]
    if len(set(libs)) != len(libs):
        raise InputError(f"prepare: library ids repeat across the inputs ({libs}); give each section its own id")
    return sections


def prepare(adatas: AnnData | list[AnnData], *, panel: GenePanel | None = None, config: PrepConfig | None = None,
            use_cache: bool = True, cache_dir: str | os.PathLike | None = None) -> tuple[AnnData, GenePanel]:
    """QC, normalise, fit (if `panel` is None) and apply the gene panel, spot graph, patches.

    Returns the sections concatenated (X dense float32 (N, G) log-normalised in panel order,
    `obsp` graph, `obsm['tissue_mib_patches']` when images exist) and the panel. Spots with
    no counts are dropped (obs_names identify the rest; they get a `{library_id}_` prefix
    only when barcodes repeat across sections). The result is cached on disk (see
    `tissue_mib.pp.cache`) unless `use_cache=False`; `uns['tissue_mib_prep']` records the
    config (patch_um resolved), the panel, the cache path and the version.
    """
    config = config or PrepConfig()
    fitting = panel is None
    sections = split_sections(adatas)
    # the whole panel, not its hash: ComBat on a new section uses the reference statistics, which the hash omits
    params = {"config": config.to_dict(), "panel": "fit" if fitting else panel.to_dict()}
    path = cache.cache_path(cache.input_hash(sections, params), directory=cache_dir) if use_cache else None
    if path is not None and (cached := cache.load(path)) is not None:
        cached.uns["tissue_mib_prep"]["cache_path"] = str(path)  # where it lives now (the folder may have moved)
        return cached, GenePanel.from_dict(cached.uns["tissue_mib_prep"]["panel"])

    summary: dict[str, dict] = {}
    for sec in progress(sections, desc="QC + normalise", total=len(sections)):
        lib = library_ids(sec)[0]
        n_in = sec.n_obs
        qc(sec, min_spots=0)
        if sec.n_obs == 0:
            raise InputError(f"section {lib}: no spot has any counts")
        normalize(sec, target_sum=config.target_sum)
        summary[lib] = {"n_spots_in": int(n_in), "n_spots_dropped": int(n_in - sec.n_obs),
                        "was_normalised": bool(sec.uns["tissue_mib_normalize"]["skipped"])}
    if fitting:
        panel = _fit_panel(sections, config)
    applied = []
    for sec in sections:
        lib = library_ids(sec)[0]
        out = panel.apply(sec, max_missing=config.max_missing)
        summary[lib] |= {k: out.uns["tissue_mib_panel"][k] for k in ("n_missing", "frac_missing")}
        applied.append(out)
    adata = _concat(applied)
    if config.batch_correction == "combat":
        if fitting:
            panel = combat_fit(adata, panel)
        else:
            combat_apply(adata, panel)
    elif fitting:
        panel = with_reference(adata, panel)
    if fitting and config.n_pcs:
        panel = panel.with_pca(np.asarray(adata.X), config.n_pcs)
    spatial_graph(adata, n_neighs=config.n_neighs)
    config = replace(config, patch_um=_resolve_patch_um(adata, config))
    if config.patch_um is not None:
        patches(adata, patch_um=config.patch_um, size=config.patch_size)
        if config.stain_normalization == "macenko" and "tissue_mib_patches" in adata.obsm:
            for lib, rows in library_masks(adata):
                if adata.uns["tissue_mib_patches"]["source_image"].get(lib):
                    adata.obsm["tissue_mib_patches"][rows] = macenko_normalize(adata.obsm["tissue_mib_patches"][rows])
    else:
        logger.warning("no section has a usable image: genes only, no histology patches")
    for per_section in ("tissue_mib_qc", "tissue_mib_normalize"):  # summarised per library below
        adata.uns.pop(per_section, None)
    adata.uns["tissue_mib_panel"] = {"hash": panel.hash, "n_missing": max(s["n_missing"] for s in summary.values()),
                                     "frac_missing": max(s["frac_missing"] for s in summary.values())}
    adata.uns["tissue_mib_prep"] = {"config": config.to_dict(), "panel": panel.to_dict(), "libraries": summary,
                                    "cache_path": str(path) if path is not None else "", "version": __version__}
    if path is not None:
        cache.store(adata, path)
    return adata, panel


def _fit_panel(sections: list[AnnData], config: PrepConfig) -> GenePanel:
    """Gene QC (min_spots over the whole cohort) and HVGs with sections as batches."""
    cohort = sections[0].copy() if len(sections) == 1 else ad.concat(sections, join="inner", merge="first",
                                                                       index_unique="-")
    qc(cohort, min_spots=config.min_spots)
    if cohort.n_vars == 0:
        raise InputError(f"prepare: no gene is seen in >= {config.min_spots} spots of the training cohort")
    return select_panel(cohort, n_top_genes=config.n_top_genes, batch_key=LIBRARY_KEY)


def _concat(parts: list[AnnData]) -> AnnData:
    """Concatenate panel-applied sections, keeping every library's `uns['spatial']` entry."""
    if len(parts) == 1:
        return parts[0]
    names = np.concatenate([p.obs_names.to_numpy() for p in parts])
    if len(set(names)) != len(names):
        for p in parts:
            p.obs_names = [f"{library_ids(p)[0]}_{n}" for n in p.obs_names]
    adata = ad.concat(parts, merge="first", uns_merge="first")
    adata.uns["spatial"] = {lib: e for p in parts for lib, e in p.uns.get("spatial", {}).items()}
    adata.obs[LIBRARY_KEY] = adata.obs[LIBRARY_KEY].astype(str).astype("category")
    return adata


def _resolve_patch_um(adata: AnnData, config: PrepConfig) -> float | None:
    """config.patch_um, else the spot diameter of the first library with an image (None: no image)."""
    if config.patch_um is not None:
        return float(config.patch_um)
    with_image = [lib for lib in library_ids(adata) if image_source(adata, lib) is not None]
    if not with_image:
        return None
    sizes = {lib: round(default_patch_um(adata, lib), 3) for lib in with_image}
    if len(set(sizes.values())) > 1:
        logger.warning("spot diameters differ across sections %s; patches use %s µm for all",
                       sizes, sizes[with_image[0]])
    return float(sizes[with_image[0]])
