"""Helpers shared by the CLI commands: reading sections by name/path/glob, YAML configs, tables, --out locks."""

from __future__ import annotations

import contextlib
import functools
import logging
from pathlib import Path

import typer

from tissue_mib.checks import check_float, check_int, check_seed
from tissue_mib.errors import InputError
from tissue_mib.lock import folder_lock
from tissue_mib.logs import step
from tissue_mib.utils import read_yaml_mapping

logger = logging.getLogger(__name__)


def read_sections(specs: list[str], *, labels_dir: Path | None = None) -> list:
    """Read every section named by `specs` (catalogue names, ranges like NB-A..H, paths or globs).

    Returns a list of AnnData, one per section, with `obs['section']` set.
    """
    from tissue_mib import io

    refs = io.catalogue.resolve(specs)
    with step(f"read {len(refs)} section(s)") as line:
        adatas = [io.read(ref, labels_dir=labels_dir) for ref in refs]
        line.detail = f"{', '.join(ref.name for ref in refs)}: {sum(a.n_obs for a in adatas):,} spots"
    if not adatas:
        raise InputError(f"no sections matched {' '.join(specs)!r}")
    return adatas


def at_least(lo: int, option: str):
    """A typer callback: an integer option (None passes) range-checked, e.g. `--epochs` >= 1."""
    return lambda value: value if value is None else check_int(value, name=option, lo=lo)


def seed_in_range(option: str):
    """A typer callback: a seed option (None passes) in 0..2^32-1."""
    return lambda value: value if value is None else check_seed(value, name=option)


def open_unit(option: str):
    """A typer callback: a float option in (0, 1), e.g. `--fdr`."""
    return lambda value: check_float(value, name=option, lo=0.0, hi=1.0, lo_open=True, hi_open=True)


PRESETS = Path(__file__).resolve().parents[1] / "configs"  # shipped with the package


def load_config(path: Path | None, *, folder: Path = PRESETS) -> dict:
    """Load a YAML preset: a file path, or the name of a preset shipped in `folder` (method
    presets `omib`, `e-mib`, ...; `folder / "workflows"` for workflow recipes). {} for None."""
    if path is None:
        return {}
    path = Path(path)
    if not path.exists() and path.suffix == "" and path.parent == Path("."):
        shipped = folder / f"{path.name.replace('-', '_')}.yaml"
        if not shipped.is_file():
            known = ", ".join(sorted(p.stem.replace("_", "-") for p in folder.glob("*.yaml")))
            raise InputError(f"config {str(path)!r}: no such file and no shipped preset of that name (presets: {known})")
        path = shipped
    return read_yaml_mapping(path, what="config file")


def echo_table(rows: list[dict], columns: list[str], *, title: str | None = None) -> None:
    """Print `rows` as a fixed-width table on stdout (numbers to 3 decimals)."""

    def fmt(v) -> str:
        if isinstance(v, float):
            return f"{v:.3f}"
        if isinstance(v, (list, tuple)) and v and all(isinstance(x, float) for x in v):
            return "[" + ", ".join(f"{x:.3f}" for x in v) + "]"
        return str(v)

    cells = [[fmt(r.get(c, "")) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) if cells else len(c) for i, c in enumerate(columns)]
    if title:
        typer.echo(title)
    typer.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    typer.echo("  ".join("-" * w for w in widths))
    for row in cells:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(row, widths)))


def locked_out(command):
    """Wrap a command so that it holds the lock of its `--out` folder (when one is given) while it runs."""

    @functools.wraps(command)
    def run(*args, **kwargs):
        out = kwargs.get("out")
        if out is not None and Path(out).is_file():
            raise typer.BadParameter(f"{out} is a file; --out takes a folder", param_hint="--out")
        with folder_lock(out) if out is not None else contextlib.nullcontext():
            return command(*args, **kwargs)

    return run
