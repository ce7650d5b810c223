"""Damaged or hostile model directories and ordinary faults: bounded, fast, one-line failures with their own exit codes.

Each check runs the real command in a fresh process where the fault is about processes, files or
memory: an address-space limit shows that nothing large was allocated, a timeout that nothing hung.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file
from typer.testing import CliRunner

from nlp_lstm import checkpoint
from nlp_lstm.checkpoint import ModelLoadError
from nlp_lstm.cli import app
from nlp_lstm.config import ModelConfig
from nlp_lstm.model import Classifier

LM = [
    "--embedding-dim",
    "8",
    "--hidden-size",
    "16",
    "--num-layers",
    "1",
    "--seq-len",
    "16",
    "--batch-size",
    "4",
    "--device",
    "cpu",
]
ROOT = os.geteuid() == 0 and shutil.which("mount") is not None


def nlp_lstm(*args, stdin=None, limit_memory=False, timeout=60):
    """The CLI in a fresh process; with ``limit_memory``, under a 3 GiB address-space limit."""
    prefix = []
    if limit_memory:
        code = "import resource, runpy, sys; resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30)); "
        code += "sys.argv = ['nlp-lstm', *sys.argv[1:]]; runpy.run_module('nlp_lstm', run_name='__main__')"
        prefix = ["-c", code]
    else:
        prefix = ["-m", "nlp_lstm"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, *prefix, *map(str, args)], stdin=stdin, capture_output=True, text=True, env=env, timeout=timeout
    )


def one_line_error(done, code=1, *words):
    assert done.returncode == code, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in done.stderr, done.stderr
    assert "unexpected" not in lines[0], lines[0]
    for word in words:
        assert word in lines[0], lines[0]


@pytest.fixture
def model_dir(tmp_path, tiny_lm):
    return checkpoint.save(tiny_lm, tmp_path / "model")


def edit_config(directory: Path, **model):
    config = json.loads((directory / "config.json").read_text())
    config["model"].update(model)
    (directory / "config.json").write_text(json.dumps(config))


# 8. Sizes in config.json are checked against the weights before anything is allocated.


@pytest.mark.parametrize(
    "sizes", [{"hidden_size": 20_000}, {"hidden_size": 10**9}, {"num_layers": 10**6}, {"embedding_dim": 10**7}]
)
def test_config_sizes_that_the_weights_do_not_have_fail_without_allocating(model_dir, sizes):
    edit_config(model_dir, **sizes)
    done = nlp_lstm("generate", "--model", model_dir, "--length", 5, limit_memory=True)
    one_line_error(done, 1, str(model_dir))  # under 3 GiB of address space: nothing of the claimed size was made
    assert "MemoryError" not in done.stderr


def test_weights_of_other_names_or_integer_types_are_refused(model_dir):
    weights = load_file(str(model_dir / "model.safetensors"))
    save_file({**weights, "extra.weight": torch.zeros(3)}, str(model_dir / "model.safetensors"))
    with pytest.raises(ModelLoadError, match=r"unexpected \['extra.weight'\]"):
        checkpoint.load(model_dir)
    save_file({k: v.to(torch.int32) for k, v in weights.items()}, str(model_dir / "model.safetensors"))
    with pytest.raises(ModelLoadError, match="holds I32 tensors; weights must be floating point"):
        checkpoint.load(model_dir)


# 9. Every file a loader opens is a bounded regular file.


# One fresh process tries every case: 3 GiB of address space, and an alarm that turns a hang into a failure.
LOAD_EACH = """
import json, resource, signal, sys
from nlp_lstm import checkpoint
resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))
signal.alarm(30)
outcomes = []
for directory in sys.argv[1:]:
    try:
        checkpoint.load(directory)
        outcomes.append("loaded")
    except Exception as error:
        outcomes.append(f"{type(error).__name__}: {error}")
