"""The commands that use a model on texts: ``generate`` and ``classify`` (``inspect`` is in ``inspecting``).

Texts come the same way to ``classify`` and ``inspect``: as arguments, ``-`` for stdin, or
``--input FILE``; generation continues a ``--prompt``.
"""

from __future__ import annotations

import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

import nlp_lstm
from nlp_lstm import tasks
from nlp_lstm.cli.app import app, settle_imports, user_errors
from nlp_lstm.cli.onnx_runtime import Runtime, RuntimeOption, classify_onnx, generate_onnx
from nlp_lstm.cli.options import (
    INFERENCE_THREADS,
    DeviceOption,
    FileTextColumnOption,
    ModelOption,
    ThreadsOption,
    check_model_named,
    default,
    flag,
    plain,
)
from nlp_lstm.cli.render import print_predictions
from nlp_lstm.config import SampleConfig
from nlp_lstm.errors import DataError, NlpLstmError, UsageError

STDIN = STDOUT = "-"
STDIN_CHUNK = 2**20


# oneDNN keeps up to 1,024 LSTM kernels, one per input shape; classifying millions of texts of every
# length fills that cache, and memory creeps up by tens of MiB (benchmarks/file_classification.py).
# A few suffice: a kernel is made again in well under the time a batch takes.
KERNEL_CACHE_ENV, KERNEL_CACHE_CAPACITY = "ONEDNN_PRIMITIVE_CACHE_CAPACITY", "8"


def bound_kernel_cache() -> None:
    """Keep few oneDNN kernels (the user's own setting wins); read by oneDNN once, so set before torch runs."""
    os.environ.setdefault(KERNEL_CACHE_ENV, KERNEL_CACHE_CAPACITY)


def load_for(model: Path | None, kind: str | None, device: str, threads: int) -> Any:
    """The model ``model`` names (default: the shipped one of ``kind``), on ``device``, computing on ``threads`` threads.

    ``--model`` takes what ``nlp_lstm.load_model`` takes, in its order: a path, a shipped name, a Hub repo id.
    """
    check_model_named(model)  # before torch is imported, so that a wrong --model is reported at once
    from nlp_lstm.devices import select_device, use_threads  # noqa: I001 - lazy: keeps torch out of --help

    settle_imports()  # torch is imported now
    use_threads(threads)
    path = model if model is not None else nlp_lstm.shipped_model(kind or tasks.LM)
    return nlp_lstm.load_model(path, device=select_device(device), kind=kind)


def read_stdin() -> str:
    """All of stdin, read in chunks so that binary input (``< /dev/zero``) fails at its first chunk."""
    from nlp_lstm.data.text_check import TextCheck  # the check of every text format of an --input file too

    check = TextCheck("stdin")
    pieces = []
    while chunk := sys.stdin.buffer.read(STDIN_CHUNK):
        pieces.append(check(chunk))
    pieces.append(check(b"", final=True))  # a character cut at the very end is not text either
    return "".join(pieces)


def read_stdin_lines() -> list[str]:
    lines = read_stdin().split("\n")
    return lines[:-1] if lines[-1] == "" else lines  # a final newline ends the last line, it starts none


def print_samples(saved: Any, prompt: str, config: SampleConfig) -> None:
    """Each sample streamed to stdout as it is sampled, under a line of its own where there are several."""
    current = -1
    for index, piece in nlp_lstm.generate_stream(saved, prompt, config):
        if index != current:
            if current >= 0:
                sys.stdout.write("\n")
            if config.num_samples > 1:  # a blank line cannot part samples: the text has blank lines of its own
                sys.stdout.write(f"--- sample {index + 1} of {config.num_samples} ---\n")
            current = index
            sys.stdout.write(prompt)
        sys.stdout.write(piece)
        sys.stdout.flush()
    sys.stdout.write("\n")


