"""A teacher's outputs on a transfer set: computed once per teacher and texts, then read from the cache.

Labelling is the teacher's dearest cost on a CPU (minutes per ten thousand reviews), and every
student trained from the same teacher on the same texts needs the same outputs. They are kept as
a float32 ``.npy`` of log-probabilities (N, classes) under ``$NLP_LSTM_CACHE/teacher_outputs``,
keyed by a hash of the teacher's weights, its input policy and the texts, so a changed teacher or
transfer set can never be served stale outputs. Log-probabilities are the logits up to a constant per
text, which no softmax at any temperature can tell apart. Without a writable cache they are
computed and kept in memory: a cache must never be the reason a run fails.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from nlp_lstm.cache import cache_root, write_atomically
from nlp_lstm.errors import TrainingUsageError
from nlp_lstm.files import CONFIG_FILE, TRAINING_FILE, WEIGHTS_FILE

OUTPUTS_FORMAT = 1  # part of every key


def outputs_key(teacher_dir: Path, texts: list[str], precision: str = "fp32", length: int = 0) -> str:
    digest = hashlib.blake2b(f"teacher-outputs-{OUTPUTS_FORMAT}-{precision}-{length}".encode(), digest_size=16)
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        with open(teacher_dir / name, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 22), b""):
                digest.update(block)
    for text in texts:
        digest.update(text.encode("utf-8", "surrogatepass"))
        digest.update(b"\0")
    return digest.hexdigest()


def teacher_log_probabilities(
    teacher_dir: str | Path,
    texts: list[str],
    device: Any = "cpu",
    progress: Callable[[int, int], None] | None = None,
    precision: str = "fp32",
    length: int = 0,
) -> tuple[np.ndarray, bool]:
    """(N, classes) float32 log-probabilities of the teacher for ``texts``, and whether they came from the cache.

    ``precision="bf16"`` runs the teacher under bf16 autocast (about 3x faster on CPUs with AMX); its
    outputs differ from fp32's in the third digit, so the precision is part of the cache key. ``length``
    > 0 has the teacher read that many tokens of each text (head and tail) instead of those it was
    trained on: a teacher fine-tuned on short cuts for speed may judge long reviews better whole.
    """
    teacher_dir = Path(teacher_dir)
    root = cache_root()
    path = root / "teacher_outputs" / f"{outputs_key(teacher_dir, texts, precision, length)}.npy" if root else None
    if path is not None and path.is_file():
        with contextlib.suppress(OSError, ValueError):
            cached = np.load(path, allow_pickle=False)
            if cached.shape[0] == len(texts):
                return cached, True
    outputs = _label(teacher_dir, texts, device, progress, precision, length)
    if path is not None:
        _store(path, outputs)
    return outputs, False


def _label(
    teacher_dir: Path,
    texts: list[str],
    device: Any,
    progress: Callable[[int, int], None] | None,
    precision: str,
    length: int,
) -> np.ndarray:
    from nlp_lstm.teacher.model import load_teacher

    saved = load_teacher(teacher_dir, device)
    if length:
        read_length(saved, length)
    return label_texts(saved, texts, precision, progress).clamp_min(1e-12).log().numpy().astype(np.float32)


def label_texts(saved: Any, texts: list[str], precision: str = "fp32", progress: Any = None) -> Any:
    """A loaded teacher's class probabilities (N, classes) for ``texts``, under its input policy and ``precision``."""
    import torch

    from nlp_lstm.precision import autocast
    from nlp_lstm.prediction import encode_for, predict_probabilities

    device = next(saved.model.parameters()).device
    with torch.inference_mode(), autocast(device, precision):
        return predict_probabilities(saved.model, encode_for(saved, texts), 64, saved.tokenizer.pad_id, progress)


def read_length(saved: Any, length: int) -> None:
    """Have a loaded teacher read ``length`` tokens of each text, [CLS] and [SEP] included, as --max-length counts."""
    positions = saved.model.network.config.max_position_embeddings
    if length > positions:
        raise TrainingUsageError(f"--teacher-length {length} is longer than the teacher reads ({positions} positions); lower it")
    saved.inputs = {**saved.inputs, "max_length": length - 2}  # [CLS] and [SEP] take two of the positions


def _store(path: Path, outputs: np.ndarray) -> None:
    """Write beside, then rename (a reader sees the whole file or none); a cache that cannot be written is skipped."""
    encoded = io.BytesIO()
    np.save(encoded, outputs, allow_pickle=False)
    with contextlib.suppress(OSError):
        write_atomically(path, [encoded.getvalue()])


def describe(teacher_dir: str | Path) -> dict[str, Any]:
    """What a student's training record says of its teacher: where it was, what it is, how it was trained."""
    teacher_dir = Path(teacher_dir)
    config = json.loads((teacher_dir / CONFIG_FILE).read_text())
    training = json.loads((teacher_dir / TRAINING_FILE).read_text()) if (teacher_dir / TRAINING_FILE).is_file() else {}
    found = {"path": str(teacher_dir), "model_type": config.get("model_type"), "base": training.get("base")}
    found |= {key: training.get(key) for key in ("command", "device", "wall_time_s", "step", "parameters")}
    found["validation_accuracy"] = (training.get("validation") or {}).get("accuracy")
    return found
