"""`ModelDir`: a trained model on disk, written atomically and validated on load.

Layout of a model directory:

    config.yaml          method config (name + build kwargs), train config, prep config,
                         panel hash, weights sha256, package version, extra `meta`,
                         `precision`: what the precision setting resolved to and why
    panel.json           the gene panel (ordered genes, ids, hash)
    weights.safetensors  every parameter and buffer (the SVDD centre is a buffer)
    history.json         the training history
    calibration.npy      held-out healthy scores (float64, for split-conformal p-values)
    calibration_edges.npy  (2, E) int64 spot graph among the calibration spots (indices into
                         calibration.npy), to average their scores over neighbourhoods as
                         scoring does; absent in models from before 0.9
    reference_latent.npy training latents (float32; only for the `knn` score rule)
    holdout.json         how the held-out data was chosen and which rows

The directory is written to a hidden temporary sibling (`.NAME.tmp-*`), fsynced and renamed
into place under the directory's lock (`.NAME.lock` beside it), so a failure or a kill never
leaves a half-written model and two runs never write one directory at once. Loading checks every file and raises `InputError`
naming the file for a missing, truncated or corrupt file, a method name other than
expected, a panel hash mismatch or weights that do not fit the method.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from tissue_mib import __version__
from tissue_mib.errors import InputError
from tissue_mib.lock import model_lock
from tissue_mib.utils import current_umask, fsync, plain, remove_partials, temp_prefix
from tissue_mib.train.config import TrainConfig
from tissue_mib.train.device import precision_record
from tissue_mib.train.history import History

FILES = ("config.yaml", "panel.json", "weights.safetensors", "history.json", "calibration.npy", "holdout.json")


@dataclass
class ModelDir:
    """A trained method with everything needed to score new data.

    method: the trained `methods.base.Method`. panel: `GenePanel.to_dict()` (with "hash").
    prep: the preprocessing config as plain values. calibration: (n,) held-out healthy scores.
    holdout: plain values describing the held-out split. meta: plain extra values (e.g. the
    modalities a `tl` model reads). precision: `device.PrecisionChoice.to_dict()` of the
    training run (resolved dtype, reason, measured GEMM GFLOP/s); empty: resolved from
    `train_config` when saved. path: where it was loaded from / last saved to. reference:
    (n, d) float32 training latents of a `knn`-scored model (reference_latent.npy), else None.
    calibration_edges: (2, E) int64 graph among the calibration spots, else None.
    """

    method: torch.nn.Module
    panel: dict
    train_config: TrainConfig = field(default_factory=TrainConfig)
    prep: dict = field(default_factory=dict)
    history: History = field(default_factory=History)
    calibration: np.ndarray = field(default_factory=lambda: np.zeros(0))
    holdout: dict = field(default_factory=dict)
    meta: dict = field(default_factory=dict)
    path: Path | None = None
    precision: dict = field(default_factory=dict)
    reference: np.ndarray | None = None
    calibration_edges: np.ndarray | None = None

    def save(self, path: str | Path) -> Path:
        """Write the directory at `path` atomically (replacing an earlier model directory there).

        Holds the model directory's lock (`tissue_mib.lock`), removes what killed saves left
        beside it, writes and fsyncs every file in a hidden sibling `.NAME.tmp-*` and renames it
        into place.
        """
        path = Path(path)
        self.check_target(path)
        with model_lock(path):
            remove_partials(path.parent, [path.name])
            tmp = Path(tempfile.mkdtemp(prefix=temp_prefix(path.name), dir=path.parent))
            tmp.chmod(0o777 & ~current_umask())  # mkdtemp makes 0700; a model directory gets the usual mode
            try:
                self._write(tmp)
                for file in tmp.iterdir():
                    fsync(file)
                fsync(tmp)
                _replace_dir(tmp, path)
                fsync(path.parent)
            finally:
                if tmp.exists():
                    shutil.rmtree(tmp)
        self.path = path
        return path

    @staticmethod
    def check_target(path: str | Path) -> None:
        """InputError unless `path` is free, an empty folder or an earlier model directory."""
        path = Path(path)
        earlier = (path / "config.yaml").exists() or (path / "crossfit.json").exists()  # a model or a cross-fitted one
        if path.exists() and not (path.is_dir() and (not any(path.iterdir()) or earlier)):
            raise InputError(f"model directory {path}: exists and is not a model directory; choose another --out")

    def _write(self, folder: Path) -> None:
        tensors = {k: v.detach().cpu().contiguous().clone() for k, v in self.method.state_dict().items()}
        save_file(tensors, folder / "weights.safetensors", metadata={"method": str(self.method.name)})
        config = {
            "tissue_mib_version": __version__,
            "method": plain(self.method.config()),
            "train": plain(self.train_config.to_dict()),
            "prep": plain(self.prep),
            "panel_hash": str(self.panel["hash"]),
            "weights_sha256": _sha256(folder / "weights.safetensors"),
            "meta": plain(self.meta),
            "precision": plain(self.precision or precision_record(self.train_config.precision, self.train_config.device)),
        }
        (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
        (folder / "panel.json").write_text(json.dumps(plain(self.panel), indent=1))
        (folder / "history.json").write_text(json.dumps(plain(self.history.to_dict()), indent=1))
        np.save(folder / "calibration.npy", np.asarray(self.calibration, dtype=np.float64))
        if self.reference is not None:
            np.save(folder / "reference_latent.npy", np.asarray(self.reference, dtype=np.float32))
        if self.calibration_edges is not None:
            np.save(folder / "calibration_edges.npy", np.asarray(self.calibration_edges, dtype=np.int64))
        (folder / "holdout.json").write_text(json.dumps(plain(self.holdout)))

    @classmethod
    def load(cls, path: str | Path, *, method: str | None = None, panel_hash: str | None = None) -> ModelDir:
        """Read and validate a model directory; `method` / `panel_hash`: what the caller expects."""
        from tissue_mib.methods import build_method

        path = Path(path)
        if not path.is_dir():
            raise InputError(f"model directory {path}: not found")
        for name in FILES:
            if not (path / name).is_file():
                raise InputError(f"model directory {path}: {name} is missing")
        config = _read(path / "config.yaml", yaml.safe_load)
        if not isinstance(config, dict) or not {"method", "panel_hash", "weights_sha256"} <= set(config):
            raise InputError(f"{path / 'config.yaml'}: not a tissue-mib model config (method, panel_hash missing)")
        method_config = dict(config["method"])
        name = method_config.get("name")
        if method is not None and name != method:
            raise InputError(f"{path / 'config.yaml'}: model is method {name!r}, expected {method!r}")
        panel = _read(path / "panel.json", json.loads)
        if not isinstance(panel, dict) or panel.get("hash") != config["panel_hash"]:
            raise InputError(f"{path / 'panel.json'}: gene panel hash does not match config.yaml's panel_hash")
        if panel_hash is not None and panel["hash"] != panel_hash:
            raise InputError(f"{path / 'panel.json'}: model trained on gene panel {panel['hash'][:12]}, expected {panel_hash[:12]}")
        weights = path / "weights.safetensors"
        if _sha256(weights) != config["weights_sha256"]:
            raise InputError(f"{weights}: checksum differs from config.yaml (truncated or corrupt file)")
        try:
            state = load_file(weights)
        except (SafetensorError, OSError) as exc:
            raise InputError(f"{weights}: cannot be read ({exc})") from exc
        built = build_method(**method_config)
        try:
            built.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            first = str(exc).replace("\n", " ")[:300]
            raise InputError(f"{weights}: weights do not fit method {name!r} ({first})") from exc
        built.eval()
        calibration = _read(path / "calibration.npy", lambda p: np.load(p, allow_pickle=False), binary=True)
        reference = _optional_array(path / "reference_latent.npy")
        edges = _optional_array(path / "calibration_edges.npy")
        if edges is not None and (edges.ndim != 2 or edges.shape[0] != 2 or (edges.size and not
                                  (0 <= edges.min() and edges.max() < calibration.size))):  # fmt: skip
            raise InputError(f"{path / 'calibration_edges.npy'}: not a (2, E) graph over the {calibration.size} calibration spots")
        return cls(
            method=built,
            panel=panel,
            train_config=TrainConfig.from_dict(config.get("train") or {}),
            prep=config.get("prep") or {},
            history=History.from_dict(_read(path / "history.json", json.loads)),
            calibration=np.asarray(calibration, dtype=np.float64),
            holdout=_read(path / "holdout.json", json.loads),
            meta=config.get("meta") or {},
            path=path,
            precision=config.get("precision") or {},
            reference=reference,
            calibration_edges=edges,
        )


def _replace_dir(src: Path, dst: Path) -> None:
    """Rename folder `src` onto `dst`, moving an earlier `dst` aside first (and back should the rename fail)."""
    if not dst.exists():
        src.rename(dst)
        return
    old = Path(tempfile.mkdtemp(prefix=temp_prefix(dst.name) + "old-", dir=dst.parent))
    dst.rename(old / dst.name)
    try:
        src.rename(dst)
    except OSError:
        (old / dst.name).rename(dst)  # put the earlier model back
        raise
    finally:
        shutil.rmtree(old)


def _optional_array(file: Path) -> np.ndarray | None:
    """The array in `file` (an optional .npy of the directory), None when absent."""
    return _read(file, lambda p: np.load(p, allow_pickle=False), binary=True) if file.is_file() else None


def _read(file: Path, parse, *, binary: bool = False):
    """Parse `file`; any failure -> InputError naming it."""
    try:
        return parse(file) if binary else parse(file.read_text())
    except Exception as exc:  # yaml, json, numpy and decoding errors
        raise InputError(f"{file}: cannot be parsed ({type(exc).__name__})") from exc


def _sha256(file: Path) -> str:
    h = hashlib.sha256()
    with open(file, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
