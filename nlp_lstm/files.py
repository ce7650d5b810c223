"""The files nlp-lstm writes, the rule for what it may delete, crash-safe replacement, and run locks.

The library deletes only what it can prove it wrote: a model directory whose entries are all model
file names, and a run directory that carries our marker file (or, from before the marker, a
``train_config.json`` beside a ``best/`` or ``last/`` model directory), and inside either only the
names it knows. A ``README.md`` is a name people use too, so a model card counts as ours only while
it ends in the signature line we wrote, whose digest covers every byte above it. Anything else in
the way is an error that names the path. A symbolic link to a directory is followed: the directory
it leads to is replaced (its temporaries are made beside it, on its file system) and the link stays.

A directory is replaced by writing the new version beside it (``.NAME.partial-PID``) and swapping
the two in one atomic step where the OS has one (Linux ``renameat2(RENAME_EXCHANGE)``), else by two
renames with the old version parked as ``.NAME.old-PID`` in between. At every instant either the old
or the new complete version is at NAME, or (between the two renames only) the old one is parked,
and :func:`recover` puts it back on the next start. A partial copy is never promoted: it may be
incomplete. Temporaries of processes that no longer run are removed.

A run directory in use is locked with ``flock`` on its marker file: the OS drops the lock when the
process ends, however it ends, so a lock is never stale.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import hashlib
import json
import os
import re
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

from nlp_lstm.errors import NlpLstmError, UsageError

# A model directory.
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
TOKENIZER_FILE = "tokenizer.json"
TRAINING_FILE = "training.json"
EVALUATION_FILE = "evaluation.json"
CARD_FILE = "README.md"
STATE_TENSORS_FILE = "trainer_state.safetensors"  # last/ of a run: what --resume needs
STATE_JSON_FILE = "trainer_state.json"
MODEL_FILES = frozenset(
    {CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE, TRAINING_FILE, EVALUATION_FILE, CARD_FILE, STATE_TENSORS_FILE, STATE_JSON_FILE}
)

# A run directory.
RUN_MARKER = ".nlp-lstm-run"  # written first in every run directory; also the file the run lock is taken on
RUN_CONFIG_FILE = "train_config.json"
RUN_TOML_FILE = "run.toml"
METRICS_FILE = "metrics.jsonl"
CURVES_FILE = "curves.png"
BEST_DIR, LAST_DIR = "best", "last"
RUN_FILES = frozenset({RUN_MARKER, RUN_CONFIG_FILE, RUN_TOML_FILE, METRICS_FILE, CURVES_FILE})
RUN_MODEL_DIRS = (BEST_DIR, LAST_DIR)

# The most any JSON file of a model or run directory may hold: a 50 k-token BPE vocabulary is about 3 MB.
JSON_LIMIT = 64 * 2**20
CARD_LIMIT = 2**20  # a card we write is a few kB; a bigger README.md is not ours, and is not read to find out
# The last line of a model card we write. An HTML comment, so it does not show where the card is rendered (the Hub).
CARD_SIGNATURE = "<!-- written by nlp-lstm; sha256 of the card above: {} -->\n"

_SAFETENSORS_TEMPORARY = re.compile(r"^\.tmp[A-Za-z0-9_]{6,10}$")  # Python's tempfile names, as safetensors uses
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<role>partial|old|run|replaced)-(?P<pid>\d+)$")


class NotOurFiles(UsageError):
    """A path is in the way that nlp-lstm cannot prove it wrote; it is never deleted."""


class UnreadableFile(NlpLstmError):
    """A file to read is missing, not a regular file, too large, or not the text it should be."""


def check_regular_file(path: Path, what: str = "file", limit: int | None = None) -> int:
    """Raise unless ``path`` is (or links to) a regular file of at most ``limit`` bytes; return its size.

    Asked before opening: opening a FIFO blocks until someone writes, and a device never ends.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise UnreadableFile(f"{path}: {what} is missing") from None
    except OSError as error:
        raise UnreadableFile(f"{path}: cannot read {what} ({error.strerror})") from None
    if stat.S_ISDIR(info.st_mode):
        raise UnreadableFile(f"{path}: is a directory; a {what} must be a file")
    if not stat.S_ISREG(info.st_mode):
        raise UnreadableFile(f"{path}: is not a regular file (a pipe, socket or device); a {what} must be a file")
    if limit is not None and info.st_size > limit:
        raise UnreadableFile(
            f"{path}: {info.st_size:,} bytes, more than a {what} may hold ({limit:,}); the file is not ours or damaged"
        )
    return info.st_size


