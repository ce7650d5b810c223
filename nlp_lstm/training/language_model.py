"""Training recipe of the language model (the loop itself is ``training/loop.py``).

Stateful truncated BPTT over contiguous streams (Williams & Peng 1990; the
layout of pytorch/examples' word_language_model): the LSTM state is carried from
batch to batch and detached in one place. AdamW, gradient-norm clipping, linear
warm-up then cosine decay, evaluation over the whole validation split, best and
last model directories, exact resume, early stopping, and an abort with a
message on NaN or exploding loss (as char-rnn does).

Under ``torchrun --nproc-per-node N`` each process takes a contiguous block of
``batch_size / N`` rows of every batch and DistributedDataParallel averages the
gradients, so N processes take the step one process would take on the whole batch
(up to the order of float sums; with dropout, statistically rather than bit for bit:
each process draws its own masks). Rank 0 evaluates, saves and logs; the carried
state is saved for the whole batch, so a run resumes with any number of processes
that divides ``batch_size``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nlp_lstm import checkpoint, tasks
from nlp_lstm.checkpoint import ModelBundle
from nlp_lstm.config import REGULARISATION_FIELDS, ModelConfig
from nlp_lstm.data.batching import LMBatches, encode_stream
from nlp_lstm.data.sources import load_text_splits
from nlp_lstm.distributed import Processes
from nlp_lstm.loading import load_model
from nlp_lstm.metrics import language_model_loss, loss_metrics, predicted_characters
from nlp_lstm.model import LanguageModel, detach_state
from nlp_lstm.precision import autocast
from nlp_lstm.tokenizer import with_newline
from nlp_lstm.train_config import TrainConfig, changed_settings
from nlp_lstm.training import loop
from nlp_lstm.training.optim import make_optimizer, mark_embeddings_undecayed
from nlp_lstm.training.run import RunOptions, TrainingError, TrainingRun, TrainingUsageError, TrainResult, shared_tokenizer
from nlp_lstm.vocabulary_growth import grown, new_characters

STATE_RESET_STREAM = 1  # keeps the state-reset draws apart from the epoch offsets, seeded by [seed, epoch]


def _new_model(
    config: TrainConfig, texts: Any, device: torch.device, group: Processes
) -> tuple[LanguageModel, Any, dict[str, Any] | None]:
    """A new model and tokenizer, and with ``init_from`` the training record of the model it starts from.

    That record also says which characters the fine-tuning text added to the vocabulary (``added_characters``).
    """
    if config.init_from:  # fine-tune an existing language model on new text
        saved = load_model(config.init_from, device=device, kind=tasks.LM)  # a directory or a model name
        if saved.tokenizer.kind != config.tokenizer:
            raise TrainingUsageError(
                f"--init-from {config.init_from} uses a {saved.tokenizer.kind} tokenizer, not {config.tokenizer}; drop --tokenizer or match it"
            )
        model, tokenizer = saved.model, saved.tokenizer
        added = new_characters(tokenizer, texts) if config.grow_vocabulary and tokenizer.kind == "char" else []
        if added:  # characters the model never saw get rows of their own instead of "unknown"
            model, tokenizer = grown(model, tokenizer, added)
        # The shape comes from the saved model; dropout asked for (set apart from the default) replaces its own.
        asked = changed_settings(config)
        regularisation = {k: getattr(config.encoder, k) for k in REGULARISATION_FIELDS if k in asked}
        if regularisation:
            replaced = LanguageModel(model.config.replace(**regularisation)).to(device)
            replaced.load_state_dict(model.state_dict(), strict=True)
            model = replaced
        return model.train(), tokenizer, {**saved.training, "added_characters": "".join(added)}
    tokenizer = with_newline(shared_tokenizer(group, config.tokenizer, texts, config.vocab_size))
    model_config = ModelConfig(vocab_size=tokenizer.vocab_size, **config.encoder.to_dict())
    return LanguageModel(model_config).to(device), tokenizer, None


def state_reset_keep(seed: int, step: int, batch_size: int, chance: float) -> torch.Tensor:
    """Which rows of the whole batch keep their carried state at ``step`` (1) or restart from zero (0).

    Drawn from (seed, step) alone, so every process draws the same mask for the whole batch
    and a resumed run draws the masks an uninterrupted one would.
    """
    draws = np.random.default_rng([seed, step, STATE_RESET_STREAM]).random(batch_size)
    return torch.from_numpy(draws >= chance)


def train_language_model(config: TrainConfig, run: RunOptions | str | Path) -> TrainResult:
    """Train a language model on ``config.dataset``; write ``best/``, ``last/`` and ``metrics.jsonl`` in ``run.output``.

    :func:`nlp_lstm.train` for a :class:`TrainConfig`. With ``run.resume``, the run's saved settings are
    used, and those of ``config`` that differ from the defaults are compared with them.
    Started by torchrun, it trains data-parallel and only rank 0 calls ``run.callback``.
    """
    return loop.run_recipe(LanguageModelRecipe, tasks.LM, config, run)


class LanguageModelRecipe(loop.Recipe):
    """Stateful truncated BPTT on one stream: the LSTM state is carried from batch to batch."""

    throughput_name, best_metric = "tokens_per_s", "bits_per_char"

    def __init__(self, group: Processes, command: str | None):
        self.group, self.command = group, command
        self.state: tuple[torch.Tensor, torch.Tensor] | None = None
        self.epoch_cache: tuple[int, torch.Tensor, torch.Tensor] | None = None

    def setup(self, run: TrainingRun) -> dict[str, Any]:
        config, group = run.config, self.group
        if config.batch_size % group.world_size:
            raise TrainingUsageError(
                f"--batch-size {config.batch_size} is the batch of all {group.world_size} processes together "
                "and must be a multiple of their number (each takes an equal share of the rows)"
            )
        self.run, self.config, self.rows = run, config, group.rows(config.batch_size)
        splits = load_text_splits(config.dataset, config.text_column, config.dataset_config, config.seed)
        if run.resume:
            saved = checkpoint.load(run.last_dir, device=run.device, kind=tasks.LM)
            self.model, self.tokenizer, parent = saved.model, saved.tokenizer, saved.training.get("started_from")
            if parent is not None:  # what the first start added stays in the record
                parent = {**parent, "added_characters": saved.training.get("added_characters", "")}
        else:
            self.model, self.tokenizer, parent = _new_model(config, splits.train, run.device, group)
        self.batches = LMBatches(encode_stream(splits.train, self.tokenizer), config.batch_size, config.seq_len)
        self.validation = encode_stream(splits.validation, self.tokenizer)
        if len(self.validation) < 2:
            raise TrainingError("the validation split is empty; give a dataset with more text")
        self.validation_characters = predicted_characters(splits.validation, self.tokenizer, self.validation)
        self.total_steps, self.steps_per_epoch = config.max_steps, len(self.batches)
        self.divergence_limit = 3 * math.log(self.tokenizer.vocab_size)
        mark_embeddings_undecayed(self.model)
        self.optimizer = make_optimizer([(list(self.model.parameters()), 1.0)], config.weight_decay)
        if run.resume:
            extra = run.restore(self.optimizer)
            if "state_h" in extra:  # saved for the whole batch: (layers, batch_size, hidden)
                self.state = (extra["state_h"][:, self.rows].to(run.device), extra["state_c"][:, self.rows].to(run.device))
        self.replica = group.replicate(self.model)
        group.seed_own_randomness(config.seed, run.step)
        return self._describe(run, splits.source, parent)

    def _describe(self, run: TrainingRun, source: str, parent: dict[str, Any] | None) -> dict[str, Any]:
        """Record the run's provenance; return what the start callback shows."""
        parameters = sum(p.numel() for p in self.model.parameters())
        run.record = {"kind": tasks.LM, "dataset": self.config.dataset, "splits": source, "command": self.command}
        run.record["parameters"] = parameters
        added = (parent or {}).pop("added_characters", "")
        if parent is not None:  # provenance of a fine-tuned model: the training record of the model it started from
            run.record["started_from"] = parent
            run.record["added_characters"] = added
        self.model.train()
        return {
            "step": run.step,
            "max_steps": self.config.max_steps,
            "device": str(run.device),
            "parameters": parameters,
            "vocab_size": self.tokenizer.vocab_size,
            "added_characters": len(added),
            "train_tokens": len(self.batches.stream),
            "steps_per_epoch": len(self.batches),
            "splits": source,
            "model": self.model,
        }

    def _batch(self, epoch: int, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """This process's rows of batch ``index``; an epoch's first batch starts them from a zero state."""
        if self.epoch_cache is None or self.epoch_cache[0] != epoch:
            inputs_all, targets_all = self.batches.epoch(epoch, self.config.seed)
            self.epoch_cache = (epoch, inputs_all[:, self.rows], targets_all[:, self.rows])
            if index == 0:
                self.state = None  # each epoch's layout differs: start its rows from a zero state
        device = self.run.device
        return self.epoch_cache[1][index].to(device, torch.long), self.epoch_cache[2][index].to(device, torch.long)

    def train_step(self, epoch: int, index: int) -> loop.StepResult:
        inputs, targets = self._batch(epoch, index)
        config, state = self.config, self.state
        if state is not None:
            state = detach_state(state)  # truncated BPTT: keep the values, cut the graph
            if config.state_reset:
                keep = state_reset_keep(config.seed, self.run.step, config.batch_size, config.state_reset)[self.rows]
                keep = keep.to(self.run.device, state[0].dtype)
                state = (state[0] * keep[:, None], state[1] * keep[:, None])  # (layers, B, H) * (B, 1)
        with autocast(self.run.device, config.precision):
            logits, state = self.replica(inputs, state)
            loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
        self.state = (state[0].float(), state[1].float())  # carried between windows in float32 whatever the precision
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()  # under DDP, also averages the gradients over the processes
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), config.grad_clip)
        self.optimizer.step()
        return loop.StepResult(loss.detach(), inputs.numel() * self.group.world_size)

    def evaluates_after(self, step: int, index: int) -> bool:
        return step % self.config.eval_every == 0 or step == self.config.max_steps

    def window_metrics(self, loss: torch.Tensor, correct: torch.Tensor, steps: int, items: int) -> dict[str, float]:
        return {"train_loss": float(self.group.mean(loss)) / steps}  # one device sync per log window

    def validate(self, run: TrainingRun, epoch: int) -> tuple[dict[str, Any], float]:
        # Rank 0 evaluates and tells the others, so every process takes the same decisions.
        config, group = self.config, self.group
        nats, count = (
            language_model_loss(
                self.model, self.validation, config.eval_batch_size, config.seq_len, progress=run.validation_progress
            )
            if group.is_main
            else (0.0, 0)
        )
        nats, count = group.from_main([nats, count])
        if error := run.diverged(nats / count, self.divergence_limit, "validation"):  # never save a model that blew up
            raise error
        validation = {"step": run.step, **loss_metrics(nats, int(count), self.validation_characters)}
        return validation, -validation["nats_per_char"]

    def snapshot(self, run: TrainingRun, validation: dict[str, Any] | None) -> ModelBundle:
        return ModelBundle(self.model, self.tokenizer, tasks.LM, None, run.training_record(validation))

    def trainer_tensors(self) -> dict[str, torch.Tensor]:
        if self.state is None:
            return {}
        group = self.group
        return {"state_h": group.gather_rows(self.state[0], 1), "state_c": group.gather_rows(self.state[1], 1)}
