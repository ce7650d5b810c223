"""An exported model run with ONNX Runtime: classify and generate as the torch path does, without torch.

A classifier's texts follow the torch path's one input policy (``arguments``): a string is one text,
a blank text gets no label; the rest are cut by the model's ``max_length``/``keep`` and run in
length-sorted batches. A language model is primed with the prompt in one call, then stepped one
token at a time with its state carried, as ``sampling.py`` does; greedy decoding (temperature 0)
gives the torch path's text. Sampling at a temperature draws with numpy's generator: a seed repeats
a sample here, but not the torch path's sample.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nlp_lstm import tasks
from nlp_lstm.arguments import is_blank, text_list
from nlp_lstm.errors import UsageError
from nlp_lstm.runtime.encoding import ExportedModelError, SubwordVocabulary, encode_texts, read_vocabulary

SIGNATURE_FILE, LABELS_FILE, TOKENIZER_FILE = "signature.json", "labels.json", "tokenizer.json"
SIGNATURE_VERSION = 1
PROMPT_CONTEXT, DEFAULT_PRIME = 2000, "\n"  # as sampling.py


@dataclass
class Prediction:
    """As ``nlp_lstm.prediction.Prediction``: a blank text has ``label`` None and no ``probabilities``."""

    index: int
    label: str | None
    probabilities: dict[str, float] = field(default_factory=dict)
    score: float | None = None  # as the torch one's; an export is always a classifier (export refuses a score model)


@dataclass
class ExportedModel:
    """An ONNX Runtime session with the export's signature, vocabulary and labels."""

    session: Any
    signature: dict[str, Any]
    vocabulary: Any
    labels: list[str] | None
    path: Path

    @property
    def kind(self) -> str:
        return str(self.signature["kind"])


