"""Awkward input never crashes generate or classify; failures exit with the documented codes."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import nlp_lstm
from nlp_lstm.catalog import shipped_model_dir
from nlp_lstm.cli import app
from nlp_lstm.config import SampleConfig
from nlp_lstm.data.batching import encode_texts

runner = CliRunner()
AWKWARD = [
    "",
    "   \n\t ",
    "a",
    "emoji 😀🎬👍🏽 and flags 🇫🇷",
    "combining marks: e\u0301 a\u0308 n\u0303 \u0361",
    "right to left: שלום עולם, مرحبا بالعالم",
    "NUL \x00 and controls \x01\x1b[31m",
    "\ufeffbyte order mark and \u200b zero width",
]


@pytest.fixture(scope="module")
def classifier():
    return nlp_lstm.load_model(shipped_model_dir("classifier"), kind="classifier")


@pytest.fixture(scope="module")
def language_model():
    return nlp_lstm.load_model(shipped_model_dir("lm"), kind="lm")


@pytest.fixture(scope="module")
def five_megabytes(shakespeare):
    text = "\n".join(shakespeare.train)
    return (text * 2)[:5_000_000]


def check_prediction(prediction, text, labels):
    if not text.strip():  # the one input policy: a blank text gets no label, and keeps its place
        assert prediction.label is None and prediction.probabilities == {}
        return
    assert prediction.label in labels
    assert sum(prediction.probabilities.values()) == pytest.approx(1.0, abs=1e-5)


def test_classify_handles_awkward_and_huge_texts(classifier, five_megabytes):
    predictions = nlp_lstm.classify(classifier, [*AWKWARD, five_megabytes])
    assert [p.index for p in predictions] == list(range(len(AWKWARD) + 1))
    for prediction, text in zip(predictions, [*AWKWARD, five_megabytes]):
        check_prediction(prediction, text, classifier.labels)


@pytest.mark.slow
def test_generate_handles_awkward_and_huge_prompts(language_model, five_megabytes):
    config = SampleConfig(length=20, seed=0)
    for prompt in [*AWKWARD, five_megabytes]:
        assert len(nlp_lstm.generate(language_model, prompt, config)) == 20
    # Only the prompt's end primes the model: a huge prompt continues as its last part does.
    tail = five_megabytes[-2000:]
    assert nlp_lstm.generate(language_model, five_megabytes, config) == nlp_lstm.generate(language_model, tail, config)


def test_long_texts_keep_the_tokens_of_the_whole_text(classifier, five_megabytes):
    text = five_megabytes[:400_000]
    whole = classifier.tokenizer.encode_array(text)
    for keep, expected in (("start", whole[:600]), ("end", whole[-600:])):
        (kept,) = encode_texts([text], classifier.tokenizer, 600, keep)
        assert kept.tolist() == expected.tolist()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(texts=st.lists(st.text(max_size=300), min_size=1, max_size=4))
def test_classify_never_raises_on_arbitrary_text(classifier, texts):
    predictions = nlp_lstm.classify(classifier, texts)
    assert [p.index for p in predictions] == list(range(len(texts)))
    for prediction, text in zip(predictions, texts):
        check_prediction(prediction, text, classifier.labels)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prompt=st.text(max_size=200), seed=st.integers(0, 2**31 - 1))
def test_generate_never_raises_on_arbitrary_prompts(language_model, prompt, seed):
    out = nlp_lstm.generate(language_model, prompt, SampleConfig(length=5, seed=seed))
    assert len(out) == 5 and "\x00" not in out  # never emits padding or unknown ids


def test_exit_codes_usage_runtime_and_internal(monkeypatch):
    usage = runner.invoke(app, ["generate", "--temperature", "-1"])
    assert usage.exit_code == 2 and usage.output.strip() == "error: --temperature must be >= 0 (0 = greedy), got -1.0"
    assert runner.invoke(app, ["classify", "--batch-size", "0", "fine"]).exit_code == 2
    runtime = runner.invoke(app, ["generate", "--model", "no/such/model"])
    assert runtime.exit_code == 1 and "no such model directory" in runtime.output

    def broken(*args, **kwargs):
        raise ValueError("something we did not foresee")

    monkeypatch.setattr(nlp_lstm, "classify", broken)  # injects a failure into the real command
    internal = runner.invoke(app, ["classify", "fine"])
    assert internal.exit_code == 1
    assert internal.output.strip().splitlines() == [
        "error: unexpected ValueError: something we did not foresee; rerun with --debug for the traceback and please report it"
    ]
    debug = runner.invoke(app, ["--debug", "classify", "fine"])
    assert isinstance(debug.exception, ValueError)  # the traceback is there for whoever asked for it


@pytest.mark.slow
def test_sigterm_saves_a_resumable_run_and_exits_130(tmp_path, text_file):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "nlp_lstm", "train", "lm", "--dataset", str(text_file), "--output", str(run)]
    small = ["--embedding-dim", "8", "--hidden-size", "16", "--num-layers", "1", "--seq-len", "16", "--batch-size", "4"]
    small += ["--eval-every", "1000", "--device", "cpu", "--threads", "1"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    process = subprocess.Popen([*command, *small, "--max-steps", "100000"], env=env, stderr=subprocess.PIPE, text=True)
    metrics = run / "metrics.jsonl"
    deadline = time.monotonic() + 60
    while not (metrics.exists() and metrics.read_text().count("\n") >= 2) and time.monotonic() < deadline:
        time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "Resume with: nlp-lstm train lm --output" in stderr
    stopped = json.loads((run / "last" / "training.json").read_text())["step"]
    assert stopped >= 20

    resumed = subprocess.run(
        [*command, "--resume", "--max-steps", str(stopped + 10)], env=env, capture_output=True, text=True, timeout=120
    )
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads((run / "last" / "training.json").read_text())["step"] == stopped + 10
    assert Path(run / "best" / "model.safetensors").exists()
