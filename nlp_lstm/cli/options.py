"""The options commands share: one name, one help text and one default for one thing, everywhere.

Defaults are read from the config dataclasses, where they live. Choices are ``Enum``s so that
``--help`` lists them; flags are flags. A ``--config`` TOML file gives a training command's defaults.
"""

from __future__ import annotations

import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from nlp_lstm.errors import NlpLstmError

DATA, MODEL, OPTIMISATION, RUN = "Data", "Model", "Optimisation", "Run"  # option groups of the training commands


class Tokenizer(str, Enum):
    char = "char"
    bpe = "bpe"


class ClassifierTokenizer(str, Enum):
    char = "char"
    bpe = "bpe"
    teacher = "teacher"


class Precision(str, Enum):
    fp32 = "fp32"
    bf16 = "bf16"


class Keep(str, Enum):
    start = "start"
    end = "end"
    both = "both"


class Quantity(str, Enum):
    f = "f"
    i = "i"
    o = "o"
    c = "c"
    h = "h"


def default(cls: type, name: str) -> Any:
    """A config field's default, so the CLI shows the one defaults live in; an encoder field's is the task's encoder's."""
    fields = cls.__dataclass_fields__
    return fields[name].default if name in fields else getattr(fields["encoder"].default, name)


def flag(name: str, help: str, panel: str | None = None) -> Any:
    """An on/off option that takes no value (``--json``, not ``--json true``)."""
    return typer.Option(name, help=help, metavar="", rich_help_panel=panel)


def plain(value: Any) -> Any:
    """An option's value as the library takes it: an Enum's value, a path as text."""
    if isinstance(value, Enum):
        return value.value
    return str(value) if isinstance(value, Path) else value


def command_line() -> str:
    """The command as the user typed it, for training.json: what re-creates the model."""
    return " ".join(["nlp-lstm", *sys.argv[1:]])


DATASET_HELP = (
    "A built-in corpus ({builtins}), a local file or glob (.txt .csv .tsv .json .jsonl .parquet), "
    "or a Hugging Face Hub name (from the local cache when offline)."
)
BUILTINS = "builtin:shakespeare, builtin:imdb, builtin:rotten_tomatoes, builtin:movie_reviews"
LABELLED_BUILTINS = "builtin:imdb, builtin:rotten_tomatoes, builtin:movie_reviews"

ModelOption = Annotated[
    Optional[Path],
    typer.Option("--model", "-m", help="Model directory (e.g. runs/NAME/best); default: the shipped model."),
]


def check_model_named(model: Path | None) -> None:
    """Refuse a ``--model`` that names nothing before torch is imported: importing it takes longer than finding out.

    A name that may be a Hub repo id (``owner/name``) is left to the load, which may need the network.
    """
    from nlp_lstm import hub  # noqa: I001 - lazy, though light: --help needs none of it

    if model is None or hub.REPO_ID.match(str(model)):
        return
    if not hub.resolve(model).exists():  # a path that exists, or a shipped model's name, resolves to a directory
        raise NlpLstmError(f"{model}: no such model directory")


TextDatasetOption = Annotated[
    str, typer.Option("--dataset", "-d", help=DATASET_HELP.format(builtins=BUILTINS), rich_help_panel=DATA)
]
LabelledDatasetOption = Annotated[
    str, typer.Option("--dataset", "-d", help=DATASET_HELP.format(builtins=LABELLED_BUILTINS), rich_help_panel=DATA)
]
DatasetConfigOption = Annotated[
    Optional[str],
    typer.Option(
        help="Hub dataset configuration name, if it has several; for the built-in review corpora 'balanced' "
        "repeats the smaller source's training rows.",
        rich_help_panel=DATA,
    ),
]
TextColumnOption = Annotated[
    str, typer.Option(help="Column that holds the text (csv, tsv, json, parquet and Hub datasets).", rich_help_panel=DATA)
]
FileTextColumnOption = Annotated[str, typer.Option(help="Column that holds the text (csv, tsv, json, jsonl, parquet).")]
LabelColumnOption = Annotated[
    str, typer.Option(help="Column that holds the label (integers, strings or a ClassLabel).", rich_help_panel=DATA)
]
SplitOption = Annotated[
    str,
    typer.Option(
        help="Which split to score; all = every row, for a file that is all held-out data.",
        metavar="[train|validation|test|all]",
    ),
]
DEVICE_CHOICES = "[auto|cpu|cuda|cuda:N|mps]"
DeviceOption = Annotated[
    str, typer.Option(help="auto picks CUDA, then MPS, then the CPU.", metavar=DEVICE_CHOICES, rich_help_panel=RUN)
]
INFERENCE_THREADS = 1  # the inference commands' default, measured by benchmarks/threads.py (see the README)
ThreadsOption = Annotated[
    int,
    typer.Option(help="CPU threads for torch (0 = one per core); see the README on choosing.", min=0, rich_help_panel=RUN),
]
EvalSeedOption = Annotated[int, typer.Option(help="The training seed, when the dataset was split by us (local files).")]

