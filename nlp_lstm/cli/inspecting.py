"""``nlp-lstm inspect``: what the LSTM gates do on one text (the explainer's view of a model).

The text comes as ``classify``'s do: as the argument, ``-`` for stdin, or ``--input FILE``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer

import nlp_lstm
from nlp_lstm import tasks
from nlp_lstm.cli.app import app, user_errors
from nlp_lstm.cli.inference import STDIN, load_for, read_stdin
from nlp_lstm.cli.options import INFERENCE_THREADS, DeviceOption, Quantity, ThreadsOption, flag
from nlp_lstm.cli.render import print_inspection
from nlp_lstm.errors import UsageError

INSPECT_MOST_BYTES = 64 * 2**20  # inspect shows the first 1,000 tokens of a text: a bigger file is not one text


def text_to_inspect(text: str | None, text_option: str | None, input_file: Path | None) -> str | None:
    """The one text given as the argument, ``-`` (stdin), ``--input`` or the older ``--text``; None for the default."""
    given = [source for source in (text, text_option, input_file) if source is not None]
    if len(given) > 1:
        raise UsageError("give one text: as the argument, '-' for stdin, or --input FILE")
    if text_option is not None:
        return text_option
    if text == STDIN:
        return read_stdin()
    if input_file is not None:  # checked as text like every input; inspect reads its first 1,000 tokens
        from nlp_lstm.data.text_check import read_text_file

        return read_text_file(input_file, "text file", INSPECT_MOST_BYTES)
    return text


@app.command()
@user_errors
def inspect(
    text: Annotated[
        Optional[str],
        typer.Argument(
            help="Text to read (default: a Shakespeare passage); '-' reads stdin; first 1,000 tokens.", metavar="TEXT"
        ),
    ] = None,
    model: Annotated[
        Optional[Path], typer.Option("--model", "-m", help="Any model directory; default: the shipped language model.")
    ] = None,
    input_file: Annotated[Optional[Path], typer.Option("--input", "-i", help="Read the text from this UTF-8 file.")] = None,
    text_option: Annotated[Optional[str], typer.Option("--text", hidden=True)] = None,  # before texts were arguments
    layer: Annotated[Optional[int], typer.Option(help="LSTM layer to show, from 0 (default: the top layer).")] = None,
    quantity: Annotated[
        Quantity, typer.Option(help="f, i, o: forget, input, output gate; c: cell state; h: hidden state.")
    ] = Quantity.c,
    unit: Annotated[Optional[int], typer.Option(help="Unit to show (default: the one that follows a text feature best).")] = None,
    html: Annotated[Optional[Path], typer.Option("--html", help="Write an interactive, self-contained HTML page here.")] = None,
    png: Annotated[
        Optional[Path], typer.Option("--png", help="Write a heatmap of the layer's most variable units here (needs matplotlib).")
    ] = None,
    device: DeviceOption = "auto",
    threads: ThreadsOption = INFERENCE_THREADS,
    json_output: Annotated[bool, flag("--json", "Print the units that best follow text features, as JSON.")] = False,
) -> None:
    """See what the LSTM gates do on a text: forget, input and output gates, cell and hidden state per character.

    Example: nlp-lstm inspect "But, soft! what light through yonder window breaks?" --html gates.html
    """
    text = text_to_inspect(text, text_option, input_file)
    saved = load_for(model, None if model is not None else tasks.LM, device, threads)  # a classifier's encoder has gates too
    inspection = nlp_lstm.inspect_gates(saved, text)
    layer = inspection.layers - 1 if layer is None else layer
    inspection.check_view(layer, quantity.value, unit)
    unit = inspection.unit_to_show(layer, quantity.value, unit)
    if html is not None:
        html.parent.mkdir(parents=True, exist_ok=True)
        name = model if model is not None else f"the shipped {saved.path.name} model"
        page = nlp_lstm.render_gates_html(inspection, layer, quantity.value, unit, title=f"LSTM gates of {name}")
        html.write_text(page, encoding="utf-8")
        typer.echo(f"wrote {html}", err=True)
    if png is not None:
        typer.echo(f"wrote {nlp_lstm.render_gates_png(inspection, png, layer, quantity.value)}", err=True)
    top_units = {feature: [s.as_dict() for s in ranked] for feature, ranked in inspection.top_units().items()}
    if json_output:
        summary = {"model": str(saved.path), "tokens": inspection.steps, "truncated": inspection.truncated}
        summary |= {"max_difference": inspection.max_difference, "top_units": top_units}
        typer.echo(json.dumps(summary))
        return
    print_inspection(inspection, saved.path, layer, quantity.value, unit, top_units)
