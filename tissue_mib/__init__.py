"""tissue-mib: multimodal information-bottleneck anomaly detection for spatial transcriptomics."""

from importlib.metadata import PackageNotFoundError, version

from tissue_mib.errors import InputError
from tissue_mib.settings import settings

try:
    __version__ = version("tissue-mib")
except PackageNotFoundError:  # pragma: no cover - source tree without install
    __version__ = "0.0.0"

__all__ = ["InputError", "settings", "__version__"]
