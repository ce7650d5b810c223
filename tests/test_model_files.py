"""Model and run directories in awkward places: a user's README.md, a symbolic link, a file, a full disk.

Each case runs the real command (or the real API) on real directories and checks the exit code, the
one line, and the files left. A full disk is a small tmpfs (root only), as in test_damaged.py.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nlp_lstm import checkpoint
from nlp_lstm.cli import app
from nlp_lstm.config import ModelConfig
from nlp_lstm.files import NotOurFiles, is_our_card
from nlp_lstm.model import LanguageModel

LM = ["--embedding-dim", "8", "--hidden-size", "16", "--num-layers", "1", "--seq-len", "16", "--batch-size", "4"]
LM += ["--warmup-steps", "2", "--device", "cpu"]
ROOT = os.geteuid() == 0 and shutil.which("mount") is not None
MODEL_FILES = ["README.md", "config.json", "model.safetensors", "tokenizer.json", "training.json"]


def run_cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def names(directory: Path) -> list[str]:
    """Every entry of ``directory``, hidden ones (temporaries) included."""
    return sorted(p.name for p in directory.iterdir())


def error_line(result, code: int) -> str:
    """The one error line of a command that must fail with ``code``."""
    assert result.exit_code == code, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr and "unexpected" not in errors[0], result.stderr
    return errors[0]


def train(out: Path, text_file: Path, *options):
    return run_cli("train", "lm", "--dataset", text_file, "--output", out, "--max-steps", 2, "--eval-every", 1, *LM, *options)


# 1. A README.md nlp-lstm did not write is the user's: it is never replaced.


def test_a_directory_holding_only_the_users_readme_is_refused_by_every_save(tmp_path, tiny_lm):
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "README.md").write_text("# My experiment\n\nWhat I tried and why.\n")
    before = snapshot(mine)
    for save in (tiny_lm.save_pretrained, lambda d: checkpoint.save(tiny_lm, d)):
        with pytest.raises(NotOurFiles) as refused:
            save(mine)
        assert str(refused.value) == (
            f"{mine / 'README.md'}: not written by nlp-lstm, so replacing {mine} is refused; "
            "move them away or choose another output directory"
        )
        assert snapshot(mine) == before and names(tmp_path) == ["notes"]


def test_our_own_card_is_replaced_but_an_edited_one_is_kept(tmp_path, tiny_lm):
    model = tiny_lm.save_pretrained(tmp_path / "model")
    assert is_our_card(model / "README.md")
    tiny_lm.save_pretrained(model)  # the card it wrote is its own: replaced with the model
    assert names(model) == MODEL_FILES and names(tmp_path) == ["model"]
    card = model / "README.md"
    card.write_text(card.read_text().replace("An nlp-lstm", "My favourite nlp-lstm"))
    before = snapshot(model)
    with pytest.raises(NotOurFiles, match=f"^{card}: not written by nlp-lstm"):
        tiny_lm.save_pretrained(model)
    assert snapshot(model) == before and names(tmp_path) == ["model"]


def test_a_run_whose_best_holds_the_users_readme_is_neither_overwritten_nor_resumed(tmp_path, text_file):
    out = tmp_path / "run"
    assert train(out, text_file).exit_code == 0
    (out / "best" / "README.md").write_text("notes on this model\n")
    before = snapshot(out)
    line = error_line(train(out, text_file, "--overwrite"), 2)
    assert line == (
        f"error: {out / 'best' / 'README.md'}: not written by nlp-lstm, so overwriting {out} is refused; "
        "move them away or choose another --output"
    )
    # Refused before it trains, not at its first save of best/.
    line = error_line(run_cli("train", "lm", "--output", out, "--resume", "--max-steps", 4), 2)
    assert line == (
        f"error: {out / 'best' / 'README.md'}: not written by nlp-lstm, so resuming {out} is refused; "
        "it replaces best/ and last/ as it trains; move them away"
    )
    assert snapshot(out) == before and names(tmp_path) == ["run", "sonnets.txt"]


# 2. The card is titled with the directory's own name, never a temporary's.


def test_the_card_is_titled_with_the_directory_name(tmp_path, tiny_lm, monkeypatch):
    card = (tiny_lm.save_pretrained(tmp_path / "my-model") / "README.md").read_text()
    assert card.splitlines()[0] == "# my-model"
    assert card.splitlines()[-1].startswith("<!-- written by nlp-lstm; sha256 of the card above: ")
    monkeypatch.chdir(tmp_path / "my-model")
    tiny_lm.save_pretrained(".")  # "." has no name of its own: the directory's is used
    assert (tmp_path / "my-model" / "README.md").read_text().splitlines()[0] == "# my-model"
    assert names(tmp_path) == ["my-model"]


# 3. --overwrite through a symbolic link replaces what the link leads to, keeps the link, leaves no temporary.


def test_overwrite_through_a_symlink_replaces_its_target_and_leaves_no_temporary(tmp_path, text_file):
    runs = tmp_path / "runs"
    assert train(runs / "exp1", text_file).exit_code == 0
    (runs / "latest").symlink_to("exp1")
    result = train(runs / "latest", text_file, "--overwrite", "--seed", 7)
    assert result.exit_code == 0, result.output
    assert names(runs) == ["exp1", "latest"] and os.readlink(runs / "latest") == "exp1"
    assert checkpoint.load(runs / "exp1" / "last").training["train_config"]["seed"] == 7
    assert names(runs / "exp1") == [
        ".nlp-lstm-run",
        "best",
        "curves.png",
        "last",
        "metrics.jsonl",
        "run.toml",
        "train_config.json",
    ]


def test_saving_through_a_symlink_replaces_its_target_and_keeps_the_link(tmp_path, tiny_lm):
    models = tmp_path / "models"
    tiny_lm.save_pretrained(models / "v1")
    (models / "current").symlink_to("v1")
    tiny_lm.training = {"note": "second"}
    tiny_lm.save_pretrained(models / "current")
    assert names(models) == ["current", "v1"] and os.readlink(models / "current") == "v1"
    assert names(models / "v1") == MODEL_FILES and checkpoint.load(models / "v1").training == {"note": "second"}
    assert (models / "v1" / "README.md").read_text().startswith("# current\n")  # the name it was saved under


# 4. --output that is a file is a usage error (2), not a disk error (74).


def test_output_naming_a_regular_file_is_a_usage_error(tmp_path, text_file):
    existing = tmp_path / "results.csv"
    existing.write_text("a,b\n1,2\n")
    for flags in ([], ["--overwrite"]):
        line = error_line(train(existing, text_file, *flags), 2)
        assert line == f"error: {existing}: is a file, not a run directory; choose another --output"
    line = error_line(train(existing / "run", text_file), 2)
    assert (
        line
        == f"error: {existing}: is a file, not a directory (it is on the path of {existing / 'run'}); choose another --output"
    )
    assert existing.read_text() == "a,b\n1,2\n" and names(tmp_path) == ["results.csv", "sonnets.txt"]


# 5. A full disk: the message names the file that could not be written.


@pytest.fixture
def small_disk(tmp_path):
    """``small_disk(size)``: a new directory on a tmpfs of that size (unmounted after the test)."""
    if not ROOT:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = []

    def mount(size: str) -> Path:
        disk = tmp_path / f"disk{len(mounted)}"
        disk.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(disk)], check=True)
        mounted.append(disk)
        return disk

    yield mount
    for disk in mounted:
        subprocess.run(["umount", str(disk)], check=True)


@pytest.mark.slow  # real processes killed or disks filled: the slow set (README)
def test_a_full_disk_names_the_file_and_leaves_no_run(small_disk, text_file):
    disk = small_disk("4k")  # one page: train_config.json fills it
    out = disk / "run"
    done = subprocess.run(
        [sys.executable, "-m", "nlp_lstm", "train", "lm", "--dataset", str(text_file), "--output", str(out), *LM],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"},
        timeout=120,
    )
    assert done.returncode == 74 and "Traceback" not in done.stderr, done.stderr
    last = done.stderr.strip().splitlines()[-1]  # after the lines of a run that had started
    # With 4 kB pages, run.toml is the file that does not fit; with larger pages, a later one.
    assert re.fullmatch(
        rf"error: {re.escape(str(out))}/[\w/.]+: No space left on device; free some space or write elsewhere", last
    )
    assert ".partial-" not in last and ".run-" not in last, last  # the name the user knows, not a temporary's
    assert names(disk) == []


def test_a_full_disk_while_replacing_a_model_names_its_file_and_keeps_the_old_one(small_disk, tiny_lm):
    disk = small_disk("64k")
    small = checkpoint.ModelBundle(
        LanguageModel(ModelConfig(vocab_size=tiny_lm.tokenizer.vocab_size, embedding_dim=4, hidden_size=4)),
        tiny_lm.tokenizer,
        "lm",
    )
    model = small.save_pretrained(disk / "model")
    before = snapshot(model)
    with pytest.raises(OSError) as full:
        tiny_lm.save_pretrained(model)  # its weights (100 kB) do not fit beside the small model's
    assert full.value.filename == str(model / "model.safetensors")  # the name it would have had, not a temporary's
    assert full.value.strerror == "No space left on device"
    assert names(disk) == ["model"] and snapshot(model) == before
