"""Emotion recognition (CREMA-D layout): audio + video per clip, 6 classes.

One .npz file with
- `audio`: (N, D) float per-clip features, or (N, T, F) float log-mel spectrograms (T frames, F mel bins);
- `video`: (N, D) float per-clip features, or (N, H, W, 3) uint8 face frames;
- `label`: (N,) int in 0..5, in the order of `EMOTIONS`;
- `split`: (N,) str, each train, valid or test.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tissue_mib.datasets.workflows.data import WorkflowData, read_npz
from tissue_mib.datasets.workflows.validate import check_class_labels, check_features, check_rows, check_split
from tissue_mib.errors import InputError
from tissue_mib.utils import atomic_write

#: CREMA-D's six emotions (its file-name codes ANG, DIS, FEA, HAP, NEU, SAD), label 0..5.
EMOTIONS = ["anger", "disgust", "fear", "happy", "neutral", "sad"]


def read_emotion(path: str | Path) -> WorkflowData:
    """Read and validate an emotion .npz (see the module docstring for the layout)."""
    path = Path(path)
    raw = read_npz(path, required=("audio", "video", "label", "split"))
    audio = check_features(raw["audio"], path=path, field="audio", ndim=(2, 3))
    video = check_features(raw["video"], path=path, field="video", ndim=(2, 4))
    if video.ndim == 4 and (video.dtype != np.uint8 or video.shape[-1] != 3):
        raise InputError(f"{path}: field 'video' face frames must be uint8 (N, H, W, 3), got {video.dtype} shape {video.shape}")
    check_rows({"audio": audio, "video": video, "label": raw["label"], "split": raw["split"]}, path=path, reference="audio")
    y = check_class_labels(raw["label"], path=path, field="label", n_classes=len(EMOTIONS))
    split = check_split(raw["split"], path=path, n=y.shape[0])
    return WorkflowData(modalities={"audio": audio, "video": video}, y=y, split=split, task="multiclass",
                        label_names=list(EMOTIONS), source=str(path))


def write_synthetic_emotion(path: str | Path, *, n: int = 360, raw: bool = False, seed: int = 0) -> Path:
    """Write a small synthetic stand-in in the emotion format; labels are learnable from both modalities.

    `raw=False`: audio (N, 64) and video (N, 96) features; `raw=True`: log-mel (N, 32, 16)
    and uint8 frames (N, 32, 32, 3). Split 60/20/20 %.
    """
    rng = np.random.default_rng(seed)
    k = len(EMOTIONS)
    label = np.arange(n) % k
    rng.shuffle(label)
    if raw:
        mel_proto = rng.normal(0, 1.0, (k, 1, 16))
        audio = mel_proto[label] + rng.normal(0, 1.0, (n, 32, 16))
        colours = rng.uniform(40, 215, (k, 3))
        video = colours[label][:, None, None, :] + rng.normal(0, 30, (n, 32, 32, 3))
        video = np.clip(video, 0, 255).astype(np.uint8)
    else:
        audio = rng.normal(0, 1.0, (k, 64))[label] * 0.8 + rng.normal(0, 1.0, (n, 64))
        video = rng.normal(0, 1.0, (k, 96))[label] * 0.8 + rng.normal(0, 1.0, (n, 96))
    split = np.array(["train"] * n, dtype="<U5")
    order = rng.permutation(n)
    split[order[: n // 5]] = "test"
    split[order[n // 5: 2 * (n // 5)]] = "valid"
    path = Path(path)
    with atomic_write(path, suffix=".npz") as tmp:
        np.savez_compressed(tmp, audio=audio.astype(np.float32), video=video if raw else video.astype(np.float32),
                            label=label.astype(np.int64), split=split)
    return path
