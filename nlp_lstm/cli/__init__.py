"""The ``nlp-lstm`` command line: thin Typer commands over the public API.

Parse options, call ``nlp_lstm``'s API, render with rich. Heavy modules (torch, datasets) are
imported inside commands so ``--help`` is instant. User errors become one line on stderr and a
non-zero exit code, never a traceback.

* ``app``: the Typer application, exit codes, one-line errors;
* ``options``: the options commands share, their defaults (read from the configs) and choices;
* ``render``: the training bar, tables and blocks;
* ``training``, ``inference``, ``inspecting``, ``evaluation``, ``model_files``, ``serve``, ``export``, ``forecast``: the commands.
"""

from nlp_lstm.cli import evaluation, export, forecast, inference, inspecting, model_files, serve, training  # noqa: F401 - importing a module registers its commands
from nlp_lstm.cli.app import app, main

__all__ = ["app", "main"]
