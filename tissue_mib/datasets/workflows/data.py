"""The in-memory form every workflow reader returns, and the npz opener they share."""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tissue_mib.errors import InputError


@dataclass
class WorkflowData:
    """Aligned rows of one workflow data set, all splits together.

    `modalities[name]`: (N, ...) float32 features (uint8 for images); `y`: (N,) int64 classes,
    (N,) float32 regression targets or (N, C) float32 multi-label 0/1; `split`: (N,) str in
    train/valid/test; `task`: "multiclass", "regression" or "multilabel"; `label_names`:
    the class or finding names (empty for regression); `source`: the file read.
    """

    modalities: dict[str, np.ndarray]
    y: np.ndarray
    split: np.ndarray
    task: str
    label_names: list[str] = field(default_factory=list)
    source: str = ""

    def rows(self, split: str) -> np.ndarray:
        """Row indices of one split (may be empty for `valid`)."""
        return np.flatnonzero(self.split == split)


def read_npz(path: str | Path, *, required: tuple[str, ...]) -> dict[str, np.ndarray]:
    """Load every array of an .npz without pickles; missing `required` keys raise InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as err:
        raise InputError(f"{path}: not a readable .npz without pickled objects ({str(err).splitlines()[0]})") from err
    missing = [key for key in required if key not in arrays]
    if missing:
        raise InputError(f"{path}: missing field(s) {missing}; present: {sorted(arrays)}")
    return arrays
