"""A user's files and a good model survive clumsy options, crashes and a second process: real processes, real signals.

Faults are injected at the OS boundary: SIGKILL and SIGINT, strace's syscall fault injection
(a kill at the Nth rename, a rename slowed by seconds), never a mock of the code under test.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nlp_lstm import checkpoint
from nlp_lstm.cli import app
from nlp_lstm.files import RUN_MARKER, NotOurFiles

TINY = ["--embedding-dim", "8", "--hidden-size", "16", "--num-layers", "1", "--device", "cpu"]
LM = [*TINY, "--seq-len", "16", "--batch-size", "4", "--warmup-steps", "2"]
CLASSIFIER = [*TINY, "--batch-size", "16", "--max-length", "32", "--vocab-size", "300", "--warmup-steps", "2"]
CLASSIFIER += ["--text-column", "review", "--label-column", "sentiment"]  # the reviews_csv fixture
STRACE = shutil.which("strace")


def run_cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def command(*args):
    return [sys.executable, "-m", "nlp_lstm", *map(str, args)]


def env():
    return {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}


def as_in_a_terminal() -> None:
    """Give the child Ctrl-C's default action, as a terminal's foreground process has it.

    A suite started in the background by a non-interactive shell inherits SIGINT ignored (POSIX), and
    Python then keeps it ignored: a SIGINT sent before training installs its own handler would do nothing.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def traced(syscalls: str, *faults: str) -> list[str]:
    """strace reporting ``syscalls`` and injecting ``faults`` (not with --seccomp-bpf: strace 6.1 then injects nothing)."""
    return [STRACE, "-f", "-qq", "-o", os.devnull, "-e", f"trace={syscalls}"] + [
        option for fault in faults for option in ("-e", f"inject={fault}")
    ]


