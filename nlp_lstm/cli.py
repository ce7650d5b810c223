"""The ``nlp-lstm`` command line: thin Typer commands over the public API.

Parse options, build configs, call ``nlp_lstm``'s API, render with rich. Heavy
modules (torch, datasets) are imported inside commands so ``--help`` is instant.
User errors become one line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer

import nlp_lstm
from nlp_lstm import ModelConfig, NlpLstmError, SampleConfig, TrainConfig

app = typer.Typer(
    name="nlp-lstm",
    help="Train LSTM language models on any text dataset, generate text, and evaluate.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
train_app = typer.Typer(help="Train a model.", no_args_is_help=True)
evaluate_app = typer.Typer(help="Evaluate a model on a held-out split.", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(evaluate_app, name="evaluate")

F = TypeVar("F", bound=Callable[..., Any])


def user_errors(command: F) -> F:
    """Show an NlpLstmError as one line on stderr and exit 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except NlpLstmError as error:
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None

    return wrapper  # type: ignore[return-value]


def default(cls: type, name: str) -> Any:
    """A config field's default, so the CLI shows the one defaults live in."""
    return cls.__dataclass_fields__[name].default


def given_options(context: typer.Context, names: list[str]) -> set[str]:
    """Which of ``names`` the user set (on the command line or by environment), not left at their default."""
    return {n for n in names if getattr(context.get_parameter_source(n), "name", "DEFAULT") not in ("DEFAULT", "DEFAULT_MAP")}


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"nlp-lstm {nlp_lstm.__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Train LSTM language models on any text dataset, generate text, and evaluate.

    Example: nlp-lstm train lm --dataset shakespeare --output runs/shakespeare --max-steps 300
    """


ModelOption = Annotated[Path, typer.Option("--model", "-m", help="Model directory (e.g. runs/NAME/best).")]
DatasetOption = Annotated[
    str,
    typer.Option(
        "--dataset",
        "-d",
        help="Built-in corpus (shakespeare), a local file or glob (.txt .csv .json .jsonl .parquet), or a Hub name.",
    ),
]
DatasetConfigOption = Annotated[Optional[str], typer.Option(help="Hub dataset configuration name, if it has several.")]
TextColumnOption = Annotated[str, typer.Option(help="Column that holds the text (csv, json, parquet, Hub datasets).")]
DeviceOption = Annotated[str, typer.Option(help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps.")]


def make_progress_callback(max_steps: int) -> Any:
    """A training callback: a rich progress bar on a terminal, one plain line per evaluation otherwise."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    console = Console(stderr=True)
    interactive = console.is_terminal

    class Progressbar(nlp_lstm.Callback):
        def __init__(self) -> None:
            self.progress: Progress | None = None
            self.task: Any = None

        def on_start(self, info: dict[str, Any]) -> None:
            console.print(
                f"training on {info['device']}: {info['parameters']:,} parameters, vocabulary {info['vocab_size']}, "
                f"{info['train_tokens']:,} training tokens ({info['steps_per_epoch']} steps per epoch)"
            )
            console.print(f"data: {info['splits']}")
            if interactive:
                self.progress = Progress(
                    TextColumn("step {task.completed}/{task.total}"),
                    BarColumn(),
                    TextColumn("{task.fields[status]}"),
                    TimeElapsedColumn(),
                    TextColumn("eta"),
                    TimeRemainingColumn(),
                    console=console,
                )
                self.progress.start()
                self.task = self.progress.add_task("train", total=info["max_steps"], completed=info["step"], status="")

        def on_step(self, metrics: dict[str, Any]) -> None:
            if self.progress is not None:
                status = f"loss {metrics['train_loss']:.3f}  {metrics['tokens_per_s']:,.0f} tok/s  lr {metrics['lr']:.2e}"
                self.progress.update(self.task, completed=metrics["step"], status=status)

        def on_eval(self, metrics: dict[str, Any]) -> None:
            mark = " (best)" if metrics["best"] else ""
            line = (
                f"step {metrics['step']}: validation {metrics['bits_per_char']:.4f} bits/char, "
                f"{metrics['nats_per_char']:.4f} nats/char, perplexity {metrics['perplexity']:.3f}{mark}"
            )
            (self.progress.console if self.progress else console).print(line)

        def on_end(self, result: Any) -> None:
            if self.progress is not None:
                self.progress.stop()
            console.print(
                f"done: {result.step} steps in {result.wall_time_s:.0f} s; best validation "
                f"{result.best_validation.get('bits_per_char', float('nan')):.4f} bits/char -> {result.best_dir}"
            )

    return Progressbar()


