"""Where a stacked-LSTM forecaster stands: against seasonal naive and ETS on built-in series (issue 30).

For each series the last ``horizon × origins`` points are the test part; every method forecasts
``horizon`` points from each of those rolling origins and is scored by the same code
(``nlp_lstm.forecast_metrics``: MASE and sMAPE as in M4). Seasonal naive and ETS (statsmodels'
``ExponentialSmoothing``: additive damped trend, additive season where the series has one) are
refitted at every origin on all the points before it. The LSTM is trained once by
``nlp_lstm.train_forecaster`` on the points before its validation part (the ``horizon × origins``
points before the test part, which choose ``best/``) and reads ``lookback`` points before each
origin; it is not refitted. Seeds are averaged; training time is wall time on ``--threads``.

    pip install -e '.[bench]'      # statsmodels: the series and ETS
    python benchmarks/forecasting.py --seeds 3 --threads 1 --record
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

import nlp_lstm
from nlp_lstm.data.series import origins_of, read_series
from nlp_lstm.forecast_metrics import rolling_scores, seasonal_naive

# series -> (lookback, horizon, origins): a horizon of one season (two for sunspots' 11 years would leave too little)
SETTINGS = {
    "co2": (36, 12, 3),
    "elec_equip": (36, 12, 3),
    "sunspots": (33, 11, 3),
    "nile": (15, 5, 3),
}


def ets_forecast(history: np.ndarray, horizon: int, season: int) -> np.ndarray:
    from statsmodels.tsa.holtwinters import ExponentialSmoothing

    seasonal = "add" if season > 1 and len(history) >= 2 * season else None
    model = ExponentialSmoothing(
        history, trend="add", damped_trend=True, seasonal=seasonal, seasonal_periods=season if seasonal else None
    )
    with warnings.catch_warnings():  # convergence warnings of the optimiser; the forecast is scored either way
        warnings.simplefilter("ignore")
        return np.asarray(model.fit().forecast(horizon))


def baselines(name: str) -> dict[str, dict[str, float]]:
    series = read_series(f"builtin:{name}")
    _, horizon, origins = SETTINGS[name]
    target = series.values[:, 0]
    at = origins_of(len(target), horizon, origins)
    results = {}
    for method, make in (("seasonal naive", seasonal_naive), ("ETS", ets_forecast)):
        started = time.perf_counter()
        forecasts = np.stack([make(target[:o], horizon, series.season) for o in at])
        results[method] = {**rolling_scores(target, at, forecasts, series.season), "seconds": time.perf_counter() - started}
    return results


def lstm(name: str, seed: int, threads: int, epochs: int, scratch: Path) -> dict[str, float]:
    lookback, horizon, origins = SETTINGS[name]
    config = nlp_lstm.ForecastTrainConfig(
        dataset=f"builtin:{name}", lookback=lookback, horizon=horizon, origins=origins, epochs=epochs, seed=seed,
        device="cpu", threads=threads,
    )  # fmt: skip
    started = time.perf_counter()
    result = nlp_lstm.train_forecaster(config, scratch / f"{name}-{seed}")
    seconds = time.perf_counter() - started
    metrics = nlp_lstm.evaluate_forecaster(result.best_dir)
    return {"mase": metrics["mase"], "smape": metrics["smape"], "seconds": seconds, "steps": result.step}


def table(rows: list[tuple[str, str, dict[str, float]]]) -> str:
    lines = ["| series | method | MASE | sMAPE (%) | fit/train time (s) |", "| --- | --- | ---: | ---: | ---: |"]
    for series, method, figures in rows:
        lines.append(f"| {series} | {method} | {figures['mase']:.3f} | {figures['smape']:.2f} | {figures['seconds']:.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--epochs", type=int, default=nlp_lstm.ForecastTrainConfig.epochs)
    parser.add_argument("--record", action="store_true", help="Append the table to benchmarks/RESULTS.md.")
    args = parser.parse_args()
    import torch
    from machine import describe, record

    torch.set_num_threads(args.threads)
    import statsmodels.tsa.holtwinters  # noqa: F401 - imported before the clock: ETS's fit time is the fit's

    machine = describe()
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for name in args.series:
            for method, figures in baselines(name).items():
                rows.append((name, method, figures))
            runs = [lstm(name, seed, args.threads, args.epochs, Path(scratch)) for seed in range(args.seeds)]
            mean = {key: float(np.mean([run[key] for run in runs])) for key in ("mase", "smape", "seconds")}
            spread = (
                f"LSTM, mean of {args.seeds} seeds (MASE {min(r['mase'] for r in runs):.3f}-{max(r['mase'] for r in runs):.3f})"
            )
            rows.append((name, spread, mean))
            print(table(rows[-3:]).splitlines()[-3:], flush=True)
    body = table(rows)
    settings = ", ".join(
        f"{name}: lookback {s[0]}, horizon {s[1]}, {s[2]} origins" for name, s in SETTINGS.items() if name in args.series
    )
    body += f"\n\nSettings: {settings}; LSTM: the defaults of `train forecaster` (2 × 50 units), {args.epochs} epochs at most."
    print(machine)
    print(body)
    if args.record:
        record("Forecasting: a stacked LSTM against seasonal naive and ETS", machine, body)


if __name__ == "__main__":
    main()
