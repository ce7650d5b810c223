"""The one loader: any model nlp-lstm writes, by any name a user has for it (an LSTM model, an ensemble, a teacher).

Every front end loads through :func:`load_model`: the API, the CLI's ``--model``, the server's
models, ``export``, ``ensemble``'s members and ``ModelBundle.from_pretrained``, so a name means the
same model everywhere. It resolves the name (``hub.resolve``), then hands the directory to the
``_from_pretrained`` of the class it is stored as (``checkpoint.ModelBundle``'s strict safetensors
path for an LSTM or an ensemble, ``teacher.model.TeacherModel`` for a teacher), the storage layer
under it. A teacher (``nlp-lstm train teacher``) classifies like an LSTM classifier, so
``classify`` and ``evaluate classifier`` take it too; only a teacher directory imports ``transformers``.
"""

from __future__ import annotations

from pathlib import Path

import torch

from nlp_lstm import hub, tasks
from nlp_lstm.checkpoint import ModelBundle
from nlp_lstm.errors import UsageError
from nlp_lstm.teacher.base import is_teacher_directory


def load_model(
    name_or_path: str | Path, device: str | torch.device = "cpu", kind: str | None = None, revision: str | None = None
) -> ModelBundle:
    """The model ``name_or_path`` names, on ``device``; with ``kind`` (``tasks.model_kinds()``), refuse any other kind.

    ``name_or_path`` is resolved in one order, the same for the API, the CLI's ``--model`` and the server:

    1. a path that exists: a model directory (an LSTM's or a teacher's), used as it is, never looked up elsewhere;
    2. a shipped model's name, as ``nlp-lstm models`` lists it: ``"sentiment"``, ``"shakespeare-char"``;
    3. a Hugging Face Hub repo id, ``"owner/name"`` (at ``revision``), downloaded into the Hub cache.

    Anything else raises :class:`nlp_lstm.NlpLstmError` naming what was tried (``hub.ModelNotFound``, or
    ``hub.HubError`` where the Hub was asked); a model of the wrong kind raises ``ModelLoadError``. A
    teacher is a classifier.
    """
    if kind is not None and kind not in tasks.model_kinds():
        raise UsageError(f"kind must be one of {', '.join(map(repr, tasks.model_kinds()))} or None (any), got {kind!r}")
    directory = hub.resolve(name_or_path, revision)
    return stored_as(directory)._from_pretrained(directory, device, kind)


def stored_as(directory: Path) -> type[ModelBundle]:
    """The class whose ``_from_pretrained`` reads ``directory``: a teacher's (its config.json's block marks it), else an LSTM's."""
    if is_teacher_directory(directory):
        from nlp_lstm.teacher.model import TeacherModel  # transformers: only for a teacher

        return TeacherModel
    return ModelBundle


def from_pretrained(
    name_or_path: str | Path, device: str | torch.device = "cpu", kind: str | None = None, revision: str | None = None
) -> ModelBundle:
    """:func:`load_model` under the name ``transformers`` users know: it takes the same names, in the same order."""
    return load_model(name_or_path, device=device, kind=kind, revision=revision)