@train_app.command("lm")
@user_errors
def train_lm(
    ctx: typer.Context,
    output: Annotated[Path, typer.Option("--output", "-o", help="Run directory: best/, last/, metrics.jsonl.")] = Path("runs/lm"),
    dataset: DatasetOption = default(TrainConfig, "dataset"),
    dataset_config: DatasetConfigOption = None,
    text_column: TextColumnOption = default(TrainConfig, "text_column"),
    embedding_dim: Annotated[int, typer.Option(help="Size of character embeddings.")] = default(ModelConfig, "embedding_dim"),
    hidden_size: Annotated[int, typer.Option(help="LSTM units per layer.")] = default(ModelConfig, "hidden_size"),
    num_layers: Annotated[int, typer.Option(help="Stacked LSTM layers.")] = default(ModelConfig, "num_layers"),
    dropout: Annotated[float, typer.Option(help="Dropout between LSTM layers and on their output.")] = default(
        ModelConfig, "dropout"
    ),
    embedding_dropout: Annotated[float, typer.Option(help="Dropout on the embeddings.")] = default(
        ModelConfig, "embedding_dropout"
    ),
    tie_weights: Annotated[
        bool, typer.Option(help="Share embedding and output weights (needs embedding-dim = hidden-size).")
    ] = False,
    seq_len: Annotated[int, typer.Option(help="Truncated-BPTT window in tokens.")] = default(TrainConfig, "seq_len"),
    batch_size: Annotated[int, typer.Option(help="Parallel streams per batch.")] = default(TrainConfig, "batch_size"),
    max_steps: Annotated[int, typer.Option(help="Optimiser steps in all.")] = default(TrainConfig, "max_steps"),
    lr: Annotated[float, typer.Option(help="Peak learning rate (AdamW).")] = default(TrainConfig, "lr"),
    warmup_steps: Annotated[int, typer.Option(help="Linear warm-up steps before cosine decay.")] = default(
        TrainConfig, "warmup_steps"
    ),
    weight_decay: Annotated[float, typer.Option(help="AdamW weight decay on weight matrices.")] = default(
        TrainConfig, "weight_decay"
    ),
    grad_clip: Annotated[float, typer.Option(help="Clip the gradient norm to this.")] = default(TrainConfig, "grad_clip"),
    eval_every: Annotated[int, typer.Option(help="Evaluate on the whole validation split every N steps.")] = default(
        TrainConfig, "eval_every"
    ),
    patience: Annotated[int, typer.Option(help="Stop after N evaluations without improvement (0 = never).")] = default(
        TrainConfig, "patience"
    ),
    seed: Annotated[int, typer.Option(help="Seed for weights, dropout, data order and our own splits.")] = default(
        TrainConfig, "seed"
    ),
    device: DeviceOption = default(TrainConfig, "device"),
    threads: Annotated[int, typer.Option(help="CPU threads for torch (0 = torch's default).")] = default(TrainConfig, "threads"),
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue the stopped run in --output from its last checkpoint.")
    ] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing run in --output.")] = False,
) -> None:
    """Train a character-level language model.

    Example: nlp-lstm train lm --dataset shakespeare --output runs/shakespeare --hidden-size 256 --max-steps 300
    """
    if resume and overwrite:
        raise NlpLstmError("--resume and --overwrite contradict each other; pass one of them")
    local = locals()
    train_names = [n for n in TrainConfig.__dataclass_fields__ if n in local]
    config = TrainConfig(**{n: local[n] for n in train_names})
    model_options = dict(
        embedding_dim=embedding_dim,
        hidden_size=hidden_size,
        num_layers=num_layers,
        dropout=dropout,
        embedding_dropout=embedding_dropout,
        tie_weights=tie_weights,
    )
    if not resume:
        ModelConfig(vocab_size=2, **model_options)  # validate sizes before loading any data
    nlp_lstm.train_language_model(
        config,
        output,
        model_options,
        resume=resume,
        overwrite=overwrite,
        callback=make_progress_callback(max_steps),
        command=" ".join(["nlp-lstm", *sys.argv[1:]]),
        given_options=given_options(ctx, train_names),
    )


