"""Training recipe of the forecaster (the loop is ``training/loop.py``): windows of one series, cut by time.

The series is cut in three by time, never shuffled across a cut: training targets end where the
validation part begins (its last ``horizon × origins`` points before the test part), and the test
part is the last ``horizon × origins`` points, which only ``evaluate forecaster`` reads. Training
windows (``lookback`` points in, ``horizon`` out) are shuffled among themselves each epoch; the
loss (MSE or MAE) is taken on values divided by each window's scale (DeepAR's mean scaling), so a
series' level does not weigh in it. ``best/`` is chosen by the validation part's MASE from its
rolling origins.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nlp_lstm import checkpoint
from nlp_lstm.checkpoint import ModelBundle
from nlp_lstm.data.series import check_windows, origins_of, read_series, training_end, windows
from nlp_lstm.distributed import Processes
from nlp_lstm.forecast_config import ForecastTrainConfig
from nlp_lstm.forecast_metrics import rolling_scores
from nlp_lstm.forecast_model import Forecaster, forecaster_config
from nlp_lstm.forecasting import predict
from nlp_lstm.training import loop
from nlp_lstm.training.optim import make_optimizer
from nlp_lstm.training.run import RunOptions, TrainingRun, TrainingUsageError, TrainResult


def train_forecaster(config: ForecastTrainConfig, run: RunOptions | str | Path) -> TrainResult:
    """Train a forecaster on ``config.dataset``; write ``best/``, ``last/`` and ``metrics.jsonl`` in ``run.output``.

    :func:`nlp_lstm.train` for a :class:`ForecastTrainConfig`, whose ``encoder`` has the forecaster's defaults.
    """
    return loop.run_recipe(ForecastRecipe, Forecaster.kind, config, run)


class ForecastRecipe(loop.Recipe):
    """Shuffled batches of training windows, validation on rolling origins after every epoch."""

    throughput_name, best_metric = "windows_per_s", "mase"
    divergence_limit = 1e4  # in units of the windows' scale: a loss this large means the run diverged

    def __init__(self, group: Processes, command: str | None):
        if group.world_size > 1:
            raise TrainingUsageError("a forecaster trains in one process; start it without torchrun")
        self.group, self.command = group, command

    def setup(self, run: TrainingRun) -> dict[str, Any]:
        config = self.config = run.config
        self.run = run
        series = self.series = read_series(config.dataset, config.target, config.features, config.season)
        length = len(series.values)
        check_windows(length, config.lookback, config.horizon, config.origins)
        end = training_end(length, config.horizon, config.origins)
        inputs, targets = windows(series.values, config.lookback, config.horizon, end)
        self.inputs_t = torch.as_tensor(inputs, dtype=torch.float32, device=run.device)
        self.targets_t = torch.as_tensor(targets, dtype=torch.float32, device=run.device)
        self.validation_origins = origins_of(length - config.horizon * config.origins, config.horizon, config.origins)
        self.model = self._model(run, series.values[:end])
        self.optimizer = make_optimizer([(list(self.model.parameters()), 1.0)], config.weight_decay)
        if run.resume:
            run.restore(self.optimizer)
        self.steps_per_epoch = math.ceil(len(inputs) / config.batch_size)
        self.total_steps = config.epochs * self.steps_per_epoch
        self.model_inputs = {
            "target": series.columns[0],
            "features": list(series.columns[1:]),
            "lookback": config.lookback,
            "horizon": config.horizon,
            "season": series.season,
            "origins": config.origins,
            "dataset": config.dataset,
        }
        parameters = sum(p.numel() for p in self.model.parameters())
        run.record = {"kind": Forecaster.kind, "dataset": config.dataset, "command": self.command, "parameters": parameters}
        run.record["splits"] = {"points": length, "train_targets_end": end, "validation_origins": self.validation_origins}
        self.model.train()
        held_out = config.horizon * config.origins
        splits = f"{length} points; validation: {held_out} before the test part, test: the last {held_out} (not read here)"
        info = {"step": run.step, "max_steps": self.total_steps, "device": str(run.device), "parameters": parameters}
        return {**info, "windows": len(inputs), "steps_per_epoch": self.steps_per_epoch, "splits": splits}

    def _model(self, run: TrainingRun, train_values: np.ndarray) -> Forecaster:
        if run.resume:
            return checkpoint.load(run.last_dir, device=run.device, kind=Forecaster.kind).model
        columns, horizon = train_values.shape[1], self.config.horizon
        model = Forecaster(forecaster_config(columns, horizon, **self.config.encoder.to_dict()))
        model.set_default_scale(torch.as_tensor(train_values))
        return model.to(run.device)

    def train_step(self, epoch: int, index: int) -> loop.StepResult:
        order = torch.randperm(len(self.inputs_t), generator=torch.Generator().manual_seed(self.config.seed + epoch))
        rows = order[index * self.config.batch_size : (index + 1) * self.config.batch_size].to(self.run.device)
        self.optimizer.zero_grad(set_to_none=True)
        forecast, scale = self.model.forward_scaled(self.inputs_t[rows])
        target = self.targets_t[rows] / scale
        loss = F.mse_loss(forecast, target) if self.config.loss == "mse" else F.l1_loss(forecast, target)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        return loop.StepResult(loss.detach(), len(rows))

    def evaluates_after(self, step: int, index: int) -> bool:
        return index == self.steps_per_epoch - 1  # the end of an epoch

    def window_metrics(self, loss: torch.Tensor, correct: torch.Tensor, steps: int, items: int) -> dict[str, float]:
        return {"train_loss": float(loss) / steps}

    def validate(self, run: TrainingRun, epoch: int) -> tuple[dict[str, Any], float]:
        values, origins = self.series.values, self.validation_origins
        forecasts = predict(self.model, values, self.config.lookback, origins)
        self.model.train()
        scores = rolling_scores(values[:, 0], origins, forecasts, self.series.season)
        return {"step": run.step, "epoch": epoch, **scores}, -scores["mase"]

    def snapshot(self, run: TrainingRun, validation: dict[str, Any] | None) -> ModelBundle:
        return ModelBundle(self.model, None, Forecaster.kind, None, run.training_record(validation), inputs=self.model_inputs)

    def finish(self) -> None:
        """One process, nothing to compare."""
