"""``nlp-lstm evaluate lm`` and ``nlp-lstm evaluate classifier``: exact metrics of a model on a split."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

import nlp_lstm
from nlp_lstm import tasks
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
    flag,
)
from nlp_lstm.cli.render import RowProgress, StagedProgress, print_classifier_metrics, print_metrics_table
from nlp_lstm.config import DynamicConfig
from nlp_lstm.errors import UsageError
from nlp_lstm.train_config import ClassifierTrainConfig, TrainConfig

DynamicOption = Annotated[
    bool,
    flag(
        "--dynamic",
        "Adapt to the text while reading it (dynamic evaluation, Krause et al. 2018): each segment is scored, "
        "then the weights take one step on it. The saved model is never changed.",
    ),
]
SegmentOption = Annotated[int, typer.Option("--segment-length", help="With --dynamic: tokens scored between two updates.")]
DynamicLrOption = Annotated[float, typer.Option("--dynamic-lr", help="With --dynamic: the step size (eta) of each update.")]
RowsOption = Annotated[
    int,
    typer.Option(
        "--dynamic-rows",
        help="With --dynamic: read the text as this many parts side by side, each update learning from all of them; "
        "several times faster on a CPU, but 1 is the published rule.",
    ),
]
DecayOption = Annotated[
    float, typer.Option("--dynamic-decay", help="With --dynamic: the pull (lambda) back to the saved weights.")
]
StatisticsOption = Annotated[
    Optional[str],
    typer.Option(
        "--statistics-dataset",
        help="With --dynamic: the dataset whose training split gives the gradient statistics "
        "(default: the one the model was trained on). Gathered once, then cached.",
    ),
]
SuiteOption = Annotated[
    Optional[str],
    typer.Option(
        "--suite",
        help="Run a behavioural test suite instead of a dataset (behaviour: negation, contrast, typos, added handles... "
        "after Ribeiro et al. 2020); failure rates per test and per capability.",
    ),
]
SuiteSplitOption = Annotated[
    str, typer.Option("--suite-split", help="With --suite: the half of its templates, test (to report) or dev (to tune on).")
]


def dynamic_settings(dynamic: bool, statistics: str | None, **options: Any) -> Any:
    """The dynamic evaluation settings the options ask for, or None; its options without --dynamic are refused."""
    settings = DynamicConfig(**options)
    if not dynamic and (settings != DynamicConfig() or statistics is not None):
        raise UsageError(
            "--segment-length, --dynamic-lr, --dynamic-decay, --dynamic-rows and --statistics-dataset need --dynamic"
        )
    return settings if dynamic else None


@evaluate_app.command(tasks.LM)
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
    dynamic: DynamicOption = False,
    segment_length: SegmentOption = default(DynamicConfig, "segment_length"),
    dynamic_lr: DynamicLrOption = default(DynamicConfig, "learning_rate"),
    dynamic_decay: DecayOption = default(DynamicConfig, "decay"),
    dynamic_rows: RowsOption = default(DynamicConfig, "rows"),
    statistics_dataset: StatisticsOption = None,
) -> None:
    """Exact loss of a language model over a whole split: nats/char, bits/char, perplexity.

    Example: nlp-lstm evaluate lm --model runs/shakespeare/best --dataset builtin:shakespeare --split test
    """
    chosen = {"segment_length": segment_length, "learning_rate": dynamic_lr, "decay": dynamic_decay, "rows": dynamic_rows}
    settings = dynamic_settings(dynamic, statistics_dataset, **chosen)
    saved = load_for(model, tasks.LM, device, threads)
    with StagedProgress() as stages:
        metrics = nlp_lstm.evaluate_language_model(
            saved, dataset, split, text_column, dataset_config, seed,
            progress=stages.reporter(f"evaluating on {dataset} ({split})", "tokens"), dynamic=settings,
            statistics_dataset=statistics_dataset,
            statistics_progress=stages.reporter("gradient statistics (once per model, then cached)", "segments"),
        )  # fmt: skip
    metrics["model"] = str(saved.path)
    if json_output:
        typer.echo(json.dumps(metrics))
        return
    rows = [("bits per char", f"{metrics['bits_per_char']:.4f}"), ("nats per char", f"{metrics['nats_per_char']:.4f}")]
    rows += [("nats per token", f"{metrics['nats_per_token']:.4f}"), ("perplexity (per token)", f"{metrics['perplexity']:.4f}")]
    rows += [("tokens", f"{metrics['tokens']:,}"), ("characters", f"{metrics['characters']:,}")]
    rows += [("unknown characters", f"{metrics['unknown_characters']:,}")]
    if settings is not None:
        side = f", {dynamic_rows} rows side by side" if dynamic_rows > 1 else ""
        rows += [("dynamic evaluation", f"segments of {segment_length}, eta {dynamic_lr:g}, lambda {dynamic_decay:g}{side}")]
    print_metrics_table(f"{saved.path} on {dataset} ({split})", rows)


@evaluate_app.command(tasks.CLASSIFIER)
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
    suite: SuiteOption = None,
    suite_split: SuiteSplitOption = "test",
) -> None:
    """Accuracy, macro-F1, per-class precision/recall and the confusion matrix of a classifier on a split;
    with --suite, failure rates on a behavioural test suite instead.

    Example: nlp-lstm evaluate classifier --model runs/rt/best --dataset builtin:rotten_tomatoes --split test
    """
    if suite is not None or suite_split != "test":
        if suite is None or plot is not None:
            raise UsageError("--suite-split needs --suite, and --suite takes no --plot")
        from nlp_lstm.cli.behaviour import run_behaviour

        return run_behaviour(model, suite, suite_split, json_output, device, threads)
    saved = load_for(model, tasks.CLASSIFIER, device, threads)
    with RowProgress(f"evaluating on {dataset} ({split})", "texts") as progress:
        metrics = nlp_lstm.evaluate_classifier(
            saved, dataset, split, text_column, label_column, dataset_config, seed, progress=progress.count
        )
    metrics["model"] = str(saved.path)
    if plot is not None and "confusion_matrix" not in metrics:
        raise UsageError("--plot draws a confusion matrix; a regression model has none, so drop --plot")
    if plot is not None:
        from nlp_lstm.plots import plot_confusion

        metrics["plot"] = str(plot_confusion(metrics["confusion_matrix"], metrics["labels"], plot, f"{dataset} ({split})"))
    if json_output:
        typer.echo(json.dumps(metrics))
        return
    if "rmse" in metrics:  # a regression model (issue 30): its score's errors in the data's units, and its ranking
        figures = [(name, f"{metrics[name]:.4f}") for name in ("rmse", "mae", "spearman")]
        print_metrics_table(
            f"{saved.path} on {dataset} ({split}): {metrics['score']}", [*figures, ("texts", f"{metrics['texts']:,}")]
        )
        return
    print_classifier_metrics(metrics, f"{saved.path} on {dataset} ({split})")
