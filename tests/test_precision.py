"""bf16 where the device has the LSTM kernels, a clear refusal where it has not: decided by probing, never by CPU name."""

import json
import os
import subprocess
import sys

import pytest
import torch
from typer.testing import CliRunner

from nlp_lstm import RunOptions, train_classifier, train_language_model
from nlp_lstm.cli import app
from nlp_lstm.precision import BF16_VARIABLE, PrecisionUnavailable, bf16_lstm_problem
from nlp_lstm.train_config import ClassifierTrainConfig, TrainConfig

CPU = torch.device("cpu")
SMALL = ["--embedding-dim", 16, "--hidden-size", 32, "--num-layers", 1, "--batch-size", 8, "--device", "cpu"]


def run_cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


@pytest.fixture
def bf16_refused(monkeypatch):
    """The seam: the probe answers 'no' on any machine, whatever its kernels."""
    monkeypatch.setenv(BF16_VARIABLE, "unsupported")


@pytest.mark.parametrize("command", [["train", "lm", "--max-steps", 2, "--seq-len", 16], ["train", "classifier", "--epochs", 1]])
def test_bf16_is_refused_in_one_line_before_the_run_directory_exists(bf16_refused, tmp_path, text_file, reviews_csv, command):
    dataset = text_file if command[1] == "lm" else reviews_csv
    extra = [] if command[1] == "lm" else ["--text-column", "review", "--label-column", "sentiment"]
    output = tmp_path / "runs" / "x"
    result = run_cli(*command, "--dataset", dataset, "--output", output, "--precision", "bf16", *SMALL, *extra)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: --precision bf16: this cpu cannot run the LSTM in bf16")
    assert "use --precision fp32" in lines[0] and "Traceback" not in result.output
    assert not output.exists() and not output.parent.exists()


def test_the_api_raises_the_same_refusal_and_fp32_is_never_probed(bf16_refused, tmp_path, text_file, reviews_csv):
    with pytest.raises(PrecisionUnavailable, match="use --precision fp32"):
        train_language_model(TrainConfig(dataset=str(text_file), device="cpu", precision="bf16"), tmp_path / "lm")
    classifier = ClassifierTrainConfig(dataset=str(reviews_csv), text_column="review", label_column="sentiment")
    with pytest.raises(PrecisionUnavailable):
        train_classifier(classifier.replace(device="cpu", precision="bf16"), tmp_path / "classifier")
    assert not (tmp_path / "lm").exists() and not (tmp_path / "classifier").exists()
    fp32 = TrainConfig(dataset=str(text_file), device="cpu", seq_len=16, batch_size=4, max_steps=1, eval_every=1)
    result = train_language_model(fp32.with_encoder(embedding_dim=8, hidden_size=8, num_layers=1), tmp_path / "fp32")
    assert result.step == 1


def test_resuming_in_bf16_is_refused_too_and_leaves_the_run_as_it_was(monkeypatch, tmp_path, text_file):
    config = TrainConfig(dataset=str(text_file), device="cpu", seq_len=16, batch_size=4, max_steps=2, eval_every=1)
    train_language_model(config.with_encoder(embedding_dim=8, hidden_size=8, num_layers=1), tmp_path / "run")
    before = {p.name: p.stat().st_mtime_ns for p in (tmp_path / "run").rglob("*")}
    monkeypatch.setenv(BF16_VARIABLE, "unsupported")
    with pytest.raises(PrecisionUnavailable):
        resumed = config.replace(max_steps=4, precision="bf16")
        train_language_model(resumed, RunOptions(tmp_path / "run", resume=True))
    assert {p.name: p.stat().st_mtime_ns for p in (tmp_path / "run").rglob("*")} == before


def test_the_seam_takes_only_its_documented_answers(monkeypatch):
    monkeypatch.setenv(BF16_VARIABLE, "supported")
    assert bf16_lstm_problem(CPU) is None
    monkeypatch.setenv(BF16_VARIABLE, "maybe")
    result = run_cli("train", "lm", "--precision", "bf16", "--output", "unused", "--device", "cpu")
    assert result.exit_code == 2 and f"{BF16_VARIABLE}='maybe' is not one of probe, supported, unsupported" in result.stderr


# oneDNN honours ONEDNN_MAX_CPU_ISA, read once when the process starts: capped at AVX2, a CPU that has the bf16
# kernels behaves as an AVX2-only one does. The probe and a real two-step bf16 run must agree in that process.
AGREEMENT = """
import json, subprocess, sys, tempfile, torch
from pathlib import Path
from nlp_lstm.precision import bf16_lstm_problem
problem = bf16_lstm_problem(torch.device("cpu"))
output = Path(tempfile.mkdtemp()) / "x"
command = [sys.executable, "-m", "nlp_lstm", "train", "lm", "--dataset", sys.argv[1], "--output", str(output),
           "--precision", "bf16", "--max-steps", "2", "--eval-every", "2", "--seq-len", "16", "--batch-size", "4",
           "--hidden-size", "16", "--embedding-dim", "8", "--num-layers", "1", "--device", "cpu"]
done = subprocess.run(command, capture_output=True, text=True)
print(json.dumps({"problem": problem, "code": done.returncode, "stderr": done.stderr, "exists": output.exists()}))
"""


@pytest.mark.slow  # real training runs under two CPU settings: the slow set (README)
@pytest.mark.parametrize("isa", ["AVX2", None])
def test_the_probe_predicts_what_a_real_bf16_run_does(tmp_path, text_file, isa):
    env = {k: v for k, v in os.environ.items() if k not in (BF16_VARIABLE, "ONEDNN_MAX_CPU_ISA")}
    if isa:
        env["ONEDNN_MAX_CPU_ISA"] = isa
    done = subprocess.run([sys.executable, "-c", AGREEMENT, str(text_file)], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    if outcome["problem"] is None:
        assert outcome["code"] == 0 and outcome["exists"], outcome["stderr"]
    else:
        assert outcome["code"] == 2 and not outcome["exists"], outcome["stderr"]
        assert outcome["stderr"].count("\n") == 1 and "use --precision fp32" in outcome["stderr"]
