"""``nlp-lstm export``: write a model as an ONNX export directory that runs without torch (``nlp_lstm.export``)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from nlp_lstm import tasks
from nlp_lstm.cli.app import app, user_errors
from nlp_lstm.cli.options import ModelOption, check_model_named
from nlp_lstm.errors import UsageError


class ExportFormat(str, Enum):
    onnx = "onnx"


@app.command()
@user_errors
def export(
    model: ModelOption = None,
    output_format: Annotated[ExportFormat, typer.Option("--format", help="What to export to.")] = ExportFormat.onnx,
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Directory to write (replaced if it is an earlier export).")
    ] = None,  # type: ignore[assignment]
    int8: Annotated[
        bool,
        typer.Option("--int8", help="int8 weights (ONNX Runtime's dynamic quantisation): see docs/onnx.md for what it gives."),
    ] = False,
) -> None:
    """Export a language model (one step with its state) or a classifier to ONNX, with its tokenizer and labels.

    Run it without torch: nlp-lstm classify --runtime onnx --model DIR "a fine film" (see docs/onnx.md).

    Example: nlp-lstm export --model checkpoints/sentiment --format onnx --output exported/sentiment
    """
    if output is None:
        raise UsageError("--output DIR is needed: the directory to write the export to")
    check_model_named(model)  # before torch is imported: a wrong --model is reported at once
    import nlp_lstm
    from nlp_lstm.export import export_onnx  # noqa: I001 - lazy: torch stays out of --help

    saved = nlp_lstm.load_model(model if model is not None else nlp_lstm.shipped_model(tasks.LM), device="cpu")
    written = export_onnx(saved, output, int8=int8)
    typer.echo(str(written))
