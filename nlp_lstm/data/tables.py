"""Tables read and written a chunk of rows at a time, so a file of any size costs the memory of one chunk.

Formats by extension: ``.csv``, ``.tsv``, ``.jsonl``, ``.json`` (an array of objects), ``.parquet``,
and ``.txt`` (one text per line, as a column ``text``). CSV and TSV cells are read as text, so a
table written back holds exactly what was read; JSON Lines and Parquet keep their types. ``.json``
is one array, so it is read whole: use JSON Lines for files larger than memory.

Every chunk is a ``pyarrow.Table``; a reader's ``share_of_rows`` says what share of the file's rows a count
of them is: of the rows the file holds where that is known (Parquet, ``.json``), else of the rows its bytes
hold at the rate of the rows read so far.

What cannot be read is refused in one line, never read as something else: bytes that are not UTF-8
text in a text format (the check stdin has too), a row longer than ``LONGEST_ROW``, two columns of
one name. A table written to a file appears at its path only once it is complete (see
``TableWriter``).
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from nlp_lstm.data.text_check import CheckedReader
from nlp_lstm.errors import DataError, UsageError
from nlp_lstm.files import UnreadableFile, check_regular_file, fsync_directory, json_error_reason, stale_temporaries, temporary

FORMATS = ("csv", "tsv", "jsonl", "json", "parquet", "txt")
CHUNK_ROWS = 10_000
STDOUT = "-"
# The most one row may hold (a line of .txt or .jsonl, a row of .csv): a book is a few MB, so a
# longer row is a file that is not one text per row, refused before it fills memory. (The last row
# of a CSV file may be up to twice as long: pyarrow parses the end of a file whole.)
LONGEST_ROW = 64 * 2**20
# pyarrow parses a CSV a block at a time, and a row must fit in one block: it starts small, so the
# first rows come at once, and grows (up to LONGEST_ROW) when a longer row comes.
FIRST_BLOCK = 2**20
BLOCK_GROWTH = 8
# What a parser raises on a file that is not what its extension says (UnicodeDecodeError, JSON and
# giant-integer errors are ValueErrors; nesting deeper than Python recurses is a RecursionError).
READ_ERRORS = (
    pa.ArrowInvalid,
    pa.ArrowTypeError,
    pa.ArrowNotImplementedError,
    ValueError,
    RecursionError,
    OverflowError,
    csv.Error,
)


def table_format(path: str, given: str | None = None) -> str:
    """The format of ``path`` by its extension (``.text`` is ``.txt``), or ``given`` (for ``-``)."""
    if given is not None:
        if given not in FORMATS:
            raise UsageError(f"--format {given!r} is not a format; choose one of {', '.join(FORMATS)}")
        return given
    suffix = Path(path).suffix.lower().lstrip(".")
    suffix = {"text": "txt"}.get(suffix, suffix)
    if suffix not in FORMATS:
        raise UsageError(f"{path}: unknown kind of file; use one of .{', .'.join(FORMATS)} (or --format with -)")
    return suffix


def check_input_file(path: Path) -> int:
    """Refuse what is not a regular file (a FIFO would block, a device never end) at once; return its size."""
    try:
        return check_regular_file(path, "input file")
    except UnreadableFile as error:
        raise DataError(str(error)) from None


def mebibytes(size: int) -> str:
    return f"{size / 2**20:g} MiB"


def bounded_lines(handle: Any, path: Path) -> Iterator[bytes]:
    """The lines of ``handle``, each refused if longer than ``LONGEST_ROW`` before more of it is read."""
    number = 0
    while line := handle.readline(LONGEST_ROW + 1):
        number += 1
        if len(line) > LONGEST_ROW and not line.endswith(b"\n"):
            raise DataError(
                f"{path}: line {number:,} is longer than {mebibytes(LONGEST_ROW)}, the most one row may hold; "
                "give one text per row"
            )
        yield line


def json_row(line: bytes, path: Path, number: int) -> dict[str, Any]:
    """Line ``number`` of a JSON Lines file as its object; anything else is refused with the line's number."""
    try:
        row = json.loads(line)
    except (ValueError, RecursionError) as error:  # bad JSON, a giant integer, or nesting deeper than Python recurses
        raise DataError(
            f"{path}:{number}: not valid JSON ({json_error_reason(error)}); each line must be one JSON object"
        ) from None
    if not isinstance(row, dict):
        raise DataError(f"{path}:{number}: a JSON Lines row must be an object")
    return row


