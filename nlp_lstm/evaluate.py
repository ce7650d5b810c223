"""Evaluation of a model on a split of a dataset spec (built-in, local file or Hub): the data read, then measured.

The measuring is ``metrics``; this module only resolves the data, so that measurement and inference
never depend on how datasets are found.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from nlp_lstm.checkpoint import SavedModel
from nlp_lstm.config import ClassifierTrainConfig, TrainConfig
from nlp_lstm.data.batching import encode_stream
from nlp_lstm.data.sources import load_labelled_splits, load_text_splits
from nlp_lstm.data.splits import check_split
from nlp_lstm.dynamic import DynamicConfig, cached_statistics, gradient_statistics, statistics_key, store_statistics
from nlp_lstm.errors import UsageError
from nlp_lstm.metrics import classifier_metrics, language_model_metrics
from nlp_lstm.prediction import Progress


def evaluate_language_model(
    saved: SavedModel,
    dataset: str = TrainConfig.dataset,
    split: str = "test",
    text_column: str = "text",
    dataset_config: str | None = None,
    seed: int = 0,
    batch_size: int = 64,
    seq_len: int = 256,
    progress: Progress | None = None,
    dynamic: DynamicConfig | None = None,
    statistics_dataset: str | None = None,
    statistics_progress: Progress | None = None,
) -> dict[str, Any]:
    """Nats/char, bits/char and perplexity of ``saved`` on ``split`` of ``dataset``.

    ``seed`` must be the training seed when the dataset is split by us (local
    files), so the held-out rows are the same ones training left out. With ``dynamic``, the
    model adapts to the split as it reads it (Krause et al. 2018); its gradient statistics come
    from the training split of ``statistics_dataset``, by default the data the model was trained on.
    """
    check_split(split)  # before reading the data
    texts = load_text_splits(dataset, text_column, dataset_config, seed).get(split)
    if dynamic is None:
        return {"dataset": dataset, "split": split, **language_model_metrics(saved, texts, batch_size, seq_len, progress)}
    source = statistics_source(saved, statistics_dataset, text_column)
    rms = dynamic_statistics(saved, dynamic, source, statistics_progress)
    metrics = language_model_metrics(saved, texts, progress=progress, dynamic=(dynamic, rms))
    return {"dataset": dataset, "split": split, **metrics, "dynamic": {**dataclasses.asdict(dynamic), "statistics": source}}


def statistics_source(saved: SavedModel, dataset: str | None, text_column: str) -> dict[str, Any]:
    """Where the gradient statistics of dynamic evaluation come from: the model's own training data by default."""
    if dataset is not None:
        return {"dataset": dataset, "text_column": text_column, "dataset_config": None, "seed": 0}
    trained_on = saved.training.get("train_config") if isinstance(saved.training, dict) else None
    if not isinstance(trained_on, dict) or not isinstance(trained_on.get("dataset"), str):
        raise UsageError(
            f"{saved.path}: records no training dataset; name one for the gradient statistics (--statistics-dataset)"
        )
    keys = ("dataset", "text_column", "dataset_config", "seed")
    return {key: trained_on.get(key, TrainConfig.__dataclass_fields__[key].default) for key in keys}


def dynamic_statistics(
    saved: SavedModel, config: DynamicConfig, source: dict[str, Any], progress: Progress | None = None
) -> list[Any]:
    """The gradient RMS of ``saved`` on the training split of ``source``: from the cache, or gathered once and cached."""
    key = statistics_key(saved.model, json.dumps(source, sort_keys=True), config)
    rms = cached_statistics(key)
    if rms is None:
        texts = load_text_splits(source["dataset"], source["text_column"], source["dataset_config"], source["seed"]).get("train")
        rms = gradient_statistics(saved.model, encode_stream(texts, saved.tokenizer), config, progress)
        store_statistics(key, rms)
    return rms


def evaluate_classifier(
    saved: SavedModel,
    dataset: str = ClassifierTrainConfig.dataset,
    split: str = "test",
    text_column: str = "text",
    label_column: str = "label",
    dataset_config: str | None = None,
    seed: int = 0,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Classification metrics of ``saved`` on ``split`` of ``dataset``; labels are matched by name."""
    check_split(split)  # before reading the data
    splits = load_labelled_splits(dataset, text_column, label_column, dataset_config, seed)
    part = splits.get(split)
    metrics = classifier_metrics(saved, part.texts, [splits.label_names[y] for y in part.labels], batch_size, progress)
    return {"dataset": dataset, "split": split, "splits": splits.source, "skipped_rows": splits.skipped, **metrics}
