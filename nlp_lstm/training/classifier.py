"""Training recipe of the text classifier, from scratch or from a language model (the loop is ``training/loop.py``).

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

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from nlp_lstm import checkpoint, tasks
from nlp_lstm.checkpoint import ModelBundle
from nlp_lstm.config import REGULARISATION_FIELDS, ModelConfig
from nlp_lstm.data.batching import ClassifierBatches, encode_texts
from nlp_lstm.data.sources import load_labelled_splits
from nlp_lstm.data.splits import LabelledSplits
from nlp_lstm.data.token_store import row_ids
from nlp_lstm.distributed import Processes
from nlp_lstm.loading import load_model
from nlp_lstm.model import Classifier, layer_groups
from nlp_lstm.precision import autocast
from nlp_lstm.prediction import predict_scores
from nlp_lstm.scores import REGRESSION, load_scored_splits, regression_metrics, target_statistics
from nlp_lstm.spelling import Speller
from nlp_lstm.train_config import ClassifierTrainConfig, changed_settings
from nlp_lstm.training import distillation, loop
from nlp_lstm.training.labelled import run_record, start_info, validation_figures
from nlp_lstm.training.optim import make_optimizer, mark_embeddings_undecayed
from nlp_lstm.training.run import RunOptions, TrainingError, TrainingRun, TrainingUsageError, TrainResult, shared_tokenizer


def trainable_groups(epoch: int, group_count: int, config: ClassifierTrainConfig) -> int:
    """How many layer groups, counted from the top, train in ``epoch`` (all of them without transfer)."""
    if not config.init_from:
        return group_count
    return min(group_count, 1 + max(0, epoch - config.freeze_epochs + 1))


def _new_model(config: ClassifierTrainConfig, splits: LabelledSplits, device: torch.device, group: Processes):
    head = _head(config, splits)
    if config.init_from:
        model, tokenizer = _transferred_model(config, head, device)
        return model, _spelling(config, tokenizer, splits)
    if config.tokenizer == "teacher":
        tokenizer = distillation.teacher_tokenizer(distillation.teacher_directory(config.teacher))
    else:
        tokenizer = shared_tokenizer(group, config.tokenizer or "bpe", splits.train.texts, config.vocab_size)
    model_config = ModelConfig(vocab_size=tokenizer.vocab_size, pad_id=tokenizer.pad_id, **head, **config.encoder.to_dict())
    model = Classifier(model_config)
    if config.embeddings:
        _start_embeddings(model, config, tokenizer)
    return model.to(device), _spelling(config, tokenizer, splits)


def _spelling(config: ClassifierTrainConfig, tokenizer: Any, splits: LabelledSplits) -> Any:
    """``tokenizer`` with a speller whose dictionary is the training split's words, with ``--speller``."""
    if not config.speller:
        return tokenizer
    if not tokenizer.subword:
        raise TrainingUsageError(
            f"--speller needs a subword tokenizer; this one is {tokenizer.kind}: a character model reads a misspelt word "
            "letter by letter, so drop --speller"
        )
    return tokenizer.with_speller(Speller.build(splits.train.texts, tokenizer.whole_words()))


def _head(config: ClassifierTrainConfig, splits: LabelledSplits) -> dict[str, Any]:
    """The head's ModelConfig fields: a class per label, or one standardised score (``--problem regression``)."""
    if config.problem != REGRESSION:
        return {"num_classes": len(splits.label_names)}
    mean, std = target_statistics(splits.train.labels)
    return {"num_classes": 1, "problem": REGRESSION, "target_mean": mean, "target_std": std}


def _start_embeddings(model: Classifier, config: ClassifierTrainConfig, tokenizer: Any) -> None:
    """The embedding table from the teacher's (projected) or from a GloVe/word2vec file; padding stays zero."""
    table = model.encoder.embedding.weight
    if config.embeddings == "teacher":
        start = distillation.teacher_embeddings(distillation.teacher_directory(config.teacher), table.shape[1])
        if start.shape[0] != table.shape[0]:
            raise TrainingUsageError("--embeddings teacher: the teacher's table does not match its vocabulary")
    else:
        start = distillation.glove_embeddings(config.embeddings, tokenizer, table.detach())
    with torch.no_grad():
        table.copy_(start)
        table[tokenizer.pad_id].zero_()


