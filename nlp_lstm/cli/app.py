"""The Typer application, its exit codes, and how a failure becomes one line instead of a traceback.

Exit codes (documented in the README): 0 ok, 1 runtime failure, 2 usage error, 74 a disk refused a
read or a write, 130 interrupted, 141 stdout closed by its reader.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import functools
import gc
import os
import sys
from collections.abc import Callable, Iterator
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperArgument, TyperCommand, TyperGroup

import nlp_lstm
from nlp_lstm.errors import Interrupted, NlpLstmError


def plain_metavar(param: Any) -> None:
    """Show a list argument in --help as what it takes, ``<path>...``: typer writes the type of one element."""
    if isinstance(param, TyperArgument) and param.nargs == -1 and param.metavar is not None:
        # Typer's help writes an argument's type from type.get_metavar (a named argument's usage line does
        # not read it); the type object is shared by every parameter of that type, so this one gets a copy.
        label = f"<{param.type.name}>..."
        param.type = copy.copy(param.type)
        param.type.get_metavar = lambda param, ctx: label


class PlainHelp:
    """A command or group whose --help shows its parameters with :func:`plain_metavar`."""

    def get_params(self, ctx: Any) -> list[Any]:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            plain_metavar(param)
        return params


class PlainHelpCommand(PlainHelp, TyperCommand):
    pass


class PlainHelpGroup(PlainHelp, TyperGroup):
    pass


class Typer(typer.Typer):
    """typer.Typer whose groups and commands are :class:`PlainHelp` ones unless told otherwise."""

    def __init__(self, **options: Any):
        super().__init__(**{"cls": PlainHelpGroup, **options})

    def command(self, *args: Any, **options: Any) -> Any:
        return super().command(*args, **{"cls": PlainHelpCommand, **options})


app = Typer(
    name="nlp-lstm",
    help="Train LSTM language models and text classifiers on any dataset; generate, classify and evaluate.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
train_app = Typer(help="Train a model.", no_args_is_help=True)
evaluate_app = Typer(help="Evaluate a model on a held-out split.", no_args_is_help=True)
app.add_typer(train_app, name="train")
app.add_typer(evaluate_app, name="evaluate")

F = TypeVar("F", bound=Callable[..., Any])

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


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"nlp-lstm {nlp_lstm.__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=version_callback, is_eager=True, help="Show the version and exit.", metavar=""),
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show Python tracebacks instead of one-line errors.", metavar="")
    ] = False,
) -> None:
    """Train LSTM language models and text classifiers on any dataset; generate, classify and evaluate.

    Example: nlp-lstm train lm --dataset builtin:shakespeare --output runs/shakespeare --max-steps 300
    """
    DEBUG["on"] = debug or debug_from_environment()  # per invocation: one --debug must not stick to the next command


def registered_name(info: Any) -> str:
    """The name a command or a group of commands is invoked by."""
    return info.name or typer.main.get_command_name(info.callback.__name__)


@contextlib.contextmanager
def only_the_invoked_command(typer_app: typer.Typer, args: list[str]) -> Iterator[None]:
    """Leave registered, while inside, only the command ``args`` invoke, in its group if it has one.

    Typer turns the signature of every registered command into click parameters on each run (about
    0.05 s for these thirteen), though a run needs its own command's alone. Anything else (help, a name
    that is no command, a group without a command) keeps them all: help and suggestions list every one.
    """
    before = (typer_app.registered_commands, typer_app.registered_groups)
    words = []
    for arg in args:  # the application's own options are flags, so the first word is a command's or a group's name
        if arg in ("--help", "-h") or not arg.startswith("-"):
            words.append(arg)
    name = words[0] if words else None
    commands = [info for info in typer_app.registered_commands if registered_name(info) == name]
    groups = [info for info in typer_app.registered_groups if registered_name(info) == name]
    try:
        if commands or groups:
            typer_app.registered_commands, typer_app.registered_groups = commands, groups
        if groups:
            with only_the_invoked_command(groups[0].typer_instance, words[1:]):
                yield
        else:
            yield
    finally:
        typer_app.registered_commands, typer_app.registered_groups = before


# True in a process that runs one command and exits (main, the console script), not in a test's CliRunner.
ONE_COMMAND = {"process": False}


def settle_imports() -> None:
    """Leave every object made so far out of later garbage collections, once a command has imported torch.

    torch's import leaves about 170,000 objects that live as long as the process; frozen (``gc.freeze``),
    neither the full collection during a command nor the one at exit walks them again: 0.2-0.5 s of CPU
    of a cold ``classify`` (benchmarks/startup.py). Only in a one-command process: garbage frozen with
    them is never freed, which a test's CliRunner, running many commands, would pile up.
    """
    if ONE_COMMAND["process"]:
        gc.freeze()


def main() -> None:
    # Quiet the thread oversubscription warning and tokenizers' fork warning for CLI users.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    ONE_COMMAND["process"] = True
    with only_the_invoked_command(app, sys.argv[1:]):
        app()
