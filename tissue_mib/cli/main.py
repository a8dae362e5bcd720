"""The `tissue-mib` command line.

Every module in `tissue_mib.cli` (and `tissue_mib.cli.bench`) that defines
`register(app: typer.Typer)` adds its command(s); one file per command.
Exit codes: 0 success, 2 bad input or a busy output (one line on stderr), 1 training diverged
(one line) or an internal error.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import warnings

import typer

from tissue_mib import logs
from tissue_mib.errors import InputError, TrainingDiverged
from tissue_mib.settings import settings

# third-party import-time noise that says nothing to a user (squidpy's docrep, torch.jit deprecation)
warnings.filterwarnings("ignore", category=SyntaxWarning, module="docrep")
warnings.filterwarnings("ignore", category=FutureWarning, message=".*torch.jit.script.*")

_app = typer.Typer(
    name="tissue-mib",
    help="Find abnormal tissue in spatial transcriptomics (genes + H&E) with multimodal information-bottleneck models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@_app.callback()
def _main(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Results and errors only: no steps, warnings or progress bars."),
    verbose: int = typer.Option(0, "--verbose", "-v", count=True, show_default=False, help="More detail: -v adds INFO lines, -vv debug lines."),
) -> None:
    """tissue-mib: train on healthy sections, score new ones, benchmark the methods."""
    if quiet:
        settings.progress = False
    logs.configure(verbose, quiet)


def _register_all(app: typer.Typer, package: str) -> None:
    pkg = importlib.import_module(package)
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda m: m.name):
        if info.name.startswith("_") or info.name == "main":
            continue
        module = importlib.import_module(f"{package}.{info.name}")
        register = getattr(module, "register", None)
        if register is not None:
            register(app)


_register_all(_app, "tissue_mib.cli")


def _bare_flags(command) -> None:
    """Flags show in the help as `--quiet  -q`, without the `<bool>` typer prints as their type."""
    help_option = command.get_help_option(typer.Context(command))
    for param in [*command.params, help_option]:
        if getattr(param, "is_flag", False) or getattr(param, "count", False):
            param.metavar = ""
    for sub in getattr(command, "commands", {}).values():
        _bare_flags(sub)


def app() -> None:
    """Console-script entry point: runs the typer app and maps errors to exit codes."""
    command = typer.main.get_command(_app)
    _bare_flags(command)
    try:
        # without standalone mode click returns a command's typer.Exit code instead of exiting
        code = command(standalone_mode=False)
    except InputError as err:
        typer.echo(f"error: {err}", err=True)
        sys.exit(2)
    except TrainingDiverged as err:
        typer.echo(f"error: training diverged: {err}", err=True)
        sys.exit(1)
    except (typer.Abort, KeyboardInterrupt):
        typer.echo("aborted", err=True)
        sys.exit(130)
    except typer.TyperException as err:  # typer's (vendored) click usage errors: unknown option, missing argument
        err.show()
        sys.exit(err.exit_code)
    except Exception as err:  # noqa: BLE001 - the top level must turn any failure into exit 1
        if os.environ.get("TISSUE_MIB_DEBUG"):
            raise
        typer.echo(f"internal error: {type(err).__name__}: {err} (set TISSUE_MIB_DEBUG=1 for the traceback)", err=True)
        sys.exit(1)
    if isinstance(code, int) and code:
        sys.exit(code)