print(json.dumps(outcomes))
"""


def test_model_files_that_are_devices_fifos_or_directories_fail_at_once(tmp_path, tiny_lm):
    cases = []
    for name in ("config.json", "tokenizer.json", "training.json"):
        for kind, make in (("zero", lambda t: t.symlink_to("/dev/zero")), ("fifo", os.mkfifo), ("dir", Path.mkdir)):
            directory = checkpoint.save(tiny_lm, tmp_path / f"{kind}-{name}")
            (directory / name).unlink()
            make(directory / name)
            cases.append(directory)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", LOAD_EACH, *map(str, cases)], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    for directory, outcome in zip(cases, json.loads(done.stdout)):
        name = directory.name.split("-", 1)[1]
        assert outcome.startswith("ModelLoadError: ") and name in outcome, (directory.name, outcome)
        assert ("is a directory" if directory.name.startswith("dir") else "is not a regular file") in outcome, outcome


def test_json_nested_too_deeply_or_with_giant_integers_is_damaged_not_a_crash(model_dir):
    for text in ["[" * 100_000 + "]" * 100_000, '{"format_version": ' + "9" * 5000 + "}"]:
        (model_dir / "config.json").write_text(text)
        with pytest.raises(ModelLoadError, match="not valid JSON"):
            checkpoint.load(model_dir)


def test_classify_refuses_binary_stdin_and_input_files_that_never_end(tmp_path):
    with open("/dev/zero", "rb") as zeros:
        one_line_error(nlp_lstm("classify", "-", stdin=zeros, limit_memory=True), 1, "NUL bytes")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 cr\xe8me\n".encode("latin-1"))
    with open(tmp_path / "latin1.txt", "rb") as latin1:
        one_line_error(nlp_lstm("classify", "-", stdin=latin1), 1, "not UTF-8")
    (tmp_path / "zero.txt").symlink_to("/dev/zero")
    os.mkfifo(tmp_path / "fifo.csv")
    for name in ("zero.txt", "fifo.csv"):
        one_line_error(nlp_lstm("classify", "--input", tmp_path / name, limit_memory=True), 1, "not a regular file")


# 10. Non-finite weights are refused; floating types are accepted on purpose.


def test_nan_or_infinite_weights_are_refused_at_load(tmp_path, reviews):
    from nlp_lstm.tokenizer import CharTokenizer

    tokenizer = CharTokenizer.build(reviews.train.texts[:50])
    model = Classifier(ModelConfig(vocab_size=tokenizer.vocab_size, embedding_dim=8, hidden_size=8, num_layers=1, num_classes=2))
    directory = checkpoint.save(checkpoint.ModelBundle(model, tokenizer, "classifier", ["neg", "pos"]), tmp_path / "classifier")
    weights = load_file(str(directory / "model.safetensors"))
    for bad in (float("nan"), float("inf")):
        broken = dict(weights)
        broken["head.linear.weight"] = broken["head.linear.weight"].clone()
        broken["head.linear.weight"][0, 0] = bad
        save_file(broken, str(directory / "model.safetensors"))
        done = nlp_lstm("classify", "--model", directory, "a fine film", "--json")
        one_line_error(done, 1, "NaN or infinite weights")
        assert done.stdout == ""


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_float16_bfloat16_and_float64_weights_load_as_float32(model_dir, tiny_lm, dtype):
    weights = load_file(str(model_dir / "model.safetensors"))
    save_file({k: v.to(dtype) for k, v in weights.items()}, str(model_dir / "model.safetensors"))
    loaded = checkpoint.load(model_dir)
    for name, value in loaded.model.state_dict().items():
        assert value.dtype == torch.float32 and torch.equal(value, weights[name].to(dtype).float()), name


# 11. --resume does not silently ignore the options that fix a model's shape.


def test_resume_with_other_model_shape_options_is_a_usage_error(tmp_path, text_file):
    out = tmp_path / "run"
    assert (
        CliRunner()
        .invoke(app, ["train", "lm", "--dataset", str(text_file), "--output", str(out), "--max-steps", "2", *LM])
        .exit_code
        == 0
    )
    result = CliRunner().invoke(app, ["train", "lm", "--output", str(out), "--resume", "--hidden-size", "64", "--dropout", "0.5"])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "error: --resume keeps the run's model; these options differ from it: --dropout (the run has 0.2), "
        "--hidden-size (the run has 16); drop them"
    )


# 12. Ordinary faults are not bugs.


def test_a_closed_pipe_stops_generate_quietly():
    done = subprocess.run(
        f"{sys.executable} -m nlp_lstm generate --length 5000 | head -c 10; exit ${{PIPESTATUS[0]}}",
        shell=True,
        executable="/bin/bash",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 141 and len(done.stdout) == 10 and done.stderr == ""


@pytest.mark.slow  # real processes killed or disks filled: the slow set (README)
@pytest.mark.skipif(not ROOT, reason="mounting a small or read-only tmpfs needs root")
@pytest.mark.parametrize("fault", ["size=64k", "ro"])
def test_a_full_or_read_only_disk_is_one_line_with_exit_code_74(tmp_path, text_file, fault):
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", fault, "tmpfs", str(disk)], check=True)
    try:
        bigger = [*LM, "--hidden-size", "256"]  # 1 MB of weights: more than the 64 kB disk holds
        done = nlp_lstm("train", "lm", "--dataset", text_file, "--output", disk / "run", "--max-steps", 2, *bigger)
        assert done.returncode == 74 and "Traceback" not in done.stderr, done.stderr
        last = done.stderr.strip().splitlines()[-1]  # after the progress lines of a run that had started
        assert last.startswith(f"error: {disk / 'run'}") and "unexpected" not in last, last
        assert ("No space left on device" if fault != "ro" else "Read-only file system") in last
        assert not (disk / "run").exists() or not any((disk / "run").iterdir())
    finally:
        subprocess.run(["umount", str(disk)], check=True)


def test_a_temperature_so_small_that_logits_overflow_samples_greedily(tmp_path):
    tiny = nlp_lstm("generate", "--prompt", "ROMEO:", "--length", 40, "--temperature", "1e-45", "--seed", 3)
    greedy = nlp_lstm("generate", "--prompt", "ROMEO:", "--length", 40, "--temperature", 0)
    assert tiny.returncode == 0 and tiny.stdout == greedy.stdout, tiny.stderr


def test_option_names_in_messages_are_the_command_lines_from_the_api_too():
    from nlp_lstm import SampleConfig
    from nlp_lstm.errors import UsageError

    with pytest.raises(UsageError, match=r"^--top-p must be in \(0, 1\]"):
        SampleConfig(top_p=2.0)
    result = CliRunner().invoke(app, ["generate", "--top-p", "2"])
    assert result.exit_code == 2 and result.stderr.startswith("error: --top-p must be in (0, 1]")
