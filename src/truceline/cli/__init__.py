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
    except Exception as exc:  # usage errors (missing argument, unknown option), --help's exit
        code = _usage_exit_code(exc)
        if code is None:
            raise
        if code and hasattr(exc, "format_message"):
            ctx = getattr(exc, "ctx", None)
            where = getattr(ctx, "command_path", None) or "truceline"
            typer.secho(f"error: {exc.format_message()} (see `{where} --help`)", fg=typer.colors.RED, err=True)
        sys.exit(code)


def _usage_exit_code(exc: BaseException) -> int | None:
    """The exit code of a command-line usage error or an early exit, None for anything else.

    Typer (0.29) runs a vendored Click whose exception classes are not the `click` package's,
    so they are recognised by their class names along the MRO, whichever Click raised them."""
    names = {c.__name__ for c in type(exc).__mro__}
    if "ClickException" in names or "Exit" in names:
        return int(getattr(exc, "exit_code", 2) or 0)
    return None


if __name__ == "__main__":
    main()