def read_json_file(path: Path, what: str = "JSON file", limit: int = JSON_LIMIT) -> object:
    """Parse a small JSON file, refusing what is not a bounded regular file or not sane JSON, in one line."""
    check_regular_file(path, what, limit)
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
        return json.loads(data.decode("utf-8"))
    except OSError as error:
        raise UnreadableFile(f"{path}: cannot read {what} ({error.strerror})") from None
    except UnicodeDecodeError:
        raise UnreadableFile(f"{path}: {what} is not UTF-8 text; the file is damaged") from None
    except (ValueError, RecursionError) as error:  # bad JSON, a giant integer, or nesting deeper than Python recurses
        raise UnreadableFile(f"{path}: {what} is not valid JSON ({json_error_reason(error)}); the file is damaged") from None


def json_error_reason(error: ValueError | RecursionError) -> str:
    """Why ``json.loads`` failed, in a few words: its first line, without Python's advice on its own settings."""
    if isinstance(error, RecursionError):
        return "nested too deeply"
    reason = (str(error).splitlines() or [type(error).__name__])[0]
    return reason.split(";")[0]  # a giant integer's message goes on "; use sys.set_int_max_str_digits() ..."


def temporary(target: Path, role: str, pid: int | None = None) -> Path:
    """The hidden sibling of ``target`` that a process uses while it replaces it."""
    return target.parent / f".{target.name}.{role}-{os.getpid() if pid is None else pid}"


def followed(path: Path) -> Path:
    """The directory a replacement of ``path`` swaps with: where a symbolic link leads, else ``path`` itself.

    A temporary made beside the link would be swapped in for the link (the link then sits at the
    temporary's name, out of reach of the cleanup) and would cross file systems where the link does.
    A path with no name of its own (``.``, ``..``) is made absolute, or its sibling would be inside it.
    """
    return Path(os.path.realpath(path)) if path.is_symlink() or path.name in ("", ".", "..") else path


def final_name(path: str | os.PathLike[str]) -> str:
    """``path`` with each temporary in it (``.NAME.partial-PID``, ...) given the name it becomes.

    A message outlives the temporary (it is removed when the write fails), so it names what the user asked for.
    """
    return os.sep.join(match["name"] if (match := _TEMPORARY.match(part)) else part for part in os.fspath(path).split(os.sep))


@contextlib.contextmanager
def naming(path: Path) -> Iterator[None]:
    """Make an OS error raised while writing ``path`` name the path a user knows.

    A failed ``write`` or ``fsync`` raises an OSError without a file name, and Rust libraries
    (safetensors, tokenizers) raise their own error that gives the OS error only in its text
    ("os error 28"): both become an OSError that names ``path``, and a temporary in the name is
    given its final name (see :func:`final_name`).
    """
    try:
        yield
    except OSError as error:
        shown = final_name(error.filename if error.filename is not None else path)
        if shown == error.filename:
            raise
        raise OSError(error.errno, error.strerror, shown) from error
    except Exception as error:
        code = re.search(r"os error (\d+)", str(error))
        if code is None or isinstance(error, NlpLstmError):
            raise
        raise OSError(int(code[1]), os.strerror(int(code[1])), final_name(path)) from error


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def stale_temporaries(target: Path) -> list[tuple[str, Path]]:
    """``(role, path)`` of the temporaries of ``target`` left by processes that no longer run, newest first."""
    if not target.parent.is_dir():
        return []
    found = []
    for entry in target.parent.iterdir():
        match = _TEMPORARY.match(entry.name)
        # A temporary of ours is a real directory: a link by that name is not followed into what it points to.
        if match and match["name"] == target.name and not entry.is_symlink() and not _running(int(match["pid"])):
            found.append((match["role"], entry))
    return sorted(found, key=lambda item: item[1].lstat().st_mtime_ns, reverse=True)


def signed_card(text: str) -> str:
    """A model card ``text`` with the signature line that proves nlp-lstm wrote it, byte for byte."""
    return text + CARD_SIGNATURE.format(hashlib.sha256(text.encode("utf-8")).hexdigest())


