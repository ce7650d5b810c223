"""Forecasting (issue 30): the encoder on numbers learns a sine wave, its scaling round-trips, nothing
after a time cut reaches what comes before it, its directory is strict, and bad options exit 2.

Tiny real models on series the tests write; the built-in series are read only where statsmodels
(the bench extra) is installed.
"""

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from typer.testing import CliRunner

import nlp_lstm
from nlp_lstm import checkpoint
from nlp_lstm.cli import app
from nlp_lstm.data.series import read_series, training_end, windows
from nlp_lstm.errors import DataError, ModelLoadError, UsageError
from nlp_lstm.forecast_config import ForecastTrainConfig
from nlp_lstm.forecast_model import Forecaster, forecaster_config, scaled_inputs, window_scale
from nlp_lstm.forecasting import predict

runner = CliRunner()
TINY = {"hidden_size": 16, "embedding_dim": 8}


def write_series(path: Path, values: np.ndarray, feature: np.ndarray | None = None) -> Path:
    header = "step,y" + (",x" if feature is not None else "")
    rows = [f"{i},{v:.6f}" + (f",{feature[i]:.6f}" if feature is not None else "") for i, v in enumerate(values)]
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def sine(points: int = 200, period: int = 12) -> np.ndarray:
    return np.sin(2 * np.pi * np.arange(points) / period)


def config(dataset: Path, **changes) -> ForecastTrainConfig:
    settings = {"target": "y", "lookback": 24, "horizon": 6, "origins": 2, "lr": 1e-2, "device": "cpu", "threads": 1}
    return ForecastTrainConfig(dataset=str(dataset), **{**settings, **changes})


@pytest.fixture(scope="module")
def sine_run(tmp_path_factory):
    directory = tmp_path_factory.mktemp("sine")
    data = write_series(directory / "sine.csv", sine())
    result = nlp_lstm.train_forecaster(config(data, epochs=6, batch_size=16).with_encoder(**TINY), directory / "run")
    return data, result


def test_a_tiny_model_learns_a_sine_wave(sine_run):
    data, result = sine_run
    metrics = nlp_lstm.evaluate_forecaster(result.best_dir)  # the test part: the last 2 × 6 points, never trained on
    assert metrics["dataset"] == str(data) and (metrics["origins"], metrics["horizon"]) == (2, 6)
    assert metrics["mae"] < 0.1  # the wave's amplitude is 1
    assert metrics["mase"] < 0.2 * metrics["seasonal_naive"]["mase"]


def test_forecast_continues_the_wave_and_plots(sine_run, tmp_path):
    data, result = sine_run
    pytest.importorskip("matplotlib")
    forecast = nlp_lstm.forecast(result.best_dir, data, hold_out=6)
    assert forecast.origin == 194 and len(forecast.values) == 6
    assert np.abs(forecast.values - sine()[194:]).max() < 0.25
    assert nlp_lstm.plot_forecast(forecast, tmp_path / "f.png").read_bytes()[:4] == b"\x89PNG"


def test_scaling_round_trips_and_is_saved_with_the_model(tmp_path):
    values = torch.tensor([[[2.0, 0.0], [6.0, 0.0]], [[-1.0, 5.0], [3.0, 5.0]]])  # (B=2, T=2, C=2)
    fallback = torch.tensor([1.0, 7.0])
    scale = window_scale(values, fallback)
    assert torch.equal(scale[:, 0], torch.tensor([[4.0, 7.0], [2.0, 5.0]]))  # mean |x|; an all-zero column takes the fallback
    inputs = scaled_inputs(values, scale)
    assert torch.allclose(inputs[..., :2] * scale, values) and torch.allclose(
        inputs[..., 2:], scale[..., :1].log().expand(-1, 2, 1)
    )
    model = Forecaster(forecaster_config(2, 3, **TINY))
    model.set_default_scale(torch.tensor([[1.0, 0.0], [-3.0, 0.0]]))
    assert torch.equal(model.default_scale, torch.tensor([2.0, 1.0]))  # a column of zeros keeps scale 1
    forecast, target_scale = model.eval().forward_scaled(values)
    assert torch.equal(target_scale, scale[:, :, 0]) and torch.allclose(forecast * target_scale, model(values))
    saved = checkpoint.load(checkpoint.save(checkpoint.ModelBundle(model, None, Forecaster.kind), tmp_path / "m"))
    assert torch.equal(saved.model.default_scale, model.default_scale)
    assert torch.equal(saved.model(values), model(values)) and saved.tokenizer is None


def test_nothing_after_a_cut_changes_what_comes_before_it():
    values = np.stack([sine(120), np.arange(120.0)], axis=1)
    shuffled = values.copy()
    shuffled[100:] = np.random.default_rng(0).permutation(values[100:])
    assert all(np.array_equal(a, b) for a, b in zip(windows(values, 24, 6, 100), windows(shuffled, 24, 6, 100)))
    model = Forecaster(forecaster_config(2, 6, **TINY)).eval()
    assert np.array_equal(predict(model, values, 24, [60, 100]), predict(model, shuffled, 24, [60, 100]))


def test_training_never_reads_the_test_part(tmp_path):
    values = sine(160)
    test_start = len(values) - 6 * 2
    shuffled = values.copy()
    shuffled[test_start:] = np.random.default_rng(1).permutation(values[test_start:])
    weights = []
    for name, series in (("a", values), ("b", shuffled)):
        run = nlp_lstm.train_forecaster(
            config(write_series(tmp_path / f"{name}.csv", series), epochs=2).with_encoder(**TINY), tmp_path / name
        )
        weights.append(load_file(str(run.last_dir / "model.safetensors")))
    assert training_end(160, 6, 2) == test_start - 12  # and the validation part lies between
    assert weights[0].keys() == weights[1].keys() and all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


