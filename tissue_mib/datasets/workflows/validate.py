"""Strict checks for the workflow feature files; every failure is one InputError line naming file and field."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tissue_mib.errors import InputError

SPLITS = ("train", "valid", "test")


def check_features(x, *, path: Path, field: str, ndim: tuple[int, ...]) -> np.ndarray:
    """A numeric feature array of rank in `ndim`, all finite; uint8 images stay uint8, others become float32."""
    if not isinstance(x, np.ndarray) or x.dtype.kind not in "biuf":
        raise InputError(f"{path}: field '{field}' must be a numeric array, got {type(x).__name__} {getattr(x, 'dtype', '')}")
    if x.ndim not in ndim:
        want = " or ".join(f"{d}-D" for d in ndim)
        raise InputError(f"{path}: field '{field}' must be {want}, got shape {x.shape}")
    if x.shape[0] == 0:
        raise InputError(f"{path}: field '{field}' has no rows")
    if x.dtype == np.uint8:
        return x
    x = x.astype(np.float32, copy=False)
    bad = ~np.isfinite(x)
    if bad.any():
        row = int(np.argwhere(bad)[0][0])
        raise InputError(f"{path}: field '{field}' has {int(bad.sum())} NaN/inf value(s), first in row {row}")
    return x


def check_rows(arrays: dict[str, np.ndarray], *, path: Path, reference: str) -> int:
    """All arrays have as many rows as `arrays[reference]`; returns that count."""
    for field, x in arrays.items():
        if np.ndim(x) == 0:
            raise InputError(f"{path}: field '{field}' is a scalar, expected one entry per sample")
    n = arrays[reference].shape[0]
    for field, x in arrays.items():
        if x.shape[0] != n:
            raise InputError(f"{path}: field '{field}' has {x.shape[0]} rows but '{reference}' has {n} (sample counts must match)")
    return n


def check_same_width(x: np.ndarray, width: tuple[int, ...], *, path: Path, field: str, like: str) -> None:
    """`x.shape[1:]` equals `width` (the same modality in another split)."""
    if x.shape[1:] != width:
        raise InputError(f"{path}: field '{field}' has feature shape {x.shape[1:]} but '{like}' has {width}")


def check_class_labels(y, *, path: Path, field: str, n_classes: int) -> np.ndarray:
    """Integer class labels in 0..n_classes-1, shape (N,)."""
    y = np.asarray(y)
    if y.ndim != 1 or y.dtype.kind not in "biuf":
        raise InputError(f"{path}: field '{field}' must be a 1-D integer array, got {y.dtype} shape {y.shape}")
    if y.dtype.kind == "f" and (not np.isfinite(y).all() or (y != np.round(y)).any()):
        raise InputError(f"{path}: field '{field}' must hold integer class ids, found non-integer values")
    y = y.astype(np.int64)
    bad = (y < 0) | (y >= n_classes)
    if bad.any():
        raise InputError(f"{path}: field '{field}' has labels out of range 0..{n_classes - 1} (e.g. {int(y[bad][0])} in row {int(np.argmax(bad))})")
    return y


def check_range(y, *, path: Path, field: str, low: float, high: float, ndim: int) -> np.ndarray:
    """Finite float labels within [low, high] of rank `ndim`."""
    y = np.asarray(y)
    if y.dtype.kind not in "biuf" or y.ndim != ndim:
        raise InputError(f"{path}: field '{field}' must be a {ndim}-D numeric array, got {y.dtype} shape {y.shape}")
    y = y.astype(np.float32)
    if not np.isfinite(y).all():
        raise InputError(f"{path}: field '{field}' has NaN/inf labels")
    bad = (y < low) | (y > high)
    if bad.any():
        raise InputError(f"{path}: field '{field}' has labels out of range [{low:g}, {high:g}] (e.g. {float(y[bad][0]):g})")
    return y


def check_split(split, *, path: Path, n: int) -> np.ndarray:
    """A (N,) array of split names, each one of train/valid/test, with train and test present."""
    split = np.asarray(split)
    if split.shape != (n,) or split.dtype.kind not in "UO":
        raise InputError(f"{path}: field 'split' must be {n} strings (train/valid/test), got {split.dtype} shape {split.shape}")
    split = split.astype(str)
    unknown = sorted(set(np.unique(split)) - set(SPLITS))
    if unknown:
        raise InputError(f"{path}: field 'split' has unknown value(s) {unknown}; allowed: {list(SPLITS)}")
    for need in ("train", "test"):
        if not (split == need).any():
            raise InputError(f"{path}: field 'split' has no '{need}' rows")
    return split
