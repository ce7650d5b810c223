"""Training loop of the character language model.

Stateful truncated BPTT over contiguous streams (Williams & Peng 1990; the
layout of pytorch/examples' word_language_model): the LSTM state is carried from
batch to batch and detached in one place. AdamW, gradient-norm clipping, linear
warm-up then cosine decay, evaluation over the whole validation split, best and
last model directories, exact resume, early stopping, and an abort with a
message on NaN or exploding loss (as char-rnn does).

The loop reports through a :class:`Callback`, never prints.
"""

from __future__ import annotations

import json
import math
import shutil
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from nlp_lstm import checkpoint
from nlp_lstm.checkpoint import SavedModel
from nlp_lstm.config import ModelConfig, TrainConfig
from nlp_lstm.data import LMBatches, encode_stream, load_text_splits
from nlp_lstm.errors import NlpLstmError
from nlp_lstm.evaluate import language_model_loss, lm_metrics
from nlp_lstm.model import LanguageModel, detach_state
from nlp_lstm.tokenizer import CharTokenizer

RUN_CONFIG_FILE = "train_config.json"
METRICS_FILE = "metrics.jsonl"
LOG_EVERY = 10
# Options that may differ when a stopped run is resumed; every other one must match.
RESUMABLE_CHANGES = ("max_steps", "eval_every", "patience", "device", "threads")


class TrainingError(NlpLstmError):
    """Training cannot start or had to stop (diverged, interrupted, bad output directory)."""


class Callback:
    """Receives progress; override what you need. The CLI renders these with rich."""

    def on_start(self, info: dict[str, Any]) -> None: ...

    def on_step(self, metrics: dict[str, Any]) -> None: ...

    def on_eval(self, metrics: dict[str, Any]) -> None: ...

    def on_end(self, result: TrainResult) -> None: ...


@dataclass
class TrainResult:
    output_dir: Path
    best_dir: Path
    last_dir: Path
    step: int
    best_validation: dict[str, Any]
    wall_time_s: float
    stopped_early: bool


def select_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then CPU."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise TrainingError(f"--device {name}: CUDA is not available on this machine; use --device cpu or auto")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise TrainingError("--device mps: Apple MPS is not available on this machine; use --device cpu or auto")
    return torch.device(name)


def learning_rate(step: int, config: TrainConfig) -> float:
    """Linear warm-up to ``lr`` over ``warmup_steps``, then cosine decay to ``lr * min_lr_ratio``."""
    if step < config.warmup_steps:
        return config.lr * (step + 1) / config.warmup_steps
    progress = (step - config.warmup_steps) / max(1, config.max_steps - config.warmup_steps)
    cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
    return config.lr * (config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine)


def make_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    # Decay matrices only; biases and the embedding's rows are left undecayed.
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embedding" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embedding" not in n)]
    groups = [{"params": decay, "weight_decay": config.weight_decay}, {"params": rest, "weight_decay": 0.0}]
    return torch.optim.AdamW(groups, lr=config.lr, betas=(0.9, 0.99))


@contextmanager
def stop_signals() -> Iterator[threading.Event]:
    """Turn Ctrl-C and SIGTERM into a flag the loop checks between steps, so a save is never torn."""
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, lambda *_: requested.set())
    try:
        yield requested
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def prepare_output(output_dir: Path, resume: bool, overwrite: bool) -> None:
    if resume:
        if not (output_dir / "last" / checkpoint.STATE_JSON_FILE).exists():
            raise TrainingError(f"{output_dir}: no resumable run here (missing last/{checkpoint.STATE_JSON_FILE}); drop --resume")
        return
    if output_dir.exists() and any(output_dir.iterdir()):
        if not overwrite:
            raise TrainingError(f"{output_dir}: already holds a run; pass --resume to continue it or --overwrite to replace it")
        if not (output_dir / RUN_CONFIG_FILE).exists():
            raise TrainingError(
                f"{output_dir}: is not an nlp-lstm run directory; refusing to overwrite it, choose another --output"
            )
        shutil.rmtree(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)


