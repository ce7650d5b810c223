"""Training recipe of a teacher: fine-tune a pretrained transformer encoder as a classifier, on the one loop.

The same splits, labels, validation, best-model selection, early stopping, signals and resume as
the LSTM classifier (``training/loop.py`` owns them). What differs: the model is a ``transformers``
sequence classifier; texts keep their head and tail (``keep="both"``) up to ``max_length`` tokens,
which bounds the cost of long reviews on a CPU; ``max_steps`` bounds it further; the learning rate
is the small one of fine-tuning (5e-5), warmed up, then decayed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nlp_lstm import tasks
from nlp_lstm.data.batching import ClassifierBatches, encode_texts
from nlp_lstm.data.sources import load_labelled_splits
from nlp_lstm.distributed import Processes
from nlp_lstm.precision import autocast
from nlp_lstm.teacher.model import TeacherModel, load_base, load_teacher
from nlp_lstm.train_config import TeacherTrainConfig
from nlp_lstm.training import loop
from nlp_lstm.training.labelled import run_record, start_info, validation_figures
from nlp_lstm.training.optim import make_optimizer
from nlp_lstm.training.run import RunOptions, TrainingError, TrainingRun, TrainingUsageError, TrainResult


def train_teacher(config: TeacherTrainConfig, run: RunOptions | str | Path) -> TrainResult:
    """Fine-tune ``config.base`` on ``config.dataset``; write ``best/`` (the teacher), ``last/`` and ``metrics.jsonl``.

    :func:`nlp_lstm.train` for a :class:`TeacherTrainConfig`: a teacher's shape is its base encoder's.
    """
    return loop.run_recipe(TeacherRecipe, tasks.TEACHER, config, run)


class TeacherRecipe(loop.Recipe):
    """Length-bucketed batches of head + tail token ids, cross-entropy, validation every ``eval_every`` steps or epoch."""

    throughput_name, best_metric = "texts_per_s", "accuracy"
    divergence_limit = 50.0

    def __init__(self, group: Processes, command: str | None):
        if group.distributed:
            raise TrainingUsageError("train teacher runs in one process; start it without torchrun")
        self.group, self.command = group, command
        self.epoch_cache: tuple[int, list[Any]] | None = None

    def setup(self, run: TrainingRun) -> dict[str, Any]:
        config = run.config
        self.run, self.config = run, config
        splits = load_labelled_splits(config.dataset, config.text_column, config.label_column, config.dataset_config, config.seed)
        if run.resume:
            self.saved = load_teacher(run.last_dir, run.device)
            self.saved.model.train()
        else:
            self.saved = load_base(config.base, splits.label_names, config.max_length, run.device)
        self.model, self.tokenizer, self.splits = self.saved.model, self.saved.tokenizer, splits
        content = self.saved.inputs["max_length"]
        train_ids = encode_texts(splits.train.texts, self.tokenizer, content, "both")
        self.validation_ids = encode_texts(splits.validation.texts, self.tokenizer, content, "both")
        if not self.validation_ids:
            raise TrainingError(f"{config.dataset}: the validation split is empty; give a dataset with more rows")
        self.batches = ClassifierBatches(train_ids, splits.train.labels, config.batch_size, self.tokenizer.pad_id)
        self.steps_per_epoch = len(self.batches)
        self.total_steps = min(config.epochs * self.steps_per_epoch, config.max_steps or math.inf)
        self.optimizer = make_optimizer([(list(self.model.parameters()), 1.0)], config.weight_decay)
        if run.resume:
            run.restore(self.optimizer)
        run.record = {**run_record(tasks.TEACHER, config, splits, self.command, self.model), "base": config.base}
        self.model.train()
        return start_info(run, self, len(train_ids))

    def _batch(self, epoch: int, index: int) -> np.ndarray:
        if self.epoch_cache is None or self.epoch_cache[0] != epoch:
            self.epoch_cache = (epoch, self.batches.epoch(epoch, self.config.seed))
        return self.epoch_cache[1][index]

    def train_step(self, epoch: int, index: int) -> loop.StepResult:
        rows = self._batch(epoch, index)
        ids, lengths, labels = (t.to(self.run.device) for t in self.batches.collate(rows))
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(
            self.run.device, self.config.precision
        ):  # bf16: 1.6x faster on a CPU with AMX (benchmarks/sentiment_precision.py)
            logits = self.model(ids, lengths)
        loss = F.cross_entropy(logits.float(), labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        return loop.StepResult(loss.detach(), len(rows), (logits.argmax(dim=1) == labels).sum())

    def evaluates_after(self, step: int, index: int) -> bool:
        every = self.config.eval_every
        return step == self.total_steps or (step % every == 0 if every else index == self.steps_per_epoch - 1)

    def window_metrics(self, loss: torch.Tensor, correct: torch.Tensor, steps: int, items: int) -> dict[str, float]:
        return {"train_loss": float(loss) / steps, "train_accuracy": float(correct) / items}

    def validate(self, run: TrainingRun, epoch: int) -> tuple[dict[str, Any], float]:
        pad_id, progress = self.tokenizer.pad_id, run.validation_progress
        val_loss, accuracy, macro_f1 = validation_figures(self.model, self.validation_ids, self.splits, pad_id, progress)
        return {"step": run.step, "epoch": epoch, "loss": val_loss, "accuracy": accuracy, "macro_f1": macro_f1}, accuracy

    def snapshot(self, run: TrainingRun, validation: dict[str, Any] | None) -> TeacherModel:
        record = run.training_record(validation)
        saved = self.saved
        return TeacherModel(self.model, self.tokenizer, tasks.CLASSIFIER, saved.labels, record, None, saved.inputs)

    def finish(self) -> None:
        """One process only: there are no replicas to compare."""