def print_samples_as_json(saved: Any, prompt: str, config: SampleConfig) -> None:
    """One JSON line per sample as soon as it is complete, so that memory holds one sample, not all of them."""
    pieces: list[str] = []
    current = 0
    for index, piece in nlp_lstm.generate_stream(saved, prompt, config):
        if index != current:
            typer.echo(json.dumps({"index": current, "prompt": prompt, "continuation": "".join(pieces)}))
            pieces, current = [], index
        pieces.append(piece)
    typer.echo(json.dumps({"index": current, "prompt": prompt, "continuation": "".join(pieces)}))


AdaptOption = Annotated[
    Optional[list[Path]],
    typer.Option(
        "--adapt",
        help="Write like this text: the model first reads it (a file; - for stdin; repeat for more), adapting as it "
        "goes (dynamic evaluation, Krause et al. 2018), then samples. A prompt longer than 50 characters adapts it too. "
        "The saved model is never changed.",
        metavar="FILE",
    ),
]
SaveAdaptedOption = Annotated[
    Optional[Path], typer.Option("--save-adapted", help="With --adapt: also save the adapted model to this directory.")
]


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
    temperature: Annotated[
        float, typer.Option("--temperature", "-t", help="Softmax temperature, 0 to 100; 0 = greedy.")
    ] = default(SampleConfig, "temperature"),
    top_k: Annotated[int, typer.Option(help="Sample among the k likeliest tokens (0 = off).")] = default(SampleConfig, "top_k"),
    top_p: Annotated[float, typer.Option(help="Nucleus sampling: smallest set with this probability (1 = off).")] = default(
        SampleConfig, "top_p"
    ),
    seed: Annotated[Optional[int], typer.Option(help="Seed for reproducible samples, 0 to 2^64 - 1.")] = None,
    num_samples: Annotated[
        int,
        typer.Option(
            help="How many samples to draw (times --length: at most 10 million tokens); more than one are printed each "
            "under a line '--- sample N of M ---'."
        ),
    ] = default(SampleConfig, "num_samples"),
    device: DeviceOption = "auto",
    threads: ThreadsOption = INFERENCE_THREADS,
    json_output: Annotated[
        bool, flag("--json", "Print one JSON object per sample (index, prompt, continuation) when done.")
    ] = False,
    adapt: AdaptOption = None,
    save_adapted: SaveAdaptedOption = None,
    runtime: RuntimeOption = Runtime.torch,
) -> None:
    """Generate text from a language model, streamed as it is produced.

    Example: nlp-lstm generate --model runs/shakespeare/best --prompt "ROMEO:" --length 300 --temperature 0.7
    """
    config = SampleConfig(length=length, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed, num_samples=num_samples)
    if save_adapted is not None and not adapt:
        raise UsageError("--save-adapted needs --adapt FILE: there is nothing adapted to save")
    if runtime == Runtime.onnx:
        generate_onnx(model, prompt, {name: plain(value) for name, value in locals().items()})
        return
    saved = load_for(model, tasks.LM, device, threads)
    if adapt:
        from nlp_lstm.cli.adapting import adapted

        saved = adapted(saved, adapt, prompt, save_adapted)
    (print_samples_as_json if json_output else print_samples)(saved, prompt, config)


InputFileOption = Annotated[
    Optional[Path],
    typer.Option(
        "--input", "-i", help="File of texts, read in chunks: .txt (one per line), .csv, .tsv, .jsonl, .json or .parquet."
    ),
]
OutputFileOption = Annotated[
    Optional[str],
    typer.Option(
        "--output",
        "-o",
        help="With --input: write every input column plus label and p_CLASS columns here, as rows are classified "
        "(.csv .tsv .jsonl .json .parquet; - for stdout with --format).",
    ),
]


class TableFormat(str, Enum):
    csv = "csv"
    tsv = "tsv"
    jsonl = "jsonl"
    json = "json"
    parquet = "parquet"


def report_skipped(skipped: int) -> None:
    if skipped:
        typer.echo(f"skipped {skipped:,} blank text{'s' * (skipped > 1)} (their indexes are left out)", err=True)


