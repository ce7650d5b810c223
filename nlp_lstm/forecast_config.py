"""How to train a forecaster: the series, its windows and held-out origins, optimisation; every default.

Beside ``config.py``'s training configs, read alike by the API, the CLI and ``run.toml``. The model's
defaults are the seed document's Keras model: two stacked LSTMs of 50 units, no dropout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

from nlp_lstm.config import EncoderConfig, _check_types, _require, option
from nlp_lstm.train_config import ENCODER_FIELDS, EncodedTraining, check_encoder


@dataclass(frozen=True)
class ForecastTrainConfig(EncodedTraining):
    """How to train a forecaster on one series: ``lookback`` points in, ``horizon`` points out."""

    ENCODER_FIELDS: ClassVar[tuple[str, ...]] = ENCODER_FIELDS

    dataset: str = "builtin:co2"
    target: str | None = None  # the column to forecast; a built-in series has its own
    features: tuple[str, ...] = ()  # more columns the model reads (known up to the origin)
    season: int = 0  # the seasonal period of seasonal naive and MASE; 0: the built-in series' own, else 1
    lookback: int = 24  # points the model reads before each origin
    horizon: int = 12  # points it forecasts at once
    origins: int = 3  # rolling origins held out for validation, and as many for the test, each `horizon` long
    loss: Literal["mse", "mae"] = "mse"
    batch_size: int = 32
    epochs: int = 100
    lr: float = 3e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 20
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    patience: int = 20  # epochs without a better validation MASE before stopping; 0 = never
    seed: int = 0
    device: str = "auto"
    threads: int = 0
    precision: Literal["fp32"] = "fp32"
    # embedding_dim is the input projection's size
    encoder: EncoderConfig = EncoderConfig(embedding_dim=16, hidden_size=50, num_layers=2, dropout=0.0, embedding_dropout=0.0)

    def __post_init__(self) -> None:
        _check_types(self)
        check_encoder(self, "a forecaster")
        _require(bool(self.dataset), "--dataset must not be empty; try --dataset builtin:co2 or a path to a .csv file")
        for name in ("lookback", "horizon", "origins", "batch_size", "epochs"):
            _require(getattr(self, name) >= 1, f"{option(name)} must be a positive integer, got {getattr(self, name)}")
        for name in ("season", "warmup_steps", "patience", "threads"):
            _require(getattr(self, name) >= 0, f"{option(name)} must be >= 0, got {getattr(self, name)}")
        _require(self.lr > 0 and math.isfinite(self.lr), f"--lr must be a positive number, got {self.lr}")
        _require(0.0 <= self.min_lr_ratio <= 1.0, f"--min-lr-ratio must be in [0, 1], got {self.min_lr_ratio}")
        _require(self.weight_decay >= 0, f"--weight-decay must be >= 0, got {self.weight_decay}")
        _require(self.grad_clip > 0, f"--grad-clip must be > 0, got {self.grad_clip}")
        _require(
            self.device in ("auto", "cpu", "mps") or self.device.startswith("cuda"),
            f"--device must be auto, cpu, cuda, cuda:N or mps, got {self.device!r}",
        )
