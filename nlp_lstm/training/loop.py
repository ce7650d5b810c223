"""The one training loop, and the recipe each way of training fills in (after torchtune's recipes and minGPT's trainer).

The loop owns what every way of training shares: signals, the learning-rate schedule, the
logging window, the evaluation cadence, best/ and last/, patience, resume and the torchrun group.
A :class:`Recipe` owns what differs: its data, model and optimiser (``setup``), one optimiser step
(``train_step``), when to evaluate, and the evaluation itself (``validate``). A new way of
training is a new recipe, not a new loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from nlp_lstm.checkpoint import ModelBundle
from nlp_lstm.distributed import Processes, processes
from nlp_lstm.training.optim import AnyTrainConfig, learning_rate, set_learning_rate
from nlp_lstm.training.run import Callback, RunOptions, TrainingRun, TrainResult, stop_signals

LOG_EVERY = 10  # optimiser steps per line of metrics.jsonl


@dataclass
class StepResult:
    """What one optimiser step adds to the logging window."""

    loss: torch.Tensor  # this process's part of the step's loss, detached
    items: int  # what the throughput counts (tokens, texts) for the whole batch
    correct: torch.Tensor | None = None  # classifiers: right answers among this process's texts


class Recipe:
    """One way of training; the loop calls these in order. Attributes are set by ``setup``."""

    group: Processes
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    total_steps: int
    steps_per_epoch: int
    divergence_limit: float  # a mean training or validation loss above this aborts the run
    throughput_name: str  # the metrics key of ``items`` per second
    best_metric: str  # the validation figure shown as the best so far

    def setup(self, run: TrainingRun) -> dict[str, Any]:
        """Read the data, build or restore the model and optimiser; return what ``Callback.on_start`` receives."""
        raise NotImplementedError

    def train_step(self, epoch: int, index: int) -> StepResult:
        """Forward, backward and the optimiser step on batch ``index`` of ``epoch``; the learning rate is set."""
        raise NotImplementedError

    def evaluates_after(self, step: int, index: int) -> bool:
        raise NotImplementedError

    def window_metrics(self, loss: torch.Tensor, correct: torch.Tensor, steps: int, items: int) -> dict[str, float]:
        """The window's training figures, reduced over the processes."""
        raise NotImplementedError

    def validate(self, run: TrainingRun, epoch: int) -> tuple[dict[str, Any], float]:
        """The validation metrics (rank 0's, known to every process) and their score, higher is better."""
        raise NotImplementedError

    def snapshot(self, run: TrainingRun, validation: dict[str, Any] | None) -> ModelBundle:
        raise NotImplementedError

    def trainer_tensors(self) -> dict[str, torch.Tensor]:
        """Tensors besides the optimiser that ``--resume`` needs (the carried LSTM state, say)."""
        return {}

    def finish(self) -> None:
        """After the last step: the weights each process ended with, for the torchrun tests' replica check."""
        self.group.save_replica(self.model)


class Window:
    """The steps since the last log line: summed on the device, read once per line (one sync)."""

    def __init__(self, device: torch.device):
        self.loss = torch.zeros((), device=device)
        self.correct = torch.zeros((), device=device)
        self.steps, self.items = 0, 0
        self.started = time.perf_counter()

    def add(self, result: StepResult) -> None:
        self.loss += result.loss
        if result.correct is not None:
            self.correct += result.correct
        self.steps += 1
        self.items += result.items

    def restart(self) -> None:
        self.loss.zero_()
        self.correct.zero_()
        self.steps, self.items = 0, 0
        self.started = time.perf_counter()


def run_recipe(
    make_recipe: Callable[[Processes, str | None], Recipe], kind: str, config: AnyTrainConfig, options: RunOptions | str | Path
) -> TrainResult:
    """Open the run (a torchrun group when started by torchrun) and train the recipe that ``make_recipe`` builds.

    ``options`` may be a bare output directory: a new run there, no callback.
    """
    options = options if isinstance(options, RunOptions) else RunOptions(options)
    with processes() as group, TrainingRun(config, options, kind, group) as run:
        return train(make_recipe(group, options.command), run, options.callback, group)


def train(recipe: Recipe, run: TrainingRun, callback: Callback | None, group: Processes) -> TrainResult:
    """Set the recipe up, then step, log, evaluate, save and stop as the run's settings say."""
    callback = (callback if group.is_main else None) or Callback()
    run.validation_progress, run.preparation_progress = callback.on_validation_progress, callback.on_preparation
    info = recipe.setup(run)
    run.open_directory()
    callback.on_start(info)
    window = Window(run.device)
    stopped_early = False
    with stop_signals(callback.on_stop_requested) as stop_requested:
        while run.step < recipe.total_steps:
            if group.any(stop_requested.is_set()):  # a signal may reach the processes at different steps
                _save_last(recipe, run, recipe.snapshot(run, run.best and run.best["validation"]))
                raise run.interrupted()
            epoch, index = divmod(run.step, recipe.steps_per_epoch)
            lr = learning_rate(run.step, recipe.total_steps, run.config)
            set_learning_rate(recipe.optimizer, lr)
            window.add(recipe.train_step(epoch, index))
            run.step += 1
            evaluates = recipe.evaluates_after(run.step, index)
            if window.steps == LOG_EVERY or evaluates:
                _log_window(recipe, run, callback, window, epoch, lr)
            if evaluates:
                _evaluate(recipe, run, callback, epoch)
                window.started = time.perf_counter()  # evaluation time is not training time
                if run.out_of_patience(run.config.patience):
                    stopped_early = True
                    break
    recipe.finish()
    result = run.result(stopped_early)
    callback.on_end(result)
    return result


def _log_window(recipe: Recipe, run: TrainingRun, callback: Callback, window: Window, epoch: int, lr: float) -> None:
    figures = recipe.window_metrics(window.loss, window.correct, window.steps, window.items)
    if error := run.diverged(figures["train_loss"], recipe.divergence_limit, "training"):
        raise error
    seconds = time.perf_counter() - window.started
    entry = {"step": run.step, "epoch": epoch, **figures, "lr": lr, recipe.throughput_name: window.items / seconds}
    entry["elapsed_s"] = run.elapsed()
    run.log(entry)
    callback.on_step(entry)
    window.restart()


def _evaluate(recipe: Recipe, run: TrainingRun, callback: Callback, epoch: int) -> None:
    validation, score = recipe.validate(run, epoch)
    saved = recipe.snapshot(run, validation)
    improved = run.record_evaluation(saved, validation, score)  # best/ first, so that last/ records it
    _save_last(recipe, run, saved)
    run.log({"split": "validation", **validation, "best": improved})
    best = run.best["validation"][recipe.best_metric]
    callback.on_eval({**validation, "best": improved, f"best_{recipe.best_metric}": best})


def _save_last(recipe: Recipe, run: TrainingRun, saved: ModelBundle) -> None:
    run.save_last(saved, recipe.optimizer, recipe.trainer_tensors())
