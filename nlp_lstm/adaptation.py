"""A language model adapted to a user's text before it writes: dynamic evaluation's rule, applied to a sample.

``adapt`` reads the texts with the rule of ``dynamic.py`` (score a segment, then one RMS-scaled step on
it, decaying toward the loaded weights) and returns the adapted copy as a new model, the original
untouched; ``nlp-lstm generate --adapt FILE`` then samples from it. The gradient statistics the rule
needs come from the training split of the data the model was trained on, gathered once and cached;
this module resolves that data, so ``dynamic.py`` stays free of datasets.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from nlp_lstm import tasks
from nlp_lstm.checkpoint import ModelBundle
from nlp_lstm.config import DynamicConfig
from nlp_lstm.data.batching import encode_stream
from nlp_lstm.data.sources import load_text_splits
from nlp_lstm.dynamic import cached_statistics, dynamic_loss, gradient_statistics, statistics_key, store_statistics
from nlp_lstm.errors import UsageError
from nlp_lstm.metrics import loss_metrics, predicted_characters
from nlp_lstm.train_config import TrainConfig

Progress = Any  # progress(done, total), as everywhere in the library


def statistics_source(saved: ModelBundle, dataset: str | None, text_column: str) -> dict[str, Any]:
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
    saved: ModelBundle, config: DynamicConfig, source: dict[str, Any], progress: Progress | None = None
) -> list[Any]:
    """The gradient RMS of ``saved`` on the training split of ``source``: from the cache, or gathered once and cached."""
    key = statistics_key(saved.model, json.dumps(source, sort_keys=True), config)
    rms = cached_statistics(key)
    if rms is None:
        texts = load_text_splits(source["dataset"], source["text_column"], source["dataset_config"], source["seed"]).get("train")
        rms = gradient_statistics(saved.model, encode_stream(texts, saved.tokenizer), config, progress)
        store_statistics(key, rms)
    return rms


def adapt(
    saved: ModelBundle,
    texts: str | Iterable[str],
    config: DynamicConfig | None = None,
    statistics_dataset: str | None = None,
    progress: Progress | None = None,
    statistics_progress: Progress | None = None,
) -> ModelBundle:
    """A copy of the language model ``saved`` adapted to ``texts`` (one string is one text); ``saved`` is unchanged.

    The copy's ``training`` record says what it was adapted on and how well it read it: the bits/char of
    the texts under dynamic evaluation (each segment scored before the model learnt from it).
    """
    if saved.kind != tasks.LM:
        raise UsageError("adapt takes a language model; a classifier does not generate")
    config = config or DynamicConfig()
    texts = [texts] if isinstance(texts, str) else list(texts)
    stream = encode_stream(texts, saved.tokenizer)
    if len(stream) < 2:
        raise UsageError("nothing to adapt to: give at least two characters of text")
    source = statistics_source(saved, statistics_dataset, "text")
    rms = dynamic_statistics(saved, config, source, statistics_progress)
    result = dynamic_loss(saved.model, stream, rms, config, progress)
    read = loss_metrics(result.nats, result.tokens, predicted_characters(texts, saved.tokenizer, stream))
    adapted_on = {
        "texts": len(texts),
        "characters": read["characters"],
        "bits_per_char_while_reading": read["bits_per_char"],
        "dynamic": {**config.to_dict(), "statistics": source},
        "from": str(saved.path) if saved.path else None,
    }
    training = {**saved.training, "adapted_on": adapted_on}
    return ModelBundle(
        result.model.eval(), saved.tokenizer, tasks.LM, None, training, None, dict(saved.inputs), saved.weights_dtype
    )