def load_for(model: Path, kind: str, device: str) -> Any:
    from nlp_lstm.train import select_device  # noqa: I001 - lazy: keeps torch out of --help

    return nlp_lstm.load_model(model, device=select_device(device), kind=kind)


@app.command()
@user_errors
def generate(
    model: ModelOption,
    prompt: Annotated[str, typer.Option("--prompt", "-p", help="Text to continue (empty: start from a newline).")] = "",
    length: Annotated[int, typer.Option("--length", "-n", help="Characters to generate per sample.")] = default(
        SampleConfig, "length"
    ),
    temperature: Annotated[float, typer.Option("--temperature", "-t", help="Softmax temperature; 0 = greedy.")] = default(
        SampleConfig, "temperature"
    ),
    top_k: Annotated[int, typer.Option(help="Sample among the k likeliest characters (0 = off).")] = default(
        SampleConfig, "top_k"
    ),
    top_p: Annotated[float, typer.Option(help="Nucleus sampling: smallest set with this probability (1 = off).")] = default(
        SampleConfig, "top_p"
    ),
    seed: Annotated[Optional[int], typer.Option(help="Seed for reproducible samples.")] = None,
    num_samples: Annotated[int, typer.Option(help="How many samples to draw.")] = default(SampleConfig, "num_samples"),
    device: DeviceOption = "cpu",
) -> None:
    """Generate text from a language model, streamed as it is produced.

    Example: nlp-lstm generate --model runs/shakespeare/best --prompt "ROMEO:" --length 300 --temperature 0.7
    """
    config = SampleConfig(length=length, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, num_samples=num_samples)
    saved = load_for(model, "lm", device)
    current = -1
    for index, piece in nlp_lstm.generate_stream(saved, prompt, config):
        if index != current:
            if current >= 0:
                sys.stdout.write("\n\n" if num_samples > 1 else "\n")
            current = index
            sys.stdout.write(prompt)
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")


@evaluate_app.command("lm")
@user_errors
def evaluate_lm(
    model: ModelOption,
    dataset: DatasetOption = default(TrainConfig, "dataset"),
    split: Annotated[str, typer.Option(help="train, validation or test.")] = "test",
    dataset_config: DatasetConfigOption = None,
    text_column: TextColumnOption = default(TrainConfig, "text_column"),
    seed: Annotated[int, typer.Option(help="The training seed, when the dataset was split by us (local files).")] = default(
        TrainConfig, "seed"
    ),
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    device: DeviceOption = "auto",
) -> None:
    """Exact loss of a language model over a whole split: nats/char, bits/char, perplexity.

    Example: nlp-lstm evaluate lm --model runs/shakespeare/best --dataset shakespeare --split test
    """
    saved = load_for(model, "lm", device)
    metrics = nlp_lstm.evaluate_language_model(saved, dataset, split, text_column, dataset_config, seed)
    metrics["model"] = str(model)
    if json_output:
        typer.echo(json.dumps(metrics))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{model} on {dataset} ({split})")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name in ("bits_per_char", "nats_per_char", "perplexity"):
        table.add_row(name.replace("_", "/").replace("/per/", " per "), f"{metrics[name]:.4f}")
    table.add_row("characters", f"{metrics['characters']:,}")
    table.add_row("unknown characters", f"{metrics['unknown_characters']:,}")
    Console().print(table)


def main() -> None:
    # Quiet the thread oversubscription warning and tokenizers' fork warning for CLI users.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app()