def is_our_card(path: Path) -> bool:
    """Whether ``path`` is a model card exactly as nlp-lstm wrote it; a README.md written or edited by anyone else is not."""
    if path.is_symlink():
        return False
    try:
        check_regular_file(path, "model card", CARD_LIMIT)  # never read a FIFO or a giant file to find out
        text = path.read_bytes().decode("utf-8")
    except (UnreadableFile, OSError, UnicodeDecodeError):
        return False
    return signed_card(text[: text.rfind("\n", 0, len(text) - 1) + 1]) == text  # all but the last line, signed


def _is_model_file(path: Path) -> bool:
    if path.name not in MODEL_FILES or not path.is_file() or path.is_symlink():
        return False
    return path.name != CARD_FILE or is_our_card(path)


def model_strays(directory: Path) -> list[Path]:
    """Entries of ``directory`` that are not files of a model directory (a README.md that is not our card included)."""
    return sorted(p for p in directory.iterdir() if not _is_model_file(p))


def is_run_directory(directory: Path) -> bool:
    """Whether ``directory`` carries our marker, or is a run from before the marker existed."""
    if (directory / RUN_MARKER).is_file():
        return True
    return (directory / RUN_CONFIG_FILE).is_file() and any((directory / d / CONFIG_FILE).is_file() for d in RUN_MODEL_DIRS)


def run_strays(directory: Path) -> list[Path]:
    """Entries of a run directory that nlp-lstm did not write, at any depth."""
    strays = []
    for entry in directory.iterdir():
        if (
            entry.name in RUN_MODEL_DIRS
            and entry.is_dir()
            and not entry.is_symlink()
            or (match := _TEMPORARY.match(entry.name))
            and match["name"] in RUN_MODEL_DIRS
            and entry.is_dir()
        ):
            strays += model_strays(entry)
        elif entry.name not in RUN_FILES or not entry.is_file() or entry.is_symlink():
            strays.append(entry)
    return sorted(strays)


def _refuse(strays: list[Path], what: str, advice: str) -> NotOurFiles:
    shown = ", ".join(str(p) for p in strays[:3]) + (f" and {len(strays) - 3} more" if len(strays) > 3 else "")
    return NotOurFiles(f"{shown}: not written by nlp-lstm, so {what} is refused; {advice}")


def check_model_replaceable(directory: Path) -> None:
    """Raise unless ``directory`` (or where its link leads) is absent, empty, or a model directory of only model files."""
    directory = followed(directory)
    if not directory.exists() and not directory.is_symlink():
        return
    if directory.is_symlink() or not directory.is_dir():
        raise NotOurFiles(f"{directory}: is not a model directory; choose another output directory")
    strays = model_strays(directory)
    if strays:
        raise _refuse(strays, f"replacing {directory}", "move them away or choose another output directory")


def check_run_replaceable(directory: Path) -> None:
    """Raise unless ``directory`` is a run directory holding only files nlp-lstm wrote."""
    if not is_run_directory(directory):
        raise NotOurFiles(f"{directory}: is not an nlp-lstm run directory; refusing to overwrite it, choose another --output")
    strays = run_strays(directory)
    if strays:
        raise _refuse(strays, f"overwriting {directory}", "move them away or choose another --output")


def check_resumable(directory: Path) -> None:
    """Raise unless the model directories of the run ``directory`` hold only model files: a resumed run replaces them.

    Asked when the run resumes, not at its first save minutes or hours later.
    """
    strays = [path for name in RUN_MODEL_DIRS if (model := followed(directory / name)).is_dir() for path in model_strays(model)]
    if strays:
        raise _refuse(strays, f"resuming {directory}", f"it replaces {BEST_DIR}/ and {LAST_DIR}/ as it trains; move them away")


def remove_model_directory(directory: Path) -> None:
    """Delete a model directory's own files, then the directory; whatever else is there stays, and so does it.

    A README.md goes only if it is our card, or if the directory is a temporary of ours: a card that
    a crash or a full disk cut short is ours too, and what it replaced was checked before.
    """
    temporary_of_ours = _TEMPORARY.match(directory.name) is not None
    for name in MODEL_FILES:
        if name == CARD_FILE and not temporary_of_ours and not is_our_card(directory / name):
            continue
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()
    for leftover in directory.glob(".tmp*"):  # safetensors writes a temporary beside the file, then renames it
        if _SAFETENSORS_TEMPORARY.match(leftover.name) and leftover.is_file() and not leftover.is_symlink():
            leftover.unlink()
    with contextlib.suppress(OSError):  # not empty: something not ours is inside, and it stays
        directory.rmdir()


