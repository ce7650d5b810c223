"""How results look: the training bar on stderr, tables and blocks on stdout. Libraries report; this prints.

A training run shows a rich progress bar on a terminal; otherwise (nohup, CI, a log file) a plain line
every TRAINING_LINE_EVERY_S and one per evaluation, never hard-wrapped. Tables never cut what a user
needs to copy (the model list prints one model per block).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

import nlp_lstm
from nlp_lstm.plots import fit_title, short_path

PLAIN_EVERY_S = 5.0  # without a terminal, a progress line at most this often
# Without a terminal, a training line at most this often (and at the first logged step): a log of hours
# stays readable, and a few minutes show how fast the run goes and when it will end.
TRAINING_LINE_EVERY_S = 30.0

STOPPING = (
    "stopping: the run is saved after this step or evaluation (Ctrl-C again stops at once, "
    "and the run then resumes from its last checkpoint)"
)


def training_progress(console: Any) -> Any:
    """The started rich bar of a training run: steps, status, elapsed time and what remains."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

    columns = (TextColumn("step {task.completed}/{task.total}"), BarColumn(), TextColumn("{task.fields[status]}"))
    progress = Progress(*columns, TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(), console=console)
    progress.start()
    return progress


def clock_time(seconds: float) -> str:
    """``h:mm:ss``, as the bar shows elapsed time and what remains."""
    whole = max(0, round(seconds))
    return f"{whole // 3600}:{whole % 3600 // 60:02d}:{whole % 60:02d}"


def speed(metrics: dict[str, Any]) -> str:
    return f"{metrics['tokens_per_s']:,.0f} tok/s" if "tokens_per_s" in metrics else f"{metrics['texts_per_s']:,.0f} texts/s"


def log_console() -> Any:
    """A console on stderr that never hard-wraps a line where no terminal shows it (a log keeps whole lines)."""
    from rich.console import Console

    console = Console(stderr=True)
    console.soft_wrap = not console.is_terminal
    return console


def evaluation_line(metrics: dict[str, Any]) -> str:
    mark = " (best)" if metrics["best"] else ""
    if "bits_per_char" in metrics:
        return (
            f"step {metrics['step']}: validation {metrics['bits_per_char']:.4f} bits/char, "
            f"{metrics['nats_per_char']:.4f} nats/char, perplexity {metrics['perplexity']:.3f} per token{mark}"
        )
    if "rmse" in metrics:  # --problem regression
        return (
            f"epoch {metrics['epoch'] + 1} (step {metrics['step']}): validation RMSE {metrics['rmse']:.4f}, "
            f"MAE {metrics['mae']:.4f}, Spearman {metrics['spearman']:.4f}{mark}"
        )
    return (
        f"epoch {metrics['epoch'] + 1} (step {metrics['step']}): validation accuracy {metrics['accuracy']:.4f}, "
        f"macro-F1 {metrics['macro_f1']:.4f}, loss {metrics['loss']:.4f}{mark}"
    )