def resolve_resume_config(output_dir: Path, requested: TrainConfig, given: set[str]) -> TrainConfig:
    saved = TrainConfig.from_dict(json.loads((output_dir / RUN_CONFIG_FILE).read_text()))
    changed = {k for k in given if getattr(requested, k) != getattr(saved, k)}
    refused = sorted(changed - set(RESUMABLE_CHANGES))
    if refused:
        raise TrainingError(
            f"--resume keeps the run's settings; these differ from it: {', '.join(refused)} (only {', '.join(RESUMABLE_CHANGES)} may change)"
        )
    return saved.replace(**{k: getattr(requested, k) for k in changed})


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
    """Train a character LM on ``config.dataset``; write ``best/``, ``last/`` and ``metrics.jsonl`` under ``output_dir``.

    ``model_options`` are :class:`ModelConfig` fields other than ``vocab_size``.
    With ``resume``, the run's saved settings are used; ``given_options`` names the
    options the caller set explicitly, so only those are compared with the run's.
    """
    callback = callback or Callback()
    output_dir = Path(output_dir)
    prepare_output(output_dir, resume, overwrite)
    if resume:
        config = resolve_resume_config(output_dir, config, given_options if given_options is not None else set())
    device = select_device(config.device)
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)

    splits = load_text_splits(config.dataset, config.text_column, config.dataset_config, config.seed)
    if resume:
        saved = checkpoint.load(output_dir / "last", device=device, kind="lm")
        model, tokenizer = saved.model, saved.tokenizer
    else:
        tokenizer = CharTokenizer.build(splits.train)
        try:
            model_config = ModelConfig(vocab_size=tokenizer.vocab_size, **(model_options or {}))
        except TypeError as error:
            raise TrainingError(f"unknown model option: {error}") from None
        model = LanguageModel(model_config).to(device)
    batches = LMBatches(encode_stream(splits.train, tokenizer), config.batch_size, config.seq_len)
    validation = encode_stream(splits.validation, tokenizer)
    if len(validation) < 2:
        raise TrainingError("the validation split is empty; give a dataset with more text")
    optimizer = make_optimizer(model, config)

    step, best, evals_since_best, elapsed_before, state = 0, None, 0, 0.0, None
    if resume:
        extra, info = checkpoint.load_trainer_state(output_dir / "last", optimizer)
        step, best, evals_since_best, elapsed_before = info["step"], info["best"], info["evals_since_best"], info["elapsed_s"]
        torch.set_rng_state(extra["torch_rng"])
        if "state_h" in extra:
            state = (extra["state_h"].to(device), extra["state_c"].to(device))
    else:
        (output_dir / RUN_CONFIG_FILE).write_text(json.dumps(config.to_dict(), indent=2) + "\n")

    parameters = sum(p.numel() for p in model.parameters())
    callback.on_start(
        {
            "step": step,
            "max_steps": config.max_steps,
            "device": str(device),
            "parameters": parameters,
            "vocab_size": tokenizer.vocab_size,
            "train_tokens": len(batches.stream),
            "steps_per_epoch": len(batches),
            "splits": splits.source,
            "model": model,
        }
    )
    explode_limit = 3 * math.log(tokenizer.vocab_size)
    record = {
        "dataset": config.dataset,
        "splits": splits.source,
        "command": command,
        "train_config": config.to_dict(),
        "parameters": parameters,
        "device": str(device),
        "torch": torch.__version__,
    }

    def check_divergence(loss: float, split: str, at_step: int) -> None:
        if not math.isfinite(loss) or loss > explode_limit:
            kept = (
                f"the last good checkpoint is kept in {output_dir / 'last'}"
                if (output_dir / "last").exists()
                else "nothing was saved yet"
            )
            raise TrainingError(
                f"{split} loss became {loss:.3g} at step {at_step} (diverged); {kept}. Try a lower --lr or --grad-clip"
            )

    def save_last(val: dict[str, Any] | None) -> dict[str, Any]:
        training = {
            **record,
            "step": step,
            "wall_time_s": round(elapsed_before + time.perf_counter() - started, 1),
            "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "validation": val,
        }
        tensors = {"torch_rng": torch.get_rng_state()}
        if state is not None:
            tensors.update(state_h=state[0], state_c=state[1])
        info = {"step": step, "best": best, "evals_since_best": evals_since_best, "elapsed_s": training["wall_time_s"]}
        with checkpoint.atomic_directory(output_dir / "last") as staging:
            checkpoint.write_model_files(staging, SavedModel(model, tokenizer, "lm", None, training))
            checkpoint.save_trainer_state(staging, optimizer, tensors, info)
        return training

    def log(entry: dict[str, Any]) -> None:
        with open(output_dir / METRICS_FILE, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")

    model.train()
    started = time.perf_counter()
    window_loss = torch.zeros((), device=device)
    window_start, window_steps = time.perf_counter(), 0
    stopped_early = False
    epoch_cache: tuple[int, torch.Tensor, torch.Tensor] | None = None
    with stop_signals() as stop_requested:
        while step < config.max_steps:
            if stop_requested.is_set():
                save_last(best and best.get("validation"))
                raise TrainingError(
                    f"stopped at step {step}; the run is saved in {output_dir / 'last'}. "
                    f"Resume with: nlp-lstm train lm --output {output_dir} --resume"
                )
            epoch, index = divmod(step, len(batches))
            if epoch_cache is None or epoch_cache[0] != epoch:
                epoch_cache = (epoch, *batches.epoch(epoch, config.seed))
                if index == 0:
                    state = None  # each epoch's layout differs: start its rows from a zero state
            inputs, targets = epoch_cache[1][index].to(device), epoch_cache[2][index].to(device)
            if state is not None:
                state = detach_state(state)  # truncated BPTT: keep the values, cut the graph
            lr = learning_rate(step, config)
            for group in optimizer.param_groups:
                group["lr"] = lr
            logits, state = model(inputs, state)
            loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            step += 1
            window_loss += loss.detach()
            window_steps += 1

            is_eval = step % config.eval_every == 0 or step == config.max_steps
            if window_steps == LOG_EVERY or is_eval:
                mean_loss = float(window_loss) / window_steps  # one device sync per log window
                check_divergence(mean_loss, "training", step)
                seconds = time.perf_counter() - window_start
                entry = {
                    "step": step,
                    "epoch": epoch,
                    "train_loss": mean_loss,
                    "lr": lr,
                    "tokens_per_s": window_steps * inputs.numel() / seconds,
                    "elapsed_s": elapsed_before + time.perf_counter() - started,
                }
                log(entry)
                callback.on_step(entry)
                window_loss.zero_()
                window_start, window_steps = time.perf_counter(), 0

            if is_eval:
                nats, count = language_model_loss(model, validation, config.eval_batch_size, config.seq_len)
                check_divergence(nats / count, "validation", step)  # never save a model that blew up
                val = {"step": step, **lm_metrics(nats, count)}
                improved = best is None or val["nats_per_char"] < best["validation"]["nats_per_char"]
                evals_since_best = 0 if improved else evals_since_best + 1
                training = save_last(val)
                if improved:
                    best = {"step": step, "validation": val}
                    training = {**training, "validation": val}
                    checkpoint.save(SavedModel(model, tokenizer, "lm", None, training), output_dir / "best")
                log({"step": step, "split": "validation", **val, "best": improved})
                callback.on_eval({**val, "best": improved, "best_bits_per_char": best["validation"]["bits_per_char"]})
                window_start = time.perf_counter()  # do not count evaluation time as training time
                if config.patience and evals_since_best >= config.patience:
                    stopped_early = True
                    break

    result = TrainResult(
        output_dir,
        output_dir / "best",
        output_dir / "last",
        step,
        best["validation"] if best else {},
        elapsed_before + time.perf_counter() - started,
        stopped_early,
    )
    callback.on_end(result)
    return result
