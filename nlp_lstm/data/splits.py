"""What a split holds, and how we split data that has no held-out splits of its own; label names.

A dataset's own ``validation``/``test`` splits are used when it has them. Otherwise we split
deterministically: texts by rows with the seed when there are at least ``MIN_ROWS_TO_SPLIT_BY_ROW``
rows, else by position in the concatenated text (90% / 5% / 5%), so a single long text file still
yields held-out text; labelled rows 80/10/10, stratified by label. What we split ourselves is "our
held-out split", never an official test set.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from nlp_lstm.errors import DataError, UsageError

SPLIT_NAMES = ("train", "validation", "test")
ALL_ROWS = "all"  # --split all: every row, the three splits in turn (for a file that is all test data)
VALIDATION_ALIASES = ("validation", "valid", "dev", "val")
MIN_ROWS_TO_SPLIT_BY_ROW = 20
HELD_OUT_FRACTION = 0.05  # each of validation and test, when we split texts ourselves
LABELLED_HELD_OUT_FRACTION = 0.1  # each of validation and test, per label, when we split labelled rows


class ColumnTexts:
    """The texts of one column of an Arrow-backed ``datasets.Dataset``, read a batch of rows at a time.

    Local files and Hub datasets live in memory-mapped Arrow files in the ``datasets``
    cache, so iterating over a corpus larger than RAM holds one batch of rows at a time.
    Rows that are not non-empty strings (nulls, blanks) are skipped.
    """

    BATCH_ROWS = 1_000

    def __init__(self, dataset: Any, column: str, keep_empty: bool = False):
        if column not in dataset.column_names:
            raise DataError(f"column {column!r} not found; choose --text-column from: {', '.join(dataset.column_names)}")
        self.dataset = dataset.select_columns([column])
        self.column = column
        self.keep_empty = keep_empty  # lines of a text file: a blank line is part of the text

    @property
    def rows(self) -> int:
        """Rows of the dataset, skipped ones included."""
        return len(self.dataset)

    def select(self, indices: Any) -> ColumnTexts:
        return ColumnTexts(self.dataset.select(indices), self.column, self.keep_empty)

    def __iter__(self) -> Iterator[str]:
        for batch in self.dataset.iter(batch_size=self.BATCH_ROWS):
            yield from (t for t in batch[self.column] if isinstance(t, str) and (t or self.keep_empty))


class JoinedTexts:
    """Several splits read one after the other (``--split all``); can be read more than once."""

    def __init__(self, parts: list[Iterable[str]]):
        self.parts = parts

    def __iter__(self) -> Iterator[str]:
        for part in self.parts:
            yield from part


Texts = Union[list[str], ColumnTexts, JoinedTexts]  # what a split holds: a list in memory, or rows read from Arrow as needed


class UnknownSplit(DataError, UsageError):
    """A split name that no dataset has: a usage error (exit code 2), as other bad option values are."""


def check_split(split: str) -> None:
    if split not in (*SPLIT_NAMES, ALL_ROWS):
        raise UnknownSplit(f"--split {split!r} is not a split; choose one of {', '.join(SPLIT_NAMES)} or {ALL_ROWS}")


@dataclass
class TextSplits:
    """Texts of the train, validation and test splits, and where they came from."""

    train: Texts
    validation: Texts
    test: Texts
    source: str  # how the splits were made, for training.json and model cards

    def get(self, split: str) -> Texts:
        check_split(split)
        if split == ALL_ROWS:
            return JoinedTexts([self.train, self.validation, self.test])
        return getattr(self, split)


@dataclass
class Labelled:
    texts: list[str]
    labels: list[int]

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class LabelledSplits:
    """Texts and label ids of each split, the label names, and where they came from."""

    train: Labelled
    validation: Labelled
    test: Labelled
    label_names: list[str]
    source: str
    skipped: int = 0  # rows dropped because the text or the label was missing

    def get(self, split: str) -> Labelled:
        check_split(split)
        if split == ALL_ROWS:
            parts = (self.train, self.validation, self.test)
            return Labelled([t for p in parts for t in p.texts], [y for p in parts for y in p.labels])
        return getattr(self, split)


def split_rows(texts: ColumnTexts, seed: int) -> tuple[Texts, Texts, Texts]:
    """Train, validation and test: rows drawn with ``seed``, or, with few rows, cuts of their joined text."""
    if texts.rows >= MIN_ROWS_TO_SPLIT_BY_ROW:
        order = np.random.default_rng(seed).permutation(texts.rows)
        held = max(1, round(texts.rows * HELD_OUT_FRACTION))
        pick = lambda idx: texts.select(np.sort(idx))  # noqa: E731 - keep the original order inside a split
        return pick(order[2 * held :]), pick(order[:held]), pick(order[held : 2 * held])
    return split_joined(texts)


def split_lines(lines: ColumnTexts) -> tuple[Texts, Texts, Texts]:
    """Train, validation and test of one text read as lines: the first 90% of the lines, then 5% and 5%."""
    if lines.rows < MIN_ROWS_TO_SPLIT_BY_ROW:
        return split_joined(lines)
    cut_val, cut_test = _held_out_cuts(lines.rows)
    return lines.select(range(cut_val)), lines.select(range(cut_val, cut_test)), lines.select(range(cut_test, lines.rows))


def split_joined(texts: Texts) -> tuple[Texts, Texts, Texts]:
    """The texts joined by newlines, cut by position: the first 90% of the characters, then 5% and 5%."""
    joined = "\n".join(texts)
    cut_val, cut_test = _held_out_cuts(len(joined))
    return [joined[:cut_val]], [joined[cut_val:cut_test]], [joined[cut_test:]]


def _held_out_cuts(size: int) -> tuple[int, int]:
    """Where validation and test start when ``size`` lines or characters are split by position."""
    return int(size * (1 - 2 * HELD_OUT_FRACTION)), int(size * (1 - HELD_OUT_FRACTION))


def stratified_split(labels: list[int], fraction: float, seed: int) -> tuple[list[int], list[int], list[int]]:
    """Row indices of train, validation and test: ``fraction`` of each label to each held-out split."""
    rng = np.random.default_rng(seed)
    train, validation, test = [], [], []
    by_label: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_label.setdefault(label, []).append(index)
    for label in sorted(by_label):
        rows = [by_label[label][i] for i in rng.permutation(len(by_label[label]))]
        held = int(len(rows) * fraction) if len(rows) * fraction >= 1 else 0
        validation += rows[:held]
        test += rows[held : 2 * held]
        train += rows[2 * held :]
    return sorted(train), sorted(validation), sorted(test)


def too_few_per_class(spec: str, labels: list[int]) -> str:
    """Why ``stratified_split`` held nothing out: every class is smaller than the share it takes one row from."""
    counts = Counter(labels)
    needed = math.ceil(1 / LABELLED_HELD_OUT_FRACTION)
    return (
        f"{spec}: every class has fewer than the {needed} rows our stratified split needs to hold one out for validation "
        f"({len(counts):,} classes, the largest with {max(counts.values()):,} rows); "
        f"give each class at least {needed} rows, or merge the rare ones"
    )


def take(rows_of: Labelled, rows: list[int]) -> Labelled:
    return Labelled([rows_of.texts[i] for i in rows], [rows_of.labels[i] for i in rows])


def complete_splits(train: Labelled, own: dict[str, Labelled], seed: int) -> tuple[Labelled, Labelled, Labelled]:
    """Train, validation and test: a dataset's ``own`` held-out splits, the missing ones carved out of ``train``."""
    if "validation" in own and "test" in own:
        return train, own["validation"], own["test"]
    train_rows, validation_rows, test_rows = stratified_split(train.labels, LABELLED_HELD_OUT_FRACTION, seed)
    kept = train_rows + (validation_rows if "validation" in own else []) + (test_rows if "test" in own else [])
    return take(train, kept), own.get("validation") or take(train, validation_rows), own.get("test") or take(train, test_rows)


