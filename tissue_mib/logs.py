"""Terminal output: the STEP level, step timers, and log lines that never cut a progress bar.

Levels shown: STEP (default: one line per step, what, how many, how long) and warnings;
INFO with `-v`, DEBUG with `-vv`; errors only with `-q`. Every line goes through
`tqdm.write`, so a log line lands above the progress bars instead of breaking one.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from tqdm.auto import tqdm

STEP = 25  # between INFO (20) and WARNING (30)
logging.addLevelName(STEP, "STEP")
logger = logging.getLogger("tissue_mib")
_depth: ContextVar[int] = ContextVar("tissue_mib_step_depth", default=0)


class TqdmHandler(logging.Handler):
    """Write each record with `tqdm.write` (to stderr), which clears and redraws the open bars."""

    def __init__(self, stream=None):
        super().__init__()
        self.stream = stream

    def emit(self, record: logging.LogRecord) -> None:
        try:
            tqdm.write(self.format(record), file=self.stream or sys.stderr)
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


class _Formatter(logging.Formatter):
    """STEP lines bare, warnings and errors prefixed by the level, INFO/DEBUG by level and logger."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{self.formatException(record.exc_info)}"
        if record.levelno == STEP:
            return message
        if record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {message}"
        return f"{record.levelname} {record.name}: {message}"


def level_for(verbose: int = 0, quiet: bool = False) -> int:
    """The root level: ERROR for quiet, else STEP, INFO (-v) or DEBUG (-vv)."""
    if quiet:
        return logging.ERROR
    return (STEP, logging.INFO, logging.DEBUG)[min(max(verbose, 0), 2)]


def configure(verbose: int = 0, quiet: bool = False, *, stream=None) -> None:
    """Route every log record through one TqdmHandler on the root logger at `level_for(...)`."""
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, TqdmHandler)]:
        root.removeHandler(handler)
    handler = TqdmHandler(stream)
    handler.setFormatter(_Formatter())
    root.addHandler(handler)
    root.setLevel(level_for(verbose, quiet))
    logging.captureWarnings(True)


@dataclass
class Step:
    """What a step did; set `detail` (how many) inside the `step` block."""

    what: str
    detail: str = ""


def duration(seconds: float) -> str:
    """`0.4 s`, `12 s`, `3 min 05 s`."""
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 60:
        return f"{seconds:.0f} s"
    return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"


@contextmanager
def details() -> Iterator[None]:
    """Steps inside the block are details of a larger one (a bench cell): they log at INFO."""
    token = _depth.set(_depth.get() + 1)
    try:
        yield
    finally:
        _depth.reset(token)


@contextmanager
def step(what: str, *, log: logging.Logger = logger) -> Iterator[Step]:
    """Time a step and log one line when it ends: `what: detail (time)`, nothing if it raises.
    STEP level, or INFO for a step inside another step (or inside `details()`)."""
    record = Step(what)
    start = time.perf_counter()
    level = STEP if _depth.get() == 0 else logging.INFO
    with details():
        yield record
    detail = f": {record.detail}" if record.detail else ""
    log.log(level, "%s%s (%s)", record.what, detail, duration(time.perf_counter() - start))
