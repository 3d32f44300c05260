"""Command-line usage errors are one `error:` line with exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

CLI = (sys.executable, "-c", "from truceline.cli import main; main()")


@pytest.mark.parametrize(("args", "says"), [
    (["analyze"], "Missing argument"),
    (["analyze", "r.jsonl", "--sensors", "s.json", "--out", "o.geojson", "--bogus"], "No such option: --bogus"),
    (["no-such-command"], "No such command"),
    (["explain"], "Missing argument"),
    (["line", "info", "--territory"], "requires an argument"),
])
def test_usage_errors_are_one_line(args, says):
    r = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and says in lines[0], r.stderr
    assert "Traceback" not in r.stderr


def test_help_exits_cleanly():
    r = subprocess.run([*CLI, "analyze", "--help"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and "--sensors" in r.stdout and not r.stderr.strip()


def test_explain_reads_events_geojson_of_the_working_directory(tmp_path):
    r = subprocess.run([*CLI, "explain", "ev-1"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode != 0 and "events.geojson" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "events.geojson").write_text('{"type": "FeatureCollection", "features": []}')
    r = subprocess.run([*CLI, "explain", "ev-1"], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode != 0 and "no event with id 'ev-1'" in r.stderr
