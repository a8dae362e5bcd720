"""A small name -> class registry for model parts, with auto-import of a package's modules.

Usage::

    ENCODERS = Registry("encoder")

    @ENCODERS.register("mlp")
    class MLPEncoder(nn.Module): ...

    enc = ENCODERS.build("mlp", in_dim=50, out_dim=256)

A package that owns a registry calls `import_submodules(__name__, __path__)` at the end of
its `__init__`, so a new file in that folder registers itself on import.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from tissue_mib.errors import InputError

T = TypeVar("T")


class Registry:
    """Named constructors of one kind of part (`kind` is used in error messages)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, Callable[..., Any]] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: register a class (or factory) under `name`; a name is registered once."""

        def decorator(obj: T) -> T:
            if name in self._items and self._items[name] is not obj:
                raise InputError(f"{self.kind} {name!r} is already registered (by {self._items[name].__module__})")
            self._items[name] = obj  # type: ignore[assignment]
            return obj

        return decorator

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def get(self, name: str) -> Callable[..., Any]:
        """The class registered under `name`; InputError listing the known names otherwise."""
        try:
            return self._items[name]
        except KeyError:
            raise InputError(f"unknown {self.kind} {name!r}; registered: {', '.join(self.names())}") from None

    def build(self, name: str, **kwargs: Any) -> Any:
        """Construct `name` with keyword options; an option it does not take is an InputError."""
        cls = self.get(name)
        try:
            inspect.signature(cls).bind(**kwargs)
        except TypeError as err:
            raise InputError(f"{self.kind} {name!r}: {err}") from None
        return cls(**kwargs)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"


def import_submodules(package: str, path: Iterable[str]) -> None:
    """Import every module of `package` (found with pkgutil) so that their decorators run."""
    for info in pkgutil.iter_modules(path):
        importlib.import_module(f"{package}.{info.name}")
