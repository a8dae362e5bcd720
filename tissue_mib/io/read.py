"""`io.read`: one entry point for every layout and for catalogue names."""

from __future__ import annotations

import os
from pathlib import Path

from anndata import AnnData

from tissue_mib.errors import InputError
from tissue_mib.io.catalogue import SectionRef, ref_for_path, resolve
from tissue_mib.io.h5ad import read_h5ad_section
from tissue_mib.io.legacy_st import is_legacy_st_folder, read_legacy_st
from tissue_mib.io.section import set_section_name
from tissue_mib.io.spaceranger import is_spaceranger_folder, read_spaceranger
from tissue_mib.io.visium_hd import find_hd_bins, read_visium_hd


def read(
    source: str | os.PathLike | SectionRef,
    *,
    section: str | None = None,
    image: str | os.PathLike | None = None,
    layer: str | None = None,
    labels_dir: str | os.PathLike | None = None,
    catalogue: str | os.PathLike | None = None,
) -> AnnData:
    """Read one section (or a multi-section h5ad) into the tissue-mib AnnData layout.

    `source`: a path (Space Ranger `outs/`, Visium HD folder, `.h5ad`, legacy ST folder such
    as her2st with `section="B1"`) or a catalogue name (`BC-A`, `SYN-NB-C`; `catalogue=` adds
    a user catalogue) or a `catalogue.SectionRef` (its name becomes `obs['section']`).
    `image`: full-resolution image (TIFF/SVS/JPEG) in the spot pixel frame.
    `layer`: h5ad layer used as X. `labels_dir`: folder of `{section}_labeled_coordinates.tsv`.
    Keys produced: docs/dev/architecture.md section 1.
    """
    named = True  # obs['section'] becomes the catalogue / SectionRef name
    if isinstance(source, SectionRef):
        ref = source
    elif isinstance(source, os.PathLike) or Path(source).expanduser().exists():
        ref, named = ref_for_path(Path(source).expanduser()), False
    else:
        refs = resolve(str(source), catalogue=catalogue)
        if len(refs) != 1:
            raise InputError(f"{source}: names {len(refs)} sections; read them one by one with io.catalogue.resolve")
        ref = refs[0]
    adata = _read_path(
        ref.path,
        section=section or ref.section,
        image=image or ref.image,
        layer=layer or ref.layer,
        labels_dir=labels_dir or ref.labels_dir,
    )
    if named and len(adata.uns["spatial"]) == 1:
        set_section_name(adata, ref.name)
    return adata


def _read_path(path: Path, *, section, image, layer, labels_dir) -> AnnData:
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if path.is_file():
        if path.suffix == ".h5ad":
            _reject(path, section=section, labels_dir=labels_dir)
            return read_h5ad_section(path, layer=layer, image=image)
        hint = "; for a 10x matrix alone use tissue_mib.io.read_matrix" if path.suffix == ".h5" else ""
        raise InputError(f"{path}: unsupported file type; give an .h5ad, a Space Ranger or Visium HD folder, or a legacy ST folder{hint}")
    if is_legacy_st_folder(path):
        _reject(path, layer=layer)
        return read_legacy_st(path, section=section, image=image, labels_dir=labels_dir)
    hd = find_hd_bins(path)
    if hd is not None:
        _reject(path, section=section, layer=layer, labels_dir=labels_dir)
        return read_visium_hd(hd, image=image)
    if is_spaceranger_folder(path):
        _reject(path, section=section, layer=layer, labels_dir=labels_dir)
        return read_spaceranger(path, image=image)
    raise InputError(
        f"{path}: not a recognised layout (Space Ranger outs/ with a matrix and spatial/, "
        "Visium HD binned_outputs/, legacy ST counts/ + spotfiles/, or .h5ad)"
    )


def _reject(path: Path, **options) -> None:
    """Options that make no sense for this layout are an error, not silently ignored."""
    given = [k for k, v in options.items() if v is not None]
    if given:
        raise InputError(f"{path}: option {given[0]}= does not apply to this layout")
