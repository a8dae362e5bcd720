"""Peak resident memory of a step (for `bench perf`).

On Linux the kernel keeps the process' high-water mark of resident memory (`VmHWM` in
/proc/self/status) and resets it to the current size when "5" is written to
/proc/self/clear_refs, so each step gets its own exact peak. Elsewhere the peak is the
process' lifetime maximum (`resource.getrusage`), an upper bound for the step.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

_STATUS = Path("/proc/self/status")
_CLEAR = Path("/proc/self/clear_refs")


class PeakRSS:
    """`with PeakRSS() as peak: ...` then `peak.gb`: the step's peak resident memory in GB (1e9 bytes);
    `peak.exact` says whether it is the step's own peak (else the process' lifetime peak)."""

    def __enter__(self) -> PeakRSS:
        self.exact = _reset_high_water_mark()
        self.gb = float("nan")
        return self

    def __exit__(self, *exc) -> None:
        self.gb = _high_water_mark_bytes() / 1e9


def _reset_high_water_mark() -> bool:
    try:
        _CLEAR.write_text("5")
        return True
    except OSError:
        return False


def _high_water_mark_bytes() -> int:
    try:
        for line in _STATUS.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if sys.platform == "darwin" else maxrss * 1024  # bytes on macOS, KiB on Linux
