"""Batch inference of a text classifier (``nlp_lstm.classify``): labels and class probabilities for a list of texts.

Texts are cut by the model's own ``max_length``/``keep`` policy, sorted into
length buckets so padding costs little, and returned in input order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nlp_lstm.checkpoint import SavedModel
from nlp_lstm.config import ClassifierTrainConfig
from nlp_lstm.data.batching import ClassifierBatches, encode_texts
from nlp_lstm.errors import UsageError

# A model saved without its input policy gets the one classifiers train with.
DEFAULT_INPUTS = {name: ClassifierTrainConfig.__dataclass_fields__[name].default for name in ("max_length", "keep")}


@dataclass
class Prediction:
    index: int  # position of the text in the input
    label: str
    probabilities: dict[str, float]


Progress = Callable[[int, int], None]  # items done so far, items in all: for a progress bar


@torch.no_grad()
def predict_probabilities(
    model: nn.Module, ids: list[np.ndarray], batch_size: int = 64, pad_id: int = 0, progress: Progress | None = None
) -> torch.Tensor:
    """Class probabilities (N, C) for token-id sequences, in input order."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    batches = ClassifierBatches(ids, None, batch_size, pad_id)
    result = torch.empty(len(ids), model.config.num_classes)
    done = 0
    for rows in batches.ordered():
        padded, lengths, _ = batches.collate(rows)
        logits = model(padded.to(device), lengths.to(device))
        result[torch.from_numpy(rows)] = logits.float().softmax(dim=-1).cpu()
        done += len(rows)
        if progress is not None:
            progress(done, len(ids))
    model.train(was_training)
    return result


def encode_for(saved: SavedModel, texts: list[str]) -> list[np.ndarray]:
    inputs = saved.inputs or {}
    policy = {**DEFAULT_INPUTS, **inputs}
    return encode_texts(texts, saved.tokenizer, policy["max_length"], policy["keep"])


def classify(saved: SavedModel, texts: list[str], batch_size: int = 64) -> list[Prediction]:
    """The label and the probability of every class for each text."""
    if batch_size < 1:
        raise UsageError(f"--batch-size must be a positive integer, got {batch_size}")
    if not texts:
        return []
    labels = saved.labels or [str(i) for i in range(saved.config.num_classes)]
    probabilities = predict_probabilities(saved.model, encode_for(saved, texts), batch_size, saved.tokenizer.pad_id)
    return [
        Prediction(i, labels[int(p.argmax())], {name: float(v) for name, v in zip(labels, p.tolist())})
        for i, p in enumerate(probabilities)
    ]