def given_texts(texts: list[str]) -> list[str]:
    """The texts of the arguments, or of stdin's lines for ``-`` alone."""
    if STDIN in texts and len(texts) > 1:
        raise UsageError("'-' reads the texts from stdin; give it alone, not with other texts")
    return read_stdin_lines() if texts == [STDIN] else texts


def check_some_text(texts: list[str]) -> None:
    """Refuse, before the model loads, texts that are all blank as no texts at all: neither has anything to classify."""
    from nlp_lstm.arguments import is_blank

    if not texts:
        raise UsageError("no texts to classify; pass them as arguments, '-' for stdin, or --input FILE")
    if all(is_blank(text) for text in texts):
        given = "the text given is" if len(texts) == 1 else f"all {len(texts):,} texts given are"
        raise UsageError(f"no texts to classify: {given} blank; pass them as arguments, '-' for stdin, or --input FILE")


def prediction_row(prediction: Any, ids: list[Any] | None = None, start: int = 0) -> str:
    row: dict[str, Any] = {"index": prediction.index}
    if ids is not None:
        row["id"] = ids[prediction.index - start]
    if prediction.score is not None:  # a regression model (issue 30): a number, no label
        row["score"] = prediction.score
    else:
        row |= {"label": prediction.label, "probabilities": prediction.probabilities}
    return json.dumps(row, allow_nan=False, default=str)  # NaN is not JSON: fail loudly rather than print it


def classify_input_file(saved: Any, options: dict[str, Any]) -> None:
    """``classify --input``: chunk by chunk to ``--output``, or as JSON Lines (or a table) on stdout."""
    from nlp_lstm.cli.render import RowProgress
    from nlp_lstm.file_classification import classify_file

    # Issue 30: an output file gets label and probability columns, which a regression model has not.
    if saved.regression:
        raise UsageError("classify --input writes labels; a regression model predicts a score: pass texts or '-' for stdin")
    path, output = Path(options["input_file"]), options["output"]
    with RowProgress(f"classifying {path}") as progress:
        if output is not None:
            summary = classify_file(
                saved, path, output, options["text_column"], options["batch_size"], options["output_format"], progress.update
            )
            progress.close()
            report_skipped(summary.skipped)
            typer.echo(f"classified {summary.classified:,} row{'s' * (summary.classified != 1)} into {output}", err=True)
            return
        shown, skipped = classified_rows_to_stdout(saved, path, options, progress.update)
    report_skipped(skipped)
    if shown:
        print_predictions([p for p, _ in shown], [t for _, t in shown], saved.labels)


def column_values(table: Any, column: str, option: str) -> list[Any]:
    if column not in table.column_names:
        raise DataError(f"column {column!r} not found; choose {option} from: {', '.join(table.column_names)}")
    return table.column(column).to_pylist()


def classified_rows_to_stdout(saved: Any, path: Path, options: dict[str, Any], progress: Any) -> tuple[list[Any], int]:
    """With ``--json``, print each chunk's rows as JSON Lines when it is classified; else return them to show at the end.

    Also returns the count of blank texts skipped. A failure after some rows were printed says how many.
    """
    from nlp_lstm.file_classification import classified_chunks, stopped

    shown, skipped, printed = [], 0, 0
    try:
        for chunk in classified_chunks(saved, path, options["text_column"], options["batch_size"], progress):
            ids = column_values(chunk.table, options["id_column"], "--id-column") if options["id_column"] else None
            skipped += chunk.table.num_rows - len(chunk.predictions)
            texts = chunk.table.column(options["text_column"]).to_pylist()
            for prediction in chunk.predictions:
                if options["json_output"]:
                    typer.echo(prediction_row(prediction, ids, chunk.start))
                    printed += 1
                else:
                    shown.append((prediction, texts[prediction.index - chunk.start]))
    except NlpLstmError as error:
        if printed:
            stopped(error, printed, STDOUT)
        raise
    return shown, skipped


