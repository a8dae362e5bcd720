"""Training checkpoints: everything needed to resume bit for bit.

One file, `<checkpoint_dir>/last.pt`, rewritten atomically after every epoch: model and
optimizer state, gradient-scaler state, the loader's generator, the torch / CUDA / numpy /
python RNG states, the loop position, the best weights so far and the history. It holds
tensors and plain values only and is read with `torch.load(weights_only=True)`.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import torch

from tissue_mib.errors import InputError
from tissue_mib.utils import atomic_write

CHECKPOINT_NAME = "last.pt"


def rng_state() -> dict:
    """The global RNG states (torch CPU, CUDA when present, numpy legacy, python) as tensors/plain values."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state = {
        "torch": torch.get_rng_state(),
        "numpy_key": torch.from_numpy(np_state[1].astype(np.int64)),
        "numpy_rest": [int(np_state[2]), int(np_state[3]), float(np_state[4])],
        "python_version": int(py_state[0]),
        "python_state": list(py_state[1]),
        "python_gauss": py_state[2],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore what `rng_state` returned."""
    torch.set_rng_state(state["torch"])
    pos, has_gauss, gauss = state["numpy_rest"]
    np.random.set_state(("MT19937", state["numpy_key"].numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate((state["python_version"], tuple(state["python_state"]), state["python_gauss"]))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(directory: str | Path, payload: dict) -> Path:
    """Write `payload` (tensors and plain values) to `<directory>/last.pt` atomically."""
    path = Path(directory) / CHECKPOINT_NAME
    with atomic_write(path) as tmp:
        torch.save(payload, tmp)
    return path


def load_checkpoint(directory: str | Path) -> dict | None:
    """The payload of `<directory>/last.pt`, None when there is none; a corrupt file -> InputError."""
    path = Path(directory) / CHECKPOINT_NAME
    if not path.exists():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises several types for truncated / foreign files
        raise InputError(f"checkpoint {path}: cannot be read ({type(exc).__name__}); delete it to start over") from exc