def first_line(error: BaseException) -> str:
    return (str(error).splitlines() or [type(error).__name__])[0]


def check_column_names(table: pa.Table, path: Path) -> None:
    """Two columns of one name are refused: a row could keep only one of them, and --text-column could not choose."""
    names = table.column_names
    for name in names:
        if names.count(name) > 1:
            raise DataError(f"{path}: {names.count(name)} columns are named {name!r}; give each column a name of its own")


class TableReader:
    """The chunks of a file as ``pyarrow.Table``s of at most ``rows`` rows; ``share_of_rows`` says how far a count is."""

    def __init__(self, path: Path, fmt: str, rows: int = CHUNK_ROWS):
        self.path, self.format, self.rows = path, fmt, rows
        self.size = check_input_file(path)
        self.rows_read = 0
        self.bytes_of_rows = 0.0  # the bytes the rows read so far were parsed from
        self.total_rows: int | None = None  # where the file says (Parquet) or was parsed whole (.json)
        self.handle: Any = self._open()

    def _open(self) -> Any:
        """The file from its start; the bytes of a text format are checked to be text as they are read."""
        handle = open(self.path, "rb")  # noqa: SIM115 - closed by close(), after the last chunk
        return handle if self.format == "parquet" else CheckedReader(handle, str(self.path))

    def share_of_rows(self, done: int) -> float:
        """The share of the file's rows that ``done`` of them are.

        A reader reads ahead of the rows its caller has finished (a CSV block may hold the whole file), so
        the share of the bytes read would say 100% at the first chunk: the total is instead the rows the
        file holds, or, for a text format, the rows read so far scaled by the bytes they came from.
        """
        total = self.total_rows
        if total is None and self.bytes_of_rows > 0:
            total = round(self.rows_read * self.size / min(self.size, self.bytes_of_rows))
        return min(1.0, done / total) if total else 0.0

    def close(self) -> None:
        self.handle.close()

    def __iter__(self) -> Iterator[pa.Table]:
        readers: dict[str, Callable[[], Iterator[pa.Table]]] = {
            "csv": self._delimited,
            "tsv": self._delimited,
            "jsonl": self._json_lines,
            "json": self._json_array,
            "parquet": self._parquet,
            "txt": self._lines,
        }
        try:
            if self.size == 0:  # an empty file has no rows, whatever its format
                return
            for table in readers[self.format]():
                check_column_names(table, self.path)
                self.rows_read += table.num_rows
                yield table
        except READ_ERRORS as error:
            where = f" after row {self.rows_read:,}" if self.rows_read else ""
            raise DataError(f"{self.path}: cannot be read as {self.format}{where} ({first_line(error)})") from None
        finally:
            self.close()

    def _delimited(self) -> Iterator[pa.Table]:
        """The rows of a CSV or TSV file, read again with larger blocks (its read rows skipped) when a row is longer."""
        block, done = min(FIRST_BLOCK, LONGEST_ROW), 0
        while True:
            try:
                for table in self._delimited_from(block, done):
                    done += table.num_rows
                    yield table
                return
            except pa.ArrowInvalid as error:
                if "straddl" not in str(error):  # pyarrow's "straddling object": a row longer than the block
                    raise
                if block >= LONGEST_ROW:
                    raise DataError(
                        f"{self.path}: a row after row {done:,} is longer than {mebibytes(LONGEST_ROW)}, "
                        "the most one row may hold; give one text per row"
                    ) from None
                block = min(LONGEST_ROW, block * BLOCK_GROWTH)
                self.handle.close()
                self.handle = self._open()

    def _delimited_from(self, block: int, skip: int) -> Iterator[pa.Table]:
        import pyarrow.csv as pacsv

        delimiter = "\t" if self.format == "tsv" else ","
        reader = pacsv.open_csv(
            self.handle,
            read_options=pacsv.ReadOptions(block_size=block),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in self._header(delimiter)}, strings_can_be_null=False
            ),
        )
        parsed = 0  # bytes behind the batches so far: one block each, but pyarrow reads ahead, so never past the last
        for batch in reader:
            batch_bytes = min(block, self.handle.tell() - parsed)
            parsed += batch_bytes
            if skip >= batch.num_rows:
                skip -= batch.num_rows
                continue
            row_bytes = batch_bytes / max(1, batch.num_rows)
            batch, skip = batch.slice(skip), 0
            for start in range(0, batch.num_rows, self.rows):
                piece = batch.slice(start, self.rows)
                self.bytes_of_rows += piece.num_rows * row_bytes
                yield pa.Table.from_batches([piece])

    def _header(self, delimiter: str) -> list[str]:
        """The column names, so that every column is read as text: cells are texts, written back as they were."""
        with open(self.path, "rb") as raw:
            lines = (line.decode("utf-8") for line in bounded_lines(CheckedReader(raw, str(self.path)), self.path))
            header = next(csv.reader(lines, delimiter=delimiter), None)
        if not header:
            raise DataError(f"{self.path}: no header row; the first line names the columns")
        header[0] = header[0].removeprefix("\ufeff")  # pyarrow drops a UTF-8 byte-order mark: so must the names
        return header

    def _json_lines(self) -> Iterator[pa.Table]:
        rows: list[dict[str, Any]] = []
        for number, line in enumerate(bounded_lines(self.handle, self.path), 1):
            if not line.strip():
                continue
            rows.append(json_row(line, self.path, number))
            if len(rows) == self.rows:
                self.bytes_of_rows = self.handle.tell()
                yield pa.Table.from_pylist(rows)
                rows = []
        if rows:
            self.bytes_of_rows = self.handle.tell()
            yield pa.Table.from_pylist(rows)

    def _json_array(self) -> Iterator[pa.Table]:
        data = json.load(self.handle)
        if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
            raise DataError(f"{self.path}: a .json file must hold an array of objects (or use .jsonl)")
        self.total_rows = len(data)
        for start in range(0, len(data), self.rows):
            yield pa.Table.from_pylist(data[start : start + self.rows])

    def _parquet(self) -> Iterator[pa.Table]:
        import pyarrow.parquet as pq

        parquet = pq.ParquetFile(self.handle)
        self.total_rows = parquet.metadata.num_rows
        for batch in parquet.iter_batches(batch_size=self.rows):
            yield pa.Table.from_batches([batch])

    def _lines(self) -> Iterator[pa.Table]:
        lines: list[str] = []
        for raw in bounded_lines(self.handle, self.path):
            lines.append(raw.decode("utf-8").rstrip("\r\n"))
            if len(lines) == self.rows:
                self.bytes_of_rows = self.handle.tell()
                yield pa.table({"text": lines})
                lines = []
        if lines:
            self.bytes_of_rows = self.handle.tell()
            yield pa.table({"text": lines})


