"""Range checks for numbers where they enter (CLI options, config keys, values read from files).

Each check returns the value as a plain int or float, or raises `InputError` with one line
that names the option or file, the value and the allowed range.
"""

from __future__ import annotations

import math
import numbers

from tissue_mib.errors import InputError

SEED_MAX = 2**32 - 1  # numpy's and torch's seed range


def _number(value, name: str, kind: str) -> float:
    """`value` as a float when it is a number (or a string holding one), else InputError."""
    if isinstance(value, bool) or value is None:
        raise InputError(f"{name} = {value!r}: must be {kind}")
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            raise InputError(f"{name} = {value!r}: must be {kind}") from None
    if not isinstance(value, numbers.Real):
        raise InputError(f"{name} = {value!r}: must be {kind}")
    try:
        return float(value)
    except OverflowError:
        return math.inf if value > 0 else -math.inf


def check_int(value, *, name: str, lo: int | None = None, hi: int | None = None) -> int:
    """`value` as an int in [lo, hi] (either bound may be None)."""
    span = _span(lo, hi, "[", "]")
    kind = f"an integer {span}".rstrip()
    x = _number(value, name, kind)
    if not math.isfinite(x) or x != int(x):
        raise InputError(f"{name} = {value!r}: must be {kind}")
    n = int(value) if isinstance(value, numbers.Integral) else int(x)
    if (lo is not None and n < lo) or (hi is not None and n > hi):
        raise InputError(f"{name} = {value!r}: must be {kind}")
    return n


def check_float(
    value, *, name: str, lo: float | None = None, hi: float | None = None, lo_open: bool = False, hi_open: bool = False
) -> float:
    """`value` as a finite float between lo and hi (open ends with lo_open / hi_open)."""
    span = _span(lo, hi, "(" if lo_open else "[", ")" if hi_open else "]")
    kind = f"a finite number {span}".rstrip()
    x = _number(value, name, kind)
    bad_lo = lo is not None and (x <= lo if lo_open else x < lo)
    bad_hi = hi is not None and (x >= hi if hi_open else x > hi)
    if not math.isfinite(x) or bad_lo or bad_hi:
        raise InputError(f"{name} = {value!r}: must be {kind}")
    return x


def check_positive(value, *, name: str) -> float:
    """A finite float > 0 (learning rates, scale factors, diameters)."""
    return check_float(value, name=name, lo=0.0, lo_open=True)


def check_seed(value, *, name: str) -> int:
    """A random seed in 0..2^32-1."""
    return check_int(value, name=name, lo=0, hi=SEED_MAX)


def _span(lo, hi, left: str, right: str) -> str:
    if lo is not None and hi is not None:
        return f"in {left}{_fmt(lo)}, {_fmt(hi)}{right}"
    if lo is not None:
        return f"{'>' if left == '(' else '>='} {_fmt(lo)}"
    if hi is not None:
        return f"{'<' if right == ')' else '<='} {_fmt(hi)}"
    return ""


def _fmt(bound) -> str:
    return str(bound) if isinstance(bound, int) else f"{bound:g}"
