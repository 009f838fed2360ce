"""What the corpus package may import: never torch."""

from __future__ import annotations


def test_importing_corpus_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, corpus, corpus.build, corpus.cli; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
