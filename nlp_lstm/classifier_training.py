"""Training loop of the text classifier, from scratch or from a language model.

Cross-entropy, AdamW, gradient clipping, warm-up then cosine decay, evaluation on
the validation split after every epoch, best-model selection by validation
accuracy, early stopping, exact resume. With ``init_from`` the encoder and
tokenizer of a language model are copied in and fine-tuned the ULMFiT way
(Howard & Ruder 2018): the head alone first (``freeze_epochs``), then one more
layer group unfrozen per epoch from the top (gradual unfreezing), each lower
group with a learning rate ``layer_lr_decay`` times smaller (discriminative
fine-tuning).
"""

from __future__ import annotations

import time
from functools import partial
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from nlp_lstm import checkpoint
from nlp_lstm.checkpoint import SavedModel
from nlp_lstm.config import REGULARISATION_FIELDS, ClassifierTrainConfig, ModelConfig
from nlp_lstm.data import ClassifierBatches, LabelledSplits, encode_texts, load_labelled_splits
from nlp_lstm.distributed import Processes, processes
from nlp_lstm.evaluate import classification_metrics
from nlp_lstm.model import Classifier
from nlp_lstm.precision import autocast
from nlp_lstm.prediction import predict_probabilities
from nlp_lstm.token_store import row_ids
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


def layer_groups(model: Classifier) -> list[list[torch.nn.Parameter]]:
    """Parameters from the bottom up: embedding, each LSTM layer (both directions), head."""
    groups: list[list[torch.nn.Parameter]] = [list(model.encoder.embedding.parameters())]
    for layer in range(model.config.num_layers):
        groups.append([p for lstm in model.encoder.lstms() for n, p in lstm.named_parameters() if n.endswith(f"_l{layer}")])
    groups.append(list(model.head.parameters()))
    return groups


def trainable_groups(epoch: int, group_count: int, config: ClassifierTrainConfig) -> int:
    """How many layer groups, counted from the top, train in ``epoch`` (all of them without transfer)."""
    if not config.init_from:
        return group_count
    return min(group_count, 1 + max(0, epoch - config.freeze_epochs + 1))


def _new_model(
    config: ClassifierTrainConfig,
    splits: LabelledSplits,
    model_options: dict[str, Any],
    given: set[str],
    device: torch.device,
    group: Processes,
):
    num_classes = len(splits.label_names)
    if not config.init_from:
        tokenizer = shared_tokenizer(group, config.tokenizer, splits.train.texts, config.vocab_size)
        try:
            model_config = ModelConfig(vocab_size=tokenizer.vocab_size, num_classes=num_classes, **model_options)
        except TypeError as error:
            raise TrainingUsageError(f"unknown model option: {error}") from None
        return Classifier(model_config).to(device), tokenizer
    lm = checkpoint.load(config.init_from, device=device, kind="lm")
    if "tokenizer" in given and lm.tokenizer.kind != config.tokenizer:
        raise TrainingUsageError(
            f"--init-from {config.init_from} has a {lm.tokenizer.kind} tokenizer but --tokenizer is {config.tokenizer}; "
            "a transferred encoder only understands its own tokenizer, so drop --tokenizer"
        )
    shape_options = {"embedding_dim", "hidden_size", "num_layers", "tie_weights"} & set(model_options) & given
    if shape_options or model_options.get("bidirectional"):
        raise TrainingUsageError(
            "--init-from takes the encoder's shape from the language model; drop the size options and --bidirectional"
        )
    regularisation = {k: v for k, v in model_options.items() if k in REGULARISATION_FIELDS}
    model_config = lm.config.replace(num_classes=num_classes, tie_weights=False, **regularisation)
    model = Classifier(model_config).to(device)
    model.encoder.load_state_dict(lm.model.encoder.state_dict(), strict=True)
    return model, lm.tokenizer


