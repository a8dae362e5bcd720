"""Small shared helpers: atomic file writes and seeding."""

from __future__ import annotations

import contextlib
import math
import os
import random
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import numpy as np
import yaml

from tissue_mib.errors import InputError


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    Usage: ``with atomic_write(out) as tmp: adata.write_h5ad(tmp)``. On any error the
    temporary file is removed and `path` is left untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or path.suffix or ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600; give the file the usual mode (0666 less the umask)
            umask = os.umask(0)
            os.umask(umask)
            tmp_path.chmod(0o666 & ~umask)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def seed_everything(seed: int) -> np.random.Generator:
    """Seed python, numpy and torch (all devices); return a numpy Generator from `seed`."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    try:
        import torch

        torch.manual_seed(seed)
    except ImportError:  # pragma: no cover
        pass
    return np.random.default_rng(seed)


def read_yaml_mapping(path: str | os.PathLike, *, what: str) -> dict:
    """Read a YAML file that must hold a mapping; InputError naming the file (`what` says what it is)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: {what} not found")
    try:
        data = yaml.safe_load(path.read_bytes()) or {}
    except (yaml.YAMLError, ValueError, RecursionError) as exc:  # ValueError: a bad date such as 2001-02-30
        raise InputError(f"{path}: not valid YAML ({type(exc).__name__}: {' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise InputError(f"{path}: {what} must be a mapping, got {type(data).__name__}")
    return data


def plain(value):
    """JSON/YAML-safe copy, recursively: mappings -> dicts with str keys, tuples -> lists,
    numpy scalars/arrays -> Python values, NaN/inf -> None (JSON has no NaN), paths -> str."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return plain(value.tolist())
    if isinstance(value, np.generic):
        return plain(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Path):
        return str(value)
    return value
