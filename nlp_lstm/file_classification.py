"""Classify a file of any size: read a chunk of rows, classify its texts in length buckets, write the chunk, repeat.

Memory is bounded by a chunk, not by the file, and the first rows are written as soon as the
first (small) chunk is classified. The output keeps every input column, in order, and adds the predicted
label and one probability column per class (``label``, ``p_NAME``; prefixed with ``predicted_``
where the input already has a column of that name).

One input policy for every source (arguments, stdin, ``.txt`` and tables): a blank or missing
text is skipped and counted, and every row keeps its position in the input as its ``index``,
so indexes match line and row numbers.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from nlp_lstm.checkpoint import ModelBundle
from nlp_lstm.data.tables import STDOUT, TableReader, TableWriter, table_format
from nlp_lstm.errors import DataError, NlpLstmError, UsageError
from nlp_lstm.prediction import Prediction, classify

FileProgress = Callable[[int, float], None]  # rows classified so far, their share of the file's rows


def classify_kept(saved: ModelBundle, texts: list[Any], batch_size: int = 64, first_index: int = 0) -> list[Prediction]:
    """Predictions of the texts that are not blank, each with its position among ``texts`` (plus ``first_index``).

    ``classify`` gives a blank text no label; a file's output leaves its row out (and the caller counts it).
    """
    kept = [prediction for prediction in classify(saved, texts, batch_size) if prediction.label is not None]
    for prediction in kept:
        prediction.index += first_index
    return kept


# The first chunks are small, so the first rows are written within seconds; later ones hold 32
# batches of 64, enough for length buckets to keep padding low, and few enough that a chunk's
# memory is small beside the model's (measured: benchmarks/file_classification.py).
FIRST_CHUNK_ROWS = 256
CHUNK_ROWS = 2_048


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the system (glibc only).

    Each chunk frees what it allocated, but glibc keeps the freed, fragmented pages of tensors and
    strings of varying sizes, so without this the resident memory creeps up over millions of rows.
    """
    if LIBC is not None:
        LIBC.malloc_trim(0)


def _libc() -> Any:
    try:
        return ctypes.CDLL("libc.so.6")  # glibc; elsewhere there is nothing to trim
    except OSError:
        return None


LIBC = _libc()


def growing(tables: Iterable[pa.Table], first: int, largest: int) -> Iterator[pa.Table]:
    """The rows of ``tables`` again, in pieces of ``first`` rows, then twice as many each time, up to ``largest``."""
    size = first
    for table in tables:
        start = 0
        while start < table.num_rows:
            piece = table.slice(start, size)
            start += piece.num_rows
            yield piece
            size = min(largest, size * 2)


@dataclass
class ClassifiedChunk:
    table: pa.Table  # the chunk's rows
    start: int  # the position of its first row in the file
    predictions: list[Prediction]  # of its rows with a text; index = the row's position in the file


def is_text_type(kind: pa.DataType) -> bool:
    """Whether a column of this type holds texts (or nothing yet: a column of nulls only)."""
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    # string_view by name: pyarrow has it from version 16, and we take 12 on
    return pa.types.is_string(kind) or pa.types.is_large_string(kind) or str(kind) == "string_view" or pa.types.is_null(kind)


def texts_of(table: pa.Table, column: str, path: Path) -> list[Any]:
    """The values of the text column; a missing column, or one that does not hold text, is refused naming the others."""
    text_columns = [field.name for field in table.schema if is_text_type(field.type)]
    choices = f"choose --text-column from: {', '.join(text_columns)}" if text_columns else "no column of this file holds text"
    if column not in table.column_names:
        raise DataError(f"column {column!r} not found; {choices}")
    kind = table.schema.field(column).type
    if not is_text_type(kind):  # numbers would otherwise pass as blank texts, and be skipped without a word
        raise DataError(f"{path}: column {column!r} holds {kind}, not text; {choices}")
    return table.column(column).to_pylist()


