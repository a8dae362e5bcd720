"""Multimodal sentiment (CMU-MOSI aligned layout): text, audio, vision sequences, regression in [-3, 3].

The widely used aligned pickle (e.g. MMSA's `aligned_50.pkl`) is a dict of splits
`train`, `valid`, `test`; each split is a dict with
- `text`: (N, T, Dt), `audio`: (N, T, Da), `vision`: (N, T, Dv) float arrays (T aligned steps);
- `regression_labels`: (N,) or (N, 1) float in [-3, 3].
Other keys (`id`, `raw_text`, `classification_labels`, ...) are ignored. Pickles are read
with `safe_pickle.safe_load`; `pickle_to_npz` converts one to the pickle-free .npz layout
with keys `<split>_<field>` (e.g. `train_text`), which `read_sentiment` also reads.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

import numpy as np

from tissue_mib.datasets.workflows.data import WorkflowData, read_npz
from tissue_mib.datasets.workflows.safe_pickle import safe_load
from tissue_mib.datasets.workflows.validate import SPLITS, check_features, check_range, check_rows, check_same_width
from tissue_mib.errors import InputError
from tissue_mib.utils import atomic_write

logger = logging.getLogger(__name__)

MODALITIES = ("text", "audio", "vision")
LABEL = "regression_labels"
FIELDS = (*MODALITIES, LABEL)


def _splits_from_pickle(path: Path) -> dict[str, dict]:
    data = safe_load(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a dict of splits {list(SPLITS)}, got {type(data).__name__}")
    return data


def _splits_from_npz(path: Path) -> dict[str, dict]:
    arrays = read_npz(path, required=tuple(f"{s}_{f}" for s in ("train", "test") for f in FIELDS))
    return {s: {f: arrays[f"{s}_{f}"] for f in FIELDS if f"{s}_{f}" in arrays} for s in SPLITS if f"{s}_{LABEL}" in arrays}


def _load_splits(path: Path) -> dict[str, dict]:
    return _splits_from_npz(path) if path.suffix == ".npz" else _splits_from_pickle(path)


def read_sentiment(path: str | Path) -> WorkflowData:
    """Read and validate a sentiment pickle (restricted unpickler) or its converted .npz."""
    path = Path(path)
    splits = _load_splits(path)
    parts: dict[str, list[np.ndarray]] = {f: [] for f in FIELDS}
    names: list[np.ndarray] = []
    for split in SPLITS:
        if split not in splits:
            if split == "valid":
                continue
            raise InputError(f"{path}: missing split '{split}'; present: {sorted(map(str, splits))}")
        block = splits[split]
        if not isinstance(block, dict):
            raise InputError(f"{path}: split '{split}' must be a dict of arrays, got {type(block).__name__}")
        missing = [f for f in FIELDS if f not in block]
        if missing:
            raise InputError(f"{path}: split '{split}' is missing field(s) {missing}")
        arrays = {}
        for m in MODALITIES:
            arrays[m] = check_features(np.asarray(block[m]), path=path, field=f"{split}.{m}", ndim=(3,))
            if parts[m]:
                check_same_width(arrays[m], parts[m][0].shape[1:], path=path, field=f"{split}.{m}", like=f"train.{m}")
        label = np.asarray(block[LABEL])
        check_rows({f"{split}.{k}": v for k, v in {**arrays, LABEL: label}.items()}, path=path, reference=f"{split}.text")
        label = check_range(label.reshape(label.shape[0], -1), path=path, field=f"{split}.{LABEL}", low=-3.0, high=3.0, ndim=2)
        if label.shape[1] != 1:
            raise InputError(f"{path}: field '{split}.{LABEL}' must be (N,) or (N, 1), got {np.asarray(block[LABEL]).shape}")
        for m in MODALITIES:
            parts[m].append(arrays[m])
        parts[LABEL].append(label[:, 0])
        names.append(np.full(label.shape[0], split, dtype="<U5"))
    return WorkflowData(modalities={m: np.concatenate(parts[m]) for m in MODALITIES}, y=np.concatenate(parts[LABEL]),
                        split=np.concatenate(names), task="regression", source=str(path))


def pickle_to_npz(src: str | Path, dst: str | Path, *, replace_inf: float | None = None) -> Path:
    """Convert an aligned sentiment pickle to the pickle-free .npz layout (`<split>_<field>` keys).

    `replace_inf`: value for +-inf entries in the feature arrays (MMSA's MOSI audio holds -inf;
    its loader sets them to 0); None keeps them, and the reader then rejects the file.
    """
    src, dst = Path(src), Path(dst)
    splits = _splits_from_pickle(src)
    out: dict[str, np.ndarray] = {}
    for split, block in splits.items():
        if split not in SPLITS or not isinstance(block, dict):
            continue
        for f in FIELDS:
            if f not in block:
                raise InputError(f"{src}: split '{split}' is missing field '{f}'")
            x = np.asarray(block[f])
            if replace_inf is not None and f in MODALITIES and x.dtype.kind == "f":
                n_inf = int(np.isinf(x).sum())
                if n_inf:
                    logger.info("%s: %s.%s: replaced %d inf value(s) by %g", src, split, f, n_inf, replace_inf)
                    x = np.where(np.isinf(x), replace_inf, x)
            out[f"{split}_{f}"] = x
    with atomic_write(dst, suffix=".npz") as tmp:
        np.savez_compressed(tmp, **out)
    read_sentiment(dst)
    return dst


def write_synthetic_sentiment(path: str | Path, *, n: int = 300, steps: int = 8, seed: int = 0) -> Path:
    """Write a small synthetic stand-in as an aligned pickle (the public layout), split 60/20/20 %.

    text (N, T, 24), audio (N, T, 10), vision (N, T, 12); the label in [-3, 3] is a smooth
    function of a latent sentiment that every modality carries with noise.
    """
    rng = np.random.default_rng(seed)
    widths = {"text": 24, "audio": 10, "vision": 12}
    latent = rng.uniform(-1, 1, n)
    data = {}
    for m, d in widths.items():
        direction = rng.normal(0, 1, (1, 1, d))
        data[m] = (latent[:, None, None] * direction * 1.5 + rng.normal(0, 1, (n, steps, d))).astype(np.float32)
    label = np.clip(3 * np.tanh(1.5 * latent) + rng.normal(0, 0.2, n), -3, 3).astype(np.float32)
    order = rng.permutation(n)
    bounds = {"train": order[: int(0.6 * n)], "valid": order[int(0.6 * n): int(0.8 * n)], "test": order[int(0.8 * n):]}
    splits = {s: {**{m: data[m][rows] for m in MODALITIES}, LABEL: label[rows],
                  "id": [f"clip{r}" for r in rows]} for s, rows in bounds.items()}
    path = Path(path)
    with atomic_write(path, suffix=".pkl") as tmp, tmp.open("wb") as fh:
        pickle.dump(splits, fh, protocol=4)
    return path
