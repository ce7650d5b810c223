"""``generate --adapt FILE``: the model reads the user's text first (dynamic evaluation's rule), then writes.

The files are read as text or refused (the check every input gets); the model adapts to them, and to
the prompt when it is longer than one segment, with progress on stderr; ``--save-adapted DIR`` writes the
adapted model as an ordinary model directory whose training.json says what it read. Nothing else is
written, and the model given is never changed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nlp_lstm
from nlp_lstm.cli.render import StagedProgress
from nlp_lstm.config import DynamicConfig
from nlp_lstm.data.text_check import READ_CHUNK, TextCheck, read_text_file
from nlp_lstm.errors import UsageError

STDIN = "-"
MOST_ADAPT_BYTES = 256 * 2**20  # far past what a CPU adapts to in a sitting (about 1.5 ms a character)


def read_text(source: Path) -> str:
    """A whole file (``-``: stdin), checked as text as it is read."""
    if str(source) != STDIN:
        return read_text_file(source, "text file", MOST_ADAPT_BYTES)
    import sys

    check, pieces = TextCheck("stdin"), []
    while chunk := sys.stdin.buffer.read(READ_CHUNK):
        pieces.append(check(chunk))
    pieces.append(check(b"", final=True))
    return "".join(pieces)


def adapted(saved: Any, sources: list[Path], prompt: str, save_to: Path | None) -> Any:
    """``saved`` adapted to the texts of ``sources`` (and a prompt longer than a segment); saved to ``save_to`` if given."""
    if sources.count(Path(STDIN)) > 1:
        raise UsageError("--adapt - reads stdin, which can be read once; give it at most once")
    if save_to is not None and save_to.exists():  # refused now, not after minutes of adapting
        from nlp_lstm.files import check_model_replaceable

        check_model_replaceable(save_to)
    texts = [read_text(source) for source in sources]
    names = [str(source) for source in sources]
    if len(prompt) > DynamicConfig.segment_length:  # a long prompt is text of the user's too
        texts.append(prompt)
        names.append("the prompt")
    with StagedProgress() as stages:
        result = nlp_lstm.adapt(
            saved,
            texts,
            progress=stages.reporter(f"adapting to {', '.join(names)}", "characters"),
            statistics_progress=stages.reporter("gradient statistics (once per model, then cached)", "segments"),
        )
    result.training["adapted_on"]["sources"] = names
    if save_to is not None:
        nlp_lstm.save_model(result, save_to)
    return result
