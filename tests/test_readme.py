"""The README's Python code runs as written: every ```python block, in order, in one fresh namespace.

The blocks run offline (conftest), in a scratch directory where ``checkpoints/`` and ``data/`` are
the checkout's, so relative paths read as the README shows them and whatever a block writes stays
out of the checkout. A block whose first line starts with ``# not run`` (one that needs a network or
a token) is shown to readers but skipped here.
"""

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
FENCE = re.compile(r"^```python[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
NOT_RUN = "# not run"


def python_blocks() -> list[tuple[int, str]]:
    """Each python block of the README with the line its code starts on."""
    text = README.read_text(encoding="utf-8")
    return [(text.count("\n", 0, match.start(1)) + 1, match.group(1)) for match in FENCE.finditer(text)]


BLOCKS = python_blocks()


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One namespace for all blocks (a later block uses what an earlier one made), run in a scratch directory."""
    scratch = tmp_path_factory.mktemp("readme")
    for shared in ("checkpoints", "data"):
        (scratch / shared).symlink_to(ROOT / shared, target_is_directory=True)
    before = Path.cwd()
    os.chdir(scratch)
    try:
        yield {"namespace": {"__name__": "__readme__"}, "failed": []}
    finally:
        os.chdir(before)


def test_the_readme_has_python_blocks():
    assert BLOCKS, "README.md has no ```python block"


@pytest.mark.parametrize(("line", "code"), BLOCKS, ids=[f"README.md:{line}" for line, _ in BLOCKS])
def test_readme_block_runs(run, line, code):
    if code.lstrip().startswith(NOT_RUN):
        pytest.skip(f"README.md:{line} is marked {NOT_RUN!r}")
    if run["failed"]:
        pytest.skip(f"an earlier block failed (README.md:{run['failed'][0]}); this one may need what it makes")
    compiled = compile("\n" * (line - 1) + code, str(README), "exec")  # tracebacks name the README's own lines
    try:
        exec(compiled, run["namespace"])
    except BaseException:
        run["failed"].append(line)
        raise
