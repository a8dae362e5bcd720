"""Limits checked from file headers before anything is decoded or loaded.

Images: at most `max_image_pixels` pixels (settings.max_image_pixels, else the environment
variable TISSUE_MIB_MAX_IMAGE_PIXELS, else 1e9; whole-slide formats read by region are exempt).
Memory: the estimated size of what a reader is about to load must stay under `max_memory`
(settings.max_memory, else TISSUE_MIB_MAX_MEMORY such as `8G`, else 80% of the machine's (or
the container's) memory). Both raise a one-line `InputError` instead of letting the OS kill
the process.
"""

from __future__ import annotations

import gzip
import logging
import os
import re
from pathlib import Path

from tissue_mib.checks import check_int
from tissue_mib.errors import InputError
from tissue_mib.settings import settings

logger = logging.getLogger(__name__)

PIXELS_ENV = "TISSUE_MIB_MAX_IMAGE_PIXELS"
MEMORY_ENV = "TISSUE_MIB_MAX_MEMORY"
DEFAULT_MAX_IMAGE_PIXELS = 1_000_000_000
DEFAULT_MEMORY_SHARE = 0.8
_SIZE = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(i?b)?\s*$", re.IGNORECASE)


def parse_size(text: str | int, *, name: str = MEMORY_ENV) -> int:
    """Bytes from `8G`, `512M`, `1.5T`, `64k` (powers of 1024; a trailing B or iB is allowed) or a plain number."""
    m = _SIZE.match(str(text))
    if m is None or float(m[1]) <= 0:
        raise InputError(f"{name} = {text!r}: must be a size > 0 such as 8G, 512M or a number of bytes")
    return int(float(m[1]) * 1024 ** " kmgt".index(m[2].lower() or " "))


def format_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"


def max_image_pixels() -> int:
    """The image pixel limit in force."""
    if settings.max_image_pixels is not None:
        return check_int(settings.max_image_pixels, name="settings.max_image_pixels", lo=1)
    env = os.environ.get(PIXELS_ENV)
    return check_int(env, name=PIXELS_ENV, lo=1) if env else DEFAULT_MAX_IMAGE_PIXELS


def max_memory() -> int:
    """The memory limit in bytes in force."""
    if settings.max_memory is not None:
        return parse_size(settings.max_memory, name="settings.max_memory")
    env = os.environ.get(MEMORY_ENV)
    return parse_size(env) if env else int(DEFAULT_MEMORY_SHARE * available_memory())


def available_memory() -> int:
    """Physical memory, or the cgroup (container) limit when that is lower."""
    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
    except OSError:
        return total
    return min(total, int(limit)) if limit.isdecimal() else total


def check_image_pixels(width: int, height: int, *, where: str | os.PathLike, channels: int = 3) -> None:
    """Refuse an image whose header declares more pixels than the limit, or more bytes
    (width x height x channels, uint8) than the memory limit; nothing is decoded."""
    pixels, limit = int(width) * int(height), max_image_pixels()
    if pixels > limit:
        raise InputError(
            f"{where}: image declares {width} x {height} = {pixels / 1e6:.0f} Mpx, above the limit of {limit / 1e6:.0f} Mpx "
            f"({PIXELS_ENV}); a decompression bomb or a whole slide to read as TIFF/SVS"
        )
    check_memory(pixels * channels, what=f"a {width} x {height} image", where=where)


def check_memory(nbytes: int, *, what: str, where: str | os.PathLike) -> None:
    """Refuse to load `nbytes` (an estimate from headers) above the memory limit."""
    limit = max_memory()
    if nbytes > limit:
        raise InputError(
            f"{where}: loading {what} needs about {format_size(nbytes)}, above the memory limit of "
            f"{format_size(limit)} ({MEMORY_ENV}; default {DEFAULT_MEMORY_SHARE:.0%} of RAM)"
        )
    logger.debug("%s: %s, about %s (limit %s)", where, what, format_size(nbytes), format_size(limit))


def check_h5_file(path: Path) -> None:
    """An h5ad or 10x HDF5 file: the sum of its arrays (uncompressed) plus a float32 copy of the
    expression matrix must fit (anndata reads every array; tissue-mib converts X to CSR float32)."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            total = 0

            def add(_name, obj):
                nonlocal total
                if isinstance(obj, h5py.Dataset):
                    total += obj.size * obj.dtype.itemsize

            f.visititems(add)
            spots, genes, stored = _matrix_size(f)
    except Exception:  # noqa: BLE001 - unreadable or unusual: the reader says why
        return
    copy = stored * 12 if stored is not None else spots * genes * 4  # CSR float32 + int64 index, or dense float32
    check_memory(total + copy, what=f"{spots} spots x {genes} genes", where=path)


def _matrix_size(f) -> tuple[int, int, int | None]:
    """(spots, genes, stored values or None when dense) of an h5ad `X` or a 10x `matrix` group."""
    import h5py

    if "matrix" in f and "shape" in f["matrix"]:  # 10x: genes x barcodes
        genes, spots = (int(n) for n in f["matrix"]["shape"][()][:2])
        return spots, genes, int(f["matrix"]["data"].shape[0]) if "data" in f["matrix"] else 0
    X = f.get("X")
    if isinstance(X, h5py.Dataset) and X.ndim == 2:
        return int(X.shape[0]), int(X.shape[1]), None
    if isinstance(X, h5py.Group) and "shape" in X.attrs and "data" in X:
        spots, genes = (int(n) for n in X.attrs["shape"][:2])
        return spots, genes, int(X["data"].shape[0])
    return 0, 0, 0


def check_mtx_folder(folder: Path) -> None:
    """A 10x mtx folder: the entries counted in `matrix.mtx(.gz)`'s header line."""
    path = next((folder / n for n in ("matrix.mtx.gz", "matrix.mtx") if (folder / n).is_file()), None)
    if path is None:
        return
    try:
        with (gzip.open(path, "rt") if path.suffix == ".gz" else open(path)) as fh:
            line = fh.readline()
            while line.startswith("%"):
                line = fh.readline()
        genes, spots, entries = (int(v) for v in line.split()[:3])
    except (OSError, ValueError, EOFError):
        return  # unreadable: the reader says why
    check_memory(entries * 16 * 2, what=f"{spots} spots x {genes} genes ({entries} entries)", where=path)
