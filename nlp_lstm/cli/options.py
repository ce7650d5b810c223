"""The options commands share: one name, one help text and one default for one thing, everywhere.

A training setting's name, default, help text and group are declared once, on its config field
(``train_config.py``); :func:`config_option` reads them, and :func:`training_command` makes a ``train``
subcommand's options of them. Choices are ``Enum``s so that ``--help`` lists them; flags are flags.
A ``--config`` TOML file gives a training command's defaults.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import typing
from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

import typer

from nlp_lstm.config import RUN, EncoderConfig, option
from nlp_lstm.errors import NlpLstmError
from nlp_lstm.train_config import ClassifierTrainConfig, TrainConfig, run_settings


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


FileTextColumnOption = Annotated[str, typer.Option(help="Column that holds the text (csv, tsv, json, jsonl, parquet).")]
SplitOption = Annotated[
    str,
    typer.Option(
        help="Which split to score; all = every row, for a file that is all held-out data.",
        metavar="[train|validation|test|all]",
    ),
]
INFERENCE_THREADS = 1  # the inference commands' default, measured by benchmarks/threads.py (see the README)
EvalSeedOption = Annotated[int, typer.Option(help="The training seed, when the dataset was split by us (local files).")]

# The options of a run (RunOptions), which every training command takes.
OutputOption = Annotated[
    Path, typer.Option("--output", "-o", help="Run directory: best/, last/, metrics.jsonl, run.toml.", rich_help_panel=RUN)
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


def _field(cls: type, name: str) -> dataclasses.Field:
    """The field that declares ``cls``'s setting ``name``: its own, or its encoder's."""
    fields = cls.__dataclass_fields__  # type: ignore[attr-defined]
    return fields[name] if name in fields else EncoderConfig.__dataclass_fields__[name]


def _parsed_type(cls: type, name: str, cli: dict[str, Any]) -> Any:
    """What the command line parses for a setting: a Literal's values as the choices of an Enum, so --help lists them."""
    owner = cls if name in cls.__dataclass_fields__ else EncoderConfig  # type: ignore[attr-defined]
    hint = typing.get_type_hints(owner)[name]
    args = typing.get_args(hint)
    optional = type(None) in args
    if optional:
        (hint,) = [arg for arg in args if arg is not type(None)]
    if "type" in cli:
        hint = cli["type"]
    elif typing.get_origin(hint) is Literal:
        hint = Enum(name.title().replace("_", ""), {value: value for value in typing.get_args(hint)}, type=str)
    return Optional[hint] if optional else hint  # noqa: UP045 - typer reads typing.Optional


def config_option(cls: type, name: str) -> Any:
    """The option of ``cls``'s setting ``name`` as its field declares it: its help text, group and type."""
    field = _field(cls, name)
    cli = dict(field.metadata["cli"])
    parsed = _parsed_type(cls, name, cli)
    help = getattr(cls, "ENCODER_HELP", {}).get(name, field.metadata["help"])
    if parsed is bool and "flags" not in cli:
        return Annotated[bool, flag(option(name), help, field.metadata["panel"])]
    details = {key: value for key, value in cli.items() if key in ("metavar", "min")}
    return Annotated[parsed, typer.Option(*cli.get("flags", ()), help=help, rich_help_panel=field.metadata["panel"], **details)]


def command_default(cls: type, name: str) -> Any:
    """A setting's default as the command line shows it (the field's, or the text it parses, such as "")."""
    return _field(cls, name).metadata["cli"].get("default", default(cls, name))


def training_command(cls: type, names: tuple[str, ...], output: Path) -> Callable[[Callable[[dict[str, Any]], None]], Any]:
    """Make ``body(options)`` a command whose options are ``names``, in that order in --help.

    A name is a setting of ``cls`` (its option from :func:`config_option`) or one of the run's (``RUN_OPTIONS``),
    so a setting's name, help text and default are declared once, on its field.
    """

    def parameter(name: str) -> inspect.Parameter:
        annotation, value = RUN_OPTIONS[name] if name in RUN_OPTIONS else (config_option(cls, name), command_default(cls, name))
        return inspect.Parameter(
            name, inspect.Parameter.KEYWORD_ONLY, default=output if name == "output" else value, annotation=annotation
        )

    def decorate(body: Callable[[dict[str, Any]], None]) -> Any:
        def command(ctx: typer.Context, **options: Any) -> None:
            # Which options the user gave (typed, or from --config), whatever their value: --resume needs to know.
            given = {name for name in options if ctx.get_parameter_source(name).name != "DEFAULT"}  # type: ignore[union-attr]
            body({**options, GIVEN: frozenset(given)})

        context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
        parameters = [context, *(parameter(name) for name in names)]
        command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in parameters}
        command.__name__, command.__doc__ = body.__name__, body.__doc__
        return command

    return decorate


GIVEN = "given"  # the key of a command's options that holds the names of those the user gave


# The options of a run rather than of training, which every training command takes: (option, default).
RUN_OPTIONS: dict[str, tuple[Any, Any]] = {
    "output": (OutputOption, None),
    "resume": (ResumeOption, False),
    "overwrite": (OverwriteOption, False),
    "config_file": (ConfigFileOption, None),
    "json_output": (TrainJsonOption, False),
}


def training_config(cls: type, options: dict[str, Any]) -> Any:
    """The training config of a command's ``options`` (its other options, such as ``output``, left out).

    The encoder's fields the command takes go to the config's ``encoder``, the others keep the task's defaults.
    With ``--resume`` the run's own settings stand where the defaults would (see :func:`resumed_settings`).
    """
    options = {name: plain(value) for name, value in options.items()}  # Enums and paths as the library takes them
    start, options = resumed_settings(cls, options) if options.get("resume") else (None, options)
    settings = {name: options[name] for name in cls.__dataclass_fields__ if name in options}
    encoder = {name: options[name] for name in getattr(cls, "ENCODER_FIELDS", ()) if name in options}
    if encoder:
        own = cls.__dataclass_fields__["encoder"].default if start is None else start.encoder
        settings["encoder"] = own.replace(**encoder)
    return cls(**settings) if start is None else start.replace(**settings)


def resumed_settings(cls: type, options: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    """For ``--resume``: the run's saved settings, and of ``options`` only those this command line gives.

    An option counts as given when it is typed or comes from ``--config``, whatever its value: ``--max-steps 2000``
    extends a run of 500 steps though 2000 is the default. Where no run's settings can be read, nothing changes
    here: training says why it cannot resume.
    """
    try:
        saved = run_settings(cls, options["output"])
    except NlpLstmError:
        return None, options
    return saved, {name: value for name, value in options.items() if name in options[GIVEN]}


# The options of training settings that other commands take too (evaluate, classify, serve ...).
TextDatasetOption = config_option(TrainConfig, "dataset")
LabelledDatasetOption = config_option(ClassifierTrainConfig, "dataset")
DatasetConfigOption = config_option(TrainConfig, "dataset_config")
TextColumnOption = config_option(TrainConfig, "text_column")
LabelColumnOption = config_option(ClassifierTrainConfig, "label_column")
DeviceOption = config_option(TrainConfig, "device")
ThreadsOption = config_option(TrainConfig, "threads")
