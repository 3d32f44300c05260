"""The CLI contract of the evidence log, end to end on both backends: ingest, log key /
head / prove / consistency / audit, and offline `truceline verify` PASS/FAIL exit codes."""

from __future__ import annotations

import json

import sqlalchemy as sa
from typer.testing import CliRunner

from common import SPEC
from truceline.cli import app
from truceline.store import open_store
from truceline.store.log_tables import log_entries

runner = CliRunner()


def run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, (args, result.output, result.exception)
    return result.output


def test_cli_end_to_end(store_url, tmp_path):
    lines = (SPEC / "examples_reports.jsonl").read_bytes().splitlines()
    first, rest = tmp_path / "first.jsonl", tmp_path / "all.jsonl"
    first.write_bytes(b"\n".join(lines[:5]) + b"\n")
    rest.write_bytes(b"\n".join(lines) + b"\n")
    sensors = str(SPEC / "examples_sensors.json")
    summary = json.loads(run("ingest", str(first), "--sensors", sensors, "--db", store_url, "--json"))
    assert summary["accepted"] == 5 and summary["tree_size"] == 5
    (tmp_path / "key.json").write_text(run("log", "key", "--db", store_url))
    (tmp_path / "head5.json").write_text(run("log", "head", "--db", store_url))
    out = run("ingest", str(rest), "--sensors", sensors, "--db", store_url)
    assert "accepted (new)" in out and "quarantined: replay" in out
    head = json.loads(run("log", "head", "--db", store_url))
    assert head["tree_size"] == 11 and set(head) == {"tree_size", "root_hash", "timestamp", "signature"}
    (tmp_path / "head.json").write_text(json.dumps(head))
    rid = json.loads(lines[7])["id"]
    proof = json.loads(run("log", "prove", rid, "--db", store_url))
    assert set(proof) == {"id", "leaf_index", "tree_size", "leaf_hash", "inclusion_path"}
    assert proof["leaf_index"] == 7 and proof["tree_size"] == 11
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    (tmp_path / "entry.json").write_text(run("log", "entry", rid, "--db", store_url))
    assert json.loads((tmp_path / "entry.json").read_text()) == json.loads(lines[7])
    files = ["--head", str(tmp_path / "head.json"), "--key", str(tmp_path / "key.json")]
    assert "PASS" in run("verify", str(tmp_path / "proof.json"), *files, "--entry", str(tmp_path / "entry.json"))
    # wrong entry, tampered proof, wrong head: FAIL with exit 1
    (tmp_path / "other.json").write_text(lines[6].decode())
    assert "FAIL" in run("verify", str(tmp_path / "proof.json"), *files, "--entry", str(tmp_path / "other.json"),
                         code=1)
    bad = dict(proof, inclusion_path=list(reversed(proof["inclusion_path"])))
    (tmp_path / "bad.json").write_text(json.dumps(bad))
    assert "FAIL" in run("verify", str(tmp_path / "bad.json"), *files, code=1)
    forged = dict(head, tree_size=12)
    (tmp_path / "forged.json").write_text(json.dumps(forged))
    assert "FAIL" in run("verify", str(tmp_path / "proof.json"), "--head", str(tmp_path / "forged.json"), "--key",
                         str(tmp_path / "key.json"), code=1)
    # consistency 5 -> 11
    (tmp_path / "cons.json").write_text(run("log", "consistency", "5", "11", "--db", store_url))
    assert json.loads((tmp_path / "cons.json").read_text())["first"] == 5
    assert "PASS" in run("verify", str(tmp_path / "cons.json"), *files, "--old-head", str(tmp_path / "head5.json"))
    assert "FAIL" in run("verify", str(tmp_path / "cons.json"), "--head", str(tmp_path / "head5.json"), "--key",
                         str(tmp_path / "key.json"), "--old-head", str(tmp_path / "head.json"), code=1)
    # audit passes, then detects a changed byte
    assert "PASS" in run("log", "audit", "--db", store_url)
    with open_store(store_url) as store, store.engine.begin() as conn:
        entry = conn.execute(sa.select(log_entries.c.entry).where(log_entries.c.idx == 3)).scalar_one()
        conn.execute(sa.update(log_entries).where(log_entries.c.idx == 3)
                     .values(entry=bytes(entry).replace(b'"seq":', b'"seq":1')))
    out = run("log", "audit", "--db", store_url, code=1)
    assert "FAIL" in out and "leaf 3" in out


def test_cli_errors_are_one_line(tmp_path, capsys):
    import pytest

    from truceline.cli import main

    db = f"sqlite:///{tmp_path / 'e.sqlite'}"
    for argv in (["log", "prove", "nope", "--db", db], ["log", "consistency", "3", "9", "--db", db],
                 ["ingest", str(tmp_path / "missing.jsonl"), "--sensors", str(SPEC / "examples_sensors.json"),
                  "--db", db]):
        import sys

        old = sys.argv
        sys.argv = ["truceline", *argv]
        try:
            with pytest.raises(SystemExit) as exit_info:
                main()
        finally:
            sys.argv = old
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1, err
