"""Exact metrics of a model on texts already read: inference and measurement, nothing of datasets.

Language models: every target token of the split is scored exactly once (see
``batching.eval_batches``), with the LSTM state carried along each row; reported in
nats and bits per character (the summed loss over the characters the targets
spell, so character and subword models compare) and as per-token perplexity.

Classifiers: accuracy, macro-F1, per-class precision/recall/F1 and the confusion
matrix (rows: true label, columns: predicted label).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F

from nlp_lstm.checkpoint import ModelBundle
from nlp_lstm.data.batching import encode_stream, eval_batches
from nlp_lstm.dynamic import DynamicConfig, dynamic_loss
from nlp_lstm.errors import DataError
from nlp_lstm.model import LanguageModel
from nlp_lstm.prediction import Progress, encode_for, predict_probabilities

# Tokens of preceding text each evaluation row reads before it is scored: an LSTM's state carries
# little from further back, and this makes the loss independent of the evaluation batch size (tested).
EVAL_WARMUP = 512


@torch.no_grad()
def language_model_loss(
    model: LanguageModel,
    stream: torch.Tensor,
    batch_size: int = 64,
    seq_len: int = 256,
    warmup: int = EVAL_WARMUP,
    progress: Progress | None = None,
) -> tuple[float, int]:
    """Summed cross-entropy (nats) over every target in ``stream``, and the number of targets.

    The stream is read as ``batch_size`` rows in parallel, each row first reading the
    ``warmup`` tokens before it (unscored), so the result is what the model assigns to the
    text read straight through, whatever the batch size.
    """
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    total = torch.zeros((), dtype=torch.float64, device=device)
    count = 0
    batches, context = eval_batches(stream, batch_size, seq_len, warmup)
    state = None
    if context is not None:
        _, (h, c) = model(context.to(device))
        h[:, 0], c[:, 0] = 0.0, 0.0  # row 0 begins the text: nothing came before it
        state = (h, c)
    for inputs, targets in batches:
        inputs, targets = inputs.to(device), targets.to(device)
        logits, state = model(inputs, state)
        total += F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten(), reduction="sum", ignore_index=-100).double()
        count += int((targets != -100).sum())
        if progress is not None:
            progress(count, len(stream) - 1)
    model.train(was_training)
    return float(total), count


def predicted_characters(texts: Iterable[str], tokenizer: Any, stream: torch.Tensor) -> int:
    """Characters the targets of ``stream`` spell: the split's text less what its first token covers."""
    characters, count = 0, 0
    for text in texts:  # the length of the texts joined by newlines, without joining them
        characters += len(text)
        count += 1
    return characters + max(0, count - 1) - len(tokenizer.decode(stream[:1].tolist()))


def loss_metrics(nats: float, tokens: int, characters: int) -> dict[str, float]:
    """Per-token loss and perplexity, and per-character loss, comparable across tokenizers."""
    per_token = nats / tokens
    per_char = nats / max(1, characters)
    return {
        "nats_per_char": per_char,
        "bits_per_char": per_char / math.log(2),
        "nats_per_token": per_token,
        "perplexity": math.exp(per_token) if per_token < 700 else math.inf,  # exp overflows a float past ~709
        "tokens": tokens,
        "characters": characters,
    }


def prediction_metrics(labels: list[int], predicted: list[int], names: list[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix."""
    size = len(names)
    confusion = torch.zeros(size, size, dtype=torch.long)
    for truth, guess in zip(labels, predicted):
        confusion[truth, guess] += 1
    per_class = {}
    for k, name in enumerate(names):
        true_positive = int(confusion[k, k])
        predicted_k, actual_k = int(confusion[:, k].sum()), int(confusion[k].sum())
        precision = true_positive / predicted_k if predicted_k else 0.0
        recall = true_positive / actual_k if actual_k else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": actual_k}
    present = [m for m in per_class.values() if m["support"]]
    return {
        "accuracy": int(confusion.diag().sum()) / max(1, len(labels)),
        "macro_f1": sum(m["f1"] for m in present) / max(1, len(present)),
        "per_class": per_class,
        "confusion_matrix": confusion.tolist(),
        "labels": names,
        "examples": len(labels),
    }


def measure_language_model(
    saved: ModelBundle,
    texts: Iterable[str],
    batch_size: int = 64,
    seq_len: int = 256,
    progress: Progress | None = None,
    dynamic: tuple[DynamicConfig, list[torch.Tensor]] | None = None,
) -> dict[str, Any]:
    """Nats/char, bits/char, perplexity and unknown characters of ``saved`` on ``texts`` read as one stream.

    With ``dynamic`` (its settings and the gradient statistics), the model adapts as it reads (``dynamic.py``).
    """
    stream = encode_stream(texts, saved.tokenizer)
    if dynamic is None:
        nats, count = language_model_loss(saved.model, stream, batch_size, seq_len, progress=progress)  # type: ignore[arg-type]
    else:
        settings, rms = dynamic
        result = dynamic_loss(saved.model, stream, rms, settings, progress)
        nats, count = result.nats, result.tokens
    characters = predicted_characters(texts, saved.tokenizer, stream)
    metrics: dict[str, Any] = loss_metrics(nats, count, characters)
    metrics["unknown_characters"] = int((stream[1:] == saved.tokenizer.unk_id).sum())
    return metrics


def measure_classifier(
    saved: ModelBundle, texts: list[str], labels: list[str], batch_size: int = 64, progress: Progress | None = None
) -> dict[str, Any]:
    """Classification metrics of ``saved`` on ``texts`` whose true labels are named ``labels``; matched by name."""
    names = saved.labels or []
    index = {name: i for i, name in enumerate(names)}
    unknown = sorted(set(labels) - set(index))
    if unknown:
        raise DataError(f"labels {unknown} of the data are unknown to this model (it knows {', '.join(names)})")
    ids = encode_for(saved, texts)
    probabilities = predict_probabilities(saved.model, ids, batch_size, saved.tokenizer.pad_id, progress)
    return prediction_metrics([index[name] for name in labels], probabilities.argmax(dim=1).tolist(), names)
