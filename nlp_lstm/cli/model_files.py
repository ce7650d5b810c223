"""Commands about model directories themselves: ``info``, ``models``, ``plot`` and ``ensemble``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

import nlp_lstm
from nlp_lstm.cli.app import app, user_errors
from nlp_lstm.cli.options import INFERENCE_THREADS, DeviceOption, JsonOption, ThreadsOption, command_line, flag
from nlp_lstm.cli.render import print_metrics_table, print_model_blocks
from nlp_lstm.errors import UsageError


@app.command()
@user_errors
def plot(
    runs: Annotated[
        Optional[list[Path]], typer.Argument(help="Run directories (the --output of trainings) to overlay.", metavar="RUN")
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="PNG file to write.")] = Path("curves.png"),
) -> None:
    """Plot training and validation loss (and accuracy, for classifiers) of one or more runs into one PNG.

    Example: nlp-lstm plot runs/small runs/large --output compare.png
    """
    from nlp_lstm.plots import plot_runs

    if not runs:
        raise UsageError("which runs? give one or more run directories, e.g. nlp-lstm plot runs/small runs/large")
    typer.echo(str(plot_runs(runs, output)))


@app.command()
@user_errors
def info(
    model_argument: Annotated[
        Optional[Path],
        typer.Argument(
            help="Model directory (e.g. runs/NAME/best) or name (sentiment); or give it with --model.", metavar="MODEL"
        ),
    ] = None,
    model: Annotated[
        Optional[Path], typer.Option("--model", "-m", help="Model directory or name, as for every other command.")
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """What a model is: kind, shape, parameters, vocabulary, training data and metrics (reads its JSON files only).

    MODEL is what --model takes everywhere: a directory, a shipped model's name, or a Hub repo id.

    Example: nlp-lstm info sentiment
    """
    from nlp_lstm.catalog import model_info
    from nlp_lstm.hub import resolve  # the resolution order of load_model, without loading the weights

    if model_argument is not None and model is not None:
        raise UsageError("give the model once: as the argument or with --model")
    name = model_argument or model
    if name is None:
        raise UsageError("which model? give its directory or name with --model (nlp-lstm models lists them)")
    directory = resolve(name)
    details = model_info(directory)
    if json_output:
        typer.echo(json.dumps(details))
        return
    rows = [(key, shown(value)) for key, value in details.items()]
    print_metrics_table(str(directory), rows, header=("field", "value"))


def shown(value: object) -> str:
    """A field of ``info`` as a person reads it: counts grouped by thousands (4,700,418), as ``models`` shows them."""
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return value if isinstance(value, str) else json.dumps(value)


@app.command()
@user_errors
def ensemble(
    members: Annotated[
        Optional[list[Path]],
        typer.Argument(
            help="Two or more classifiers, each a model directory, a shipped name or a Hub id (e.g. runs/seed0/best runs/seed1/best).",
            metavar="MODEL",
        ),
    ] = None,
    output: Annotated[
        Optional[Path], typer.Option("--output", "-o", help="Model directory to write the ensemble to (required).")
    ] = None,
    overwrite: Annotated[bool, flag("--overwrite", "Replace the model directory at --output.")] = False,
    half: Annotated[bool, flag("--half", "Store the weights in float16: half the size.")] = False,
    device: DeviceOption = "auto",
    threads: ThreadsOption = INFERENCE_THREADS,
    json_output: JsonOption = False,
) -> None:
    """Combine classifiers trained on the same data with one tokenizer into one model that averages their probabilities.

    Members may differ in shape and seed. The ensemble is measured on the members' validation
    split and saved as one model directory, which classify, evaluate and the Python API use like
    any classifier, at the members' combined cost.

    Example: nlp-lstm ensemble runs/seed0/best runs/seed1/best --output runs/ensemble
    """
    from nlp_lstm.devices import use_threads  # noqa: I001 - lazy: keeps torch out of --help

    if output is None:
        raise UsageError("where to? give the ensemble's model directory with --output")
    use_threads(threads)
    saved = nlp_lstm.build_ensemble(members or [], output, overwrite, command_line(), device, half)
    validation = saved.training.get("validation") or {}
    if json_output:
        typer.echo(json.dumps({"output": str(output), "members": len(members), "validation": validation}))
        return
    rows = [("members", str(len(members))), *((f"validation {k}", f"{v:.4f}") for k, v in validation.items())]
    print_metrics_table(str(output), rows)


@app.command()
@user_errors
def models(
    runs: Annotated[Path, typer.Option(help="Folder of training runs to list (each RUN/best).")] = Path("runs"),
    json_output: JsonOption = False,
) -> None:
    """List the shipped models and the models trained under --runs, with their metrics, one model per block.

    Example: nlp-lstm models --runs runs
    """
    from nlp_lstm.catalog import list_models

    entries = list_models(runs)
    if json_output:
        typer.echo(json.dumps([entry.as_dict() for entry in entries]))
        return
    print_model_blocks(entries)
