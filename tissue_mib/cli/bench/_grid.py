"""Option parsing and the exit code shared by the grid benchmarks (`bench sim`, `bench mfeat`)."""

from __future__ import annotations

import typer

from tissue_mib.checks import check_seed
from tissue_mib.errors import InputError

#: exit code when the grid finished but some cells failed (0: all ran, 2: bad input, 1: crash)
CELLS_FAILED = 3


def parse_ints(text: str, option: str) -> tuple[int, ...]:
    return _parse(text, option, int, "integers")


def parse_seeds(text: str, option: str) -> tuple[int, ...]:
    """Comma-separated seeds, each in 0..2^32-1."""
    return tuple(check_seed(s, name=option) for s in parse_ints(text, option))


def parse_floats(text: str, option: str) -> tuple[float, ...]:
    return _parse(text, option, float, "numbers")


def _parse(text: str, option: str, cast, what: str) -> tuple:
    try:
        return tuple(cast(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise InputError(f"option {option} must be comma-separated {what}, got {text!r}") from None


def exit_on_failures(result: dict) -> None:
    """Print each failed cell of a benchmark result (on stderr) and exit with CELLS_FAILED; return when none failed."""
    failed = result["failures"]
    if not failed:
        return
    typer.echo(f"{len(failed)} cell(s) failed (recorded in the table and JSON with their errors):", err=True)
    for f in failed:
        typer.echo(f"  {f['cell']}: {f['error']}", err=True)
    raise typer.Exit(CELLS_FAILED)
