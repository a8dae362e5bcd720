"""Command-line interface (typer); one file per command, see main.py."""