def train_classifier(
    config: ClassifierTrainConfig,
    output_dir: str | Path,
    model_options: dict[str, Any] | None = None,
    resume: bool = False,
    overwrite: bool = False,
    callback: Callback | None = None,
    command: str | None = None,
    given_options: set[str] | None = None,
) -> TrainResult:
    """Train a classifier on ``config.dataset``; write ``best/``, ``last/`` and ``metrics.jsonl`` under ``output_dir``.

    ``model_options`` are :class:`ModelConfig` fields other than ``vocab_size`` and
    ``num_classes``; those left out take the classifier's defaults (``ClassifierTrainConfig.model_options``:
    a smaller, more regularised encoder than a language model's), as on the command line, so the API
    and the CLI train the same model from the same words. ``given_options`` names the options the caller set explicitly.
    Started by torchrun, it trains data-parallel and only rank 0 calls ``callback``.
    """
    model_options = ClassifierTrainConfig.model_options(model_options)
    with (
        processes() as group,
        TrainingRun(output_dir, config, "classifier", resume, overwrite, given_options, group, model_options) as run,
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
    # Data-parallel without DistributedDataParallel: each process takes every world_size-th row of
    # each batch (the last batch may leave a process none), scales its summed loss by the whole
    # batch's size, and the gradients are summed over the processes. That is the whole batch's
    # mean gradient for any split of the rows, and it works while gradual unfreezing changes
    # which parameters train, which DDP's gradient hooks, fixed when it wraps, do not follow.
    callback = (callback if group.is_main else None) or Callback()
    given = given_options or set()
    config, resume = run.config, run.resume
    splits = load_labelled_splits(config.dataset, config.text_column, config.label_column, config.dataset_config, config.seed)
    if resume:
        saved = checkpoint.load(run.last_dir, device=run.device, kind="classifier")
        model, tokenizer = saved.model, saved.tokenizer
    else:
        model, tokenizer = _new_model(config, splits, model_options or {}, given, run.device, group)
    group.same_weights(model)
    inputs = {"max_length": config.max_length, "keep": config.keep}

    def encode(texts: list[str]) -> list[Any]:  # encoded once per tokenizer and length policy, then read from the store
        cut = partial(encode_texts, tokenizer=tokenizer, max_length=config.max_length, keep=config.keep)
        return row_ids(texts, tokenizer, cut, f"max_length={config.max_length} keep={config.keep}")

    train_ids, validation_ids = encode(splits.train.texts), encode(splits.validation.texts)
    if not validation_ids:
        raise TrainingError(f"{config.dataset}: the validation split is empty; give a dataset with more rows")
    batches = ClassifierBatches(train_ids, splits.train.labels, config.batch_size, tokenizer.pad_id)
    total_steps = config.epochs * len(batches)

    mark_embeddings_undecayed(model)
    groups = layer_groups(model)
    transfer = bool(config.init_from)
    scales = [config.layer_lr_decay ** -(len(groups) - 1 - depth) if transfer else 1.0 for depth in range(len(groups))]
    optimizer = make_optimizer(list(zip(groups, scales)), config.weight_decay)
    if resume:
        run.restore(optimizer)

    parameters = sum(p.numel() for p in model.parameters())
    run.record = {
        "kind": "classifier",
        "dataset": config.dataset,
        "splits": splits.source,
        "labels": splits.label_names,
        "skipped_rows": splits.skipped,
        "init_from": config.init_from,
        "command": command,
        "parameters": parameters,
    }
    run.begin()
    callback.on_start(
        {
            "step": run.step,
            "max_steps": total_steps,
            "device": str(run.device),
            "parameters": parameters,
            "vocab_size": tokenizer.vocab_size,
            "train_texts": len(train_ids),
            "train_tokens": int(batches.lengths.sum()),
            "steps_per_epoch": len(batches),
            "splits": splits.source,
            "labels": splits.label_names,
            "model": model,
        }
    )

    def snapshot(validation: dict[str, Any] | None) -> SavedModel:
        return SavedModel(model, tokenizer, "classifier", splits.label_names, run.training_record(validation), inputs=inputs)

    model.train()
    window_loss = torch.zeros((), device=run.device)
    window_correct = torch.zeros((), device=run.device)
    window_texts, window_steps, window_start = 0, 0, time.perf_counter()
    stopped_early = False
    epoch_cache: tuple[int, list[Any]] | None = None
    with stop_signals() as stop_requested:
        while run.step < total_steps:
            if group.any(stop_requested.is_set()):  # a signal may reach the processes at different steps
                run.save_last(snapshot(run.best and run.best["validation"]), optimizer, {})
                raise run.interrupted()
            epoch, index = divmod(run.step, len(batches))
            if epoch_cache is None or epoch_cache[0] != epoch:
                epoch_cache = (epoch, batches.epoch(epoch, config.seed))
                unfrozen = trainable_groups(epoch, len(groups), config)
                for depth, layer_group in enumerate(groups):
                    for param in layer_group:
                        param.requires_grad_(depth >= len(groups) - unfrozen)
            batch = epoch_cache[1][index]
            mine = group.share_of(batch)
            lr = learning_rate(run.step, total_steps, config)
            set_learning_rate(optimizer, lr)
            optimizer.zero_grad(set_to_none=True)
            if len(mine):
                ids, lengths, labels = (t.to(run.device) for t in batches.collate(mine))
                with autocast(run.device, config.precision):
                    logits = model(ids, lengths)
                    loss = F.cross_entropy(logits.float(), labels, reduction="sum") / len(batch)  # this share's part of the mean
                loss.backward()
                window_loss += loss.detach()
                window_correct += (logits.argmax(dim=1) == labels).sum()
            trainable = [p for p in model.parameters() if p.requires_grad]
            group.sum_gradients(trainable)
            torch.nn.utils.clip_grad_norm_(trainable, config.grad_clip)
            optimizer.step()
            run.step += 1
            window_texts += len(batch)
            window_steps += 1

            end_of_epoch = index == len(batches) - 1
            if window_steps == LOG_EVERY or end_of_epoch:
                mean_loss = float(group.sum(window_loss)) / window_steps
                window_accuracy = float(group.sum(window_correct)) / window_texts
                if error := run.diverged(mean_loss, 50.0, "training"):
                    raise error
                entry = {
                    "step": run.step,
                    "epoch": epoch,
                    "train_loss": mean_loss,
                    "train_accuracy": window_accuracy,
                    "lr": lr,
                    "texts_per_s": window_texts / (time.perf_counter() - window_start),
                    "elapsed_s": run.elapsed(),
                }
                run.log(entry)
                callback.on_step(entry)
                window_loss.zero_()
                window_correct.zero_()
                window_texts, window_steps, window_start = 0, 0, time.perf_counter()

            if end_of_epoch:
                # Rank 0 evaluates and tells the others, so every process takes the same decisions below.
                val_loss, accuracy, macro_f1 = group.from_main(
                    _validate(model, validation_ids, splits, tokenizer.pad_id) if group.is_main else [0.0, 0.0, 0.0]
                )
                val = {"step": run.step, "epoch": epoch, "loss": val_loss, "accuracy": accuracy, "macro_f1": macro_f1}
                saved = snapshot(val)
                improved = run.consider(saved, val, val["accuracy"])  # best/ first, so last/ records it
                run.save_last(saved, optimizer, {})
                run.log({"split": "validation", **val, "best": improved})
                callback.on_eval({**val, "best": improved, "best_accuracy": run.best["validation"]["accuracy"]})
                window_start = time.perf_counter()
                if run.out_of_patience(config.patience):
                    stopped_early = True
                    break

    group.save_replica(model)
    result = run.result(stopped_early)
    callback.on_end(result)
    return result


def _validate(model: Classifier, ids: list[Any], splits: LabelledSplits, pad_id: int) -> list[float]:
    """Loss, accuracy and macro-F1 on the validation split."""
    probabilities = predict_probabilities(model, ids, 64, pad_id)
    loss = float(F.nll_loss(probabilities.clamp_min(1e-12).log(), torch.tensor(splits.validation.labels)))
    metrics = classification_metrics(splits.validation.labels, probabilities.argmax(dim=1).tolist(), splits.label_names)
    return [loss, metrics["accuracy"], metrics["macro_f1"]]
