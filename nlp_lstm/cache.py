"""The cache folder: what is computed once and kept between runs, and how a file of it is written.

Four things live under ``$NLP_LSTM_CACHE`` (default ``~/.cache/nlp_lstm``): token ids of a split
(``data/token_store.py``), a teacher's outputs on a transfer set (``teacher/labels.py``), dynamic
evaluation's gradient statistics (``dynamic.py``) and the unpacked built-in teacher base
(``teacher/base.py``). ``NLP_LSTM_CACHE=off`` turns the cache off. A cache must never be the reason
a run fails: each user falls back to memory (or a temporary folder) when it is off or unwritable.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

CACHE_ENV = "NLP_LSTM_CACHE"


def cache_root() -> Path | None:
    """Where what is computed once is kept, or None when caching is off."""
    setting = os.environ.get(CACHE_ENV, "")
    if setting.lower() in ("off", "0", "none"):
        return None
    return Path(setting).expanduser() if setting else Path.home() / ".cache" / "nlp_lstm"


def write_atomically(path: Path, parts: Iterable[bytes]) -> None:
    """Write the concatenation of ``parts`` to ``path`` without holding it in memory; all or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, scratch = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as raw:
            for part in parts:
                raw.write(part)
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
