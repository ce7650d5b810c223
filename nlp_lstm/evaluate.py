"""Evaluation of a model on a split of a dataset spec (built-in, local file or Hub): the data read, then measured.

The measuring is ``metrics``; this module only resolves the data, so that measurement and inference
never depend on how datasets are found.
"""

from __future__ import annotations

from typing import Any

from nlp_lstm import tasks
from nlp_lstm.adaptation import dynamic_statistics, statistics_source
from nlp_lstm.arguments import check_config, check_model, dataset_spec
from nlp_lstm.checkpoint import ModelBundle
from nlp_lstm.data.sources import load_labelled_splits, load_text_splits
from nlp_lstm.data.splits import check_split
from nlp_lstm.dynamic import DynamicConfig
from nlp_lstm.metrics import measure_classifier, measure_language_model
from nlp_lstm.prediction import Progress, encode_for, predict_scores
from nlp_lstm.scores import REGRESSION, load_scored_splits, regression_metrics
from nlp_lstm.train_config import ClassifierTrainConfig, TrainConfig


def evaluate_language_model(
    saved: ModelBundle,
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
    """Nats/char, bits/char and perplexity of ``saved`` (a language model) on ``split`` of ``dataset``.

    ``dataset`` is a spec as ``--dataset`` takes it (``builtin:NAME``, a file or glob, a Hub id), never
    the texts themselves: write those to a file.

    ``seed`` must be the training seed when the dataset is split by us (local
    files), so the held-out rows are the same ones training left out. With ``dynamic``, the
    model adapts to the split as it reads it (Krause et al. 2018); its gradient statistics come
    from the training split of ``statistics_dataset``, by default the data the model was trained on.
    """
    check_model(saved, tasks.LM, "evaluate_language_model")
    dataset = dataset_spec(dataset)
    check_config(dynamic, DynamicConfig)
    check_split(split)  # before reading the data
    texts = load_text_splits(dataset, text_column, dataset_config, seed).get(split)
    if dynamic is None:
        return {"dataset": dataset, "split": split, **measure_language_model(saved, texts, batch_size, seq_len, progress)}
    source = statistics_source(saved, statistics_dataset, text_column)
    rms = dynamic_statistics(saved, dynamic, source, statistics_progress)
    metrics = measure_language_model(saved, texts, progress=progress, dynamic=(dynamic, rms))
    return {"dataset": dataset, "split": split, **metrics, "dynamic": {**dynamic.to_dict(), "statistics": source}}


def evaluate_classifier(
    saved: ModelBundle,
    dataset: str = ClassifierTrainConfig.dataset,
    split: str = "test",
    text_column: str = "text",
    label_column: str = "label",
    dataset_config: str | None = None,
    seed: int = 0,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Classification metrics of ``saved`` (a classifier) on ``split`` of ``dataset`` (a spec, as for
    :func:`evaluate_language_model`); labels are matched by name. A regression model (``--problem regression``)
    reports RMSE, MAE and Spearman's rank correlation of its scores against the numbers in ``label_column``."""
    check_model(saved, tasks.CLASSIFIER, "evaluate_classifier")
    dataset = dataset_spec(dataset)
    check_split(split)  # before reading the data
    if saved.regression:
        return _evaluate_scores(saved, dataset, split, text_column, label_column, seed, batch_size, progress)
    splits = load_labelled_splits(dataset, text_column, label_column, dataset_config, seed)
    part = splits.get(split)
    metrics = measure_classifier(saved, part.texts, [splits.label_names[y] for y in part.labels], batch_size, progress)
    return {"dataset": dataset, "split": split, "splits": splits.source, "skipped_rows": splits.skipped, **metrics}


def _evaluate_scores(
    saved: ModelBundle, dataset: str, split: str, text_column: str, label_column: str, seed: int, batch_size: int, progress: Any
) -> dict[str, Any]:
    """RMSE, MAE (in the data's units) and Spearman of a regression model on ``split``, split as training split it."""
    splits = load_scored_splits(dataset, text_column, label_column, seed)
    part = splits.get(split)
    scores = predict_scores(saved.model, encode_for(saved, part.texts), batch_size, saved.tokenizer.pad_id, progress)
    metrics = regression_metrics(part.labels, scores.tolist())
    source = {"splits": splits.source, "skipped_rows": splits.skipped, "problem": REGRESSION, "score": label_column}
    return {"dataset": dataset, "split": split, **source, **metrics}