def snapshot(directory: Path) -> dict[str, bytes]:
    """Every file under ``directory`` with its bytes: what 'left as it was' means."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def validations(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if '"split"' in line]


def hidden(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(".") and p.name != RUN_MARKER)


def wait_for(condition, seconds=60.0):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


@pytest.fixture
def lm_run(tmp_path, text_file):
    out = tmp_path / "runs" / "lm"
    result = run_cli("train", "lm", "--dataset", text_file, "--output", out, "--max-steps", 6, "--eval-every", 3, *LM)
    assert result.exit_code == 0, result.output
    return out


# 1. --overwrite keeps the old run until the new one has a checkpoint.


def test_overwrite_keeps_the_old_run_through_a_bad_dataset_and_an_unavailable_device(lm_run, text_file):
    before = snapshot(lm_run)
    result = run_cli("train", "lm", "--dataset", "data/DOES_NOT_EXIST.txt", "--output", lm_run, "--overwrite", *LM)
    assert result.exit_code == 1 and "no such file" in result.stderr
    assert snapshot(lm_run) == before
    if not __import__("torch").cuda.is_available():
        result = run_cli("train", "lm", "--dataset", text_file, "--output", lm_run, "--overwrite", *LM[:-2], "--device", "cuda")
        assert result.exit_code == 2 and "CUDA is not available" in result.stderr
        assert snapshot(lm_run) == before
    assert hidden(lm_run.parent) == [] and hidden(lm_run) == []


@pytest.mark.slow  # real processes killed or disks filled: the slow set (README)
@pytest.mark.skipif(STRACE is None, reason="needs strace to hold the process in its data loading")
def test_ctrl_c_while_the_new_run_reads_its_data_keeps_the_old_run(lm_run, text_file, tmp_path):
    before = snapshot(lm_run)
    log = tmp_path / "strace.log"
    # Every syscall that names the data file sleeps 3 s first, so SIGINT lands while the data is being read.
    tracer = subprocess.Popen(
        [STRACE, "-f", "-qq", "-o", str(log), "-P", str(text_file), "-e", "inject=all:delay_enter=3000000"]
        + command("train", "lm", "--dataset", text_file, "--output", lm_run, "--overwrite", "--max-steps", 4, *LM),
        env=env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=as_in_a_terminal,
    )
    wait_for(lambda: log.exists() and str(text_file) in log.read_text())
    trainer = int(log.read_text().split()[0])  # the traced python process
    os.kill(trainer, signal.SIGINT)
    _, stderr = tracer.communicate(timeout=120)
    assert tracer.returncode == 130, stderr
    assert snapshot(lm_run) == before
    assert hidden(lm_run.parent) == []


def test_overwrite_replaces_the_run_once_it_has_saved_and_leaves_no_temporaries(lm_run, text_file):
    result = run_cli(
        "train", "lm", "--dataset", text_file, "--output", lm_run, "--overwrite", "--max-steps", 2, "--eval-every", 1, *LM
    )
    assert result.exit_code == 0, result.output
    assert checkpoint.load(lm_run / "last").training["step"] == 2
    assert [e["step"] for e in validations(lm_run)] == [1, 2]  # the old run's metrics are gone with it
    assert hidden(lm_run) == [] and hidden(lm_run.parent) == []


# 2. Only files nlp-lstm can prove it wrote are deleted.


def test_overwrite_refuses_directories_with_files_it_did_not_write(tmp_path, lm_run, text_file):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "train_config.json").write_text("{}")  # a name we use, but not our run
    (mine / "thesis.txt").write_text("do not delete")
    (lm_run / "notes.txt").write_text("mine too")
    (lm_run / "best" / "plot.png").write_bytes(b"png")
    for out, problem in [(mine, "is not an nlp-lstm run directory"), (lm_run, "notes.txt")]:
        before = snapshot(out)
        result = run_cli("train", "lm", "--dataset", text_file, "--output", out, "--overwrite", *LM)
        assert result.exit_code == 2 and problem in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert snapshot(out) == before
    assert str(lm_run / "best" / "plot.png") in result.stderr


def test_saving_a_model_never_deletes_what_is_not_a_model_file(tmp_path, tiny_lm):
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "data.csv").write_text("a,b\n")
    with pytest.raises(NotOurFiles, match="data.csv"):
        checkpoint.save(tiny_lm, folder)
    with pytest.raises(NotOurFiles, match="data.csv"):
        tiny_lm.save_pretrained(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["data.csv"]
    model = tiny_lm.save_pretrained(tmp_path / "model")  # a model directory is replaced, card and all
    tiny_lm.save_pretrained(model)
    assert sorted(p.name for p in model.iterdir()) == [
        "README.md",
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "training.json",
    ]
    assert hidden(tmp_path) == []


def test_ensemble_overwrite_keeps_foreign_files(tmp_path, reviews_csv):
    data = reviews_csv
    members = []
    for seed in (0, 1):
        out = tmp_path / f"m{seed}"
        result = run_cli("train", "classifier", "--dataset", data, "--output", out, "--epochs", 1, "--seed", seed, *CLASSIFIER)
        assert result.exit_code == 0, result.output
        members.append(out / "best")
    target = tmp_path / "userdir"
    target.mkdir()
    (target / "keep.txt").write_text("mine")
    result = run_cli("ensemble", *members, "--output", target, "--overwrite", "--device", "cpu")
    assert result.exit_code == 2 and "keep.txt" in result.stderr
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]


# 3. best/ is the best model, and last/ says so, whatever happened in between.


def recorded_best_is_on_disk(run: Path) -> None:
    state = json.loads((run / "last" / "trainer_state.json").read_text())["info"]["best"]
    on_disk = json.loads((run / "best" / "training.json").read_text())
    assert state["step"] == on_disk["validation"]["step"] and state["score"] == on_disk["best_score"]


@pytest.mark.parametrize("kind", ["lm", "classifier"])
def test_extending_a_finished_run_compares_against_the_best_on_disk(tmp_path, text_file, reviews_csv, kind):
    out = tmp_path / "run"
    if kind == "lm":
        first = ["train", "lm", "--dataset", text_file, "--max-steps", 6, "--eval-every", 2, *LM]
        more = ["train", "lm", "--max-steps", 10]
        score = lambda e: -e["nats_per_char"]  # noqa: E731
    else:
        first = ["train", "classifier", "--dataset", reviews_csv, "--epochs", 2, "--patience", 0, *CLASSIFIER]
        more = ["train", "classifier", "--epochs", 4]
        score = lambda e: e["accuracy"]  # noqa: E731
    assert run_cli(*first, "--output", out).exit_code == 0
    recorded_best_is_on_disk(out)
    result = run_cli(*more, "--output", out, "--resume")
    assert result.exit_code == 0, result.output
    recorded_best_is_on_disk(out)
    best = json.loads((out / "best" / "training.json").read_text())["best_score"]
    assert best == max(score(e) for e in validations(out))


@pytest.mark.slow
@pytest.mark.skipif(STRACE is None, reason="needs strace to kill the process at a chosen rename")
@pytest.mark.parametrize("kind", ["lm", "classifier"])
def test_a_kill_at_any_save_resumes_with_the_true_best(tmp_path, text_file, reviews_csv, kind):
    out = tmp_path / "run"
    if kind == "lm":
        train, length = ["train", "lm", "--dataset", text_file, "--eval-every", 1, *LM], "--max-steps"
        score = lambda e: -e["nats_per_char"]  # noqa: E731
    else:
        train = ["train", "classifier", "--dataset", reviews_csv, "--patience", 0, *CLASSIFIER, "--lr", "0.02"]
        length, score = "--epochs", lambda e: e["accuracy"]  # noqa: E731
    assert run_cli(*train, "--output", out, length, 2).exit_code == 0
    # SIGKILL at the 3rd rename (safetensors' own included): where the first evaluation improved, best/ is
    # saved (2 renames) and last/ is not yet; otherwise inside last/'s save.
    rename = "rename,renameat,renameat2"
    resumed = command(*train, "--output", out, "--resume", length, 6)
    killed = subprocess.run(traced(rename, f"{rename}:signal=SIGKILL:when=3") + resumed, env=env(), capture_output=True)
    assert killed.returncode in (-9, 137), killed.stderr
    done = subprocess.run(command(*train, "--output", out, "--resume", length, 6), env=env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    recorded_best_is_on_disk(out)
    assert json.loads((out / "best" / "training.json").read_text())["best_score"] == max(map(score, validations(out)))
    assert hidden(out) == [] and hidden(out.parent) == []


# 4. Replacing a directory is crash-safe.


@pytest.mark.slow
@pytest.mark.skipif(STRACE is None, reason="needs strace to kill the process between two renames")
def test_a_kill_between_the_two_renames_of_a_replacement_is_recovered(tmp_path, text_file, when=2):
    """Where the file system has no atomic exchange (injected: renameat2 answers EINVAL), a replacement
    takes two renames; a SIGKILL at the second leaves the model directory missing and the old copy
    parked. The next start must put it back, resume, and leave no temporaries."""
    out = tmp_path / "run"
    assert (
        run_cli("train", "lm", "--dataset", text_file, "--output", out, "--max-steps", 2, "--eval-every", 1, *LM).exit_code == 0
    )
    faults = traced("rename,renameat2", "renameat2:error=EINVAL", f"rename:signal=SIGKILL:when={when}")
    killed = subprocess.run(
        faults + command("train", "lm", "--output", out, "--resume", "--max-steps", 4),
        env=env(),
        capture_output=True,
    )
    assert killed.returncode in (-9, 137), killed.stderr
    parked = [name for name in hidden(out) if ".old-" in name]
    assert parked and not (out / parked[0].split(".")[1]).exists()  # the crash window was hit: best/ or last/ is gone
    finish = command("train", "lm", "--output", out, "--resume", "--max-steps", 4)
    done = subprocess.run(finish, env=env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert hidden(out) == [] and checkpoint.load(out / "last").training["step"] == 4
    recorded_best_is_on_disk(out)


@pytest.mark.slow
def test_ten_random_kills_with_an_evaluation_every_step(tmp_path, text_file):
    """The suite's share of benchmarks/kill_loop.py, which runs 50."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from kill_loop import kill_loop

    report = kill_loop(tmp_path / "runs" / "run", text_file, kills=10, seed=0)
    assert report["kills"] == 10 and report["resumes_failed"] == 0 and report["finished"], report
    assert report["stale_temporaries"] == 0 and report["best_is_true_best"], report