# Options of `train lm` and `train classifier`; each command gives its own defaults.
OutputOption = Annotated[
    Path, typer.Option("--output", "-o", help="Run directory: best/, last/, metrics.jsonl, run.toml.", rich_help_panel=RUN)
]
TokenizerOption = Annotated[
    Tokenizer,
    typer.Option(help="char: one id per character; bpe: subwords trained on the training split.", rich_help_panel=DATA),
]
ClassifierTokenizerOption = Annotated[
    ClassifierTokenizer,
    typer.Option(
        # Unset (None), it is bpe, or with --init-from the language model's; set, it must be that one.
        help="char: one id per character; bpe: subwords trained on the training split; teacher: the --teacher's vocabulary. "
        "\\[default: bpe]",
        rich_help_panel=DATA,
    ),
]
VocabSizeOption = Annotated[int, typer.Option(help="Subword vocabulary size (bpe only).", rich_help_panel=DATA)]
EmbeddingDimOption = Annotated[int, typer.Option(help="Size of token embeddings.", rich_help_panel=MODEL)]
HiddenSizeOption = Annotated[int, typer.Option(help="LSTM units per layer (per direction).", rich_help_panel=MODEL)]
NumLayersOption = Annotated[int, typer.Option(help="Stacked LSTM layers.", rich_help_panel=MODEL)]
DropoutOption = Annotated[float, typer.Option(help="Dropout between LSTM layers and on their output.", rich_help_panel=MODEL)]
EmbeddingDropoutOption = Annotated[float, typer.Option(help="Dropout on the embeddings.", rich_help_panel=MODEL)]
BatchSizeOption = Annotated[int, typer.Option(help="Sequences per batch.", rich_help_panel=OPTIMISATION)]
LrOption = Annotated[float, typer.Option(help="Peak learning rate (AdamW).", rich_help_panel=OPTIMISATION)]
MinLrRatioOption = Annotated[float, typer.Option(help="The cosine decay ends at lr times this.", rich_help_panel=OPTIMISATION)]
WarmupOption = Annotated[int, typer.Option(help="Linear warm-up steps before cosine decay.", rich_help_panel=OPTIMISATION)]
WeightDecayOption = Annotated[float, typer.Option(help="AdamW weight decay on weight matrices.", rich_help_panel=OPTIMISATION)]
GradClipOption = Annotated[float, typer.Option(help="Clip the gradient norm to this.", rich_help_panel=OPTIMISATION)]
SeedOption = Annotated[
    int, typer.Option(help="Seed for weights, dropout, data order and our own splits.", rich_help_panel=OPTIMISATION)
]
PrecisionOption = Annotated[
    Precision,
    typer.Option(
        help="bf16 autocast: about 2x faster on recent GPUs, slower on CPUs without AMX, refused where unsupported.",
        rich_help_panel=RUN,
    ),
]
ResumeOption = Annotated[bool, flag("--resume", "Continue the stopped run in --output from its last checkpoint.", RUN)]
OverwriteOption = Annotated[bool, flag("--overwrite", "Replace the run in --output (kept until the new one saves).", RUN)]
TrainJsonOption = Annotated[bool, flag("--json", "At the end, print a JSON summary of the run on stdout.", RUN)]
JsonOption = Annotated[bool, flag("--json", "Print JSON instead of a table.")]

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


ConfigFileOption = Annotated[
    Optional[Path],
    typer.Option(
        "--config",
        callback=read_config_file,
        is_eager=True,
        help="TOML file of options (names as on the command line, e.g. a run's run.toml); the command line overrides it.",
        rich_help_panel=RUN,
    ),
]


def training_config(cls: type, options: dict[str, Any]) -> Any:
    """The training config of a command's ``options`` (its other options, such as ``output``, left out).

    The encoder's fields the command takes go to the config's ``encoder``, the others keep the task's defaults.
    """
    options = {name: plain(value) for name, value in options.items()}  # Enums and paths as the library takes them
    settings = {name: options[name] for name in cls.__dataclass_fields__ if name in options}
    encoder = {name: options[name] for name in getattr(cls, "ENCODER_FIELDS", ()) if name in options}
    if encoder:
        settings["encoder"] = cls.__dataclass_fields__["encoder"].default.replace(**encoder)
    return cls(**settings)