class TrainingProgress:
    """A training callback: a rich progress bar on a terminal, one plain line per evaluation otherwise.

    It has every method of ``nlp_lstm.Callback`` without deriving from it, which would import torch for ``--help``.
    """

    def __init__(self) -> None:
        import time

        self.console = log_console()
        self.progress: Any = None
        self.task: Any = None
        self.validating_since: float | None = None
        self.last_line = 0.0
        self.clock = time.perf_counter
        self.started, self.first_step, self.max_steps = self.clock(), 0, 0
        self.last_step_line: float | None = None

    def print(self, line: str) -> None:
        (self.progress.console if self.progress else self.console).print(line)

    def on_start(self, info: dict[str, Any]) -> None:
        self.console.print(
            f"training on {info['device']}: {info['parameters']:,} parameters, vocabulary {info['vocab_size']}{grown(info)}, "
            f"{info['train_tokens']:,} training tokens ({info['steps_per_epoch']} steps per epoch)"
        )
        self.start_bar(info)

    def start_bar(self, info: dict[str, Any]) -> None:
        """The data line, the clock, and the bar where stderr is a terminal (a forecaster's start line is its own)."""
        self.console.print(f"data: {info['splits']}")
        self.started, self.first_step, self.max_steps = self.clock(), info["step"], info["max_steps"]
        if self.console.is_terminal:
            self.progress = training_progress(self.console)
            self.task = self.progress.add_task("train", total=info["max_steps"], completed=info["step"], status="")

    def on_step(self, metrics: dict[str, Any]) -> None:
        if self.progress is not None:
            status = f"loss {metrics['train_loss']:.3f}  {speed(metrics)}  lr {metrics['lr']:.2e}"
            self.progress.update(self.task, completed=metrics["step"], status=status)
        elif self.last_step_line is None or self.clock() - self.last_step_line >= TRAINING_LINE_EVERY_S:
            self.last_step_line = self.clock()
            self.console.print(self.step_line(metrics), highlight=False)

    def step_line(self, metrics: dict[str, Any]) -> str:
        """The bar's figures as one line: step, loss, speed, learning rate, elapsed and remaining time.

        What remains is this session's pace (evaluations included) times the steps left.
        """
        step, total = metrics["step"], max(1, self.max_steps)
        pace = (self.clock() - self.started) / max(1, step - self.first_step)
        return (
            f"step {step:,}/{total:,} ({step / total:.0%}): loss {metrics['train_loss']:.3f}, {speed(metrics)}, "
            f"lr {metrics['lr']:.2e}, elapsed {clock_time(metrics['elapsed_s'])}, eta {clock_time(pace * (total - step))}"
        )

    def on_eval(self, metrics: dict[str, Any]) -> None:
        self.validating_since = None
        self.print(evaluation_line(metrics))

    def on_validation_progress(self, done: int, total: int) -> None:
        """The bar says how far validation is; without a terminal, a plain line every few seconds."""
        self._share(f"validating: {done / max(1, total):.0%} of {total:,}")

    def on_preparation(self, stage: str, done: int, total: int) -> None:
        """Before the bar starts: a plain line every few seconds while ``stage`` runs (a teacher labelling texts, say)."""
        self._share(f"{stage}: {done / max(1, total):.0%} of {total:,}")

    def _share(self, share: str) -> None:
        import time

        if self.progress is not None:
            self.progress.update(self.task, status=share)
            return
        now = time.perf_counter()
        if self.validating_since is None:
            self.validating_since = self.last_line = now
        elif now - self.last_line >= PLAIN_EVERY_S:
            self.last_line = now
            self.console.print(share, highlight=False, soft_wrap=True)

    def on_stop_requested(self) -> None:
        self.print(STOPPING)

    def close(self) -> None:
        """Finish the bar, so that what is printed next stands on a line of its own."""
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def on_end(self, result: Any) -> None:
        self.close()
        best = result.best_validation
        if "bits_per_char" in best:
            score = f"{best['bits_per_char']:.4f} bits/char"
        elif "rmse" in best:
            score = f"RMSE {best['rmse']:.4f}, Spearman {best['spearman']:.4f}"
        else:
            score = f"accuracy {best.get('accuracy', float('nan')):.4f}"
        self.console.print(
            f"done: {result.step} steps in {result.wall_time_s:.0f} s; best validation {score} -> {result.best_dir}"
        )


def titled_table(title: str, console: Any) -> Any:
    """A rich table whose title fits the console, on lines broken between words; rich would break a path anywhere
    to fit the title to the table's own width."""
    from rich.table import Table

    fitted = fit_title(title, console.width)
    return Table(title=fitted, min_width=max(map(len, fitted.splitlines())))


def print_metrics_table(title: str, rows: list[tuple[str, str]], header: tuple[str, str] = ("metric", "value")) -> None:
    from rich.console import Console

    console = Console()
    table = titled_table(title, console)
    table.add_column(header[0])
    table.add_column(header[1], justify="right" if header[0] == "metric" else "left")
    for name, value in rows:
        table.add_row(name, value)
    console.print(table)


