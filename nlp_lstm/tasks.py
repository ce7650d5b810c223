"""The table of tasks: one row for each kind of model nlp-lstm trains, saves, loads, lists and measures.

A task's ``kind`` is the word a model directory's ``config.json`` records (``"kind": "lm"``) and the
subcommand of ``train`` and ``evaluate``. This module is the one place a kind is spelled: other
modules name a kind through the constants below and read what differs between kinds from its row
(what a message calls it, its model class, its recipe, its evaluation, its metrics, its shipped
model), so that a new task is a new row, registered beside its own module, and nothing else.

The table sits in the base layer (it imports nothing of the package) so that config, storage,
the catalog, the CLI and the server can all read it. The code a row points at lives in higher
layers, so a row names it as ``"module:attribute"``, as the public API's exports do, and
:func:`resolve` imports it on first use.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any

# The saved spellings: existing model directories record these, so they never change.
LM = "lm"
CLASSIFIER = "classifier"
TEACHER = "teacher"
FORECASTER = "forecaster"


@dataclass(frozen=True)
class Task:
    """What differs between kinds of model. Names of code are ``"module:attribute"``, imported on first use."""

    kind: str  # config.json's "kind"; the subcommand of train and evaluate
    called: str  # in messages: "is a language model, but generate needs a classifier"
    title: str  # in `nlp-lstm info` and model cards
    model: str  # the model class, built from a ModelConfig when a directory of this kind is loaded
    recipe: str | None  # the public function that trains it
    evaluation: str | None  # the public function that measures it
    metrics: tuple[str, ...]  # the figures its evaluation reports; the first is its headline
    headline: str  # how the headline figure is written, e.g. "{:.3f} bits/char"
    shipped: str | None  # the shipped model of this kind, by its name in `nlp-lstm models`
    labelled: bool  # whether its directory names a label for each class
    command: str  # the command that uses a model of it, as a model card says
    loads_as: str | None = None  # the kind its models are once loaded, where it is not its own (a teacher)
    config: str | None = None  # the training config whose type says that ``nlp_lstm.train`` runs this task's recipe
    tokenized: bool = True  # whether its directory holds a tokenizer.json; a forecaster reads numbers


_TASKS: dict[str, Task] = {}
CLASSIFICATION_METRICS = ("accuracy", "macro_f1", "per_class", "confusion_matrix", "labels", "examples")


def register(task: Task) -> Task:
    """Add ``task`` to the table; a kind is registered once, so no plug-in can replace a built-in one."""
    if task.kind in _TASKS:
        raise ValueError(f"the task {task.kind!r} is registered already")
    if task.loads_as is not None and task.loads_as not in _TASKS:
        raise ValueError(f"the task {task.kind!r} loads as {task.loads_as!r}, which is not registered")
    _TASKS[task.kind] = task
    return task


def find(kind: Any) -> Task | None:
    """The row of ``kind``, or None for a kind no task has (a directory of another tool, a damaged one)."""
    return _TASKS.get(kind) if isinstance(kind, str) else None


def get(kind: str) -> Task:
    """The row of ``kind``, which must be registered."""
    task = find(kind)
    if task is None:
        raise KeyError(f"no task {kind!r}; the tasks are {', '.join(_TASKS)}")
    return task


def kinds() -> tuple[str, ...]:
    """Every registered kind, in the order of registration."""
    return tuple(_TASKS)


def model_kinds() -> tuple[str, ...]:
    """The kinds a loaded model can be, and an nlp-lstm model directory can hold (a teacher's is transformers')."""
    return tuple(kind for kind, task in _TASKS.items() if task.loads_as is None)


def called(kind: Any) -> str:
    """What a message calls a model of ``kind``; an unknown kind is quoted as it is."""
    task = find(kind)
    return task.called if task is not None else repr(kind)


def title(kind: Any) -> Any:
    """What a listing calls a model of ``kind``; an unknown kind as it is."""
    task = find(kind)
    return task.title if task is not None else kind


def shipped_models() -> dict[str, str]:
    """The shipped models, kind -> name, as ``nlp-lstm models`` lists them."""
    return {kind: task.shipped for kind, task in _TASKS.items() if task.shipped is not None}


def resolve(name: str) -> Any:
    """The object ``"module:attribute"`` names, its module imported now."""
    module, _, attribute = name.partition(":")
    return getattr(importlib.import_module(module), attribute)


def of_config(config: Any) -> Task:
    """The task that ``config``, a training config, trains: the row whose ``config`` names its type."""
    for task in _TASKS.values():
        if task.config is not None and task.recipe is not None and type(config) is resolve(task.config):
            return task
    known = ", ".join(task.config.partition(":")[2] for task in _TASKS.values() if task.config and task.recipe)
    raise TypeError(f"no task trains a {type(config).__name__}; give one of {known}")


def model_class(kind: str) -> Any:
    """The model class of ``kind``, to build from a ModelConfig."""
    return resolve(get(kind).model)


register(
    Task(
        kind=LM,
        called="a language model",
        title="language model",
        model="nlp_lstm.model:LanguageModel",
        recipe="nlp_lstm.training.language_model:train_language_model",
        evaluation="nlp_lstm.evaluate:evaluate_language_model",
        metrics=("bits_per_char", "nats_per_char", "nats_per_token", "perplexity", "tokens", "characters"),
        headline="{:.3f} bits/char",
        shipped="shakespeare-char",
        labelled=False,
        command="generate",
        config="nlp_lstm.train_config:TrainConfig",
    )
)
register(
    Task(
        kind=CLASSIFIER,
        called="a classifier",
        title="classifier",
        model="nlp_lstm.model:Classifier",  # an ensemble's config.json names its members; checkpoint builds it
        recipe="nlp_lstm.training.classifier:train_classifier",
        evaluation="nlp_lstm.evaluate:evaluate_classifier",
        metrics=CLASSIFICATION_METRICS,
        headline="{:.4f} accuracy",
        shipped="sentiment",
        labelled=True,
        command="classify",
        config="nlp_lstm.train_config:ClassifierTrainConfig",
    )
)
register(
    Task(
        kind=TEACHER,  # the mark in a transformers config.json's "nlp_lstm" block; loaded, it is a classifier
        called="a teacher (a classifier)",
        title="teacher (a transformer classifier)",
        model="nlp_lstm.teacher.model:TeacherClassifier",
        recipe="nlp_lstm.training.teacher:train_teacher",
        evaluation="nlp_lstm.evaluate:evaluate_classifier",
        metrics=CLASSIFICATION_METRICS,
        headline="{:.4f} accuracy",
        shipped=None,
        labelled=True,
        command="classify",
        config="nlp_lstm.train_config:TeacherTrainConfig",
        loads_as=CLASSIFIER,
    )
)
register(
    Task(
        kind=FORECASTER,  # issue 30: the encoder reading numbers, a head regressing the next steps
        called="a forecaster",
        title="forecaster",
        model="nlp_lstm.forecast_model:Forecaster",
        recipe="nlp_lstm.training.forecaster:train_forecaster",
        evaluation="nlp_lstm.forecasting:evaluate_forecaster",
        metrics=("mase", "smape", "mae", "rmse", "origins", "horizon"),
        headline="{:.3f} MASE",
        shipped=None,
        labelled=False,
        command="forecast",
        config="nlp_lstm.forecast_config:ForecastTrainConfig",
        tokenized=False,
    )
)
