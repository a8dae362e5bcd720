"""The UCI Multiple Features handwritten digits (2,000 samples, 10 classes, six views).

Reads the CSV copies in `../shared/data/uci-mfeat` (see its PROVENANCE.md): one header row,
2,000 rows, the last column is the class label; row i is the same digit in every file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from tissue_mib.errors import InputError

#: view name -> (description, number of features)
MFEAT_VIEWS: dict[str, tuple[str, int]] = {
    "fou": ("Fourier coefficients", 76),
    "fac": ("profile correlations", 216),
    "kar": ("Karhunen-Loeve coefficients", 64),
    "pix": ("pixel averages", 240),
    "zer": ("Zernike moments", 47),
    "mor": ("morphological features", 6),
}
#: The fixed split: 30 % test, stratified by digit, this seed (independent of the training seeds).
SPLIT_SEED = 0
TEST_FRACTION = 0.3


@dataclass
class MfeatData:
    """Views `views[name]` float32 (2000, d), labels `y` int64 (2000,), fixed `train`/`test` rows."""

    views: dict[str, np.ndarray]
    y: np.ndarray
    train: np.ndarray
    test: np.ndarray


def load_mfeat(root: str | Path, *, views: tuple[str, ...] = ("fou", "fac", "zer")) -> MfeatData:
    """Load the named views from `root` (the uci-mfeat folder), with the fixed stratified split.

    Features are standardised per column with the training rows' mean and sd.
    """
    root = Path(root)
    unknown = [v for v in views if v not in MFEAT_VIEWS]
    if unknown or not views:
        raise InputError(f"unknown mfeat view(s) {unknown or list(views)} (field views); choose from {sorted(MFEAT_VIEWS)}")
    arrays: dict[str, np.ndarray] = {}
    y = None
    for name in views:
        path = root / f"mfeat-{name}.csv"
        if not path.is_file():
            raise InputError(f"mfeat view file not found: {path} (get it as described in ../shared/data/uci-mfeat/PROVENANCE.md)")
        table = pd.read_csv(path).to_numpy(dtype=np.float64)
        n_features = MFEAT_VIEWS[name][1]
        if table.shape != (2000, n_features + 1):
            raise InputError(f"{path}: expected 2000 rows x {n_features + 1} columns, got {table.shape[0]} x {table.shape[1]}")
        if not np.isfinite(table).all():
            raise InputError(f"{path}: non-finite values in the feature table")
        labels = table[:, -1].astype(np.int64)
        if y is None:
            y = labels
        elif not np.array_equal(y, labels):
            raise InputError(f"{path}: label column differs from mfeat-{views[0]}.csv; the views must align by row")
        arrays[name] = table[:, :-1]
    assert y is not None
    train, test = train_test_split(np.arange(y.size), test_size=TEST_FRACTION, stratify=y, random_state=SPLIT_SEED)
    train, test = np.sort(train), np.sort(test)
    for name, x in arrays.items():
        mean, sd = x[train].mean(axis=0), x[train].std(axis=0)
        arrays[name] = ((x - mean) / np.where(sd > 0, sd, 1.0)).astype(np.float32)
    return MfeatData(views=arrays, y=y, train=train, test=test)
