"""tissue-mib: multimodal information-bottleneck anomaly detection for spatial transcriptomics."""

from importlib.metadata import PackageNotFoundError, version

from tissue_mib.errors import InputError
from tissue_mib.settings import settings

try:
    __version__ = version("tissue-mib")
except PackageNotFoundError:  # pragma: no cover - source tree without install
    __version__ = "0.0.0"

_SUBPACKAGES = ("io", "pp", "tl", "pl", "datasets", "metrics")

__all__ = ["InputError", "settings", "__version__", *_SUBPACKAGES]


def __getattr__(name: str):
    """`tm.io`, `tm.pp`, `tm.tl`, `tm.pl`, ... imported on first use, as scanpy users expect after
    `import tissue_mib as tm` (lazily: importing torch and scanpy up front would slow the CLI's start)."""
    if name in _SUBPACKAGES:
        import importlib

        module = importlib.import_module(f"{__name__}.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
