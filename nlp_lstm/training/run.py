"""The run's bookkeeping beside the loop: devices, signals, callbacks and the files of the run directory.

A run directory holds ``train_config.json`` (the resolved settings), ``metrics.jsonl``
(one JSON line per log window and per evaluation), ``best/`` (the best model by
validation) and ``last/`` (the latest model plus the optimiser, RNG and loop state
that ``--resume`` needs). Loops report through a :class:`Callback`, never print.
The one loop is ``training/loop.py``; the optimiser and schedule are ``training/optim.py``; each way of
training is a recipe (``training/language_model.py``, ``training/classifier.py``, ``training/forecaster.py``).
"""

from __future__ import annotations

import json
import math
import shlex
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from nlp_lstm import checkpoint
from nlp_lstm.checkpoint import ModelBundle
from nlp_lstm.config import option, options_toml
from nlp_lstm.data.token_store import cached_tokenizer
from nlp_lstm.devices import select_device
from nlp_lstm.distributed import Processes
from nlp_lstm.errors import Interrupted, TrainingError, TrainingUsageError
from nlp_lstm.files import (
    BEST_DIR,
    CURVES_FILE,
    LAST_DIR,
    METRICS_FILE,
    RUN_CONFIG_FILE,
    RUN_TOML_FILE,
    atomic_directory,
    naming,
)
from nlp_lstm.plots import PlotsUnavailable, plot_runs
from nlp_lstm.precision import require_precision
from nlp_lstm.run_directory import RunDirectory
from nlp_lstm.tokenizer import AnyTokenizer, tokenizer_from_dict
from nlp_lstm.train_config import changed_settings, flat_settings, run_settings
from nlp_lstm.training.optim import AnyTrainConfig

# Options that may differ when a stopped run is resumed; every other one must match.
RESUMABLE_CHANGES = ("max_steps", "epochs", "eval_every", "patience", "device", "threads", "precision")


class TrainingInterrupted(TrainingError, Interrupted):
    """Ctrl-C or SIGTERM stopped training; the last checkpoint is saved and resumable."""


class Callback:
    """Receives progress; override what you need. The CLI renders these with rich."""

    def on_start(self, info: dict[str, Any]) -> None: ...

    def on_step(self, metrics: dict[str, Any]) -> None: ...

    def on_eval(self, metrics: dict[str, Any]) -> None: ...

    def on_validation_progress(self, done: int, total: int) -> None:
        """Part of an evaluation is done (tokens or texts): an evaluation can take minutes."""

    def on_preparation(self, stage: str, done: int, total: int) -> None:
        """Before the first step: ``stage`` (in words, such as a teacher labelling texts) has done ``done`` of ``total``."""

    def on_stop_requested(self) -> None:
        """Ctrl-C or SIGTERM arrived: the run stops and saves after the current step or evaluation."""

    def on_end(self, result: TrainResult) -> None: ...


@dataclass(frozen=True)
class RunOptions:
    """Where a run writes and what to do with what is there: the options of a run, not of training.

    ``resume`` continues the stopped run in ``output``, ``overwrite`` replaces it (kept until the new one
    saves); ``callback`` receives progress; ``command`` is recorded in ``training.json`` as what made the model.
    """

    output: str | Path
    resume: bool = False
    overwrite: bool = False
    callback: Callback | None = None
    command: str | None = None


@dataclass
class TrainResult:
    output_dir: Path
    best_dir: Path
    last_dir: Path
    step: int
    best_validation: dict[str, Any]
    wall_time_s: float
    stopped_early: bool
    curves: Path | None = None  # curves.png, written when matplotlib is installed
    reports: bool = True  # False in the processes of a torchrun group other than rank 0, which write nothing


@contextmanager
def stop_signals(on_request: Callable[[], None] | None = None) -> Iterator[threading.Event]:
    """Turn Ctrl-C and SIGTERM into a flag the loop checks between steps, so a save is never torn.

    ``on_request`` runs at once, to acknowledge the request (an evaluation may take a while
    before the loop sees the flag). A second signal stops at once: the run then resumes from
    its last checkpoint, whose saves are atomic.
    """
    requested = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield requested
        return

    def handle(*_: object) -> None:
        if requested.is_set():
            raise KeyboardInterrupt
        requested.set()
        if on_request is not None:
            on_request()

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    for sig in previous:
        signal.signal(sig, handle)
    try:
        yield requested
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def shared_tokenizer(group: Processes, kind: str, texts: Any, vocab_size: int) -> AnyTokenizer:
    """The tokenizer built on ``texts`` (or kept from a run on the same texts); under torchrun, rank 0's in every process."""
    if not group.distributed:
        return cached_tokenizer(kind, texts, vocab_size)
    built = json.dumps(cached_tokenizer(kind, texts, vocab_size).to_dict()) if group.is_main else ""
    return tokenizer_from_dict(json.loads(group.text_from_main(built)))


