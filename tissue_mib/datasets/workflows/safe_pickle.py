"""A restricted unpickler for data pickles: plain containers and numpy arrays only.

Pickles can run arbitrary code when loaded. `safe_load` admits only what a feature pickle
needs (dicts, lists, tuples, str, bytes, numbers, and numpy arrays, dtypes and scalars);
any other global a pickle asks for is refused with an InputError, before it is imported.
"""

from __future__ import annotations

import pickle
from pathlib import Path

from tissue_mib.errors import InputError

#: (module, name) pairs a data pickle may reference: numpy's array/dtype/scalar
#: reconstructors (numpy 1.x and 2.x module paths) and a few builtin containers.
ALLOWED_GLOBALS = frozenset(
    [(mod, name) for mod in ("numpy.core.multiarray", "numpy._core.multiarray") for name in ("_reconstruct", "scalar")]
    + [(mod, "_frombuffer") for mod in ("numpy.core.numeric", "numpy._core.numeric")]
    + [("numpy", "ndarray"), ("numpy", "dtype")]
    + [("builtins", name) for name in ("set", "frozenset", "bytearray", "complex", "slice")]
    + [("collections", "OrderedDict"), ("_codecs", "encode")]  # protocols 0-2 pickle bytes via _codecs.encode
)


class _RestrictedUnpickler(pickle.Unpickler):
    def __init__(self, file, *, path: Path):
        super().__init__(file, encoding="latin1")
        self._path = path

    def find_class(self, module: str, name: str):
        if (module, name) not in ALLOWED_GLOBALS:
            raise InputError(f"{self._path}: refused to unpickle {module}.{name} (only plain containers and numpy arrays are allowed)")
        return super().find_class(module, name)

    def persistent_load(self, pid):
        raise InputError(f"{self._path}: refused a persistent id in the pickle (only plain containers and numpy arrays are allowed)")


def safe_load(path: str | Path):
    """Unpickle `path` admitting only plain containers and numpy arrays; anything else raises InputError."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"file not found: {path}")
    with path.open("rb") as fh:
        try:
            return _RestrictedUnpickler(fh, path=path).load()
        except InputError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, ImportError, IndexError) as err:
            raise InputError(f"{path}: not a readable data pickle ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''})") from err
