"""``classify``/``generate --runtime onnx``: the same commands over an ONNX export, with no torch imported.

Texts, blank rows, JSON lines and exit codes are the torch path's; what only torch does (an
``--input`` file, ``--adapt``, ``--top-k``/``--top-p``, several samples) is refused in one line.
"""

from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from nlp_lstm.errors import UsageError


class Runtime(str, Enum):
    torch = "torch"
    onnx = "onnx"


RuntimeOption = Annotated[
    Runtime, typer.Option("--runtime", help="torch, or onnx to run an export of nlp-lstm export (--model DIR) without torch.")
]


def exported(model: Path | None, threads: int) -> Any:
    from nlp_lstm.runtime import load_exported

    if model is None:
        raise UsageError("--runtime onnx needs --model DIR, a directory written by nlp-lstm export")
    return load_exported(model, threads or None)


def classify_onnx(texts: list[str], options: dict[str, Any], print_row: Any, render: Any) -> None:
    """Classify ``texts`` (already read and checked) with the export at ``--model``; print as the torch path does."""
    from nlp_lstm import runtime

    if options["input_file"] is not None:
        raise UsageError("--runtime onnx classifies texts given as arguments or '-'; use the torch path for --input")
    model = exported(options["model"], options["threads"])
    predictions = [p for p in runtime.classify(model, texts, options["batch_size"]) if p.label is not None]
    skipped = len(texts) - len(predictions)
    if skipped:
        typer.echo(f"skipped {skipped:,} blank text{'s' * (skipped > 1)} (their indexes are left out)", err=True)
    if options["json_output"]:
        for prediction in predictions:
            typer.echo(print_row(prediction))
        return
    render(predictions, [texts[p.index] for p in predictions], model.labels)


def generate_onnx(model_path: Path | None, prompt: str, options: dict[str, Any]) -> None:
    """One sample from the export at ``--model``, streamed, or one JSON line with ``--json``."""
    from nlp_lstm import runtime

    settings = {name: options[name] for name in runtime.TORCH_ONLY}
    refusal = runtime.torch_only(lambda name: "--" + name.replace("_", "-"), **settings)
    if refusal is not None:
        raise UsageError(refusal)
    model = exported(model_path, options["threads"])
    pieces = runtime.generate_stream(model, prompt, options["length"], options["temperature"], options["seed"])
    if options["json_output"]:
        typer.echo(json.dumps({"index": 0, "prompt": prompt, "continuation": "".join(pieces)}))
        return
    sys.stdout.write(prompt)
    for piece in pieces:
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")
