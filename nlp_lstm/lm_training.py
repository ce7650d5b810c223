"""Training loop of the language model.

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
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nlp_lstm import checkpoint
from nlp_lstm.checkpoint import SavedModel
from nlp_lstm.config import REGULARISATION_FIELDS, ModelConfig, TrainConfig
from nlp_lstm.data import LMBatches, encode_stream, load_text_splits
from nlp_lstm.distributed import Processes, processes
from nlp_lstm.evaluate import language_model_loss, lm_metrics, predicted_characters
from nlp_lstm.model import LanguageModel, detach_state
from nlp_lstm.precision import autocast
from nlp_lstm.tokenizer import with_newline
from nlp_lstm.train import (
    Callback,
    TrainingError,
    TrainingRun,
    TrainingUsageError,
    TrainResult,
    learning_rate,
    make_optimizer,
    mark_embeddings_undecayed,
    set_learning_rate,
    shared_tokenizer,
    stop_signals,
)

LOG_EVERY = 10
STATE_RESET_STREAM = 1  # keeps the state-reset draws apart from the epoch offsets, seeded by [seed, epoch]


def _new_model(
    config: TrainConfig,
    texts: Any,
    model_options: dict[str, Any],
    device: torch.device,
    group: Processes,
    given: set[str],
) -> tuple[LanguageModel, Any, dict[str, Any] | None]:
    """A new model and tokenizer, and with ``init_from`` the training record of the model it starts from."""
    if config.init_from:  # fine-tune an existing language model on new text
        saved = checkpoint.load(config.init_from, device=device, kind="lm")
        if saved.tokenizer.kind != config.tokenizer:
            raise TrainingUsageError(
                f"--init-from {config.init_from} uses a {saved.tokenizer.kind} tokenizer, not {config.tokenizer}; drop --tokenizer or match it"
            )
        # The shape comes from the saved model; dropout given on the command line replaces its own.
        regularisation = {k: v for k, v in model_options.items() if k in REGULARISATION_FIELDS and k in given}
        if not regularisation:
            return saved.model.train(), saved.tokenizer, saved.training
        model = LanguageModel(saved.config.replace(**regularisation)).to(device)
        model.load_state_dict(saved.model.state_dict(), strict=True)
        return model.train(), saved.tokenizer, saved.training
    tokenizer = with_newline(shared_tokenizer(group, config.tokenizer, texts, config.vocab_size))
    try:
        model_config = ModelConfig(vocab_size=tokenizer.vocab_size, **model_options)
    except TypeError as error:
        raise TrainingUsageError(f"unknown model option: {error}") from None
    return LanguageModel(model_config).to(device), tokenizer, None


def state_reset_keep(seed: int, step: int, batch_size: int, chance: float) -> torch.Tensor:
    """Which rows of the whole batch keep their carried state at ``step`` (1) or restart from zero (0).

    Drawn from (seed, step) alone, so every process draws the same mask for the whole batch
    and a resumed run draws the masks an uninterrupted one would.
    """
    draws = np.random.default_rng([seed, step, STATE_RESET_STREAM]).random(batch_size)
    return torch.from_numpy(draws >= chance)


def train_language_model(
    config: TrainConfig,
    output_dir: str | Path,
    model_options: dict[str, Any] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    callback: Callback | None = None,
    command: str | None = None,
    given_options: set[str] | None = None,
) -> TrainResult:
    """Train a language model on ``config.dataset``; write ``best/``, ``last/`` and ``metrics.jsonl`` under ``output_dir``.

    ``model_options`` are :class:`ModelConfig` fields other than ``vocab_size``.
    With ``resume``, the run's saved settings are used; ``given_options`` names the
    options the caller set explicitly, so only those are compared with the run's.
    Started by torchrun, it trains data-parallel and only rank 0 calls ``callback``.
    """
    with (
        processes() as group,
        TrainingRun(output_dir, config, "lm", resume, overwrite, given_options, group, model_options) as run,
    ):
        return _train(run, model_options, callback, command, given_options, group)


def _train(
    run: TrainingRun,
    model_options: dict[str, Any] | None,
    callback: Callback | None,
    command: str | None,
    given_options: set[str] | None,
    group: Processes,
) -> TrainResult:
    callback = (callback if group.is_main else None) or Callback()
    config, resume = run.config, run.resume
    if config.batch_size % group.world_size:
        raise TrainingUsageError(
            f"--batch-size {config.batch_size} is the batch of all {group.world_size} processes together "
            "and must be a multiple of their number (each takes an equal share of the rows)"
        )
    rows = group.rows(config.batch_size)
    splits = load_text_splits(config.dataset, config.text_column, config.dataset_config, config.seed)
    parent = None
    if resume:
        saved = checkpoint.load(run.last_dir, device=run.device, kind="lm")
        model, tokenizer, parent = saved.model, saved.tokenizer, saved.training.get("started_from")
    else:
        model, tokenizer, parent = _new_model(
            config, splits.train, model_options or {}, run.device, group, given_options or set()
        )
    batches = LMBatches(encode_stream(splits.train, tokenizer), config.batch_size, config.seq_len)
    validation = encode_stream(splits.validation, tokenizer)
    if len(validation) < 2:
        raise TrainingError("the validation split is empty; give a dataset with more text")
    validation_characters = predicted_characters(splits.validation, tokenizer, validation)
    mark_embeddings_undecayed(model)
    optimizer = make_optimizer([(list(model.parameters()), 1.0)], config.weight_decay)

    state = None
    if resume:
        extra = run.restore(optimizer)
        if "state_h" in extra:  # saved for the whole batch: (layers, batch_size, hidden)
            state = (extra["state_h"][:, rows].to(run.device), extra["state_c"][:, rows].to(run.device))
    replica = group.replicate(model)
    group.seed_own_randomness(config.seed, run.step)

    parameters = sum(p.numel() for p in model.parameters())
    run.record = {"kind": "lm", "dataset": config.dataset, "splits": splits.source, "command": command, "parameters": parameters}
    if parent is not None:  # provenance of a fine-tuned model: the training record of the model it started from
        run.record["started_from"] = parent
    run.begin()
    callback.on_start(
        {
            "step": run.step,
            "max_steps": config.max_steps,
            "device": str(run.device),
            "parameters": parameters,
            "vocab_size": tokenizer.vocab_size,
            "train_tokens": len(batches.stream),
            "steps_per_epoch": len(batches),
            "splits": splits.source,
            "model": model,
        }
    )
    explode_limit = 3 * math.log(tokenizer.vocab_size)

    def snapshot(validation_metrics: dict[str, Any] | None) -> SavedModel:
        return SavedModel(model, tokenizer, "lm", None, run.training_record(validation_metrics))

    def save_last(saved: SavedModel) -> None:
        whole = None if state is None else (group.gather_rows(state[0], 1), group.gather_rows(state[1], 1))
        run.save_last(saved, optimizer, {} if whole is None else {"state_h": whole[0], "state_c": whole[1]})

    model.train()
    window_loss = torch.zeros((), device=run.device)
    window_start, window_steps = time.perf_counter(), 0
    stopped_early = False
    epoch_cache: tuple[int, torch.Tensor, torch.Tensor] | None = None
    with stop_signals() as stop_requested:
        while run.step < config.max_steps:
            if group.any(stop_requested.is_set()):  # a signal may reach the processes at different steps
                save_last(snapshot(run.best and run.best["validation"]))
                raise run.interrupted()
            epoch, index = divmod(run.step, len(batches))
            if epoch_cache is None or epoch_cache[0] != epoch:
                inputs_all, targets_all = batches.epoch(epoch, config.seed)
                epoch_cache = (epoch, inputs_all[:, rows], targets_all[:, rows])
                if index == 0:
                    state = None  # each epoch's layout differs: start its rows from a zero state
            inputs, targets = epoch_cache[1][index].to(run.device, torch.long), epoch_cache[2][index].to(run.device, torch.long)
            if state is not None:
                state = detach_state(state)  # truncated BPTT: keep the values, cut the graph
                if config.state_reset:
                    keep = state_reset_keep(config.seed, run.step, config.batch_size, config.state_reset)[rows]
                    keep = keep.to(run.device, state[0].dtype)
                    state = (state[0] * keep[:, None], state[1] * keep[:, None])  # (layers, B, H) * (B, 1)
            lr = learning_rate(run.step, config.max_steps, config)
            set_learning_rate(optimizer, lr)
            with autocast(run.device, config.precision):
                logits, state = replica(inputs, state)
                loss = F.cross_entropy(logits.flatten(0, 1).float(), targets.flatten())
            state = (state[0].float(), state[1].float())  # carried between windows in float32 whatever the precision
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # under DDP, also averages the gradients over the processes
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            run.step += 1
            window_loss += loss.detach()
            window_steps += 1

            is_eval = run.step % config.eval_every == 0 or run.step == config.max_steps
            if window_steps == LOG_EVERY or is_eval:
                mean_loss = float(group.mean(window_loss)) / window_steps  # one device sync per log window
                if error := run.diverged(mean_loss, explode_limit, "training"):
                    raise error
                seconds = time.perf_counter() - window_start
                entry = {
                    "step": run.step,
                    "epoch": epoch,
                    "train_loss": mean_loss,
                    "lr": lr,
                    "tokens_per_s": window_steps * inputs.numel() * group.world_size / seconds,
                    "elapsed_s": run.elapsed(),
                }
                run.log(entry)
                callback.on_step(entry)
                window_loss.zero_()
                window_start, window_steps = time.perf_counter(), 0

            if is_eval:
                # Rank 0 evaluates and tells the others, so every process takes the same decisions below.
                nats, count = (
                    language_model_loss(model, validation, config.eval_batch_size, config.seq_len) if group.is_main else (0.0, 0)
                )
                nats, count = group.from_main([nats, count])
                if error := run.diverged(nats / count, explode_limit, "validation"):  # never save a model that blew up
                    raise error
                val = {"step": run.step, **lm_metrics(nats, int(count), validation_characters)}
                saved = snapshot(val)
                improved = run.consider(saved, val, -val["nats_per_char"])  # best/ first, so last/ records it
                save_last(saved)
                run.log({"step": run.step, "split": "validation", **val, "best": improved})
                callback.on_eval({**val, "best": improved, "best_bits_per_char": run.best["validation"]["bits_per_char"]})
                window_start = time.perf_counter()  # do not count evaluation time as training time
                if run.out_of_patience(config.patience):
                    stopped_early = True
                    break

    group.save_replica(model)
    result = run.result(stopped_early)
    callback.on_end(result)
    return result