_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def clean_text(text: str) -> str:
    """HTML line breaks (IMDB's ``<br />``) become spaces; runs of spaces collapse."""
    return re.sub(r"  +", " ", _HTML_BREAK.sub(" ", text)).strip()


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value.strip())


def label_names(dataset: Any, label_column: str, values: list[Any]) -> list[str]:
    """The names of the classes: a ClassLabel's own, else the distinct values, sorted."""
    feature = dataset.features.get(label_column)
    if hasattr(feature, "names"):  # a datasets ClassLabel keeps its own names
        return list(feature.names)
    kinds = {type(v) for v in values}
    if kinds <= {int, bool}:
        return [str(v) for v in sorted(set(values))]
    if kinds <= {float} and all(float(v).is_integer() for v in values):
        return [str(int(v)) for v in sorted(set(values))]
    return sorted({str(v) for v in values})


def labelled_rows(dataset: Any, text_column: str, label_column: str) -> tuple[list[str], list[Any], int]:
    """Cleaned texts and raw labels of the rows that have both, and how many rows lacked one."""
    for column, option in ((text_column, "--text-column"), (label_column, "--label-column")):
        if column not in dataset.column_names:
            raise DataError(f"column {column!r} not found; choose {option} from: {', '.join(dataset.column_names)}")
    texts, labels, skipped = [], [], 0
    for text, label in zip(dataset[text_column], dataset[label_column]):
        if is_missing(text) or is_missing(label):
            skipped += 1
            continue
        texts.append(clean_text(str(text)))
        labels.append(label)
    return texts, labels, skipped


def label_ids(values: list[Any], names: list[str], split: str) -> list[int]:
    """Each raw label as the index of its name; a label training never saw is an error."""
    index = {name: i for i, name in enumerate(names)}
    ids = []
    for value in values:
        key = str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)
        if isinstance(value, int) and not isinstance(value, bool) and key not in index and 0 <= value < len(names):
            key = names[value]  # ClassLabel integers
        if key not in index:
            raise DataError(f"label {value!r} in the {split} split never occurs in training; known labels: {', '.join(names)}")
        ids.append(index[key])
    return ids
