"""Training under torchrun: 2 CPU processes (gloo) take the steps one process takes on the whole batch.

Dropout is off, so the runs may differ only by the order of float sums; the state resets
are on, since their mask is drawn for the whole batch and each process takes its rows.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from test_train import InterruptAt  # the SIGINT-at-a-step callback of the single-process tests

from nlp_lstm import checkpoint
from nlp_lstm.distributed import REPLICA_DIR_VARIABLE
from nlp_lstm.files import RUN_MARKER
from nlp_lstm.train_config import ClassifierTrainConfig, TrainConfig
from nlp_lstm.training.classifier import train_classifier
from nlp_lstm.training.language_model import train_language_model
from nlp_lstm.training.run import RunOptions, TrainingError

REPO = Path(__file__).resolve().parent.parent
MODEL = dict(embedding_dim=16, hidden_size=32, num_layers=2, dropout=0.0, embedding_dropout=0.0)
# 13 steps per epoch on the 30 kB text: 20 steps cross an epoch, and a resume at 10 crosses it after resuming.
SETTINGS = dict(seq_len=64, batch_size=32, max_steps=20, eval_every=10, warmup_steps=5, lr=5e-3, state_reset=0.3, seed=3)
CLOSE = dict(rtol=1e-4, atol=1e-5)  # float sums in another order, through 20 AdamW steps


def cli_options(text_file: Path) -> list[str]:
    options = {"dataset": text_file, "device": "cpu", **MODEL, **SETTINGS}
    return [arg for name, value in options.items() for arg in (f"--{name.replace('_', '-')}", str(value))]


def torchrun(args: list[str], replicas: Path, command: str = "lm") -> subprocess.CompletedProcess:
    replicas.mkdir()
    env = {**os.environ, "OMP_NUM_THREADS": "1", REPLICA_DIR_VARIABLE: str(replicas)}
    launcher = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", "-m", "nlp_lstm"]
    return subprocess.run([*launcher, "train", command, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=180)


def weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


@pytest.fixture(scope="module")
def single(tmp_path_factory, sonnets_text) -> dict[str, Path]:
    """One process on the whole batch: a run of 20 steps, and one stopped at step 10 to resume from."""
    root = tmp_path_factory.mktemp("single")
    text_file = root / "sonnets.txt"
    text_file.write_text(sonnets_text, encoding="utf-8")
    config = TrainConfig(dataset=str(text_file), device="cpu", **SETTINGS)
    train_language_model(config.with_encoder(**MODEL), root / "full")
    with pytest.raises(TrainingError, match="stopped at step 10"):
        train_language_model(config.with_encoder(**MODEL), RunOptions(root / "stopped", callback=InterruptAt(10)))
    return {"text": text_file, "full": root / "full", "stopped": root / "stopped"}


def assert_matches_single(run: Path, replicas: Path, reference: Path) -> None:
    rank0, rank1 = weights(replicas / "rank0.safetensors"), weights(replicas / "rank1.safetensors")
    assert rank0.keys() == rank1.keys() and all(torch.equal(rank0[k], rank1[k]) for k in rank0)  # the replicas agree
    saved = checkpoint.load(run / "last").model.state_dict()
    assert all(torch.equal(saved[k], rank0[k]) for k in rank0)
    expected = checkpoint.load(reference / "last").model.state_dict()
    for name in expected:
        torch.testing.assert_close(saved[name], expected[name], **CLOSE, msg=name)
    # The LSTM state carried into the next window is saved for the whole batch, rows in order.
    state, expected_state = (load_file(str(r / "last" / checkpoint.STATE_TENSORS_FILE)) for r in (run, reference))
    assert state["extra.state_h"].shape == (2, SETTINGS["batch_size"], 32)
    torch.testing.assert_close(state["extra.state_h"], expected_state["extra.state_h"], **CLOSE)
    torch.testing.assert_close(state["extra.state_c"], expected_state["extra.state_c"], **CLOSE)


def metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_processes_train_like_one_on_the_whole_batch_and_only_rank_0_writes(tmp_path, single):
    run = tmp_path / "run"
    done = torchrun([*cli_options(single["text"]), "--output", str(run)], tmp_path / "replicas")
    assert done.returncode == 0, done.stderr[-3000:]
    assert_matches_single(run, tmp_path / "replicas", single["full"])
    lines, expected = metrics(run), metrics(single["full"])
    assert [(e["step"], "split" in e) for e in lines] == [(10, False), (10, True), (20, False), (20, True)]  # not doubled
    for got, want in zip(lines, expected):  # the training loss is the mean over all processes' rows
        assert got.get("train_loss", got.get("nats_per_char")) == pytest.approx(
            want.get("train_loss", want.get("nats_per_char")), rel=1e-4
        )
    assert [p.name for p in run.iterdir() if p.name.startswith(".")] == [RUN_MARKER]  # no staging left behind
    assert (done.stdout + done.stderr).count("done: 20 steps") == 1  # rank 0 alone reports


@pytest.mark.slow
def test_torchrun_resumes_a_run_exactly(tmp_path, single):
    run = tmp_path / "run"
    shutil.copytree(single["stopped"], run)  # saved by one process; its state covers the whole batch
    done = torchrun(["--output", str(run), "--resume"], tmp_path / "replicas")
    assert done.returncode == 0, done.stderr[-3000:]
    assert_matches_single(run, tmp_path / "replicas", single["full"])
    assert [(e["step"], "split" in e) for e in metrics(run)] == [(10, False), (10, True), (20, False), (20, True)]


# 200 real reviews: 160 train rows in batches of 53, so the last batch of each epoch has one row
# and leaves the second process none. Three epochs from a language model cover gradual
# unfreezing (head, then one more layer each epoch), which changes the trainable set mid-run.
CLASSIFIER = dict(max_length=60, batch_size=53, lr=5e-3, warmup_steps=2, patience=0, seed=3, tokenizer="char")
CLASSIFIER_MODELS = {
    "scratch": dict(epochs=2, model=dict(MODEL, num_layers=1, bidirectional=True)),
    "transfer": dict(epochs=3, model=dict(dropout=0.0, embedding_dropout=0.0)),
}


@pytest.fixture(scope="module")
def labelled(tmp_path_factory, reviews) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("labelled")
    data = root / "reviews.csv"
    rows = [i for label in (0, 1) for i in [j for j, y in enumerate(reviews.train.labels) if y == label][:100]]
    texts, labels = [reviews.train.texts[i] for i in rows], [reviews.train.labels[i] for i in rows]
    pd.DataFrame({"text": texts, "label": labels}).to_csv(data, index=False)
    lm = TrainConfig(dataset=str(data), device="cpu", seq_len=32, batch_size=8, max_steps=6, eval_every=6, seed=3)
    train_language_model(lm.with_encoder(**MODEL), root / "lm")
    return {"data": data, "lm": root / "lm" / "best"}


@pytest.mark.slow
@pytest.mark.parametrize("kind", sorted(CLASSIFIER_MODELS))
def test_two_processes_train_a_classifier_like_one_on_the_whole_batch(tmp_path, labelled, kind):
    settings = dict(dataset=str(labelled["data"]), device="cpu", epochs=CLASSIFIER_MODELS[kind]["epochs"], **CLASSIFIER)
    if kind == "transfer":
        settings.update(init_from=str(labelled["lm"]), freeze_epochs=1)
    model = CLASSIFIER_MODELS[kind]["model"]
    single = train_classifier(ClassifierTrainConfig(**settings).with_encoder(**model), tmp_path / "single")
    assert single.step == settings["epochs"] * 4 and not single.stopped_early

    options = {**settings, **model}
    args = [f"--{name.replace('_', '-')}" for name, value in options.items() if value is True]
    args += [a for n, v in options.items() if not isinstance(v, bool) for a in (f"--{n.replace('_', '-')}", str(v))]
    run = tmp_path / "run"
    done = torchrun([*args, "--output", str(run)], tmp_path / "replicas", command="classifier")
    assert done.returncode == 0, done.stderr[-3000:]

    rank0, rank1 = weights(tmp_path / "replicas" / "rank0.safetensors"), weights(tmp_path / "replicas" / "rank1.safetensors")
    assert all(torch.equal(rank0[k], rank1[k]) for k in rank0)  # the replicas agree
    saved, expected = (checkpoint.load(r / "last").model.state_dict() for r in (run, single.output_dir))
    for name in expected:
        # The gradients agree to float rounding (~1e-7), but AdamW divides by their running RMS, so
        # a weight whose gradient is near zero can take a visibly different step: measured 7e-4 of
        # the tensor's norm at worst. Dropping one process's rows instead moves weights by ~0.1.
        assert (saved[name] - expected[name]).norm() <= 3e-3 * expected[name].norm(), name
    lines, reference = metrics(run), metrics(single.output_dir)
    assert len(lines) == len(reference)  # rank 0 alone writes
    for got, want in zip(lines, reference):  # training loss and accuracy are over the whole batch
        for key in ("train_loss", "train_accuracy", "accuracy"):
            if key in want:
                assert got[key] == pytest.approx(want[key], rel=1e-4, abs=1e-6), key
