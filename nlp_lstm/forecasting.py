"""Using and measuring a forecaster: the next points of a series, and its scores on rolling origins.

A forecaster's directory records, in ``config.json``'s ``inputs``, what it reads: the target and
feature columns, the lookback, the horizon, the seasonal period, and the series and origins it was
trained and held out on. ``evaluate_forecaster`` scores the held-out test part of that series (or
another) from the same rolling origins as training held out, with MASE and sMAPE beside the
seasonal naive forecast's, so that a score says where the LSTM stands. Never trains; no pandas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from nlp_lstm.checkpoint import ModelBundle
from nlp_lstm.data.series import Series, SeriesUsageError, origins_of, read_series
from nlp_lstm.errors import UsageError
from nlp_lstm.forecast_metrics import rolling_scores, seasonal_naive
from nlp_lstm.forecast_model import Forecaster
from nlp_lstm.loading import load_model


@dataclass
class Forecast:
    """The next ``horizon`` points of ``target`` after ``origin`` points of ``history`` (the whole series read)."""

    target: str
    history: np.ndarray
    origin: int
    values: np.ndarray
    actual: np.ndarray = field(default_factory=lambda: np.empty(0))  # points after the origin the series has

    def to_dict(self) -> dict[str, Any]:
        return {"target": self.target, "origin": self.origin, "forecast": self.values.tolist(), "actual": self.actual.tolist()}


def load_forecaster(model: str | Path | ModelBundle, device: str | torch.device = "cpu") -> ModelBundle:
    """A forecaster by any name ``load_model`` takes, or one already loaded; any other kind refused in one line."""
    if isinstance(model, ModelBundle):
        if model.kind != Forecaster.kind:
            raise UsageError(f"this needs a forecaster, got a model of kind {model.kind!r}")
        return model
    return load_model(model, device=device, kind=Forecaster.kind)


def predict(model: Forecaster, values: np.ndarray, lookback: int, origins: list[int]) -> np.ndarray:
    """The forecasts (K, H) from each origin, each read from the ``lookback`` points before it."""
    if min(origins) < lookback:
        raise SeriesUsageError(
            f"a forecast needs {lookback} points before its origin (the model's lookback); the series has fewer"
        )
    device = next(model.parameters()).device
    inputs = torch.as_tensor(np.stack([values[o - lookback : o] for o in origins]), dtype=torch.float32, device=device)
    model.eval()
    with torch.no_grad():
        return model(inputs).double().cpu().numpy()


def read_model_series(saved: ModelBundle, dataset: str | Path | None = None) -> Series:
    """The series ``dataset`` names (else the one the model was trained on), with the model's columns."""
    inputs = saved.inputs
    source = str(dataset) if dataset is not None else inputs["dataset"]
    return read_series(source, inputs["target"], tuple(inputs["features"]), inputs["season"])


def forecast(
    model: str | Path | ModelBundle, input: str | Path, hold_out: int = 0, device: str | torch.device = "cpu"
) -> Forecast:
    """The next points after the series ``input`` (a CSV file with the model's columns, or ``builtin:NAME``).

    With ``hold_out`` N, the forecast starts N points before the end, to compare with what followed.
    """
    saved = load_forecaster(model, device)
    series = read_model_series(saved, input)
    if not 0 <= hold_out < len(series.values):
        raise SeriesUsageError(f"--hold-out must be in [0, {len(series.values)}), got {hold_out}")
    origin = len(series.values) - hold_out
    values = predict(saved.model, series.values, saved.inputs["lookback"], [origin])[0]
    target = series.values[:, 0]
    return Forecast(saved.inputs["target"], target, origin, values, target[origin : origin + len(values)])


def evaluate_forecaster(
    model: str | Path | ModelBundle, dataset: str | Path | None = None, origins: int | None = None, device: str = "cpu"
) -> dict[str, Any]:
    """MASE, sMAPE, MAE and RMSE on the last ``horizon × origins`` points, from ``origins`` rolling origins.

    ``dataset`` and ``origins`` default to the model's own (the test part it never saw while training).
    """
    saved = load_forecaster(model, device)
    inputs = saved.inputs
    series = read_model_series(saved, dataset)
    origins = inputs["origins"] if origins is None else origins
    horizon, lookback = inputs["horizon"], inputs["lookback"]
    if origins < 1 or len(series.values) - horizon * origins < lookback:
        raise SeriesUsageError(f"--origins must be >= 1 and leave {lookback} points (the lookback) before the first origin")
    at = origins_of(len(series.values), horizon, origins)
    target = series.values[:, 0]
    scores = rolling_scores(target, at, predict(saved.model, series.values, lookback, at), series.season)
    naive = np.stack([seasonal_naive(target[:o], horizon, series.season) for o in at])
    baseline = rolling_scores(target, at, naive, series.season)
    return {
        **scores,
        "origins": origins,
        "horizon": horizon,
        "season": series.season,
        "seasonal_naive": {"mase": baseline["mase"], "smape": baseline["smape"]},
        "dataset": series.source,
    }


def plot_forecast(result: Forecast, output: str | Path, title: str = "") -> Path:
    """The series' last points, the forecast and what actually followed, as a PNG (the plot extra)."""
    from nlp_lstm.plots import _pyplot, fit_title

    plt = _pyplot()
    start = max(0, result.origin - 4 * len(result.values))
    figure, axes = plt.subplots(figsize=(8, 3.5))
    steps = np.arange(start, len(result.history))
    axes.plot(steps, result.history[start:], color="black", linewidth=1, label="actual")
    ahead = np.arange(result.origin, result.origin + len(result.values))
    axes.plot(ahead, result.values, color="tab:red", linewidth=1.5, label="forecast")
    axes.axvline(result.origin - 0.5, color="grey", linestyle=":", linewidth=1)
    axes.set_xlabel("step")
    axes.set_ylabel(result.target)
    axes.set_title(fit_title(title or f"{result.target}: forecast from step {result.origin}", 70))
    axes.legend(loc="upper left")
    figure.tight_layout()
    figure.savefig(output, dpi=110)
    plt.close(figure)
    return Path(output)