def load_exported(directory: str | Path, threads: int | None = None) -> ExportedModel:
    """Open an export directory written by ``nlp-lstm export`` (``nlp_lstm.export_onnx``)."""
    directory = Path(directory)
    try:
        signature = json.loads((directory / SIGNATURE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ExportedModelError(
            f"{directory}: not an ONNX export ({type(error).__name__}); write one with nlp-lstm export"
        ) from None
    if not isinstance(signature, dict) or signature.get("format_version") != SIGNATURE_VERSION:
        raise ExportedModelError(f"{directory}: an export of another version; export it again with this nlp-lstm")
    try:
        import onnxruntime
    except ImportError:
        raise UsageError("--runtime onnx needs onnxruntime; pip install 'nlp-lstm[onnx]'") from None
    options = onnxruntime.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(directory / signature["file"]), options, providers=["CPUExecutionProvider"])
    vocabulary = read_vocabulary(directory / TOKENIZER_FILE, signature["tokenizer"])
    labels = json.loads((directory / LABELS_FILE).read_text(encoding="utf-8")) if signature["kind"] == tasks.CLASSIFIER else None
    return ExportedModel(session, signature, vocabulary, labels, directory)


def _check_kind(model: Any, kind: str, task: str) -> None:
    if not isinstance(model, ExportedModel):
        raise UsageError(f"{task} takes a model from nlp_lstm.runtime.load_exported(DIRECTORY), got {type(model).__name__}")
    if model.kind != kind:
        raise UsageError(f"{model.path}: is an exported {model.kind}, but {task} needs {tasks.called(kind)}")


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _probabilities(model: ExportedModel, ids: list[np.ndarray], batch_size: int) -> np.ndarray:
    """Class probabilities (N, C) in input order; rows batched by length so padding costs little."""
    lengths = np.array([len(row) for row in ids], dtype=np.int64)
    order = np.argsort(lengths, kind="stable")
    pad_id = int(model.signature["tokenizer"]["pad_id"])
    result = np.empty((len(ids), len(model.labels or [])), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        padded = np.full((len(rows), int(lengths[rows].max())), pad_id, dtype=np.int64)
        for row, index in enumerate(rows):
            padded[row, : lengths[index]] = ids[index]
        (logits,) = model.session.run(None, {"ids": padded, "lengths": lengths[rows]})
        result[rows] = _softmax(logits.astype(np.float64))
    return result


def classify(model: ExportedModel, texts: str | Iterable[str | None], batch_size: int = 64) -> list[Prediction]:
    """One :class:`Prediction` per text, in order, as ``nlp_lstm.classify`` gives."""
    _check_kind(model, tasks.CLASSIFIER, "classify")
    if batch_size < 1:
        raise UsageError(f"--batch-size must be a positive integer, got {batch_size}")
    texts = text_list(texts)
    predictions = [Prediction(index, None) for index in range(len(texts))]
    kept = [index for index, text in enumerate(texts) if not is_blank(text)]
    if not kept:
        return predictions
    labels = model.labels or []
    ids = encode_texts([texts[index] for index in kept], model.vocabulary, model.signature["input_policy"])  # type: ignore[misc]
    for index, p in zip(kept, _probabilities(model, ids, batch_size)):
        predictions[index] = Prediction(index, labels[int(p.argmax())], {name: float(v) for name, v in zip(labels, p.tolist())})
    return predictions


def _next_id(logits: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """Greedy at temperature 0, else a draw from the softmax of ``logits / temperature``."""
    if temperature <= 0:
        return int(logits.argmax())
    probabilities = _softmax((logits - logits.max()) / temperature)
    return int(rng.choice(len(probabilities), p=probabilities))


def generate_stream(
    model: ExportedModel, prompt: str = "", length: int = 200, temperature: float = 0.0, seed: int | None = None
) -> Iterator[str]:
    """The continuation of ``prompt``, one token's text at a time (``--top-k``/``--top-p`` are the torch path's alone)."""
    _check_kind(model, tasks.LM, "generate")
    if not isinstance(prompt, str):
        raise UsageError(f"prompt must be a string, got {type(prompt).__name__}")
    if length < 1 or temperature < 0:
        raise UsageError("length must be at least 1 and temperature at least 0")
    return _stream(model, prompt, length, temperature, seed)


def _stream(model: ExportedModel, prompt: str, length: int, temperature: float, seed: int | None) -> Iterator[str]:
    sampling = model.signature["sampling"]
    prime = model.vocabulary.encode(prompt[-PROMPT_CONTEXT:] or DEFAULT_PRIME)
    ids = np.asarray(prime or [model.vocabulary.unk_id], dtype=np.int64)[None]  # (1, P)
    layers, hidden = model.session.get_inputs()[1].shape[0], model.session.get_inputs()[1].shape[2]
    state = np.zeros((layers, 1, hidden), dtype=np.float32)
    feed = {"ids": ids, "h": state, "c": state}
    rng, banned = np.random.default_rng(seed), np.asarray(sampling["banned_ids"], dtype=np.int64)
    pieces: dict[int, str] = {}
    for _ in range(length):
        logits, h, c = model.session.run(None, feed)
        logits = logits[0]
        logits[banned] = -np.inf  # never emit <pad>/<unk>, as the torch path
        token = _next_id(logits, temperature, rng)
        if token not in pieces:
            pieces[token] = model.vocabulary.decode_one(token)
        yield pieces[token]
        feed = {"ids": np.array([[token]], dtype=np.int64), "h": h, "c": c}


TORCH_ONLY = ("top_k", "top_p", "num_samples", "adapt")


def torch_only(
    spell: Callable[[str], str], top_k: int = 0, top_p: float = 1.0, num_samples: int = 1, adapt: Any = None
) -> str | None:
    """The refusal of the settings only the torch path has, naming them as ``spell`` writes a name; None when none is set.

    The command line spells ``--top-k``, the server its JSON field ``top_k``: one message for both front ends.
    """
    used = (bool(top_k), top_p < 1.0, num_samples != 1, bool(adapt))
    given = [name for name, set_ in zip(TORCH_ONLY, used) if set_]
    if not given:
        return None
    everything = ", ".join(map(spell, TORCH_ONLY))
    return (
        f"{', '.join(map(spell, given))}: the onnx runtime draws one sample by temperature; {everything} need the torch runtime"
    )


def generate(model: ExportedModel, prompt: str = "", length: int = 200, temperature: float = 0.0, seed: int | None = None) -> str:
    """The continuation of ``prompt`` (without the prompt) as one string."""
    return "".join(generate_stream(model, prompt, length, temperature, seed))


__all__ = [
    "ExportedModel",
    "Prediction",
    "SubwordVocabulary",
    "classify",
    "generate",
    "generate_stream",
    "load_exported",
    "torch_only",
]
