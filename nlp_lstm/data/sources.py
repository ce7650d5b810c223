"""What a dataset spec names, read into splits. The only module of the package that imports ``datasets``.

A dataset spec is one of:

* a built-in corpus, ``builtin:NAME`` (see ``builtin``), readable with no network;
* a local file or glob (``.txt``, ``.csv``, ``.tsv``, ``.json``, ``.jsonl``, ``.parquet``);
* anything else is a Hugging Face Hub dataset name (with an optional config): from the Hub, or from
  the local ``datasets`` cache when the Hub cannot be reached. A plain name never falls back to a
  built-in: the same command reads the same data on every machine, or fails saying which built-in
  holds similar data.

Local files and Hub datasets are not read into lists: a split is a ``ColumnTexts`` over the
memory-mapped Arrow file ``datasets`` keeps, read a batch of rows at a time, and its token ids go
to the memory-mapped token store, so a corpus larger than RAM can be trained on. Fewer text files
than ``MIN_ROWS_TO_SPLIT_BY_ROW`` are read line by line and split by position at line boundaries.
"""

from __future__ import annotations

import contextlib
import glob
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlp_lstm.data.builtin import HUB_TWINS, builtin_labelled, builtin_texts, is_builtin
from nlp_lstm.data.splits import (
    MIN_ROWS_TO_SPLIT_BY_ROW,
    VALIDATION_ALIASES,
    ColumnTexts,
    Labelled,
    LabelledSplits,
    Texts,
    TextSplits,
    complete_splits,
    is_missing,
    label_ids,
    label_names,
    labelled_rows,
    split_lines,
    split_rows,
    too_few_per_class,
)
from nlp_lstm.data.text_check import TextCheck
from nlp_lstm.errors import DataError
from nlp_lstm.files import UnreadableFile, check_regular_file

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


def local_files(spec: str) -> list[str] | None:
    """Files named by ``spec`` if it is a path or glob, else None (a Hub name)."""
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


def load_local(files: list[str], by_line: bool = False) -> Any:
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
        with _quiet_datasets():
            return _train_split(builder, files, options)
    except DataError:
        raise
    except UnicodeDecodeError as error:
        raise DataError(
            f"{', '.join(files[:3])}: not UTF-8 text ({error.reason}); convert it with iconv -f ITS-ENCODING -t utf-8"
        ) from None
    except Exception as error:  # datasets wraps parser errors in several exception types
        cause = error.__cause__ or error
        if isinstance(cause, UnicodeDecodeError):
            raise DataError(f"{', '.join(files[:3])}: not UTF-8 text; convert it with iconv -f ITS-ENCODING -t utf-8") from None
        raise DataError(f"{', '.join(files[:3])}: cannot be read as {builder} ({type(cause).__name__}: {cause})") from None


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Keep the log lines of ``datasets`` ("Failed to read file ...") off stderr: our one line says what failed."""
    import datasets

    before = datasets.logging.get_verbosity()
    datasets.logging.set_verbosity(datasets.logging.CRITICAL)
    try:
        yield
    finally:
        datasets.logging.set_verbosity(before)


def _train_split(builder: str, files: list[str], options: dict[str, Any]) -> Any:
    """What ``datasets.load_dataset(..., split="train")`` gives, but a file of no rows is named as such.

    ``load_dataset`` would fail on it with 'Instruction "train" corresponds to no data!'.
    """
    import datasets
    from datasets.utils.info_utils import is_small_dataset

    maker = datasets.load_dataset_builder(builder, data_files=files, **options)
    maker.download_and_prepare()
    split = (maker.info.splits or {}).get("train")
    if split is None or not split.num_examples:
        raise DataError(f"{', '.join(files[:3])} has no rows (a header alone, or an empty array); give a file with rows")
    return maker.as_dataset(split="train", in_memory=is_small_dataset(maker.info.dataset_size))


def read_texts(spec: str, text_column: str = "text") -> list[str]:
    """Texts of a local file to classify: a .txt file gives one text per non-empty line."""
    files = local_files(spec)
    if files is None:
        raise DataError(f"{spec}: no such file")
    if all(Path(f).suffix.lower() in (".txt", ".text") for f in files):
        texts = []
        for f in files:
            try:  # refused as not text (NUL bytes, not UTF-8) as classify refuses stdin and --input
                texts += [line for line in TextCheck(f)(Path(f).read_bytes(), final=True).splitlines() if line.strip()]
            except OSError as error:
                raise DataError(f"{f}: cannot be read ({error.strerror})") from None
        return texts
    dataset = load_local(files)
    if text_column not in dataset.column_names:
        raise DataError(f"column {text_column!r} not found; choose --text-column from: {', '.join(dataset.column_names)}")
    return ["" if is_missing(t) else str(t) for t in dataset[text_column]]


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


@contextlib.contextmanager
def _offline_mode() -> Iterator[None]:
    """Make ``datasets`` read its local cache at once, as ``HF_HUB_OFFLINE=1`` does, instead of retrying for ~20 s.

    ``datasets`` and ``huggingface_hub`` read that variable once, at import; the flags they keep are
    set for the call and put back after it.
    """
    import datasets.config
    from huggingface_hub import constants

    before = datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE
    datasets.config.HF_HUB_OFFLINE = constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, constants.HF_HUB_OFFLINE = before


def _not_cached_message(name: str) -> str:
    twin = HUB_TWINS.get(name)
    fix = (
        f"for the built-in copy of its training part use --dataset {twin}"
        if twin
        else "use a local file (--dataset path/to/file.csv) or a built-in (builtin:...)"
    )
    return f"{name!r} is a Hub dataset that is not in the local cache, and the Hub cannot be reached (offline); {fix}"


@dataclass
class HubSplits:
    """A Hub dataset's splits: its training split, and its own validation and test splits where it has them."""

    name: str
    train_name: str
    train: Any
    own: dict[str, Any]  # "validation" and/or "test" -> that split


