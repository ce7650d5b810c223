"""Tables read and written a chunk of rows at a time, so a file of any size costs the memory of one chunk.

Formats by extension: ``.csv``, ``.tsv``, ``.jsonl``, ``.json`` (an array of objects), ``.parquet``,
and ``.txt`` (one text per line, as a column ``text``). CSV and TSV cells are read as text, so a
table written back holds exactly what was read; JSON Lines and Parquet keep their types. ``.json``
is one array, so it is read whole: use JSON Lines for files larger than memory.

Every chunk is a ``pyarrow.Table``; ``progress`` of a reader is the fraction of the file read so far.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from nlp_lstm.errors import DataError, UsageError
from nlp_lstm.files import UnreadableFile, check_regular_file

FORMATS = ("csv", "tsv", "jsonl", "json", "parquet", "txt")
CHUNK_ROWS = 10_000
STDOUT = "-"


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


class TableReader:
    """The chunks of a file as ``pyarrow.Table``s of at most ``rows`` rows; ``progress`` says how far it is."""

    def __init__(self, path: Path, fmt: str, rows: int = CHUNK_ROWS):
        self.path, self.format, self.rows = path, fmt, rows
        self.size = max(1, check_input_file(path))
        self.handle: IO[Any] = open(path, "rb")  # noqa: SIM115 - closed by close(), after the last chunk

    @property
    def progress(self) -> float:
        if self.handle.closed:
            return 1.0
        return min(1.0, self.handle.tell() / self.size)

    def close(self) -> None:
        self.handle.close()

    def __iter__(self) -> Iterator[pa.Table]:
        try:
            yield from {
                "csv": self._delimited,
                "tsv": self._delimited,
                "jsonl": self._json_lines,
                "json": self._json_array,
                "parquet": self._parquet,
                "txt": self._lines,
            }[self.format]()
        except (pa.ArrowInvalid, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise DataError(f"{self.path}: cannot be read as {self.format} ({str(error).splitlines()[0]})") from None
        finally:
            self.close()

    def _delimited(self) -> Iterator[pa.Table]:
        import pyarrow.csv as pacsv

        delimiter = "\t" if self.format == "tsv" else ","
        with open(self.path, encoding="utf-8", newline="") as text:
            header = next(csv.reader(text, delimiter=delimiter), None)
        if not header:
            raise DataError(f"{self.path}: no header row; the first line names the columns")
        reader = pacsv.open_csv(
            self.handle,
            read_options=pacsv.ReadOptions(block_size=1 << 20),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(column_types={name: pa.string() for name in header}, strings_can_be_null=False),
        )
        for batch in reader:
            for start in range(0, batch.num_rows, self.rows):
                yield pa.Table.from_batches([batch.slice(start, self.rows)])

    def _json_lines(self) -> Iterator[pa.Table]:
        rows: list[dict[str, Any]] = []
        for number, line in enumerate(self.handle, 1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row, dict):
                raise DataError(f"{self.path}:{number}: a JSON Lines row must be an object")
            rows.append(row)
            if len(rows) == self.rows:
                yield pa.Table.from_pylist(rows)
                rows = []
        if rows:
            yield pa.Table.from_pylist(rows)

    def _json_array(self) -> Iterator[pa.Table]:
        data = json.load(self.handle)
        if not isinstance(data, list) or not all(isinstance(row, dict) for row in data):
            raise DataError(f"{self.path}: a .json file must hold an array of objects (or use .jsonl)")
        for start in range(0, len(data), self.rows):
            yield pa.Table.from_pylist(data[start : start + self.rows])

    def _parquet(self) -> Iterator[pa.Table]:
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(self.handle).iter_batches(batch_size=self.rows):
            yield pa.Table.from_batches([batch])

    def _lines(self) -> Iterator[pa.Table]:
        lines: list[str] = []
        for raw in self.handle:
            lines.append(raw.decode("utf-8").rstrip("\r\n"))
            if len(lines) == self.rows:
                yield pa.table({"text": lines})
                lines = []
        if lines:
            yield pa.table({"text": lines})


class TableWriter:
    """Writes chunks to ``path`` (``-``: stdout) as they come; the first chunk fixes the columns."""

    def __init__(self, path: str, fmt: str):
        if fmt == "txt":
            raise UsageError("a .txt output would lose the labels; write .csv, .tsv, .jsonl, .json or .parquet")
        self.path, self.format = path, fmt
        self.schema: pa.Schema | None = None
        self.writer: Any = None
        self.rows = 0
        if path == STDOUT:
            self.handle: IO[bytes] = sys.stdout.buffer
        else:
            self.handle = open(path, "xb")  # noqa: SIM115 - "x": never over a file that appeared meanwhile

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
        """Finish the file (a Parquet footer, the JSON array's end); a file of no rows still gets its columns."""
        if self.schema is None:
            self.schema = pa.schema([])
            self._open()
        if self.writer is not None:
            self.writer.close()
        if self.format == "json":
            self.handle.write(b"\n]\n")
        self.handle.flush()
        if self.handle is not sys.stdout.buffer:
            self.handle.close()
