"""Training loop of the language model.

Stateful truncated BPTT over contiguous streams (Williams & Peng 1990; the
layout of pytorch/examples' word_language_model): the LSTM state is carried from
batch to batch and detached in one place. AdamW, gradient-norm clipping, linear
warm-up then cosine decay, evaluation over the whole validation split, best and
last model directories, exact resume, early stopping, and an abort with a
message on NaN or exploding loss (as char-rnn does).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from nlp_lstm import checkpoint
from nlp_lstm.checkpoint import SavedModel
from nlp_lstm.config import ModelConfig, TrainConfig
from nlp_lstm.data import LMBatches, encode_stream, load_text_splits
from nlp_lstm.evaluate import language_model_loss, lm_metrics, predicted_characters
from nlp_lstm.model import LanguageModel, detach_state
from nlp_lstm.tokenizer import build_tokenizer
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
    stop_signals,
)

LOG_EVERY = 10


def _new_model(
    config: TrainConfig, texts: list[str], model_options: dict[str, Any], device: torch.device
) -> tuple[LanguageModel, Any]:
    if config.init_from:  # fine-tune an existing language model on new text
        saved = checkpoint.load(config.init_from, device=device, kind="lm")
        if saved.tokenizer.kind != config.tokenizer:
            raise TrainingUsageError(
                f"--init-from {config.init_from} uses a {saved.tokenizer.kind} tokenizer, not {config.tokenizer}; drop --tokenizer or match it"
            )
        return saved.model.train(), saved.tokenizer
    tokenizer = build_tokenizer(config.tokenizer, texts, config.vocab_size)
    try:
        model_config = ModelConfig(vocab_size=tokenizer.vocab_size, **model_options)
    except TypeError as error:
        raise TrainingUsageError(f"unknown model option: {error}") from None
    return LanguageModel(model_config).to(device), tokenizer


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
    """
    callback = callback or Callback()
    run = TrainingRun(output_dir, config, "lm", resume, overwrite, given_options)
    config = run.config
    splits = load_text_splits(config.dataset, config.text_column, config.dataset_config, config.seed)
    if resume:
        saved = checkpoint.load(run.last_dir, device=run.device, kind="lm")
        model, tokenizer = saved.model, saved.tokenizer
    else:
        model, tokenizer = _new_model(config, splits.train, model_options or {}, run.device)
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
        if "state_h" in extra:
            state = (extra["state_h"].to(run.device), extra["state_c"].to(run.device))

    parameters = sum(p.numel() for p in model.parameters())
    run.record = {"kind": "lm", "dataset": config.dataset, "splits": splits.source, "command": command, "parameters": parameters}
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

    def save_last(validation_metrics: dict[str, Any] | None) -> SavedModel:
        saved = SavedModel(model, tokenizer, "lm", None, run.training_record(validation_metrics))
        tensors = {} if state is None else {"state_h": state[0], "state_c": state[1]}
        run.save_last(saved, optimizer, tensors)
        return saved

    model.train()
    window_loss = torch.zeros((), device=run.device)
    window_start, window_steps = time.perf_counter(), 0
    stopped_early = False
    epoch_cache: tuple[int, torch.Tensor, torch.Tensor] | None = None
    with stop_signals() as stop_requested:
        while run.step < config.max_steps:
            if stop_requested.is_set():
                save_last(run.best and run.best["validation"])
                raise run.interrupted()
            epoch, index = divmod(run.step, len(batches))
            if epoch_cache is None or epoch_cache[0] != epoch:
                epoch_cache = (epoch, *batches.epoch(epoch, config.seed))
                if index == 0:
                    state = None  # each epoch's layout differs: start its rows from a zero state
            inputs, targets = epoch_cache[1][index].to(run.device), epoch_cache[2][index].to(run.device)
            if state is not None:
                state = detach_state(state)  # truncated BPTT: keep the values, cut the graph
                if config.state_reset:
                    keep = (torch.rand(state[0].shape[1], device=run.device) >= config.state_reset).to(state[0].dtype)
                    state = (state[0] * keep[:, None], state[1] * keep[:, None])  # (layers, B, H) * (B, 1)
            lr = learning_rate(run.step, config.max_steps, config)
            set_learning_rate(optimizer, lr)
            logits, state = model(inputs, state)
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            run.step += 1
            window_loss += loss.detach()
            window_steps += 1

            is_eval = run.step % config.eval_every == 0 or run.step == config.max_steps
            if window_steps == LOG_EVERY or is_eval:
                mean_loss = float(window_loss) / window_steps  # one device sync per log window
                if error := run.diverged(mean_loss, explode_limit, "training"):
                    raise error
                seconds = time.perf_counter() - window_start
                entry = {
                    "step": run.step,
                    "epoch": epoch,
                    "train_loss": mean_loss,
                    "lr": lr,
                    "tokens_per_s": window_steps * inputs.numel() / seconds,
                    "elapsed_s": run.elapsed(),
                }
                run.log(entry)
                callback.on_step(entry)
                window_loss.zero_()
                window_start, window_steps = time.perf_counter(), 0

            if is_eval:
                nats, count = language_model_loss(model, validation, config.eval_batch_size, config.seq_len)
                if error := run.diverged(nats / count, explode_limit, "validation"):  # never save a model that blew up
                    raise error
                val = {"step": run.step, **lm_metrics(nats, count, validation_characters)}
                saved = save_last(val)
                improved = run.consider(saved, val, -val["nats_per_char"])
                run.log({"step": run.step, "split": "validation", **val, "best": improved})
                callback.on_eval({**val, "best": improved, "best_bits_per_char": run.best["validation"]["bits_per_char"]})
                window_start = time.perf_counter()  # do not count evaluation time as training time
                if run.out_of_patience(config.patience):
                    stopped_early = True
                    break

    result = run.result(stopped_early)
    callback.on_end(result)
    return result