def hub_splits(name: str, config: str | None) -> HubSplits:
    """The splits of Hub dataset ``name``: from the Hub, or from the local cache when offline."""
    import datasets
    from huggingface_hub import constants

    offline = constants.HF_HUB_OFFLINE or datasets.config.HF_HUB_OFFLINE or not hub_is_reachable()
    try:
        with _offline_mode() if offline else contextlib.nullcontext():
            splits = datasets.load_dataset(name, config)
    except (ConnectionError, OSError) as error:
        if offline:
            raise DataError(_not_cached_message(name)) from None
        raise DataError(f"cannot load hub dataset {name!r} ({type(error).__name__}: {error})".splitlines()[0]) from None
    except Exception as error:
        raise DataError(f"cannot load hub dataset {name!r}: {error}".splitlines()[0]) from None
    names = list(splits.keys())
    train_name = "train" if "train" in names else names[0]
    own = {}
    validation_name = next((n for n in VALIDATION_ALIASES if n in names), None)
    if validation_name is not None:
        own["validation"] = splits[validation_name]
    if "test" in names:
        own["test"] = splits["test"]
    return HubSplits(name, train_name, splits[train_name], own)


def load_text_splits(spec: str, text_column: str = "text", dataset_config: str | None = None, seed: int = 0) -> TextSplits:
    """Resolve ``spec`` and return the texts of its train, validation and test splits."""
    if is_builtin(spec):
        return builtin_texts(spec)
    files = local_files(spec)
    if files is not None:
        if len(files) < MIN_ROWS_TO_SPLIT_BY_ROW and all(_LOADERS.get(Path(f).suffix.lower()) == "text" for f in files):
            # A few text files are one stream, split by position. Read as lines, even a single huge
            # file is never held whole, and the lines joined by newlines give back the text.
            lines = ColumnTexts(load_local(files, by_line=True), text_column, keep_empty=True)
            return TextSplits(*split_lines(lines), f"{spec}, split by position (90/5/5)")
        texts = ColumnTexts(load_local(files), text_column)
        how = "by row" if texts.rows >= MIN_ROWS_TO_SPLIT_BY_ROW else "by position"
        return TextSplits(*split_rows(texts, seed), f"{spec}, split {how} (90/5/5, seed {seed})")
    hub = hub_splits(spec, dataset_config)
    train = ColumnTexts(hub.train, text_column)
    test: Texts = ColumnTexts(hub.own["test"], text_column) if "test" in hub.own else []
    if "validation" in hub.own:
        return TextSplits(train, ColumnTexts(hub.own["validation"], text_column), test, f"hub {spec}: its own splits")
    train_part, validation, extra_test = split_rows(train, seed)
    source = f"hub {spec}: validation split from {hub.train_name} with seed {seed}"
    return TextSplits(train_part, validation, test or extra_test, source)


def _labelled(dataset: Any, text_column: str, label_column: str, names: list[str], split: str) -> tuple[Labelled, int]:
    texts, raw_labels, skipped = labelled_rows(dataset, text_column, label_column)
    return Labelled(texts, label_ids(raw_labels, names, split)), skipped


def load_labelled_splits(
    spec: str, text_column: str = "text", label_column: str = "label", dataset_config: str | None = None, seed: int = 0
) -> LabelledSplits:
    """Resolve ``spec`` and return labelled train, validation and test splits.

    Rows whose text or label is missing (null, NaN, empty) are skipped and counted.
    """
    if is_builtin(spec):
        return builtin_labelled(spec, dataset_config)
    files = local_files(spec)
    hub = None if files is not None else hub_splits(spec, dataset_config)
    train_data = load_local(files) if files is not None else hub.train  # type: ignore[union-attr]
    texts, raw_labels, skipped = labelled_rows(train_data, text_column, label_column)
    if not texts:
        raise DataError(f"{spec}: no rows with both a text and a label")
    names = label_names(train_data, label_column, raw_labels)
    every = Labelled(texts, label_ids(raw_labels, names, "train"))
    own = {}
    for split, dataset in (hub.own if hub is not None else {}).items():
        own[split], split_skipped = _labelled(dataset, text_column, label_column, names, split)
        skipped += split_skipped
    train, validation, test = complete_splits(every, own, seed)
    if hub is None:
        source = f"{spec}, our stratified 80/10/10 split with seed {seed}"
    elif len(own) == 2:
        source = f"hub {spec}: its own splits"
    else:
        source = f"hub {spec}: missing splits carved from {hub.train_name} with seed {seed}"
    if len(set(train.labels)) < 2:
        raise DataError(
            f"{spec}: the training split has a single class ({names[train.labels[0]]!r}); a classifier needs at least two"
        )
    if not validation.texts and "validation" not in own:
        raise DataError(too_few_per_class(spec, every.labels))
    return LabelledSplits(train, validation, test, names, source, skipped)
