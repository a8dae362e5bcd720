"""Process-wide settings: verbosity (progress bars) and the input limits.

`settings.progress` turns every progress bar off when False (the CLI's `--quiet`, or the
environment variable TISSUE_MIB_QUIET=1). `settings.max_image_pixels` and
`settings.max_memory` (a size such as "8G" or bytes) override the environment variables
TISSUE_MIB_MAX_IMAGE_PIXELS and TISSUE_MIB_MAX_MEMORY; None leaves them, or the defaults
(1e9 pixels, 80% of RAM), in force (`tissue_mib.io.guard`). `settings.chunk_spots` (else
TISSUE_MIB_CHUNK_SPOTS, else CHUNK_SPOTS) is how many spots scoring holds as model inputs, and
the gene panel densifies, at once (`chunk_spots()`). Library code logs through
`logging` (tissue_mib.logs), never print.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from tqdm.auto import tqdm

from tissue_mib.checks import check_int

T = TypeVar("T")
logger = logging.getLogger("tissue_mib")


CHUNK_SPOTS = 16_384  # about 0.5 GB of model inputs at 3,000 panel genes and 32 px patches (docs/engine.md)


@dataclass
class Settings:
    progress: bool = field(default_factory=lambda: os.environ.get("TISSUE_MIB_QUIET", "") in ("", "0"))
    max_image_pixels: int | None = None
    max_memory: int | str | None = None
    chunk_spots: int | None = None


settings = Settings()


def chunk_spots() -> int:
    """Spots scored per chunk: `settings.chunk_spots`, else TISSUE_MIB_CHUNK_SPOTS, else CHUNK_SPOTS."""
    if settings.chunk_spots is not None:
        return check_int(settings.chunk_spots, name="settings.chunk_spots", lo=1)
    env = os.environ.get("TISSUE_MIB_CHUNK_SPOTS", "")
    return check_int(env, name="TISSUE_MIB_CHUNK_SPOTS", lo=1) if env else CHUNK_SPOTS


def progress(iterable: Iterable[T], *, desc: str, total: int | None = None, leave: bool = False, **kw) -> Iterator[T]:
    """Wrap `iterable` in a tqdm bar unless progress is turned off (settings.progress) or it has one item at most."""
    size = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
    hidden = not settings.progress or (size is not None and size <= 1)
    return tqdm(iterable, desc=desc, total=total, leave=leave, disable=hidden, dynamic_ncols=True, **kw)


def progress_bar(*, desc: str, total: int | None = None, leave: bool = False, **kw) -> tqdm:
    """A manual tqdm bar (call .update/.set_postfix) that honours settings.progress."""
    return tqdm(desc=desc, total=total, leave=leave, disable=not settings.progress, dynamic_ncols=True, **kw)
