"""What the corpus package may import: never torch, never the training package (it joins through entry points)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import corpus

CORPUS = Path(corpus.__file__).resolve().parent


def _imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_corpus_module_imports_ctssl():
    offenders = {
        str(path.relative_to(CORPUS)): sorted(name for name in _imported_modules(path) if name.split(".")[0] == "ctssl")
        for path in sorted(CORPUS.rglob("*.py"))
    }
    assert not {path: names for path, names in offenders.items() if names}


def test_importing_corpus_and_every_help_page_does_not_import_torch():
    code = """
import sys
from click.testing import CliRunner
import corpus, corpus.build
from corpus.cli import main
for args in (["--help"], ["pretrain", "--help"], ["pretrain", "voco", "--help"], ["pretrain", "pcrlv2", "--help"]):
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
assert "torch" not in sys.modules, "torch was imported"
"""
    subprocess.run([sys.executable, "-c", code], check=True)


def test_reading_a_corpus_does_not_import_the_compiler():
    """numba (the resampling pass) loads when a build resamples, not in every loader worker."""
    import subprocess
    import sys

    code = "import sys, corpus, corpus.build, corpus.cli, ctssl.data; assert 'numba' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
