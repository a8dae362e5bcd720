"""The training engine: tensors and batches, devices and precision, the loop, predictions, model directories.

    from tissue_mib.train import MultiModalData, TrainConfig, fit, predict
    history = fit(method, MultiModalData({"genes": X}), config=TrainConfig(epochs=5))
    out = predict(method, data)          # {"score": (N,), "latent": (N, d), ...}
"""

from tissue_mib.train import distributed
from tissue_mib.train.config import TrainConfig
from tissue_mib.train.data import BatchLoader, MultiModalData
from tissue_mib.train.device import resolve_device, resolve_precision
from tissue_mib.train.history import History
from tissue_mib.train.holdout import Holdout, split_holdout
from tissue_mib.train.loop import fit
from tissue_mib.train.modeldir import ModelDir
from tissue_mib.train.predict import predict

__all__ = [
    "BatchLoader",
    "History",
    "Holdout",
    "ModelDir",
    "MultiModalData",
    "TrainConfig",
    "distributed",
    "fit",
    "predict",
    "resolve_device",
    "resolve_precision",
    "split_holdout",
]
