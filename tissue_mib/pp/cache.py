"""On-disk cache of preprocessed sections, keyed by a hash of inputs, parameters and version."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import anndata as ad
import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from tissue_mib import __version__
from tissue_mib.utils import atomic_write

logger = logging.getLogger(__name__)


def cache_dir() -> Path:
    """`$TISSUE_MIB_CACHE_DIR`, else the user cache folder's `tissue-mib/pp`."""
    env = os.environ.get("TISSUE_MIB_CACHE_DIR", "")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("tissue-mib")) / "pp"


def _update_array(h, arr) -> None:
    arr = np.ascontiguousarray(np.asarray(arr))
    h.update(f"{arr.dtype.str}{arr.shape}".encode())
    h.update(arr.tobytes() if arr.dtype != object else json.dumps(arr.astype(str).tolist()).encode())


def _update_plain(h, value) -> None:
    """Hash nested dicts/lists/arrays/scalars of `uns['spatial']` (images hashed by content)."""
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            h.update(str(key).encode())
            _update_plain(h, value[key])
    elif isinstance(value, (np.ndarray, list, tuple)) and np.asarray(value).dtype != object:
        _update_array(h, value)
    elif isinstance(value, (list, tuple, np.ndarray)):
        for v in value:
            _update_plain(h, v)
    else:
        h.update(repr(value).encode())


def _file_identity(path: str) -> str:
    p = Path(path)
    if not p.is_file():
        return f"{path}:missing"
    st = p.stat()
    return f"{p.resolve()}:{st.st_size}:{st.st_mtime_ns}"


def input_hash(adatas: list[AnnData], params: dict) -> str:
    """sha256 of X, gene/spot names, obs, obsm (coordinates), library metadata, images, `params` and the version."""
    h = hashlib.sha256()
    h.update(f"tissue-mib {__version__}".encode())
    h.update(json.dumps(params, sort_keys=True, default=str).encode())
    for a in adatas:
        X = sp.csr_matrix(a.X)
        for part in (X.data, X.indices, X.indptr, np.asarray(X.shape)):
            _update_array(h, part)
        _update_array(h, np.asarray(a.var_names, dtype=str))
        for key in ("gene_ids", "gene_symbols"):
            if key in a.var:
                _update_array(h, a.var[key].astype(str).to_numpy(dtype=str))
        h.update(json.dumps([str(c) for c in a.obs.columns]).encode())
        _update_array(h, pd.util.hash_pandas_object(a.obs, index=True).to_numpy())  # labels travel to the output
        for key in sorted(a.obsm):
            _update_array(h, np.asarray(a.obsm[key]))
        spatial = a.uns.get("spatial", {})
        _update_plain(h, spatial)
        for entry in spatial.values():
            path = str(entry.get("metadata", {}).get("fullres_image", "") or "")
            if path:
                h.update(_file_identity(path).encode())
    return h.hexdigest()


def cache_path(key: str, *, directory: str | os.PathLike | None = None) -> Path:
    """Where the prepared AnnData for `key` lives."""
    return (Path(directory) if directory is not None else cache_dir()) / f"{key}.h5ad"


def load(path: Path) -> AnnData | None:
    """The cached AnnData at `path`, or None when absent or unreadable (then it is rebuilt)."""
    if not path.is_file():
        return None
    try:
        adata = ad.read_h5ad(path)
    except Exception as exc:  # noqa: BLE001 - a damaged cache entry is rebuilt, not fatal
        logger.warning("preprocessing cache %s unreadable (%s); rebuilding", path, exc)
        return None
    if sp.issparse(adata.X):
        adata.X = adata.X.toarray()
    logger.debug("preprocessing: loaded cached result %s", path)
    return adata


def store(adata: AnnData, path: Path) -> None:
    """Write `adata` to `path` atomically; a mostly-zero dense X is stored sparse (and densified by `load`)."""
    dense = adata.X
    if isinstance(dense, np.ndarray) and np.count_nonzero(dense) < 0.5 * dense.size:
        adata.X = sp.csr_matrix(dense)
    try:
        with atomic_write(path) as tmp:
            adata.write_h5ad(tmp)
    finally:
        adata.X = dense
    logger.debug("preprocessing: cached result in %s", path)
