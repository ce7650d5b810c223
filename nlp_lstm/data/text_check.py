"""Bytes that must be UTF-8 text, checked as they are read: stdin and every text format of an input file.

One check for every way texts come in, so that what is not text is refused in one line at the first
block that shows it, instead of being classified as if it were text. A NUL byte never occurs in
text: it marks binary data, or UTF-16, where every ASCII letter carries one (without a byte-order
mark, UTF-16 would otherwise pass as UTF-8).
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import IO

from nlp_lstm.errors import DataError


class TextCheck:
    """Decodes pieces of one stream in turn, raising at the first NUL byte or byte that is not UTF-8."""

    def __init__(self, name: str):
        self.name = name  # what the bytes are, for the message: "stdin", or a file's path
        self.offset = 0  # bytes checked so far
        self.decoder = codecs.getincrementaldecoder("utf-8")()

    def __call__(self, data: bytes, final: bool = False) -> str:
        """``data`` as text (a character cut at the end of a piece is completed by the next); ``final`` at the end."""
        nul = data.find(b"\0")
        if nul >= 0:
            raise DataError(
                f"{self.name}: holds NUL bytes (the first at byte {self.offset + nul:,}), so it is not text: binary data, "
                "or UTF-16 (convert that with iconv -f utf-16 -t utf-8)"
            )
        pending = len(self.decoder.getstate()[0])  # bytes of a character the previous piece cut
        try:
            text = self.decoder.decode(data, final)
        except UnicodeDecodeError as error:
            where = self.offset - pending + error.start
            raise DataError(
                f"{self.name}: is not UTF-8 text (byte {where:,}); convert it with iconv -f ITS-ENCODING -t utf-8"
            ) from None
        self.offset += len(data)
        return text


class CheckedReader:
    """A binary file whose bytes pass a :class:`TextCheck` as they are read, whoever reads them (pyarrow, json)."""

    def __init__(self, handle: IO[bytes], name: str):
        self.handle = handle
        self.check = TextCheck(name)

    @property
    def closed(self) -> bool:
        return self.handle.closed

    def read(self, size: int = -1) -> bytes:
        data = self.handle.read(size)
        self.check(data, final=not data or size < 0)
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self.handle.readline(size)
        self.check(data, final=not data)
        return data

    def tell(self) -> int:
        return self.handle.tell()

    def close(self) -> None:
        self.handle.close()


READ_CHUNK = 2**20


def read_text_file(path: Path, what: str, limit: int) -> str:
    """A whole file of at most ``limit`` bytes as text, checked as it is read: text or one line saying why not."""
    from nlp_lstm.files import UnreadableFile, check_regular_file

    try:
        check_regular_file(path, what, limit)
        check, pieces = TextCheck(str(path)), []
        with open(path, "rb") as handle:
            while chunk := handle.read(READ_CHUNK):
                pieces.append(check(chunk))
        pieces.append(check(b"", final=True))  # a character cut at the very end is not text either
    except UnreadableFile as error:
        raise DataError(str(error)) from None
    except OSError as error:
        raise DataError(f"{path}: cannot read {what} ({error.strerror})") from None
    return "".join(pieces)
