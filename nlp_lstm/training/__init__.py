"""The training layer: the one loop (``loop``), the run's bookkeeping (``run``), the optimiser (``optim``) and the recipes.

:func:`train` is the public entry point: the config's type names the task, and the table of tasks its recipe.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from nlp_lstm import tasks

if TYPE_CHECKING:
    from nlp_lstm.training.run import RunOptions, TrainResult


def train(config: Any, run: RunOptions | str | Path) -> TrainResult:
    """Train what ``config`` describes into ``run`` (its options, or just its output directory).

    ``config`` is a ``TrainConfig``, ``ClassifierTrainConfig``, ``TeacherTrainConfig`` or ``ForecastTrainConfig``;
    its type says which task's recipe runs (the table of tasks, ``tasks.py``).
    """
    return tasks.resolve(tasks.of_config(config).recipe)(config, run)