def remove_stale_partials(target: Path) -> None:
    """Remove what killed writers of ``target`` left beside it: a file of ours, by its name, whose process has ended."""
    for role, leftover in stale_temporaries(target):
        if role == "partial" and leftover.is_file() and not leftover.is_symlink():
            leftover.unlink()


class TableWriter:
    """Writes chunks to ``path`` (``-``: stdout) as they come; the first chunk fixes the columns.

    A file is written beside ``path`` (``.NAME.partial-PID``) and put at ``path`` by :meth:`close`
    only when complete, so ``path`` never holds a table that looks complete and is not: a failed
    run (:meth:`abandon`) or a killed one leaves nothing there, and nothing there is overwritten.
    """

    def __init__(self, path: str, fmt: str):
        if fmt == "txt":
            raise UsageError("a .txt output would lose the labels; write .csv, .tsv, .jsonl, .json or .parquet")
        self.path, self.format = path, fmt
        self.schema: pa.Schema | None = None
        self.writer: Any = None
        self.rows = 0
        self.partial: Path | None = None  # where a file is written until it is complete
        if path == STDOUT:
            self.handle: IO[bytes] = sys.stdout.buffer
        else:
            remove_stale_partials(Path(path))
            self.partial = temporary(Path(path), "partial")
            try:
                self.handle = open(self.partial, "xb")  # noqa: SIM115 - closed by close() or abandon()
            except OSError as error:  # named by the path the user gave, not by our temporary
                raise OSError(error.errno, error.strerror, path) from None

    def write(self, table: pa.Table) -> None:
        if self.schema is None:
            self.schema = table.schema
            self._open()
        elif table.schema != self.schema:
            try:
                table = table.cast(self.schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, ValueError) as error:
                raise DataError(
                    f"the rows change type from chunk to chunk ({error}); convert the file to csv or parquet"
                ) from None
        if self.format in ("jsonl", "json"):
            self._write_json(table)
        elif table.num_rows:
            self.writer.write_table(table)
        self.handle.flush()
        self.rows += table.num_rows

    def _open(self) -> None:
        if self.format in ("csv", "tsv"):
            import pyarrow.csv as pacsv

            options = pacsv.WriteOptions(delimiter="\t" if self.format == "tsv" else ",")
            self.writer = pacsv.CSVWriter(self.handle, self.schema, write_options=options)
        elif self.format == "parquet":
            import pyarrow.parquet as pq

            self.writer = pq.ParquetWriter(self.handle, self.schema)
        elif self.format == "json":
            self.handle.write(b"[")

    def _write_json(self, table: pa.Table) -> None:
        for number, row in enumerate(table.to_pylist(), self.rows):
            line = json.dumps(row, ensure_ascii=False, allow_nan=False, default=str)
            if self.format == "json":  # one array: a comma before every row but the first
                line = ("\n" if number == 0 else ",\n") + line
            else:
                line += "\n"
            self.handle.write(line.encode("utf-8"))

    def close(self) -> None:
        """Finish the file (a Parquet footer, the JSON array's end) and put it in place; with no rows it still has its columns."""
        if self.schema is None:
            self.schema = pa.schema([])
            self._open()
        if self.writer is not None:
            self.writer.close()
        if self.format == "json":
            self.handle.write(b"\n]\n")
        self.handle.flush()
        if self.partial is not None:
            os.fsync(self.handle.fileno())
            self.handle.close()
            self._publish(self.partial, Path(self.path))

    def _publish(self, partial: Path, target: Path) -> None:
        """Put the complete file at ``target``, unless something appeared there meanwhile: that is never overwritten."""
        try:
            os.link(partial, target)  # unlike a rename, fails if anything is at target (a dangling link included)
        except FileExistsError:
            self._refuse_appeared(target)
        except OSError:  # a file system without hard links: a rename, if nothing is there
            if os.path.lexists(target):
                self._refuse_appeared(target)
            os.rename(partial, target)
        else:
            partial.unlink()
        self.partial = None
        fsync_directory(target.parent)

    def _refuse_appeared(self, target: Path) -> None:
        self.abandon()
        raise UsageError(f"{target}: appeared while the rows were written; nothing is overwritten, choose another --output")

    def abandon(self) -> None:
        """Stop after a failure: the rows written so far are removed, nothing is put at ``path`` (on stdout they stay)."""
        if self.partial is None:
            return
        with contextlib.suppress(Exception):  # the failure may be the disk's; it is the one to report
            if self.writer is not None:
                self.writer.close()  # else pyarrow closes it when collected, writing to a closed file
        with contextlib.suppress(OSError):
            self.handle.close()
        with contextlib.suppress(FileNotFoundError):
            self.partial.unlink()
        self.partial = None