class TrainingRun:
    """The run directory and the bookkeeping both loops share: config, log, checkpoints, best score.

    Use it as a context manager: on the way out it releases the run's lock and drops what a new
    run wrote if it never saved a model. Under torchrun every process keeps the same bookkeeping,
    but only rank 0 writes files.
    """

    def __init__(self, config: AnyTrainConfig, options: RunOptions, command_name: str, processes: Processes | None = None):
        self.processes = processes or Processes()
        self.output_dir = Path(options.output)
        self.command_name = command_name
        self.resume = options.resume
        self.run_directory = RunDirectory(self.output_dir, writes=self.processes.is_main)
        try:
            if options.resume and options.overwrite:
                raise TrainingUsageError("--resume and --overwrite contradict each other; pass one of them")
            if options.resume:
                self.run_directory.open_for_resume()
                self._check_encoder(config)
                config = self._resume_config(config, run_settings(type(config), self.output_dir))
            self.config = config
            device = select_device(self.config.device)
            require_precision(device, self.config.precision)  # refused before a new run's directory exists
            if not options.resume:
                self.run_directory.check_new(options.overwrite)
        except BaseException:
            self.run_directory.close()
            raise
        self.device = self.processes.start(device)
        if self.config.threads:
            torch.set_num_threads(self.config.threads)
        torch.manual_seed(self.config.seed)
        self.step = 0
        self.best: dict[str, Any] | None = None
        self.evals_since_best = 0
        self.elapsed_before = 0.0
        self.started = time.perf_counter()
        self.record: dict[str, Any] = {}
        self.validation_progress: Callable[[int, int], None] | None = None  # the loop sets the callback's
        self.preparation_progress: Callable[[str, int, int], None] | None = None

    def __enter__(self) -> TrainingRun:
        return self

    def __exit__(self, *exc: object) -> None:
        self.run_directory.close()

    @property
    def directory(self) -> Path:
        """Where the run writes now: ``output_dir``, or beside it until a replaced run's first checkpoint."""
        return self.run_directory.directory

    @property
    def last_dir(self) -> Path:
        return self.directory / LAST_DIR

    @property
    def best_dir(self) -> Path:
        return self.directory / BEST_DIR

    def open_directory(self) -> None:
        """Data read and model built: the run really starts, so make its directory and write its settings."""
        if self.resume or not self.processes.is_main:
            return
        directory = self.run_directory.prepare()
        with naming(directory / RUN_CONFIG_FILE):  # a failed write names no file by itself
            (directory / RUN_CONFIG_FILE).write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        options = {"output": str(self.output_dir), **flat_settings(self.config)}
        with naming(directory / RUN_TOML_FILE):
            (directory / RUN_TOML_FILE).write_text(options_toml(options, self.rerun_header()), encoding="utf-8")

    def rerun_header(self) -> str:
        """run.toml's first line: a command that runs this again, as typed where this run was started.

        The file's output is this run, which a new run may not overwrite unasked (exit 2), so the command names
        a new directory beside it; its paths are as the user gave them, relative to where the run was started.
        """
        output = self.output_dir if self.output_dir.name else self.output_dir.resolve()
        again = output.with_name(output.name + "-again")
        config = shlex.quote(str(output / RUN_TOML_FILE))
        command = f"nlp-lstm train {self.command_name} --config {config} --output {shlex.quote(str(again))}"
        return f"Every option of this run, resolved (paths as given where it started). Run it again with: {command}"

    def _check_encoder(self, requested: AnyTrainConfig) -> None:
        """A resumed run keeps its model's shape: encoder settings asked for that differ from it are an error, not ignored.

        Asked for: set apart from the task's defaults, so that a config without its encoder resumes any run (a value
        given that equals a default cannot be told from one left alone here).
        """
        asked = sorted(changed_settings(requested) & set(requested.ENCODER_FIELDS))
        if not asked:  # a teacher's shape is its base encoder's: it has no encoder settings
            return
        saved = checkpoint.read_model_config(self.last_dir)
        changed = [name for name in asked if getattr(saved, name) != getattr(requested.encoder, name)]
        if changed:
            options = ", ".join(f"{option(k)} (the run has {getattr(saved, k)})" for k in changed)
            raise TrainingUsageError(f"--resume keeps the run's model; these options differ from it: {options}; drop them")

    def _resume_config(self, requested: AnyTrainConfig, saved: AnyTrainConfig) -> AnyTrainConfig:
        """The run's saved settings, with the resumable ones that ``requested`` sets otherwise.

        ``requested`` is the run as it should go on: every setting is compared with the run's own, so a value that
        happens to be a default (``--max-steps 2000``) counts as much as any other. The command line builds it from
        the run's settings and the options typed; from Python, pass the run's config with what may change changed.
        The encoder is the model's, checked by :meth:`_check_encoder`.
        """
        names = [name for name in requested.to_dict() if name != "encoder"]  # the model's: _check_encoder
        changed = {name for name in names if getattr(requested, name) != getattr(saved, name)}
        refused = sorted(changed - set(RESUMABLE_CHANGES))
        if refused:
            raise TrainingUsageError(
                f"--resume keeps the run's settings; these differ from it: {', '.join(map(option, refused))} "
                f"(only {', '.join(map(option, RESUMABLE_CHANGES))} may change)"
            )
        return saved.replace(**{k: getattr(requested, k) for k in changed})

    def elapsed(self) -> float:
        return self.elapsed_before + time.perf_counter() - self.started

    def restore(self, optimizer: torch.optim.Optimizer) -> dict[str, torch.Tensor]:
        """Load the loop state of ``last/`` into ``optimizer`` and this run; return the extra tensors."""
        extra, info = checkpoint.load_trainer_state(self.last_dir, optimizer)
        self.step, self.best, self.evals_since_best, self.elapsed_before = (
            info["step"],
            info["best"],
            info["evals_since_best"],
            info["elapsed_s"],
        )
        if self.best is not None and "score" not in self.best:  # runs saved before scores were recorded
            self.best["score"] = -self.best["validation"]["nats_per_char"]
        on_disk = self._best_on_disk()
        if on_disk is not None and (self.best is None or on_disk["step"] != self.best["step"]):
            # best/ was saved and the process died before last/ recorded it: best/ is the truth
            self.best, self.evals_since_best = on_disk, 0
        torch.set_rng_state(extra.pop("torch_rng"))
        self.started = time.perf_counter()
        return extra

    def _best_on_disk(self) -> dict[str, Any] | None:
        """The best record of the model in best/ itself (None for models saved before it recorded its score)."""
        record = checkpoint.read_training_record(self.best_dir)
        if not record or "best_score" not in record or not isinstance(record.get("validation"), dict):
            return None
        return {"step": record["validation"]["step"], "score": record["best_score"], "validation": record["validation"]}

    def log(self, entry: dict[str, Any]) -> None:
        if not self.processes.is_main:
            return
        with naming(self.directory / METRICS_FILE), open(self.directory / METRICS_FILE, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")

    def training_record(self, validation: dict[str, Any] | None) -> dict[str, Any]:
        return {
            **self.record,
            "train_config": self.config.to_dict(),
            "device": str(self.device),
            "torch": torch.__version__,
            "step": self.step,
            "wall_time_s": round(self.elapsed(), 1),
            "saved_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "validation": validation,
        }

    def save_last(self, saved: ModelBundle, optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor]) -> None:
        """Write ``last/`` atomically: the model and everything ``--resume`` needs."""
        if not self.processes.is_main:
            return
        info = {
            "step": self.step,
            "best": self.best,
            "evals_since_best": self.evals_since_best,
            "elapsed_s": round(self.elapsed(), 3),
        }
        with atomic_directory(self.last_dir) as staging:
            checkpoint.write_model_files(staging, saved)
            checkpoint.save_trainer_state(staging, optimizer, {"torch_rng": torch.get_rng_state(), **tensors}, info)
        self.run_directory.swap_in()  # a replacing run takes the old run's place once it has a complete last/

    def record_evaluation(self, saved: ModelBundle, validation: dict[str, Any], score: float) -> bool:
        """Record an evaluation; save ``best/`` when ``score`` (higher is better) beats every earlier one.

        Call it before :meth:`save_last`, so that last/ records the best that is on disk.
        """
        improved = self.best is None or score > self.best["score"]
        self.evals_since_best = 0 if improved else self.evals_since_best + 1
        if improved:
            self.best = {"step": self.step, "score": score, "validation": validation}
            if self.processes.is_main:
                checkpoint.save(replace(saved, training={**saved.training, "best_score": score}), self.best_dir)
        return improved

    def out_of_patience(self, patience: int) -> bool:
        return bool(patience) and self.evals_since_best >= patience

    def diverged(self, loss: float, limit: float, split: str) -> TrainingError | None:
        if math.isfinite(loss) and loss <= limit:
            return None
        kept = f"the last good checkpoint is kept in {self.last_dir}" if self.last_dir.exists() else "nothing was saved yet"
        return TrainingError(
            f"{split} loss became {loss:.3g} at step {self.step} (diverged); {kept}. Try a lower --lr or --grad-clip"
        )

    def interrupted(self) -> TrainingInterrupted:
        return TrainingInterrupted(
            f"stopped at step {self.step}; the run is saved in {self.last_dir}. "
            f"Resume with: nlp-lstm train {self.command_name} --output {self.output_dir} --resume"
        )

    def result(self, stopped_early: bool) -> TrainResult:
        best = self.best["validation"] if self.best else {}
        result = TrainResult(self.output_dir, self.best_dir, self.last_dir, self.step, best, self.elapsed(), stopped_early)
        result.reports = self.processes.is_main
        if self.processes.is_main:
            result.curves = self.write_curves()
        return result

    def write_curves(self) -> Path | None:
        """The run's loss (and accuracy) curves as curves.png; None where matplotlib (the plot extra) is missing."""
        try:
            with naming(self.output_dir / CURVES_FILE):
                return plot_runs([self.output_dir], self.output_dir / CURVES_FILE)
        except PlotsUnavailable:
            return None