def classified_chunks(
    saved: ModelBundle, path: Path, text_column: str = "text", batch_size: int = 64, progress: FileProgress | None = None
) -> Iterator[ClassifiedChunk]:
    """The chunks of ``path`` with the predictions of their rows; a file of no rows, or of blank texts only, has no texts,
    as no arguments have none."""
    reader = TableReader(path, table_format(str(path)), CHUNK_ROWS)
    start = classified = 0
    try:
        for table in growing(reader, min(FIRST_CHUNK_ROWS, CHUNK_ROWS), CHUNK_ROWS):
            texts = texts_of(table, text_column, path)
            chunk = ClassifiedChunk(table, start, classify_kept(saved, texts, batch_size, start))
            classified += len(chunk.predictions)
            yield chunk
            release_free_memory()
            start += table.num_rows
            if progress is not None:
                progress(start, reader.share_of_rows(start))
    finally:
        reader.close()
    if start == 0:
        raise UsageError(f"{path}: no texts to classify (the file has no rows)")
    if classified == 0:  # as classify "" is: blank texts only are no texts
        raise UsageError(f"{path}: no texts to classify (its {start:,} row{'s are' if start != 1 else ' is'} blank)")


def added_names(columns: list[str], labels: list[str]) -> list[str]:
    """The names of the label and probability columns, none of them one the input has."""
    names: list[str] = []
    for name in ["label", *(f"p_{label}" for label in labels)]:
        while name in columns or name in names:
            name = f"predicted_{name}"
        names.append(name)
    return names


def with_predictions(chunk: ClassifiedChunk, labels: list[str]) -> pa.Table:
    """The chunk's rows that have a text, each with its label and class probabilities."""
    table = chunk.table.take(pa.array([p.index - chunk.start for p in chunk.predictions], pa.int64()))
    names = added_names(chunk.table.column_names, labels)
    table = table.append_column(names[0], pa.array([p.label for p in chunk.predictions], pa.string()))
    for name, label in zip(names[1:], labels):
        table = table.append_column(name, pa.array([p.probabilities[label] for p in chunk.predictions], pa.float64()))
    return table


@dataclass
class FileSummary:
    rows: int
    classified: int
    skipped: int


def stopped(error: NlpLstmError, rows: int, output: str) -> None:
    """Say in ``error``'s one line how many rows a failed run had written, and that a file output was not made."""
    counted = f"{rows:,} row{'s' * (rows != 1)}"
    if output == STDOUT:
        error.args = (f"{error}; {counted} {'was' if rows == 1 else 'were'} written to stdout before it",)
    else:
        error.args = (f"{error}; nothing is written to {output} ({counted} had been classified)",)


def classify_file(
    saved: ModelBundle,
    path: Path,
    output: str,
    text_column: str = "text",
    batch_size: int = 64,
    output_format: str | None = None,
    progress: FileProgress | None = None,
) -> FileSummary:
    """Classify every row of ``path`` into ``output`` (``-``: stdout, in ``output_format``), chunk by chunk.

    ``output`` appears only when every row is written (see ``TableWriter``): a wrong column, an
    unreadable row, an interruption or a kill leave no file there, and the error says how far it got.
    """
    labels = saved.labels or [str(i) for i in range(saved.config.num_classes)]
    fmt = table_format(output, output_format)
    writer: TableWriter | None = None
    rows = classified = 0
    try:
        for chunk in classified_chunks(saved, Path(path), text_column, batch_size, progress):
            writer = writer or TableWriter(output, fmt)
            writer.write(with_predictions(chunk, labels))
            rows += chunk.table.num_rows
            classified += len(chunk.predictions)
        if writer is not None:
            writer.close()
    except BaseException as error:
        if writer is not None:
            writer.abandon()
            if isinstance(error, NlpLstmError):
                stopped(error, writer.rows, output)
        raise
    return FileSummary(rows, classified, rows - classified)
