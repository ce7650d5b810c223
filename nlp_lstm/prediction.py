"""Batch inference of a text classifier (``nlp_lstm.classify``): labels and class probabilities for a list of texts.

Texts are cut by the model's own ``max_length``/``keep`` policy, sorted into
length buckets so padding costs little, and returned in input order. A blank text gets no
label (the one input policy of every front end, see ``arguments``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from nlp_lstm import tasks
from nlp_lstm.arguments import check_model, is_blank, text_list
from nlp_lstm.checkpoint import ModelBundle
from nlp_lstm.data.batching import ClassifierBatches, encode_texts
from nlp_lstm.errors import UsageError
from nlp_lstm.train_config import ClassifierTrainConfig

# A model saved without its input policy gets the one classifiers train with.
DEFAULT_INPUTS = {name: ClassifierTrainConfig.__dataclass_fields__[name].default for name in ("max_length", "keep")}


@dataclass
class Prediction:
    """What ``classify`` says of one text; a blank text has ``label`` None and no ``probabilities``."""

    index: int  # position of the text in the input
    label: str | None
    probabilities: dict[str, float]  # class name -> probability, in the model's label order
    score: float | None = None  # a regression model's prediction, in the data's units; it has no label (issue 30)


Progress = Callable[[int, int], None]  # items done so far, items in all: for a progress bar


def predict_probabilities(
    model: nn.Module, ids: list[np.ndarray], batch_size: int = 64, pad_id: int = 0, progress: Progress | None = None
) -> torch.Tensor:
    """Class probabilities (N, C) for token-id sequences, in input order."""
    return predict_outputs(model, ids, batch_size, pad_id, progress).softmax(dim=-1)


def predict_scores(
    model: nn.Module, ids: list[np.ndarray], batch_size: int = 64, pad_id: int = 0, progress: Progress | None = None
) -> torch.Tensor:
    """A regression head's scores (N,) in the data's units: its standardised output scaled back."""
    config = model.config
    return predict_outputs(model, ids, batch_size, pad_id, progress)[:, 0] * config.target_std + config.target_mean


@torch.no_grad()
def predict_outputs(
    model: nn.Module, ids: list[np.ndarray], batch_size: int = 64, pad_id: int = 0, progress: Progress | None = None
) -> torch.Tensor:
    """The head's raw outputs (N, C) in float32 for token-id sequences, in input order."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    batches = ClassifierBatches(ids, None, batch_size, pad_id)
    result = torch.empty(len(ids), model.config.num_classes)
    done = 0
    for rows in batches.ordered():
        padded, lengths, _ = batches.collate(rows)
        logits = model(padded.to(device), lengths.to(device))
        result[torch.from_numpy(rows)] = logits.float().cpu()
        done += len(rows)
        if progress is not None:
            progress(done, len(ids))
    model.train(was_training)
    return result


def encode_for(saved: ModelBundle, texts: list[str]) -> list[np.ndarray]:
    inputs = saved.inputs or {}
    policy = {**DEFAULT_INPUTS, **inputs}
    return encode_texts(texts, saved.tokenizer, policy["max_length"], policy["keep"])


def classify(saved: ModelBundle, texts: str | Iterable[str | None], batch_size: int = 64) -> list[Prediction]:
    """The label and the probability of every class for each text: a list of one :class:`Prediction` per text, in order.

    ``texts`` is one string, which is one text (as in ``transformers.pipeline``; the answer is then a
    list of one), or an iterable of strings. ``index`` is always the text's position in ``texts``. A
    blank text (empty, whitespace only, or None for a missing value) is not classified: its
    Prediction has ``label`` None and empty ``probabilities``. The CLI leaves such rows out and
    counts them; the server answers them with ``"label": null``.
    """
    check_model(saved, tasks.CLASSIFIER, "classify")
    if batch_size < 1:
        raise UsageError(f"--batch-size must be a positive integer, got {batch_size}")
    texts = text_list(texts)
    predictions = [Prediction(index, None, {}) for index in range(len(texts))]
    kept = [index for index, text in enumerate(texts) if not is_blank(text)]
    if not kept:
        return predictions
    labels = saved.labels or [str(i) for i in range(saved.config.num_classes)]
    ids = encode_for(saved, [texts[index] for index in kept])  # type: ignore[arg-type]  # kept: str, never None
    if saved.regression:
        for index, score in zip(kept, predict_scores(saved.model, ids, batch_size, saved.tokenizer.pad_id).tolist()):
            predictions[index] = Prediction(index, None, {}, score)
        return predictions
    probabilities = predict_probabilities(saved.model, ids, batch_size, saved.tokenizer.pad_id)
    for index, p in zip(kept, probabilities):
        predictions[index] = Prediction(index, labels[int(p.argmax())], {name: float(v) for name, v in zip(labels, p.tolist())})
    return predictions
