"""Small shared helpers: atomic file writes (and cleaning what killed writers left), seeding, YAML, plain values."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import random
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import numpy as np
import yaml

from tissue_mib.errors import InputError

logger = logging.getLogger(__name__)


TMP_MARK = ".tmp-"  # temporary names are `.NAME.tmp-<random>[suffix]`, hidden beside NAME


def temp_prefix(name: str) -> str:
    """The prefix of every temporary name `atomic_write` and `ModelDir.save` give a target called `name`."""
    return f".{name}{TMP_MARK}"


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, *, suffix: str | None = None) -> Iterator[Path]:
    """Yield a hidden temporary path beside `path`; fsync it and rename it onto `path` only if the block succeeds.

    Usage: ``with atomic_write(out) as tmp: adata.write_h5ad(tmp)``. The temporary name is
    `.NAME.tmp-<random>` plus `suffix` (default: NAME's suffix, which writers such as
    `np.savez` and `savefig` read). On any error the temporary file is removed and `path` is
    left untouched; a process killed mid-write leaves only the hidden temporary file, which
    `remove_partials` deletes.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=temp_prefix(path.name), suffix=suffix or path.suffix, dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes 0600; give the file the usual mode (0666 less the umask)
            tmp_path.chmod(0o666 & ~current_umask())
            fsync(tmp_path)
        os.replace(tmp_path, path)
        fsync(path.parent)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def current_umask() -> int:
    """The process umask (read by setting it and restoring it)."""
    umask = os.umask(0)
    os.umask(umask)
    return umask


def fsync(path: str | os.PathLike) -> None:
    """Flush a file's or a folder's data and metadata to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_partials(folder: str | os.PathLike, names: Iterable[str] | None = None) -> list[Path]:
    """Delete the temporary files and folders that killed writers left in `folder`; return them.

    names: only the temporaries of these targets (file or folder names in `folder`); None:
    every `.NAME.tmp-*` entry. Call it only while holding the lock of what it cleans
    (`tissue_mib.lock`), so that no live writer's temporary file is removed.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    prefixes = None if names is None else tuple(temp_prefix(n) for n in names)
    removed = []
    for entry in folder.iterdir():
        hidden = entry.name.startswith(".") and TMP_MARK in entry.name
        if not hidden or (prefixes is not None and not entry.name.startswith(prefixes)):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    if removed:
        logger.warning("removed %d partial file(s) of an interrupted run in %s: %s", len(removed), folder,
                       ", ".join(sorted(e.name for e in removed)))  # fmt: skip
    return removed


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
