"""The checks the public API makes of what it is given, so that a call refuses what the command line refuses, in its words.

A string is one text, as in ``transformers.pipeline``: ``classify(model, "a fine film")`` classifies
one text, not one per character. A blank text (empty, whitespace only, or None: a missing value, as
an empty cell of a file is) is never classified. A model is what ``load_model`` returns, and of the
kind the function needs; ``--model`` of the wrong kind gets the same line from ``checkpoint.load``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from nlp_lstm import tasks
from nlp_lstm.errors import UsageError


def check_model(saved: Any, kind: str, task: str) -> None:
    """Refuse anything but a loaded model of ``kind`` for ``task`` (the public function's name)."""
    # Lazy: the CLI checks its texts with is_blank before torch is imported (a usage error comes at once).
    from nlp_lstm.checkpoint import ModelBundle, ModelLoadError

    if not isinstance(saved, ModelBundle):
        raise UsageError(f"{task} takes a model loaded by nlp_lstm.load_model(NAME_OR_PATH), got {type(saved).__name__}")
    if saved.kind != kind:
        raise ModelLoadError(
            f"{saved.path or 'this model'}: is {tasks.called(saved.kind)}, but {task} needs {tasks.called(kind)}"
        )


def text_list(texts: Any) -> list[str | None]:
    """``texts`` as a list of texts: one string is one text; any other iterable holds one text per item."""
    if isinstance(texts, str):
        return [texts]
    if isinstance(texts, (bytes, bytearray)) or not isinstance(texts, Iterable):
        kind = type(texts).__name__
        raise UsageError(f"texts must be a string (one text) or a list of strings, got {kind}; decode bytes to str first")
    listed = list(texts)
    for index, text in enumerate(listed):
        if text is not None and not isinstance(text, str):
            raise UsageError(f"texts[{index}] is {type(text).__name__}, not a string; pass each text as str")
    return listed


def is_blank(text: str | None) -> bool:
    """Whether a text has nothing to classify: the one test of blankness for every front end."""
    return text is None or not text.strip()


def check_prompt(prompt: Any) -> str:
    """The prompt of a generation: one string (an empty one starts from a newline)."""
    if not isinstance(prompt, str):
        several = "; generate continues one prompt: call it once for each" if isinstance(prompt, (list, tuple)) else ""
        raise UsageError(f"prompt must be a string, got {type(prompt).__name__}{several}")
    return prompt


def check_config(config: Any, kind: type) -> None:
    """Refuse a settings object of another type (a dict, or the prompt in its place) before it fails deep inside."""
    if config is not None and not isinstance(config, kind):
        name = kind.__name__
        raise UsageError(f"config must be a {name}, e.g. nlp_lstm.{name}(...), or None, got {type(config).__name__}")


def dataset_spec(dataset: Any) -> str:
    """A dataset spec as ``--dataset`` takes it; a path object is its path."""
    if isinstance(dataset, os.PathLike):
        return os.fspath(dataset)
    if not isinstance(dataset, str):
        raise UsageError(
            f"dataset must be a dataset spec (builtin:NAME, a file or glob, or a Hub id), got {type(dataset).__name__}; "
            "write texts of your own to a file (.txt, .csv, .jsonl) and pass its path"
        )
    return dataset
