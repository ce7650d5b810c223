"""``nlp-lstm evaluate lm`` and ``nlp-lstm evaluate classifier``: exact metrics of a model on a split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

import nlp_lstm
from nlp_lstm.cli.app import evaluate_app, user_errors
from nlp_lstm.cli.inference import load_for
from nlp_lstm.cli.options import (
    INFERENCE_THREADS,
    DatasetConfigOption,
    DeviceOption,
    EvalSeedOption,
    JsonOption,
    LabelColumnOption,
    LabelledDatasetOption,
    ModelOption,
    SplitOption,
    TextColumnOption,
    TextDatasetOption,
    ThreadsOption,
    default,
)
from nlp_lstm.cli.render import RowProgress, print_classifier_metrics, print_metrics_table
from nlp_lstm.config import ClassifierTrainConfig, TrainConfig


@evaluate_app.command("lm")
@user_errors
def evaluate_lm(
    model: ModelOption = None,
    dataset: TextDatasetOption = default(TrainConfig, "dataset"),
    split: SplitOption = "test",
    dataset_config: DatasetConfigOption = None,
    text_column: TextColumnOption = default(TrainConfig, "text_column"),
    seed: EvalSeedOption = default(TrainConfig, "seed"),
    json_output: JsonOption = False,
    device: DeviceOption = "auto",
    threads: ThreadsOption = INFERENCE_THREADS,
) -> None:
    """Exact loss of a language model over a whole split: nats/char, bits/char, perplexity.

    Example: nlp-lstm evaluate lm --model runs/shakespeare/best --dataset builtin:shakespeare --split test
    """
    saved = load_for(model, "lm", device, threads)
    with RowProgress(f"evaluating on {dataset} ({split})", "tokens") as progress:
        metrics = nlp_lstm.evaluate_language_model(
            saved, dataset, split, text_column, dataset_config, seed, progress=progress.count
        )
    metrics["model"] = str(saved.path)
    if json_output:
        typer.echo(json.dumps(metrics))
        return
    rows = [("bits per char", f"{metrics['bits_per_char']:.4f}"), ("nats per char", f"{metrics['nats_per_char']:.4f}")]
    rows += [("nats per token", f"{metrics['nats_per_token']:.4f}"), ("perplexity (per token)", f"{metrics['perplexity']:.4f}")]
    rows += [("tokens", f"{metrics['tokens']:,}"), ("characters", f"{metrics['characters']:,}")]
    rows += [("unknown characters", f"{metrics['unknown_characters']:,}")]
    print_metrics_table(f"{saved.path} on {dataset} ({split})", rows)


@evaluate_app.command("classifier")
@user_errors
def evaluate_classifier(
    model: ModelOption = None,
    dataset: LabelledDatasetOption = default(ClassifierTrainConfig, "dataset"),
    split: SplitOption = "test",
    dataset_config: DatasetConfigOption = None,
    text_column: TextColumnOption = default(ClassifierTrainConfig, "text_column"),
    label_column: LabelColumnOption = default(ClassifierTrainConfig, "label_column"),
    seed: EvalSeedOption = default(ClassifierTrainConfig, "seed"),
    json_output: JsonOption = False,
    device: DeviceOption = "auto",
    threads: ThreadsOption = INFERENCE_THREADS,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Also write the confusion matrix to this PNG file.")] = None,
) -> None:
    """Accuracy, macro-F1, per-class precision/recall and the confusion matrix of a classifier on a split.

    Example: nlp-lstm evaluate classifier --model runs/rt/best --dataset builtin:rotten_tomatoes --split test
    """
    saved = load_for(model, "classifier", device, threads)
    with RowProgress(f"evaluating on {dataset} ({split})", "texts") as progress:
        metrics = nlp_lstm.evaluate_classifier(
            saved, dataset, split, text_column, label_column, dataset_config, seed, progress=progress.count
        )
    metrics["model"] = str(saved.path)
    if plot is not None:
        from nlp_lstm.plots import plot_confusion

        metrics["plot"] = str(plot_confusion(metrics["confusion_matrix"], metrics["labels"], plot, f"{dataset} ({split})"))
    if json_output:
        typer.echo(json.dumps(metrics))
        return
    print_classifier_metrics(metrics, f"{saved.path} on {dataset} ({split})")
