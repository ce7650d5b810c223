"""How to train a forecaster: the series, its windows and held-out origins, optimisation; every default.

Beside ``train_config.py``'s training configs, read alike by the API, the CLI and ``run.toml``. The model's
defaults are the seed document's Keras model: two stacked LSTMs of 50 units, no dropout.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from nlp_lstm.config import DATA, OPTIMISATION, EncoderConfig, _check_types, _require, setting
from nlp_lstm.train_config import ENCODER_FIELDS, EncodedTraining, check_counts, check_encoder, check_optimisation, shared


@dataclass(frozen=True)
class ForecastTrainConfig(EncodedTraining):
    """How to train a forecaster on one series: ``lookback`` points in, ``horizon`` points out."""

    # The input is a linear projection of numbers, not a table of embeddings: no embedding dropout to set.
    ENCODER_FIELDS: ClassVar[tuple[str, ...]] = tuple(name for name in ENCODER_FIELDS if name != "embedding_dropout")
    ENCODER_HELP: ClassVar[dict[str, str]] = {"embedding_dim": "Size of the input projection."}  # not of token embeddings

    dataset: str = setting("builtin:co2", "builtin:co2, builtin:sunspots, builtin:nile, builtin:elec_equip, or a CSV file.", DATA)
    target: str | None = setting(None, "The CSV column to forecast.", DATA)  # a built-in series has its own
    # Known up to the origin. The command line takes them as one text, comma-separated.
    features: tuple[str, ...] = setting((), "More CSV columns the model reads, comma-separated.", DATA, type=str, default="")
    # The seasonal period of seasonal naive and MASE; 0: the built-in series' own, else 1.
    season: int = setting(0, "Seasonal period for seasonal naive and MASE (0: the series' own).")
    lookback: int = setting(24, "Points read before each forecast.", DATA)
    horizon: int = setting(12, "Points forecast at once.", DATA)
    # Held out for validation, and as many for the test, each `horizon` long.
    origins: int = setting(3, "Rolling origins held out (validation, then test), a horizon each.")
    loss: Literal["mse", "mae"] = setting("mse", "mse or mae.", OPTIMISATION, type=str)
    batch_size: int = shared("batch_size", 32)
    epochs: int = setting(100, "Passes over the training windows.")
    lr: float = shared("lr", 3e-3)
    min_lr_ratio: float = shared("min_lr_ratio", 0.1)
    warmup_steps: int = shared("warmup_steps", 20)
    weight_decay: float = shared("weight_decay", 0.0)
    grad_clip: float = shared("grad_clip", 1.0)
    patience: int = setting(20, "Epochs without a better validation MASE before stopping (0: never).")
    seed: int = shared("seed", 0)
    device: str = shared("device", "auto")
    threads: int = shared("threads", 0)
    precision: ClassVar[str] = "fp32"  # a forecaster trains in float32 only: what the loop reads, not a setting to pass
    encoder: EncoderConfig = EncoderConfig(embedding_dim=16, hidden_size=50, num_layers=2, dropout=0.0, embedding_dropout=0.0)

    def __post_init__(self) -> None:
        _check_types(self)
        check_encoder(self, "a forecaster")
        _require(bool(self.dataset), "--dataset must not be empty; try --dataset builtin:co2 or a path to a .csv file")
        check_counts(
            self, ("lookback", "horizon", "origins", "batch_size", "epochs"), ("season", "warmup_steps", "patience", "threads")
        )
        check_optimisation(self)