def _transferred_model(config: ClassifierTrainConfig, head: dict[str, Any], device: torch.device):
    """A classifier whose encoder and tokenizer are a language model's (ULMFiT)."""
    lm = load_model(config.init_from, device=device, kind=tasks.LM)  # a directory or a model name
    if config.tokenizer is not None and lm.tokenizer.kind != config.tokenizer:
        raise TrainingUsageError(
            f"--init-from {config.init_from} has a {lm.tokenizer.kind} tokenizer but --tokenizer is {config.tokenizer}; "
            "a transferred encoder only understands its own tokenizer, so drop --tokenizer"
        )
    shape_options = {"embedding_dim", "hidden_size", "num_layers"} & changed_settings(config)
    if shape_options or config.encoder.bidirectional:
        raise TrainingUsageError(
            "--init-from takes the encoder's shape from the language model; drop the size options and --bidirectional"
        )
    regularisation = {k: getattr(config.encoder, k) for k in REGULARISATION_FIELDS if k in config.ENCODER_FIELDS}
    model_config = lm.config.replace(tie_weights=False, **head, **regularisation)
    model = Classifier(model_config).to(device)
    model.encoder.load_state_dict(lm.model.encoder.state_dict(), strict=True)
    return model, lm.tokenizer


def train_classifier(config: ClassifierTrainConfig, run: RunOptions | str | Path) -> TrainResult:
    """Train a classifier on ``config.dataset``; write ``best/``, ``last/`` and ``metrics.jsonl`` in ``run.output``.

    :func:`nlp_lstm.train` for a :class:`ClassifierTrainConfig`, whose ``encoder`` has the classifier's
    defaults (a smaller, more regularised encoder than a language model's), as on the command line, so the
    API and the CLI train the same model from the same words.
    Started by torchrun, it trains data-parallel and only rank 0 calls ``run.callback``.
    """
    recipe = ScoreRecipe if config.problem == REGRESSION else ClassifierRecipe
    return loop.run_recipe(recipe, tasks.CLASSIFIER, config, run)


