"""`truceline log ...` (the evidence log) and `truceline verify` (offline, for observers)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

DB_HELP = "Database URL: sqlite:///FILE (default $TRUCELINE_DB or sqlite:///./truceline.sqlite) or postgresql://..."
KEY_HELP = "Log signing key file (default: kept in the store, or $TRUCELINE_LOG_KEY)."

log_app = typer.Typer(help="Evidence log (RFC 9162): key, signed heads, proofs, audit.", no_args_is_help=True)


def _print(obj: object) -> None:
    typer.echo(json.dumps(obj))


@log_app.command("key")
def key(db: str | None = typer.Option(None, "--db", help=DB_HELP),
        log_key: Path | None = typer.Option(None, "--log-key", help=KEY_HELP)) -> None:
    """Print the log's public key {"public_key": ...} (created on first use)."""
    from truceline.evidence import public_key_json
    from truceline.store import open_store

    with open_store(db) as store:
        _print(public_key_json(store, log_key))


@log_app.command("head")
def head(db: str | None = typer.Option(None, "--db", help=DB_HELP),
         log_key: Path | None = typer.Option(None, "--log-key", help=KEY_HELP)) -> None:
    """Sign and print a tree head for the current size."""
    from truceline.evidence import sign_head
    from truceline.store import open_store

    with open_store(db) as store:
        _print(sign_head(store, log_key))


@log_app.command("prove")
def prove(object_id: str = typer.Argument(..., help="Report or decision id."),
          size: int | None = typer.Option(None, "--size", help="Tree size (default: the latest signed head's)."),
          kind: str | None = typer.Option(None, "--kind", help="Entry kind if the id is ambiguous."),
          db: str | None = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """Print an inclusion proof for a logged report or decision."""
    from truceline.evidence import inclusion_proof
    from truceline.store import open_store

    with open_store(db) as store:
        _print(inclusion_proof(store, object_id, size=size, kind=kind))


@log_app.command("consistency")
def consistency(first: int = typer.Argument(..., help="Older tree size."),
                second: int = typer.Argument(..., help="Newer tree size."),
                db: str | None = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """Print a consistency proof between two tree sizes."""
    from truceline.evidence import consistency_proof
    from truceline.store import open_store

    with open_store(db) as store:
        _print(consistency_proof(store, first, second))


@log_app.command("entry")
def entry(object_id: str = typer.Argument(..., help="Report or decision id."),
          kind: str | None = typer.Option(None, "--kind", help="Entry kind if the id is ambiguous."),
          db: str | None = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """Print a logged object exactly as logged (its RFC 8785 bytes), for `verify --entry`."""
    from truceline.evidence.log import find_entry
    from truceline.store import open_store

    with open_store(db) as store:
        _, _, data = find_entry(store, object_id, kind)
    typer.echo(data.decode("utf-8"))


@log_app.command("audit")
def audit(db: str | None = typer.Option(None, "--db", help=DB_HELP),
          as_json: bool = typer.Option(False, "--json", help="Print the result as JSON.")) -> None:
    """Recompute every leaf, node and signed head from the stored bytes; exit 1 on any mismatch."""
    from truceline.evidence.audit import audit as run_audit
    from truceline.ingest.pipeline import _progress
    from truceline.store import open_store
    from truceline.store.log_tables import log_entries

    with open_store(db) as store:
        from sqlalchemy import func, select

        with store.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(log_entries)).scalar_one()
        with _progress(not as_json, "auditing", total) as advance:
            result = run_audit(store, advance=advance)
    if as_json:
        _print(result.to_json())
    elif result.ok:
        typer.secho(f"PASS: {result.entries} leaves, {result.nodes} stored nodes, {result.heads} signed heads, "
                    f"{result.reports} reports recomputed; root {result.root_hash}", fg=typer.colors.GREEN)
    else:
        typer.secho(f"FAIL: {result.first_mismatch}", fg=typer.colors.RED)
    raise typer.Exit(0 if result.ok else 1)


def verify(
    proof: Path = typer.Argument(..., help="Inclusion proof (log prove) or consistency proof (log consistency)."),
    head: Path = typer.Option(..., "--head", help="Signed tree head (log head) the proof is against."),
    key_file: Path = typer.Option(..., "--key", help="The log's public key (output of `log key`)."),
    old_head: Path | None = typer.Option(None, "--old-head", help="Older signed head (consistency proofs)."),
    entry_file: Path | None = typer.Option(None, "--entry", help="The logged object (JSON) to check the leaf hash."),
) -> None:
    """Check a proof offline with nothing but the files: prints PASS or FAIL, exit 0 or 1."""
    from truceline.errors import InputError
    from truceline.evidence.verify import load_json, verify_consistency_files, verify_inclusion_files

    proof_obj = load_json(proof, "proof")
    head_obj = load_json(head, "signed tree head")
    key_obj = load_json(key_file, "log key")
    if isinstance(proof_obj, dict) and "consistency_path" in proof_obj:
        if old_head is None:
            raise InputError(f"{proof}: a consistency proof needs --old-head")
        verdict = verify_consistency_files(proof_obj, load_json(old_head, "old signed tree head"), head_obj, key_obj)
    else:
        entry_obj = load_json(entry_file, "entry") if entry_file is not None else None
        verdict = verify_inclusion_files(proof_obj, head_obj, key_obj, entry_obj, entry_given=entry_file is not None)
    for passed, what in verdict.checks:
        typer.secho(f"  {'ok  ' if passed else 'FAIL'} {what}", fg=None if passed else typer.colors.RED)
    if verdict.ok:
        typer.secho("PASS", fg=typer.colors.GREEN)
    else:
        typer.secho("FAIL", fg=typer.colors.RED)
    raise typer.Exit(0 if verdict.ok else 1)


def register(app: typer.Typer) -> None:
    app.add_typer(log_app, name="log")
    app.command("verify")(verify)
