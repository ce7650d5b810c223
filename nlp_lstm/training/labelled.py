"""What the recipes that train on labelled texts share (the LSTM classifier's and the teacher's): provenance, start line, validation."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from nlp_lstm.data.splits import LabelledSplits
from nlp_lstm.metrics import prediction_metrics
from nlp_lstm.model import Classifier
from nlp_lstm.prediction import predict_probabilities
from nlp_lstm.training import loop
from nlp_lstm.training.run import TrainingRun


def run_record(kind: str, config: Any, splits: LabelledSplits, command: str | None, model: torch.nn.Module) -> dict[str, Any]:
    """The provenance every classifier run records (an LSTM's or a teacher's)."""
    return {
        "kind": kind,
        "dataset": config.dataset,
        "splits": splits.source,
        "labels": splits.label_names,
        "skipped_rows": splits.skipped,
        "command": command,
        "parameters": sum(p.numel() for p in model.parameters()),
    }


def start_info(run: TrainingRun, recipe: loop.Recipe, train_texts: int) -> dict[str, Any]:
    """What ``Callback.on_start`` receives from a classifier recipe (its model, tokenizer, batches and splits set)."""
    return {
        "step": run.step,
        "max_steps": recipe.total_steps,
        "device": str(run.device),
        "parameters": run.record["parameters"],
        "vocab_size": recipe.tokenizer.vocab_size,
        "train_texts": train_texts,
        "train_tokens": int(recipe.batches.lengths.sum()),
        "steps_per_epoch": recipe.steps_per_epoch,
        "splits": recipe.splits.source,
        "labels": recipe.splits.label_names,
        "model": recipe.model,
    }


def validation_figures(
    model: Classifier, ids: list[Any], splits: LabelledSplits, pad_id: int, progress: Any = None
) -> list[float]:
    """Loss, accuracy and macro-F1 on the validation split."""
    probabilities = predict_probabilities(model, ids, 64, pad_id, progress)
    loss = float(F.nll_loss(probabilities.clamp_min(1e-12).log(), torch.tensor(splits.validation.labels)))
    metrics = prediction_metrics(splits.validation.labels, probabilities.argmax(dim=1).tolist(), splits.label_names)
    return [loss, metrics["accuracy"], metrics["macro_f1"]]
