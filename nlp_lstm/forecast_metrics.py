"""Forecast accuracy as the M4 competition measured it: MASE and sMAPE, and the seasonal naive forecast.

Makridakis, Spiliotis & Assimakopoulos (2020), *The M4 Competition*: sMAPE in percent, MASE scaled
by the in-sample mean absolute error of the seasonal naive forecast. Plain numpy, so benchmarks
score the LSTM and its baselines with the same code on the same origins.
"""

from __future__ import annotations

import numpy as np


def seasonal_naive(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    """The last season repeated: ``history[-season:]`` tiled over ``horizon`` points (the last value for season 1)."""
    season = max(1, min(season, len(history)))
    return np.resize(history[-season:], horizon)


def mase(actual: np.ndarray, forecast: np.ndarray, history: np.ndarray, season: int) -> float:
    """Mean absolute error over the in-sample seasonal naive error of ``history`` (season 1 where it is too short)."""
    season = season if len(history) > season else 1
    scale = float(np.mean(np.abs(history[season:] - history[:-season])))
    return float(np.mean(np.abs(actual - forecast))) / scale if scale > 0 else float("inf")


def smape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Symmetric mean absolute percentage error, 0 to 200 (a point where both are 0 counts as 0)."""
    denominator = np.abs(actual) + np.abs(forecast)
    ratio = np.divide(2 * np.abs(actual - forecast), denominator, out=np.zeros_like(denominator), where=denominator > 0)
    return float(100 * np.mean(ratio))


def rolling_scores(series: np.ndarray, origins: list[int], forecasts: np.ndarray, season: int) -> dict[str, float]:
    """MASE, sMAPE, MAE and RMSE of ``forecasts`` (K, H) made at ``origins`` of ``series`` (T,), averaged over origins."""
    horizon = forecasts.shape[1]
    actuals = np.stack([series[o : o + horizon] for o in origins])  # (K, H)
    errors = actuals - forecasts
    return {
        "mase": float(np.mean([mase(a, f, series[:o], season) for a, f, o in zip(actuals, forecasts, origins)])),
        "smape": float(np.mean([smape(a, f) for a, f in zip(actuals, forecasts)])),
        "mae": float(np.mean(np.abs(errors))),
        "rmse": float(np.sqrt(np.mean(errors**2))),
    }
