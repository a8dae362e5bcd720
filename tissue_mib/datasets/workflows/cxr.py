"""Chest X-ray findings (MIMIC-CXR / CheXpert): image + report modalities, 5 findings, multi-label.

Input: precomputed embeddings from any encoder, as .npz or .parquet.
- .npz: `image` (N, Di) float embeddings or (N, H, W, 3) uint8 images, `report` (N, Dr) float
  embeddings, `labels` (N, 5) with 0/1 in the order of `FINDINGS`, `split` (N,) str
  (train/valid/test).
- .parquet: one row per study; columns `image` and `report` (lists of floats, equal length
  in every row), one 0/1 column per finding named as in `FINDINGS`, and `split`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tissue_mib.datasets.workflows.data import WorkflowData, read_npz
from tissue_mib.datasets.workflows.validate import check_features, check_range, check_rows, check_split
from tissue_mib.errors import InputError
from tissue_mib.utils import atomic_write

#: The CheXpert competition findings, the label columns in this order.
FINDINGS = ["Atelectasis", "Cardiomegaly", "Consolidation", "Edema", "Pleural Effusion"]


def _read_parquet(path: Path) -> dict[str, np.ndarray]:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as err:  # noqa: BLE001 - pyarrow raises many types for a bad file
        raise InputError(f"{path}: not a readable parquet file ({type(err).__name__})") from err
    missing = [c for c in ("image", "report", "split", *FINDINGS) if c not in table.column_names]
    if missing:
        raise InputError(f"{path}: missing column(s) {missing}; present: {table.column_names}")
    out = {}
    for col in ("image", "report"):
        values = table.column(col).to_pylist()
        widths = {len(v) if v is not None else -1 for v in values}
        if len(widths) != 1 or -1 in widths:
            raise InputError(f"{path}: column '{col}' must hold lists of one length in every row, found lengths {sorted(widths)[:5]}")
        out[col] = np.asarray(values, dtype=np.float64)
    labels = [table.column(f).to_numpy(zero_copy_only=False) for f in FINDINGS]
    out["labels"] = np.stack([np.asarray(v, dtype=np.float64) for v in labels], axis=1)
    out["split"] = np.asarray(table.column("split").to_pylist(), dtype=str)
    return out


def read_cxr(path: str | Path) -> WorkflowData:
    """Read and validate a chest X-ray embeddings file (.npz or .parquet)."""
    path = Path(path)
    if path.suffix == ".parquet":
        if not path.is_file():
            raise InputError(f"file not found: {path}")
        raw = _read_parquet(path)
    else:
        raw = read_npz(path, required=("image", "report", "labels", "split"))
    image = check_features(raw["image"], path=path, field="image", ndim=(2, 4))
    if image.ndim == 4 and (image.dtype != np.uint8 or image.shape[-1] != 3):
        raise InputError(f"{path}: field 'image' images must be uint8 (N, H, W, 3), got {image.dtype} shape {image.shape}")
    report = check_features(raw["report"], path=path, field="report", ndim=(2,))
    check_rows({"image": image, "report": report, "labels": raw["labels"], "split": raw["split"]}, path=path, reference="image")
    labels = check_range(raw["labels"], path=path, field="labels", low=0.0, high=1.0, ndim=2)
    if labels.shape[1] != len(FINDINGS):
        raise InputError(f"{path}: field 'labels' must have {len(FINDINGS)} columns ({', '.join(FINDINGS)}), got {labels.shape[1]}")
    if ((labels != 0) & (labels != 1)).any():
        raise InputError(f"{path}: field 'labels' must be 0/1 (map CheXpert's uncertain -1 and blanks first, see docs/workflows.md)")
    split = check_split(raw["split"], path=path, n=labels.shape[0])
    return WorkflowData(modalities={"image": image, "report": report}, y=labels, split=split, task="multilabel",
                        label_names=list(FINDINGS), source=str(path))


def write_synthetic_cxr(path: str | Path, *, n: int = 400, seed: int = 0) -> Path:
    """Write a small synthetic stand-in: image (N, 64) and report (N, 48) embeddings, split 60/20/20 %.

    Each finding (prevalence 15-40 %) shifts the embeddings of both modalities along its own
    direction. A `.parquet` suffix writes the parquet layout, anything else .npz.
    """
    rng = np.random.default_rng(seed)
    k = len(FINDINGS)
    labels = (rng.uniform(size=(n, k)) < rng.uniform(0.15, 0.4, k)).astype(np.float32)
    image = labels @ rng.normal(0, 1.0, (k, 64)) + rng.normal(0, 1.0, (n, 64))
    report = labels @ rng.normal(0, 1.0, (k, 48)) + rng.normal(0, 1.0, (n, 48))
    split = np.array(["train"] * n, dtype="<U5")
    order = rng.permutation(n)
    split[order[: n // 5]] = "test"
    split[order[n // 5: 2 * (n // 5)]] = "valid"
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        columns = {"image": list(image.astype(np.float32)), "report": list(report.astype(np.float32)), "split": split.tolist()}
        columns.update({f: labels[:, j].astype(np.int8) for j, f in enumerate(FINDINGS)})
        with atomic_write(path, suffix=".parquet") as tmp:
            pq.write_table(pa.table(columns), tmp)
    else:
        with atomic_write(path, suffix=".npz") as tmp:
            np.savez_compressed(tmp, image=image.astype(np.float32), report=report.astype(np.float32), labels=labels, split=split)
    return path
