"""A training run's directory through its life: checked, locked, written, and replaced only once the new run has saved.

Nothing is written until the run really starts (data read, model built): a typo'd dataset or an
unavailable device leaves ``--output`` as it was. ``--overwrite`` of a run that has a checkpoint
writes the new run in a hidden sibling (``.NAME.run-PID``) and swaps it in after its first complete
``last/``, so the old run survives every failure before that. A directory that holds only what a
start that never saved wrote is free for the next start. While a process trains in a run, it holds
the run's lock (see ``files.RunLock``). An ``--output`` that is a symbolic link keeps its link: the
run it leads to is the one replaced, by a sibling made beside that run.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from nlp_lstm.errors import TrainingUsageError
from nlp_lstm.files import (
    BEST_DIR,
    CONFIG_FILE,
    LAST_DIR,
    RUN_MODEL_DIRS,
    STATE_JSON_FILE,
    NotOurFiles,
    RunLock,
    check_resumable,
    check_run_replaceable,
    followed,
    is_run_directory,
    recover,
    remove_model_directory,
    remove_run_directory,
    run_strays,
    swap_into_place,
    temporary,
)


class RunDirectoryError(TrainingUsageError):
    """``--output`` cannot take this run (occupied, not ours, locked, nothing to resume)."""


def has_checkpoint(directory: Path) -> bool:
    return (directory / LAST_DIR / STATE_JSON_FILE).is_file() or (directory / BEST_DIR / CONFIG_FILE).is_file()


def _is_free(directory: Path) -> bool:
    """Absent, empty, or left by a start of ours that never saved a model."""
    if not directory.exists():
        return True
    if not directory.is_dir():
        return False
    if not any(directory.iterdir()):
        return True
    return is_run_directory(directory) and not has_checkpoint(directory) and not run_strays(directory)


class RunDirectory:
    """Where a run writes; ``writes`` is False in the processes of a torchrun group other than rank 0."""

    def __init__(self, output_dir: Path, writes: bool = True):
        self.output_dir = output_dir  # as the user named it: in messages, and for the files the run writes
        self.place = followed(output_dir)  # the directory a replacement swaps with: a link's target, never the link
        self.directory = output_dir  # a hidden sibling while the run replaces an older one at output_dir
        self.writes = writes
        self.locks: list[RunLock] = []
        self.made_directory = False
        if writes:
            recover(self.place, remove_run_directory)  # put back a run whose replacement a crash cut short

    def open_for_resume(self) -> None:
        """Lock the run and repair its model directories; raise if there is nothing to resume."""
        if self.writes and self.output_dir.is_dir() and is_run_directory(self.output_dir):
            self.locks.append(RunLock(self.output_dir))
            for name in RUN_MODEL_DIRS:
                recover(self.output_dir / name, remove_model_directory)
        if not (self.output_dir / LAST_DIR / STATE_JSON_FILE).is_file():
            raise RunDirectoryError(
                f"{self.output_dir}: no resumable run here (missing {LAST_DIR}/{STATE_JSON_FILE}); start it without --resume"
            )
        if self.writes:
            check_resumable(self.output_dir)

    def check_new(self, overwrite: bool) -> None:
        """Refuse an occupied ``--output`` before anything is read or written; lock a run that will be replaced."""
        out = self.output_dir
        if not self.writes:
            return
        existing = next(path for path in (out, *out.parents) if path.exists())  # a root always exists
        if not existing.is_dir():  # asked here: making the directory would fail with ENOTDIR, a "disk" error
            what = "a run directory" if existing == out else f"a directory (it is on the path of {out})"
            raise RunDirectoryError(f"{existing}: is a file, not {what}; choose another --output")
        if _is_free(out):
            return
        if not overwrite:
            if is_run_directory(out):
                raise RunDirectoryError(f"{out}: already holds a run; pass --resume to continue it or --overwrite to replace it")
            raise RunDirectoryError(f"{out}: is not empty and not an nlp-lstm run directory; choose another --output")
        try:
            check_run_replaceable(out)
        except NotOurFiles as error:
            raise RunDirectoryError(str(error)) from None
        self.locks.append(RunLock(out))  # nobody may train in the run this one replaces

    def prepare(self) -> Path:
        """Make the directory the new run writes to (its settings go in next); return it."""
        out = self.place
        if out.is_dir() and has_checkpoint(out):  # --overwrite of a run that saved: write beside it
            self.directory = temporary(out, "run")
            if self.directory.exists():
                remove_run_directory(self.directory)
        elif out.exists() and any(out.iterdir()):  # what a start that never saved left
            leftover = RunLock(out)  # unless that start is still running, before its first checkpoint
            remove_run_directory(out)
            leftover.release()
        made = self.directory if self.replacing else out  # a link to a directory not made yet: make its target
        self.made_directory = not made.exists()
        made.mkdir(parents=True, exist_ok=True)
        self.locks.append(RunLock(self.directory))
        return self.directory

    @property
    def replacing(self) -> bool:
        return self.directory != self.output_dir

    def swap_in(self) -> None:
        """After the new run's first complete ``last/``: swap it in for the run it replaces, and delete that one."""
        if not self.replacing:
            return
        replaced = swap_into_place(self.directory, self.place, "replaced")
        self.directory = self.output_dir
        if replaced is not None:
            remove_run_directory(replaced)
        old_lock = self.locks.pop(0)  # taken by check_new on the old run's marker
        old_lock.release()

    def close(self) -> None:
        """On any exit: drop what a new run wrote if it never saved a model, then release the locks."""
        with contextlib.suppress(OSError):
            if self.writes and self.replacing:
                remove_run_directory(self.directory)  # the run it was to replace stays as it was
            elif self.writes and self.made_directory and not has_checkpoint(self.directory):
                remove_run_directory(self.place)  # what it made: a link's target, not the link
        for lock in self.locks:
            lock.release()
        self.locks = []