# 5. One process at a time in a run.


@pytest.mark.slow  # real processes killed or disks filled: the slow set (README)
def test_a_second_process_on_a_run_in_use_is_refused_and_the_lock_dies_with_the_first(lm_run):
    first = resumed_and_training(lm_run)
    try:
        for flags in (["--resume"], ["--overwrite", "--dataset", "builtin:shakespeare"]):
            second = subprocess.run(command("train", "lm", "--output", lm_run, *flags), env=env(), capture_output=True, text=True)
            assert second.returncode == 2 and "another nlp-lstm process is training in this run" in second.stderr
            assert len(second.stderr.strip().splitlines()) == 1
    finally:
        first.kill()
        first.wait()
    again = subprocess.run(
        command("train", "lm", "--output", lm_run, "--resume", "--max-steps", 8), env=env(), capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr


# 6. A start that never saved does not block its output directory.


@pytest.mark.slow  # real processes killed or disks filled: the slow set (README)
def test_a_failed_start_leaves_nothing_and_a_killed_one_leaves_a_free_directory(tmp_path, text_file):
    out = tmp_path / "runs" / "new"
    result = run_cli("train", "lm", "--dataset", tmp_path / "typo.txt", "--output", out, *LM)
    assert result.exit_code == 1 and not out.exists()
    started = subprocess.Popen(
        command("train", "lm", "--dataset", text_file, "--output", out, "--max-steps", 100_000, "--eval-every", 100_000, *LM),
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(lambda: (out / "metrics.jsonl").exists())
    try:  # while that start runs, before its first checkpoint, a second new run is refused, not let in to clear it
        second = run_cli("train", "lm", "--dataset", text_file, "--output", out, "--max-steps", 2, *LM)
        assert second.exit_code == 2 and "another nlp-lstm process is training in this run" in second.stderr
        assert (out / "metrics.jsonl").exists()
    finally:
        started.kill()
        started.wait()
    assert not (out / "last").exists()
    result = run_cli("train", "lm", "--dataset", text_file, "--output", out, "--max-steps", 2, "--eval-every", 2, *LM)
    assert result.exit_code == 0, result.output


# 7. A character model learns the line breaks of a text file.


def test_a_model_trained_on_a_multi_line_file_writes_and_counts_line_breaks(tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("".join(f"line {i % 7}\n" for i in range(3000)))
    out = tmp_path / "run"
    options = ["--embedding-dim", 16, "--hidden-size", 32, "--num-layers", 1, "--seq-len", 32, "--batch-size", 16]
    result = run_cli(
        "train",
        "lm",
        "--dataset",
        lines,
        "--output",
        out,
        "--max-steps",
        150,
        "--eval-every",
        150,
        "--lr",
        0.01,
        *options,
        "--device",
        "cpu",
    )
    assert result.exit_code == 0, result.output
    assert "\n" in json.loads((out / "best" / "tokenizer.json").read_text())["chars"]
    generated = run_cli("generate", "--model", out / "best", "--prompt", "line 1", "--length", 60, "--temperature", 0)
    assert generated.exit_code == 0 and generated.stdout.count("\nline ") >= 3, generated.stdout
    evaluated = run_cli("evaluate", "lm", "--model", out / "best", "--dataset", lines, "--split", "test", "--json")
    metrics = json.loads(evaluated.stdout)
    assert metrics["unknown_characters"] == 0 and metrics["bits_per_char"] < 1.0


# The architecture issue's clean stop: acknowledged at once, not labelled an error, a second Ctrl-C stops now.


def resumed_and_training(run: Path) -> subprocess.Popen:
    """``--resume`` of ``run`` with no end in sight, returned once it has logged training steps."""
    process = subprocess.Popen(
        command("train", "lm", "--output", run, "--resume", "--max-steps", 100_000, "--eval-every", 100_000),
        env=env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = len((run / "metrics.jsonl").read_text().splitlines())
    wait_for(lambda: len((run / "metrics.jsonl").read_text().splitlines()) > lines + 1)
    return process


@pytest.mark.slow  # real processes killed or disks filled: the slow set (README)
def test_ctrl_c_is_acknowledged_a_second_one_stops_at_once_and_the_run_resumes(lm_run):
    process = resumed_and_training(lm_run)
    process.send_signal(signal.SIGINT)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "stopping: the run is saved after this step or evaluation" in stderr
    assert "error:" not in stderr and "Traceback" not in stderr
    again = subprocess.run(
        command("train", "lm", "--output", lm_run, "--resume", "--max-steps", 8), env=env(), capture_output=True, text=True
    )
    assert again.returncode == 0, again.stderr
    assert hidden(lm_run) == []


@pytest.mark.slow  # real processes killed or disks filled: the slow set (README)
def test_a_single_ctrl_c_saves_and_says_how_to_resume_without_calling_it_an_error(lm_run):
    result = resumed_and_training(lm_run)
    result.send_signal(signal.SIGINT)
    _, stderr = result.communicate(timeout=60)
    last = stderr.strip().splitlines()[-1]
    assert result.returncode == 130 and last.startswith("stopped at step ") and "Resume with: nlp-lstm train lm" in last
