"""docs/onnx.md's Python code runs as written: its ```python blocks in order, in one namespace (as tests/test_readme.py
runs the README's), and its onnxruntime-only block again in a process where torch and nlp_lstm cannot be imported."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
pytest.importorskip("onnxruntime")

from test_readme import FENCE  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "onnx.md"
# Run before the block: an import of either then fails, as on a machine without them.
WITHOUT = "import sys\nsys.modules['torch'] = None\nsys.modules['nlp_lstm'] = None\n"


def test_the_page_runs_as_written(tmp_path):
    text = PAGE.read_text(encoding="utf-8")
    blocks = [(text.count("\n", 0, m.start(1)) + 1, m.group(1)) for m in FENCE.finditer(text)]
    assert len(blocks) == 2, "docs/onnx.md: the export block and the onnxruntime-only block"
    (tmp_path / "checkpoints").symlink_to(ROOT / "checkpoints", target_is_directory=True)
    namespace: dict = {"__name__": "__docs__"}
    before = Path.cwd()
    os.chdir(tmp_path)
    try:
        for line, code in blocks:
            exec(compile("\n" * (line - 1) + code, str(PAGE), "exec"), namespace)  # tracebacks name the page's lines
    finally:
        os.chdir(before)
    assert namespace["label"] == "positive"
    alone = subprocess.run(
        [sys.executable, "-c", WITHOUT + blocks[1][1] + "\nprint(label)"], capture_output=True, text=True, cwd=tmp_path
    )
    assert alone.returncode == 0, alone.stderr
    assert alone.stdout.split() == ["positive"]
