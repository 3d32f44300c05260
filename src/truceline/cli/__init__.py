"""The `truceline` command line: a thin layer over the library API.

Each command group lives in its own module under `truceline.cli` and exposes
`register(app)`; heavy imports happen inside the command functions so that
`truceline --help` stays instant. User errors (`TrucelineError`) become one red line
on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import importlib
import sys

import typer

app = typer.Typer(
    name="truceline",
    help="Verifiable ceasefire monitoring: sensors -> evidence log -> events -> commission -> reports.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

# Command modules, in the order their groups appear in --help. A module that is listed
# here but missing is a packaging bug and fails loudly.
COMMAND_MODULES = (
    "demo_cmds",
    "geo_cmds",
    "sim_cmds",
    "ingest_cmds",
    "log_cmds",
    "analysis_cmds",
    "explain_cmds",
    "commission_cmds",
    "report_cmds",
    "web_cmds",
)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"truceline.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"truceline.cli.{name}":
                continue  # stage not built yet
            raise
        module.register(app)


_register_all()


def main() -> None:
    """Entry point: run the Typer app, turning user errors into one clear line."""
    from truceline.errors import TrucelineError

    try:
        app(standalone_mode=False)
    except TrucelineError as exc:
        typer.secho(f"error: {exc}", fg=typer.colors.RED, err=True)
        sys.exit(exc.exit_code)
    except typer.Abort:
        typer.secho("aborted", fg=typer.colors.RED, err=True)
        sys.exit(130)
    except Exception as exc:  # click usage errors etc.
        import click

        if isinstance(exc, click.exceptions.Exit):
            sys.exit(exc.exit_code)
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
