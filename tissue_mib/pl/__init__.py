"""tissue_mib.pl: anomaly maps over the H&E, ROC curves and per-modality attribution plots."""

from tissue_mib.pl.attribution import attribution
from tissue_mib.pl.maps import anomaly_map, anomaly_maps, shared_scale
from tissue_mib.pl.roc import roc_curves

__all__ = ["anomaly_map", "anomaly_maps", "attribution", "roc_curves", "shared_scale"]
