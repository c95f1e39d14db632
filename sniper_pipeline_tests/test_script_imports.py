"""Scripts and benchmarks import only the package: never the tests (their helpers live in the
package, or next to the script when they are not product code)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((*REPO.glob("benchmarks/**/*.py"), *REPO.glob("scripts/**/*.py")))


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


def test_there_are_scripts() -> None:
    assert any(p.parts[-2] == "benchmarks" for p in SCRIPTS)
    assert any(p.parts[-2] == "scripts" for p in SCRIPTS)


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(REPO)))
def test_script_does_not_import_the_tests(path: Path) -> None:
    tests = sorted(n for n in _imported(path) if n.split(".")[0] == "sniper_pipeline_tests")
    assert not tests, f"{path.relative_to(REPO)} imports {tests}"
