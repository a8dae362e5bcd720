"""`tissue-mib bench ...`: one file per benchmark, each with `register(bench_app)`."""

import typer

bench_app = typer.Typer(help="Benchmarks: sim, mfeat, emotion, sentiment, cxr, her2st, perf, contamination; merge joins sim or mfeat runs made apart.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    from tissue_mib.cli._common import locked_out
    from tissue_mib.cli.main import _register_all  # here, not at import: main imports this package

    _register_all(bench_app, "tissue_mib.cli.bench")
    for info in bench_app.registered_commands:  # two benchmarks never write one --out folder at once
        info.callback = locked_out(info.callback)
    app.add_typer(bench_app, name="bench")