def check_output_path(output: str) -> None:
    """Refuse at once, before the model loads, an --output that is there already or cannot be made."""
    from nlp_lstm.data.tables import table_format  # noqa: I001 - lazy: pyarrow stays out of --help

    path = Path(output)
    if os.path.lexists(path):
        dangling = " (a link to a missing file)" if not path.exists() else ""
        raise UsageError(f"{output}: already exists{dangling}; choose another --output (nothing is overwritten)")
    if not path.parent.is_dir():
        missing = not path.parent.exists()
        reason = "no such directory; create it or" if missing else "is not a directory;"
        raise UsageError(f"{path.parent}: {reason} choose another --output")
    table_format(output)  # an unknown extension is refused before the model loads


def check_classify_options(texts: list[str], options: dict[str, Any]) -> None:
    if options["input_file"] is not None and texts:
        raise UsageError("give texts as arguments or with --input, not both")
    if options["output"] is not None and options["input_file"] is None:
        raise UsageError("--output writes the rows of an --input file; give one, or leave --output out")
    if options["output_format"] is not None and options["output"] != STDOUT:
        raise UsageError("--format is for --output - (stdout); a file's extension says its format")
    if options["id_column"] is not None and options["input_file"] is None:
        raise UsageError("--id-column names a column of the --input file")
    if options["input_file"] is None:  # texts as arguments: no file to check, and pyarrow (0.2 s) stays unimported
        return
    from nlp_lstm.data.tables import check_input_file, table_format  # noqa: I001 - lazy: pyarrow stays out of --help

    if options["input_file"] is not None:
        check_input_file(Path(options["input_file"]))
        table_format(options["input_file"])
    if options["output"] not in (None, STDOUT):
        check_output_path(options["output"])


@app.command()
@user_errors
def classify(
    texts: Annotated[
        Optional[list[str]],
        typer.Argument(help="Texts to classify; '-' reads one text per line from stdin.", metavar="TEXT"),
    ] = None,
    model: ModelOption = None,
    input_file: InputFileOption = None,
    output: OutputFileOption = None,
    output_format: Annotated[Optional[TableFormat], typer.Option("--format", help="The format of --output -.")] = None,
    text_column: FileTextColumnOption = "text",
    id_column: Annotated[Optional[str], typer.Option(help="With --input and --json: add this column's value as id.")] = None,
    json_output: Annotated[bool, flag("--json", "Print JSON Lines: index, label, probabilities.")] = False,
    batch_size: Annotated[int, typer.Option(help="Texts per batch.")] = 64,
    device: DeviceOption = "auto",
    threads: ThreadsOption = INFERENCE_THREADS,
    runtime: RuntimeOption = Runtime.torch,
) -> None:
    """Classify texts (sentiment by default): a label and the probability of each class.

    Blank texts are skipped and counted, and every result keeps its text's position as its index.

    Only blank texts are no texts, as none are: exit code 2.

    Example: nlp-lstm classify "a gorgeous, heartfelt film" "a tedious mess" --json
    """
    options = {name: plain(value) for name, value in locals().items()}
    texts = list(texts or [])
    check_classify_options(texts, options)
    if input_file is None:
        texts = given_texts(texts)
        check_some_text(texts)
    if batch_size < 1:
        raise UsageError(f"--batch-size must be a positive integer, got {batch_size}")
    if runtime == Runtime.onnx:
        classify_onnx(texts, options, prediction_row, print_predictions)
        return
    bound_kernel_cache()  # before torch is imported: texts of every length make kernels of every shape
    saved = load_for(model, tasks.CLASSIFIER, device, threads)
    if input_file is not None:
        classify_input_file(saved, options)
        return
    # A blank text has neither a label nor a score, and no row.
    predictions = [p for p in nlp_lstm.classify(saved, texts, batch_size) if p.label is not None or p.score is not None]
    report_skipped(len(texts) - len(predictions))
    if json_output:
        for prediction in predictions:
            typer.echo(prediction_row(prediction))
        return
    print_predictions(predictions, [texts[p.index] for p in predictions], saved.labels)