def remove_run_directory(directory: Path) -> None:
    """Delete a run directory's own files and model directories, then the directory, if nothing else is in it."""
    for entry in list(directory.iterdir()):
        match = _TEMPORARY.match(entry.name)
        ours = entry.name in RUN_MODEL_DIRS or (match and match["name"] in RUN_MODEL_DIRS)
        if ours and entry.is_dir() and not entry.is_symlink():
            remove_model_directory(entry)
    for name in RUN_FILES:
        with contextlib.suppress(FileNotFoundError):
            (directory / name).unlink()
    with contextlib.suppress(OSError):
        directory.rmdir()


def _renameat2():
    if sys.platform != "linux":
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):  # a libc older than glibc 2.28
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    return function


_RENAMEAT2 = _renameat2()
_AT_FDCWD, _RENAME_EXCHANGE = -100, 2


def exchange(first: Path, second: Path) -> bool:
    """Swap two existing paths in one atomic step; False where the OS or file system cannot."""
    if _RENAMEAT2 is None:
        return False
    if _RENAMEAT2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV):
        return False
    raise OSError(code, os.strerror(code), str(second))


def fsync_directory(directory: Path) -> None:
    """Make a rename inside ``directory`` durable."""
    with contextlib.suppress(OSError):  # not every file system lets a directory be opened and synced
        descriptor = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def swap_into_place(new: Path, target: Path, park_role: str) -> Path | None:
    """Put the complete directory ``new`` at ``target``; return where the replaced one now is (None if none was)."""
    if not target.exists():
        new.rename(target)
        fsync_directory(target.parent)
        return None
    if exchange(new, target):
        fsync_directory(target.parent)
        return new
    parked = temporary(target, park_role)
    target.rename(parked)  # a crash here leaves the old version parked: recover() renames it back
    new.rename(target)
    fsync_directory(target.parent)
    return parked


def recover(target: Path, remove) -> None:
    """Undo what a dead process left half done around ``target``: put a parked copy back, remove the rest with ``remove``."""
    stale = stale_temporaries(target)
    if not target.exists():
        parked = next((path for role, path in stale if role in ("old", "replaced")), None)
        if parked is not None:
            parked.rename(target)
            stale = [(role, path) for role, path in stale if path != parked]
    for _, path in stale:
        remove(path)


@contextlib.contextmanager
def atomic_directory(
    target: Path,
    check: Callable[[Path], None] = check_model_replaceable,
    remove: Callable[[Path], None] = remove_model_directory,
) -> Iterator[Path]:
    """Yield a temporary sibling of ``target`` to write a directory into; on success it replaces ``target``.

    ``check`` refuses a directory holding what this kind of directory may not (a model's by default),
    before and after writing; ``remove`` deletes one of its kind, and only what it knows.
    """
    target = followed(Path(target))
    check(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    recover(target, remove)
    staging = temporary(target, "partial")
    if staging.exists():
        remove(staging)
    staging.mkdir()
    try:
        with naming(target):  # a full disk names target/FILE, not the temporary that is gone by then
            yield staging
            check(staging)  # the writer put only files of its kind there
            for file in staging.iterdir():
                with naming(file), open(file, "rb") as handle:
                    os.fsync(handle.fileno())
            fsync_directory(staging)
            replaced = swap_into_place(staging, target, "old")
    except BaseException:
        remove(staging)
        raise
    if replaced is not None:
        remove(replaced)


class RunLock:
    """An exclusive ``flock`` on a run directory's marker, held until :meth:`release` or the process ends."""

    def __init__(self, directory: Path):
        marker = directory / RUN_MARKER
        self.descriptor = os.open(marker, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
        try:
            fcntl.flock(self.descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self.descriptor)
            raise UsageError(
                f"{directory}: another nlp-lstm process is training in this run right now; wait for it or stop it first"
            ) from None

    def release(self) -> None:
        if self.descriptor >= 0:
            os.close(self.descriptor)  # closing the descriptor drops the lock
            self.descriptor = -1
