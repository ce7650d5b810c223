"""``nlp-lstm train forecaster``, ``nlp-lstm forecast`` and ``nlp-lstm evaluate forecaster``: options in, one API call.

Defaults come from ``ForecastTrainConfig``; progress is the training bar's, in a forecaster's words
(windows, MASE) instead of tokens and accuracy.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

import nlp_lstm
from nlp_lstm import tasks
from nlp_lstm.cli.app import app, evaluate_app, train_app, user_errors
from nlp_lstm.cli.inference import load_for
from nlp_lstm.cli.options import (
    DeviceOption,
    JsonOption,
    ThreadsOption,
    command_line,
    training_command,
    training_config,
)
from nlp_lstm.cli.render import TRAINING_LINE_EVERY_S, TrainingProgress, print_metrics_table
from nlp_lstm.errors import UsageError
from nlp_lstm.forecast_config import ForecastTrainConfig

KIND = tasks.FORECASTER  # the subcommand's name
# The options of train forecaster, in this order in --help: the config's fields and the run's.
FORECASTER_OPTIONS = (
    *("dataset", "target", "features", "season", "lookback", "horizon", "origins", "loss", "embedding_dim"),
    *("hidden_size", "num_layers", "dropout", "batch_size", "epochs", "lr", "min_lr_ratio", "warmup_steps"),
    *("weight_decay", "grad_clip", "patience", "seed", "device", "threads", "output", "resume", "overwrite"),
    *("config_file", "json_output"),
)
ModelRequired = Annotated[Path, typer.Option("--model", "-m", help="Forecaster directory (e.g. runs/NAME/best).")]
INFERENCE_THREADS = 1


class ForecastProgress(TrainingProgress):
    """The training bar with a forecaster's figures."""

    def on_start(self, info: dict[str, Any]) -> None:
        self.console.print(
            f"training on {info['device']}: {info['parameters']:,} parameters, "
            f"{info['windows']:,} training windows ({info['steps_per_epoch']} steps per epoch)"
        )
        self.start_bar(info)

    def on_step(self, metrics: dict[str, Any]) -> None:
        """The bar, or a plain line every few seconds, with windows per second as the speed."""
        status = f"loss {metrics['train_loss']:.4f}  {metrics['windows_per_s']:,.0f} windows/s  lr {metrics['lr']:.2e}"
        if self.progress is not None:
            self.progress.update(self.task, completed=metrics["step"], status=status)
        elif self.last_step_line is None or self.clock() - self.last_step_line >= TRAINING_LINE_EVERY_S:
            self.last_step_line = self.clock()
            self.console.print(f"step {metrics['step']:,}/{self.max_steps:,}: {status}", highlight=False)

    def on_eval(self, metrics: dict[str, Any]) -> None:
        mark = " (best)" if metrics["best"] else ""
        self.print(f"epoch {metrics['epoch'] + 1} (step {metrics['step']}): validation MASE {metrics['mase']:.4f}{mark}")

    def on_end(self, result: Any) -> None:
        self.close()
        mase = result.best_validation.get("mase", float("nan"))
        self.console.print(f"done: {result.step} steps in {result.wall_time_s:.0f} s; best validation MASE {mase:.4f}")


@train_app.command(KIND)
@user_errors
@training_command(ForecastTrainConfig, FORECASTER_OPTIONS, Path("runs/forecaster"))
def train_forecaster(options: dict[str, Any]) -> None:
    """Train a stacked-LSTM forecaster on one series, cut by time (the last points held out).

    Example: nlp-lstm train forecaster --dataset builtin:co2 --lookback 36 --horizon 12 --output runs/co2
    """
    features = tuple(name.strip() for name in options["features"].split(",") if name.strip())
    progress = ForecastProgress()
    run = nlp_lstm.RunOptions(options["output"], options["resume"], options["overwrite"], progress, command_line())
    try:
        result = nlp_lstm.train(training_config(ForecastTrainConfig, {**options, "features": features}), run)
    finally:
        progress.close()
    if options["json_output"]:
        typer.echo(json.dumps({"run": str(result.output_dir), "best": str(result.best_dir), "steps": result.step,
                               "best_validation": result.best_validation}))  # fmt: skip


@app.command("forecast")
@user_errors
def forecast(
    model: ModelRequired,
    input: Annotated[str, typer.Option("--input", "-i", help="A CSV file with the model's columns, or builtin:NAME.")],
    hold_out: Annotated[int, typer.Option(help="Start the forecast this many points before the end, to compare.")] = 0,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Also draw the forecast and the series to this PNG.")] = None,
    json_output: JsonOption = False,
    device: DeviceOption = "auto",
    threads: ThreadsOption = INFERENCE_THREADS,
) -> None:
    """The next points of a series, from a forecaster.

    Example: nlp-lstm forecast --model runs/co2/best --input builtin:co2 --hold-out 12 --plot co2.png
    """
    result = nlp_lstm.forecast(load_for(model, KIND, device, threads), input, hold_out)
    output = result.to_dict()
    if plot is not None:
        output["plot"] = str(nlp_lstm.plot_forecast(result, plot, f"{input}: {result.target}"))
    if json_output:
        typer.echo(json.dumps(output))
        return
    for step, value in enumerate(result.values):
        actual = f"\t{result.actual[step]:.6g}" if step < len(result.actual) else ""
        typer.echo(f"{result.origin + step}\t{value:.6g}{actual}")


@evaluate_app.command(KIND)
@user_errors
def evaluate_forecaster(
    model: ModelRequired,
    dataset: Annotated[Optional[str], typer.Option(help="The series to score (default: the model's own).")] = None,
    origins: Annotated[Optional[int], typer.Option(help="Rolling origins at the end (default: the model's).")] = None,
    json_output: JsonOption = False,
    device: DeviceOption = "auto",
    threads: ThreadsOption = INFERENCE_THREADS,
) -> None:
    """MASE, sMAPE, MAE and RMSE of a forecaster on the last points of a series, beside seasonal naive.

    Example: nlp-lstm evaluate forecaster --model runs/co2/best
    """
    if origins is not None and origins < 1:
        raise UsageError(f"--origins must be a positive integer, got {origins}")
    metrics = nlp_lstm.evaluate_forecaster(load_for(model, KIND, device, threads), dataset, origins)
    if json_output:
        typer.echo(json.dumps(metrics))
        return
    naive = metrics["seasonal_naive"]
    rows = [(name, f"{metrics[name]:.4f}") for name in ("mase", "smape", "mae", "rmse")]
    rows += [("seasonal naive mase", f"{naive['mase']:.4f}"), ("seasonal naive smape", f"{naive['smape']:.4f}")]
    title = f"{model} on {metrics['dataset']}: {metrics['origins']} origins × {metrics['horizon']} points"
    print_metrics_table(title, rows)