def test_a_damaged_forecaster_is_refused_in_one_line(sine_run, tmp_path):
    _, result = sine_run
    damaged = tmp_path / "damaged"
    checkpoint.save(checkpoint.load(result.best_dir), damaged)
    weights = damaged / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(ModelLoadError, match="truncated or corrupted"):
        checkpoint.load(damaged)
    outcome = runner.invoke(app, ["forecast", "--model", str(damaged), "--input", "x.csv"])
    assert outcome.exit_code == 1 and outcome.stderr.count("\n") == 1 and "Traceback" not in outcome.output
    scales = tmp_path / "nan-scales"
    saved = checkpoint.load(result.best_dir)
    saved.model.default_scale.fill_(float("nan"))
    with pytest.raises(ModelLoadError, match="NaN or infinite"):
        checkpoint.load(checkpoint.save(saved, scales))
    with pytest.raises(ModelLoadError, match="is a forecaster, but this command needs a classifier"):
        nlp_lstm.load_model(result.best_dir, kind="classifier")


def test_the_commands_end_to_end_with_a_feature(tmp_path):
    data = write_series(tmp_path / "two.csv", sine(150), np.cos(2 * np.pi * np.arange(150) / 12))
    options = ["--dataset", data, "--target", "y", "--features", "x", "--lookback", "24", "--horizon", "6", "--origins", "2"]
    train = runner.invoke(
        app, ["train", "forecaster", *map(str, options), "--epochs", "2", "--hidden-size", "8", "-o", str(tmp_path / "r")]
    )
    assert train.exit_code == 0, train.output
    shown = runner.invoke(app, ["forecast", "-m", str(tmp_path / "r/best"), "-i", str(data), "--json"])
    assert shown.exit_code == 0 and '"target": "y"' in shown.stdout
    scored = runner.invoke(app, ["evaluate", "forecaster", "-m", str(tmp_path / "r/best"), "--json"])
    assert scored.exit_code == 0 and '"mase"' in scored.stdout
    again = runner.invoke(app, ["train", "forecaster", "--config", str(tmp_path / "r/run.toml"), "-o", str(tmp_path / "r2")])
    assert again.exit_code == 0, again.output  # run.toml holds only what the command takes, the features as it spells them
    assert json.loads((tmp_path / "r2/best/config.json").read_text()) == json.loads((tmp_path / "r/best/config.json").read_text())


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["--target", "price"], "no column 'price'; the columns are step, y"),
        ([], "pass --target COLUMN"),
        (["--target", "y", "--lookback", "0"], "--lookback must be a positive integer"),
        (["--target", "y", "--lookback", "500"], "too few for --lookback 500"),
        (["--target", "y", "--features", "nope"], "no column 'nope'"),
    ],
)
def test_bad_options_exit_2_in_one_line(tmp_path, options, words):
    data = write_series(tmp_path / "s.csv", sine(100))
    outcome = runner.invoke(app, ["train", "forecaster", "--dataset", str(data), *options, "-o", str(tmp_path / "r")])
    assert outcome.exit_code == 2 and words in outcome.stderr and outcome.stderr.count("\n") == 1, outcome.output
    assert not (tmp_path / "r").exists()


def test_bad_cells_and_unknown_series_are_named(tmp_path):
    path = tmp_path / "gap.csv"
    path.write_text("y\n1\n\n2\nn/a\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 4: y is 'n/a', not a number"):
        read_series(str(path), "y")
    with pytest.raises(UsageError, match="builtin:co2, builtin:sunspots"):
        read_series("builtin:airpassengers")


def test_builtin_series_come_from_the_installed_wheel_without_importing_it():
    if importlib.util.find_spec("statsmodels") is None:
        with pytest.raises(DataError, match=r"pip install 'nlp-lstm\[bench\]'"):
            read_series("builtin:nile")
        return
    imported = "statsmodels" in sys.modules
    nile, co2 = read_series("builtin:nile"), read_series("builtin:co2")
    assert nile.values.shape == (100, 1) and nile.values[0, 0] == 1120 and nile.season == 1
    assert co2.values.shape == (526, 1) and np.isfinite(co2.values).all() and co2.season == 12
    assert ("statsmodels" in sys.modules) == imported


def test_info_shows_no_tokenizer_or_vocabulary_for_a_model_that_reads_numbers(sine_run):
    from nlp_lstm.catalog import model_info

    info = model_info(sine_run[1].best_dir)
    assert info["kind"] == "forecaster" and "tokenizer" not in info and "vocabulary" not in info
    assert "LSTM" in info["shape"] and info["parameters"] > 0


def test_forecasting_imports_neither_pandas_nor_datasets(sine_run):
    """Issue 30: no pandas on the LSTM inference path; a CSV is read with the csv module."""
    import subprocess

    data, result = sine_run
    script = (
        "import sys, nlp_lstm; "
        f"nlp_lstm.forecast({str(result.best_dir)!r}, {str(data)!r}, hold_out=6); "
        "print(sorted(name for name in ('pandas', 'datasets', 'statsmodels') if name in sys.modules))"
    )
    ran = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "[]"
