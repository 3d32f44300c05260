"""`truceline serve` (the dashboard) and `truceline users` (accounts for it)."""

from __future__ import annotations

from pathlib import Path

import typer

users_app = typer.Typer(help="Dashboard accounts (hashed passwords and API tokens in a TOML file).",
                        no_args_is_help=True)


def serve(
    db: str | None = typer.Option(None, "--db", help="Store URL (evidence proofs, commission cases)."),
    events: Path | None = typer.Option(None, "--events", help="events.geojson to serve."),
    territory: Path | None = typer.Option(None, "--territory", help="territory.geojson (default: packaged)."),
    profile: Path | None = typer.Option(None, "--profile", help="Agreement profile TOML."),
    users: Path | None = typer.Option(None, "--users", help="Users TOML (default: the demo users)."),
    state: Path | None = typer.Option(None, "--state", help="SQLite file for sessions and the audit trail."),
    host: str = typer.Option("127.0.0.1", "--host"),
    port: int = typer.Option(8000, "--port"),
) -> None:
    """Serve the dashboard: map, events, commission workspace, coalition, JSON API (/docs)."""
    from truceline.errors import InputError
    from truceline.web import create_app
    from truceline.web import serve as run
    from truceline.web.auth import UserDirectory

    if events is None and db is None:
        raise InputError("nothing to serve: pass --events EVENTS.geojson (and --db URL for cases and proofs)")
    if events is None:
        typer.echo("warning: no --events: the map is empty; the commission workspace works from --db")
    if users is None and host not in ("127.0.0.1", "localhost", "::1"):
        raise InputError(f"--host {host}: the demo users (known passwords) are for loopback only; "
                         "pass --users FILE (see `truceline users add`)")
    directory = None
    if users is None:
        directory, creds = UserDirectory.demo()
        typer.echo("demo users (for a local demo only; pass --users FILE otherwise):")
        for name, c in creds.items():
            typer.echo(f"  {name:<16} {c['role']:<13} acts as {c['actor']:<12} password {c['password']:<21} "
                       f"token {c['token']}")
    app = create_app(events=events, territory=territory, profile=profile, db_url=db,
                     users=directory if directory is not None else users,
                     state_path=state if state is not None else _default_state(db))
    typer.echo(f"dashboard on http://{host}:{port}/  (API listing: /docs, OpenAPI: /openapi.json)")
    run(app, host=host, port=port)


def _default_state(db: str | None) -> str | None:
    if db and db.startswith("sqlite:///") and db != "sqlite:///:memory:":
        return db[len("sqlite:///"):] + ".web.sqlite"
    return None


@users_app.command("add")
def users_add(
    file: Path = typer.Option(..., "--file", help="Users TOML to create or extend."),
    name: str = typer.Option(..., "--name"),
    role: str = typer.Option(..., "--role", help="public, analyst, commissioner or admin."),
    actor: str | None = typer.Option(None, "--actor", help="Commission member id this user acts as."),
    password: str = typer.Option(..., "--password", prompt=True, hide_input=True, confirmation_prompt=True),
    token: bool = typer.Option(False, "--token", help="Also create an API token (printed once)."),
) -> None:
    """Add a user with an scrypt-hashed password (and optionally an API token)."""
    import secrets
    import tomllib

    from truceline.errors import InputError
    from truceline.web.auth import ROLES, hash_secret, token_hash

    if role not in ROLES:
        raise InputError(f"--role must be one of {', '.join(ROLES)}")
    rows = []
    if file.exists():
        try:
            rows = tomllib.loads(file.read_text(encoding="utf-8")).get("users", [])
        except tomllib.TOMLDecodeError as exc:
            raise InputError(f"{file}: {exc}") from None
    rows = [r for r in rows if r.get("name") != name]
    row = {"name": name, "role": role, "password_hash": hash_secret(password), "token_hashes": []}
    if actor:
        row["actor"] = actor
    tok = None
    if token:
        tok = secrets.token_urlsafe(32)
        row["token_hashes"] = [token_hash(tok)]
    rows.append(row)
    lines = []
    for r in rows:
        lines.append("[[users]]")
        for k, v in r.items():
            if isinstance(v, list):
                lines.append(f"{k} = [{', '.join(_q(x) for x in v)}]")
            else:
                lines.append(f"{k} = {_q(v)}")
        lines.append("")
    file.write_text("\n".join(lines), encoding="utf-8")
    typer.echo(f"{file}: user {name} ({role})")
    if tok:
        typer.echo(f"API token (shown once): {tok}")


def _q(v: object) -> str:
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.add_typer(users_app, name="users")


def demo_step_dashboard(ctx) -> None:  # type: ignore[no-untyped-def]
    """`truceline demo` step: offer the dashboard on the simulated day.

    Prints the `truceline serve` command for the demo's events and store, and the demo
    users; serves right away (until Ctrl-C) when `ctx.state["serve"]` is true.
    """
    from pathlib import Path

    from truceline.web.auth import UserDirectory

    st = ctx.state
    events = Path(st.get("events_path") or ctx.out / "events.geojson")
    cmd = f"truceline serve --events {events}"
    if st.get("db_url"):
        cmd += f" --db {st['db_url']}"
    ctx.console.print(f"dashboard: [bold]{cmd}[/] then open http://127.0.0.1:8000/ (day {st.get('day', '')})")
    _, creds = UserDirectory.demo()
    for name, c in creds.items():
        ctx.console.print(f"  {name:<16} {c['role']:<13} password {c['password']}")
    if st.get("serve"):
        from truceline.web import create_app
        from truceline.web import serve as run

        app = create_app(events=events, db_url=st.get("db_url"))
        run(app, port=int(st.get("port", 8000)))