class ClassifierRecipe(loop.Recipe):
    """Length-bucketed batches of whole texts, validation after every epoch, gradual unfreezing with transfer.

    Data-parallel without DistributedDataParallel: each process takes every world_size-th row of
    each batch (the last batch may leave a process none), scales its summed loss by the whole
    batch's size, and the gradients are summed over the processes. That is the whole batch's
    mean gradient for any split of the rows, and it works while gradual unfreezing changes
    which parameters train, which DDP's gradient hooks, fixed when it wraps, do not follow.
    """

    throughput_name, best_metric = "texts_per_s", "accuracy"
    divergence_limit = 50.0

    def __init__(self, group: Processes, command: str | None):
        self.group, self.command = group, command
        self.epoch_cache: tuple[int, list[Any]] | None = None

    def setup(self, run: TrainingRun) -> dict[str, Any]:
        config, group = run.config, self.group
        self.run, self.config = run, config
        splits = self.load_splits(config)
        if run.resume:
            saved = checkpoint.load(run.last_dir, device=run.device, kind=tasks.CLASSIFIER)
            self.model, self.tokenizer = saved.model, saved.tokenizer
        else:
            self.model, self.tokenizer = _new_model(config, splits, run.device, group)
        group.same_weights(self.model)
        self.splits, self.inputs = splits, {"max_length": config.max_length, "keep": config.keep}
        self.transfer = distillation.transfer_set(config, splits, run.device, self._labelling(run)) if config.teacher else None
        texts, labels = (
            (self.transfer.texts, self.transfer.labels) if self.transfer else (splits.train.texts, splits.train.labels)
        )
        train_ids, self.validation_ids = self._encode(texts), self._encode(splits.validation.texts)
        if not self.validation_ids:
            raise TrainingError(f"{config.dataset}: the validation split is empty; give a dataset with more rows")
        self.batches = ClassifierBatches(train_ids, labels, config.batch_size, self.tokenizer.pad_id)
        self.steps_per_epoch = len(self.batches)
        self.total_steps = config.epochs * self.steps_per_epoch
        mark_embeddings_undecayed(self.model)
        self.groups = layer_groups(self.model)
        transfer, depth_count = bool(config.init_from), len(self.groups)
        scales = [config.layer_lr_decay ** -(depth_count - 1 - depth) if transfer else 1.0 for depth in range(depth_count)]
        self.optimizer = make_optimizer(list(zip(self.groups, scales)), config.weight_decay)
        if run.resume:
            run.restore(self.optimizer)
        return self._describe(run, len(train_ids))

    @staticmethod
    def _labelling(run: TrainingRun) -> Callable[[int, int], None] | None:
        """The teacher's labelling of the transfer set, reported as a stage of preparation."""
        report = run.preparation_progress
        return None if report is None else partial(report, "teacher labelling the transfer set (once, then cached)")

    def load_splits(self, config: ClassifierTrainConfig) -> LabelledSplits:
        return load_labelled_splits(config.dataset, config.text_column, config.label_column, config.dataset_config, config.seed)

    def _encode(self, texts: list[str]) -> list[Any]:
        """Encoded once per tokenizer and length policy, then read from the token store."""
        config = self.config
        cut = partial(encode_texts, tokenizer=self.tokenizer, max_length=config.max_length, keep=config.keep)
        return row_ids(texts, self.tokenizer, cut, f"max_length={config.max_length} keep={config.keep}")

    def _describe(self, run: TrainingRun, train_texts: int) -> dict[str, Any]:
        """Record the run's provenance; return what the start callback shows."""
        run.record = run_record(tasks.CLASSIFIER, self.config, self.splits, self.command, self.model)
        run.record["init_from"] = self.config.init_from
        if self.transfer:
            unlabelled = self.transfer.labels.count(distillation.UNLABELLED)
            run.record["distillation"] = {
                "transfer_texts": len(self.transfer.texts),
                "unlabelled_texts": unlabelled,
                "teacher_outputs_cached": self.transfer.from_cache,
                "teacher_s": self.transfer.labelling_s,
                "teacher": self.transfer.teacher,
            }
        self.model.train()
        return start_info(run, self, train_texts)

    def _batch(self, epoch: int, index: int) -> np.ndarray:
        """Batch ``index`` of ``epoch``; a new epoch also unfreezes the layers it trains."""
        if self.epoch_cache is None or self.epoch_cache[0] != epoch:
            self.epoch_cache = (epoch, self.batches.epoch(epoch, self.config.seed))
            unfrozen = trainable_groups(epoch, len(self.groups), self.config)
            for depth, layer_group in enumerate(self.groups):
                for param in layer_group:
                    param.requires_grad_(depth >= len(self.groups) - unfrozen)
        return self.epoch_cache[1][index]

    def train_step(self, epoch: int, index: int) -> loop.StepResult:
        batch = self._batch(epoch, index)
        mine = self.group.share_of(batch)
        device = self.run.device
        loss, correct = torch.zeros((), device=device), torch.zeros((), device=device, dtype=torch.long)
        self.optimizer.zero_grad(set_to_none=True)
        if len(mine):
            ids, lengths, labels = (t.to(device) for t in self.batches.collate(mine))
            with autocast(device, self.config.precision):
                logits = self.model(ids, lengths)
                loss = self._loss(logits.float(), labels, mine) / len(batch)  # this share's part of the mean
            loss.backward()
            correct = (logits.argmax(dim=1) == self._targets(labels, mine)).sum()
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.group.sum_gradients(trainable)
        torch.nn.utils.clip_grad_norm_(trainable, self.config.grad_clip)
        self.optimizer.step()
        return loop.StepResult(loss.detach(), len(batch), correct)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
        """Summed over the rows: cross-entropy, or with a teacher the distillation loss."""
        if self.transfer is None:
            return F.cross_entropy(logits, labels, reduction="sum")
        teacher = self.transfer.soft[torch.from_numpy(rows)].to(logits.device)
        return distillation.distillation_loss(logits, labels, teacher, self.config.soft_weight, self.config.temperature)

    def _targets(self, labels: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
        """What training accuracy compares with: the gold label, else (unlabelled text) the teacher's."""
        if self.transfer is None:
            return labels
        teacher = self.transfer.soft[torch.from_numpy(rows)].argmax(dim=1).to(labels.device)
        return torch.where(labels == distillation.UNLABELLED, teacher, labels)

    def evaluates_after(self, step: int, index: int) -> bool:
        return index == self.steps_per_epoch - 1  # the end of an epoch

    def window_metrics(self, loss: torch.Tensor, correct: torch.Tensor, steps: int, items: int) -> dict[str, float]:
        return {"train_loss": float(self.group.sum(loss)) / steps, "train_accuracy": float(self.group.sum(correct)) / items}

    def validate(self, run: TrainingRun, epoch: int) -> tuple[dict[str, Any], float]:
        # Rank 0 evaluates and tells the others, so every process takes the same decisions.
        group, splits = self.group, self.splits
        figures = [0.0] * 3
        if group.is_main:
            figures = validation_figures(self.model, self.validation_ids, splits, self.tokenizer.pad_id, run.validation_progress)
        val_loss, accuracy, macro_f1 = group.from_main(figures)
        return {"step": run.step, "epoch": epoch, "loss": val_loss, "accuracy": accuracy, "macro_f1": macro_f1}, accuracy

    def snapshot(self, run: TrainingRun, validation: dict[str, Any] | None) -> ModelBundle:
        record = run.training_record(validation)
        return ModelBundle(self.model, self.tokenizer, tasks.CLASSIFIER, self.splits.label_names, record, inputs=self.inputs)


class ScoreRecipe(ClassifierRecipe):
    """``--problem regression`` (issue 30): the same head and loop, one output learnt with the mean squared error
    on targets standardised with the training split's mean and std; the best epoch has the lowest validation RMSE."""

    best_metric = "rmse"

    def load_splits(self, config: ClassifierTrainConfig) -> LabelledSplits:
        return load_scored_splits(config.dataset, config.text_column, config.label_column, config.seed)

    def _loss(self, logits: torch.Tensor, labels: torch.Tensor, rows: np.ndarray) -> torch.Tensor:
        config = self.model.config
        return F.mse_loss(logits[:, 0], (labels.float() - config.target_mean) / config.target_std, reduction="sum")

    def window_metrics(self, loss: torch.Tensor, correct: torch.Tensor, steps: int, items: int) -> dict[str, float]:
        return {"train_loss": float(self.group.sum(loss)) / steps}  # no accuracy: argmax of one output means nothing

    def validate(self, run: TrainingRun, epoch: int) -> tuple[dict[str, Any], float]:
        figures = [0.0] * 4
        if self.group.is_main:
            model = self.model
            scores = predict_scores(model, self.validation_ids, 64, self.tokenizer.pad_id, run.validation_progress)
            metrics = regression_metrics(self.splits.validation.labels, scores.tolist())
            standardised_mse = (metrics["rmse"] / model.config.target_std) ** 2  # the training loss's units
            figures = [standardised_mse, metrics["rmse"], metrics["mae"], metrics["spearman"]]
        loss, rmse, mae, rho = self.group.from_main(figures)
        return {"step": run.step, "epoch": epoch, "loss": loss, "rmse": rmse, "mae": mae, "spearman": rho}, -rmse
