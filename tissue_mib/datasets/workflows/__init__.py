"""Readers, strict validators and synthetic stand-in writers for the secondary workflows' files.

emotion (CREMA-D: audio + video, 6 classes), sentiment (CMU-MOSI: text/audio/vision
sequences, regression in [-3, 3]), cxr (MIMIC-CXR/CheXpert: image + report embeddings,
5 findings). Formats: docs/workflows.md.
"""

from tissue_mib.datasets.workflows.cxr import FINDINGS, read_cxr, write_synthetic_cxr
from tissue_mib.datasets.workflows.data import WorkflowData
from tissue_mib.datasets.workflows.emotion import EMOTIONS, read_emotion, write_synthetic_emotion
from tissue_mib.datasets.workflows.sentiment import pickle_to_npz, read_sentiment, write_synthetic_sentiment

READERS = {"emotion": read_emotion, "sentiment": read_sentiment, "cxr": read_cxr}
SYNTHETIC = {"emotion": write_synthetic_emotion, "sentiment": write_synthetic_sentiment, "cxr": write_synthetic_cxr}

__all__ = ["EMOTIONS", "FINDINGS", "READERS", "SYNTHETIC", "WorkflowData", "pickle_to_npz", "read_cxr", "read_emotion",
           "read_sentiment", "write_synthetic_cxr", "write_synthetic_emotion", "write_synthetic_sentiment"]
