"""Process-wide settings: verbosity (progress bars) and the input limits.

`settings.progress` turns every progress bar off when False (the CLI's `--quiet`, or the
environment variable TISSUE_MIB_QUIET=1). `settings.max_image_pixels` and
`settings.max_memory` (a size such as "8G" or bytes) override the environment variables
TISSUE_MIB_MAX_IMAGE_PIXELS and TISSUE_MIB_MAX_MEMORY; None leaves them, or the defaults
(1e9 pixels, 80% of RAM), in force (`tissue_mib.io.guard`). Library code logs through
`logging` (tissue_mib.logs), never print.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")
logger = logging.getLogger("tissue_mib")


@dataclass
class Settings:
    progress: bool = field(default_factory=lambda: os.environ.get("TISSUE_MIB_QUIET", "") in ("", "0"))
    max_image_pixels: int | None = None
    max_memory: int | str | None = None


settings = Settings()


def progress(iterable: Iterable[T], *, desc: str, total: int | None = None, leave: bool = False, **kw) -> Iterator[T]:
    """Wrap `iterable` in a tqdm bar unless progress is turned off (settings.progress) or it has one item at most."""
    size = total if total is not None else (len(iterable) if hasattr(iterable, "__len__") else None)
    hidden = not settings.progress or (size is not None and size <= 1)
    return tqdm(iterable, desc=desc, total=total, leave=leave, disable=hidden, dynamic_ncols=True, **kw)


def progress_bar(*, desc: str, total: int | None = None, leave: bool = False, **kw) -> tqdm:
    """A manual tqdm bar (call .update/.set_postfix) that honours settings.progress."""
    return tqdm(desc=desc, total=total, leave=leave, disable=not settings.progress, dynamic_ncols=True, **kw)
