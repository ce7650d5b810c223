"""Load any model directory nlp-lstm writes: an LSTM model, or a transformer teacher.

A teacher (``nlp-lstm train teacher``) classifies like an LSTM classifier, so ``classify`` and
``evaluate classifier`` take it too, to compare both on the same sets. Only a teacher directory
imports ``transformers``; an LSTM directory goes straight to ``checkpoint.load``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from nlp_lstm import checkpoint, hub
from nlp_lstm.checkpoint import SavedModel
from nlp_lstm.errors import UsageError
from nlp_lstm.teacher.base import is_teacher_directory


def load_model(directory: str | Path, device: str | torch.device = "cpu", kind: str | None = None) -> SavedModel:
    """The model in ``directory``; with ``kind``, refuse any other kind (a teacher is a classifier)."""
    if is_teacher_directory(directory):
        if kind not in (None, "classifier"):
            raise UsageError(f"{directory}: is a teacher, a classifier; a {kind} is needed here")
        from nlp_lstm.teacher.model import load_teacher

        return load_teacher(directory, device)
    return checkpoint.load(directory, device=device, kind=kind)


def from_pretrained(
    name_or_path: str | Path, device: str | torch.device = "cpu", kind: str | None = None, revision: str | None = None
) -> SavedModel:
    """``load_model`` of a model directory (an LSTM's or a teacher's), or of a Hub repo id where no such path exists."""
    return load_model(hub.resolve(name_or_path, revision), device=device, kind=kind)
