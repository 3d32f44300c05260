"""The dependency rules of docs/architecture.md, checked on the source itself.

Stages talk through plain records and one-way imports; a forbidden import here is a
design regression (e.g. analysis quietly relying on the simulator's conventions).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "truceline"
STAGES = ("geo", "sim", "ingest", "evidence", "store", "analysis", "commission", "report", "web", "cli")

# stage -> stages it must never import (directly or lazily inside functions)
FORBIDDEN = {
    "geo": set(STAGES) - {"geo"},
    "store": set(STAGES) - {"store"},
    "evidence": set(STAGES) - {"evidence", "store"},
    "ingest": {"sim", "analysis", "commission", "report", "web", "cli"},
    "analysis": {"sim", "commission", "report", "web", "cli"},
    "sim": {"ingest", "evidence", "store", "analysis", "commission", "report", "web", "cli"},
    "commission": {"sim", "report", "web", "cli"},
    "report": {"sim", "web", "cli"},
    "web": {"cli", "sim"},
}


def _imported_stages(path: Path, package: tuple[str, ...] | None = None) -> set[str]:
    """Stages a module imports; `package` is its dotted package (default: from its path)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    pkg_parts = package if package is not None else path.relative_to(SRC.parent).with_suffix("").parts[:-1]
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against the module's package
                base = list(pkg_parts[: len(pkg_parts) - node.level + 1])
                names = [".".join(base + ([node.module] if node.module else []))]
            elif node.module:
                names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "truceline" and len(parts) > 1 and parts[1] in STAGES:
                found.add(parts[1])
    return found


def _modules(stage: str) -> list[Path]:
    return sorted((SRC / stage).rglob("*.py"))


@pytest.mark.parametrize("stage", sorted(FORBIDDEN))
def test_stage_imports_follow_the_architecture(stage: str):
    modules = _modules(stage)
    assert modules, f"stage {stage} has no modules"
    offenders = {str(p.relative_to(SRC)): sorted(_imported_stages(p) & FORBIDDEN[stage]) for p in modules}
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"{stage} imports forbidden stages: {offenders}"


def test_checker_sees_lazy_and_relative_imports(tmp_path: Path):
    probe = tmp_path / "probe.py"
    probe.write_text("import numpy\ndef f():\n    from truceline.sim import simulate\n    from ..ingest import x\n"
                     "    from . import local\n")
    assert _imported_stages(probe, package=("truceline", "geo")) == {"sim", "ingest", "geo"}