def print_predictions(predictions: list[Any], texts: list[str], labels: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table()
    table.add_column("#", justify="right")
    table.add_column("text")
    # A regression model's one "label" names its score (the ONNX runtime's predictions have no score).
    scored = bool(predictions) and getattr(predictions[0], "score", None) is not None
    table.add_column(labels[0] if scored else "label", justify="right" if scored else "left")
    for name in [] if scored else labels:
        table.add_column(f"p({name})", justify="right")
    for prediction, text in zip(predictions, texts):
        shown = text if len(text) <= 80 else text[:77] + "..."
        if scored:
            table.add_row(str(prediction.index), shown, f"{prediction.score:.3f}")
            continue
        table.add_row(str(prediction.index), shown, prediction.label, *(f"{prediction.probabilities[n]:.3f}" for n in labels))
    Console().print(table)


def print_classifier_metrics(metrics: dict[str, Any], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    rows = [("accuracy", f"{metrics['accuracy']:.4f}"), ("macro-F1", f"{metrics['macro_f1']:.4f}")]
    print_metrics_table(title, [*rows, ("examples", f"{metrics['examples']:,}")])
    per_class = Table(title="per class")
    for column in ("label", "precision", "recall", "F1", "support"):
        per_class.add_column(column, justify="left" if column == "label" else "right")
    for name, m in metrics["per_class"].items():
        per_class.add_row(name, f"{m['precision']:.4f}", f"{m['recall']:.4f}", f"{m['f1']:.4f}", str(m["support"]))
    confusion = Table(title="confusion matrix (rows: true, columns: predicted)")
    confusion.add_column("")
    for name in metrics["labels"]:
        confusion.add_column(name, justify="right")
    for name, row in zip(metrics["labels"], metrics["confusion_matrix"]):
        confusion.add_row(name, *(str(v) for v in row))
    Console().print(per_class)
    Console().print(confusion)
    scored = "every row" if metrics["split"] == "all" else f"the {metrics['split']} split"
    Console(highlight=False, soft_wrap=True).print(f"scored: {scored} of {metrics['splits']} ({metrics['examples']:,} texts)")


def print_model_blocks(entries: list[Any]) -> None:
    """One block per model, a field per line: nothing is cut at any width, and each path can be copied whole."""
    lines = ["models (shipped first; held-out figures from each model's evaluation.json)", ""]
    for entry in entries:
        size = f", {entry.parameters:,} parameters" if entry.parameters else ""
        lines.append(f"{entry.name}{' (shipped)' if entry.shipped else ''}: {entry.kind}{size}")
        lines.append(f"  path        {short_path(entry.path)}")
        lines.append(f"  trained on  {entry.dataset or '-'}")
        lines.append(f"  validation  {entry.headline(entry.validation)}")
        for index, held in enumerate(entry.held_out):
            label = "held-out" if index == 0 else ""
            lines.append(f"  {label:<10}  {entry.held_out_name(held)}: {entry.headline(held)}")
        lines.append("")
    typer.echo("\n".join(lines).rstrip())


def print_inspection(inspection: Any, path: Path, layer: int, quantity: str, unit: int, top_units: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(highlight=False)
    cut = ", cut to the first tokens" if inspection.truncated else ""
    console.print(f"{path}: layer {layer}, quantity {quantity}, unit {unit} ({inspection.steps} tokens{cut})")
    console.print(nlp_lstm.render_gates_terminal(inspection, layer, quantity, unit))
    console.print("background: blue low, white middle, red high")
    table = Table(title="units most correlated with text features (Pearson r)")
    for column in ("feature", "r", "layer", "quantity", "unit"):
        table.add_column(column, justify="left" if column == "feature" else "right")
    for feature, ranked in top_units.items():
        for s in ranked[:1]:
            table.add_row(feature, f"{s['r']:+.3f}", str(s["layer"]), s["quantity"], str(s["unit"]))
    console.print(table)


class RowProgress:
    """Progress of a long command on stderr: a bar on a terminal, otherwise a plain line every few seconds.

    ``update(done, fraction)`` takes the items done and the fraction of the work done (None: unknown).
    Nothing goes to stdout, which holds only results.
    """

    def __init__(self, what: str, unit: str = "rows"):
        import time

        self.console = log_console()
        self.what, self.unit = what, unit
        self.clock = time.perf_counter
        self.started = self.last_line = self.clock()
        self.progress: Any = None
        self.task: Any = None
        if self.console.is_terminal:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

            columns = (TextColumn(what), BarColumn(), TextColumn("{task.fields[status]}"), TimeElapsedColumn())
            self.progress = Progress(*columns, TextColumn("eta"), TimeRemainingColumn(), console=self.console)
            self.progress.start()
            self.task = self.progress.add_task(what, total=1.0, status="")

    def status(self, done: int) -> str:
        rate = done / max(1e-9, self.clock() - self.started)
        return f"{done:,} {self.unit}, {rate:,.0f} {self.unit}/s"

    def count(self, done: int, total: int) -> None:
        """``update`` for work whose total is known: the library's ``progress(done, total)``."""
        self.update(done, done / max(1, total))

    def update(self, done: int, fraction: float | None) -> None:
        if self.progress is not None:
            self.progress.update(self.task, completed=fraction or 0.0, status=self.status(done))
        elif self.clock() - self.last_line >= PLAIN_EVERY_S:
            self.last_line = self.clock()
            elapsed = self.clock() - self.started
            eta = f", eta {elapsed * (1 - fraction) / fraction:.0f} s" if fraction else ""
            share = f" ({fraction:.0%})" if fraction is not None else ""
            self.console.print(f"{self.what}: {self.status(done)}{share}{eta}", highlight=False, soft_wrap=True)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def __enter__(self) -> RowProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()  # the bar ends before an error or a result is printed


def grown(info: dict[str, Any]) -> str:
    """What a fine-tuning run added to the vocabulary, for the start line: " (3 new characters)", or nothing."""
    added = info.get("added_characters", 0)
    return f" ({added} new character{'s' if added != 1 else ''})" if added else ""


class StagedProgress:
    """Progress of work in stages whose start is the library's to decide: each stage's bar opens at its
    first report and closes at the next stage's, so one live display is active at a time."""

    def __init__(self) -> None:
        self.stage: RowProgress | None = None
        self.what: str | None = None

    def reporter(self, what: str, unit: str) -> Any:
        def count(done: int, total: int) -> None:
            if self.what != what:
                self.close()
                self.stage, self.what = RowProgress(what, unit), what
            self.stage.count(done, total)  # type: ignore[union-attr]

        return count

    def close(self) -> None:
        if self.stage is not None:
            self.stage.close()
            self.stage = None

    def __enter__(self) -> StagedProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
