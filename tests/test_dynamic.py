"""Dynamic evaluation (Krause et al. 2018): score a segment, then take one RMS-scaled step on it, decaying to θ₀.

Tiny real models on real text. What is asserted: η = 0 is static evaluation exactly; no segment is ever
scored by weights that have learnt from it; a text that repeats itself is read far better the second
time; the model given is unchanged; the run is deterministic; the statistics are gathered once and cached.
"""

import json
import math
import random
from pathlib import Path

import pytest
import torch

import nlp_lstm
from nlp_lstm.data.batching import encode_stream
from nlp_lstm.dynamic import DynamicConfig, dynamic_loss, gradient_statistics
from nlp_lstm.errors import UsageError
from nlp_lstm.metrics import language_model_loss

SEGMENT = 20


@pytest.fixture
def rms(tiny_lm, sonnets_text):
    train = encode_stream([sonnets_text], tiny_lm.tokenizer)
    return gradient_statistics(tiny_lm.model, train, DynamicConfig(segment_length=SEGMENT, statistics_batch_size=8))


def stream_of(tiny_lm, text: str) -> torch.Tensor:
    return encode_stream([text], tiny_lm.tokenizer)


def random_text(seed: int, length: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz ,.\n"
    return "".join(random.Random(seed).choice(letters) for _ in range(length))


def test_the_statistics_are_one_positive_tensor_per_parameter(tiny_lm, rms):
    shapes = [tuple(p.shape) for p in tiny_lm.model.parameters()]
    assert [tuple(r.shape) for r in rms] == shapes
    assert all(bool((r >= 0).all()) and float(r.max()) > 0 for r in rms)


def test_no_learning_rate_is_static_evaluation_exactly(tiny_lm, rms, sonnets_text):
    stream = stream_of(tiny_lm, sonnets_text[:3_000])
    static, count = language_model_loss(tiny_lm.model, stream, batch_size=1, seq_len=256, warmup=0)
    result = dynamic_loss(tiny_lm.model, stream, rms, DynamicConfig(segment_length=SEGMENT, learning_rate=0.0, decay=0.5))
    assert result.tokens == count == len(stream) - 1
    assert result.nats == pytest.approx(static, rel=1e-6)


def test_each_segment_is_scored_before_any_update_that_has_seen_it(tiny_lm, rms):
    """The segments before a point score the same whatever comes after it: no weight has learnt from the future."""
    start = random_text(1, SEGMENT * 5)
    config = DynamicConfig(segment_length=SEGMENT, learning_rate=0.05, decay=0.0)
    first = dynamic_loss(tiny_lm.model, stream_of(tiny_lm, start + random_text(2, 200)), rms, config)
    second = dynamic_loss(tiny_lm.model, stream_of(tiny_lm, start + random_text(3, 200)), rms, config)
    assert first.segment_nats[:4] == second.segment_nats[:4]  # the fifth segment's last target is the first that differs
    assert first.segment_nats[4:] != second.segment_nats[4:]
    static_first, _ = language_model_loss(tiny_lm.model, stream_of(tiny_lm, start[: SEGMENT + 1]), 1, 256, warmup=0)
    assert first.segment_nats[0] == pytest.approx(static_first, rel=1e-6)  # nothing was learnt before the first segment


def test_a_text_that_repeats_itself_is_read_much_better_the_second_time(tiny_lm, rms):
    half = random_text(4, 600)
    stream = stream_of(tiny_lm, half + half)
    config = DynamicConfig(segment_length=SEGMENT, learning_rate=0.02, decay=0.0)
    result = dynamic_loss(tiny_lm.model, stream, rms, config)
    halves = len(result.segment_nats) // 2
    static = torch.tensor(
        dynamic_loss(tiny_lm.model, stream, rms, config.__class__(segment_length=SEGMENT, learning_rate=0.0)).segment_nats
    )
    dynamic = torch.tensor(result.segment_nats)
    assert float(dynamic[halves:].sum()) < 0.8 * float(static[halves:].sum())  # it learnt the first half
    assert float(dynamic[:halves].sum()) < 1.1 * float(static[:halves].sum())  # and was not hurt reading it


def test_the_given_model_is_unchanged_and_the_run_deterministic(tiny_lm, rms, sonnets_text):
    before = {k: v.clone() for k, v in tiny_lm.model.state_dict().items()}
    stream = stream_of(tiny_lm, sonnets_text[:2_000])
    config = DynamicConfig(segment_length=SEGMENT, learning_rate=0.01, decay=0.01)
    first, second = dynamic_loss(tiny_lm.model, stream, rms, config), dynamic_loss(tiny_lm.model, stream, rms, config)
    assert all(torch.equal(before[k], v) for k, v in tiny_lm.model.state_dict().items())
    assert first.segment_nats == second.segment_nats
    adapted = dict(first.model.named_parameters())
    assert any(not torch.equal(before[k], adapted[k]) for k in adapted)  # the copy did move


def test_the_decay_pulls_back_to_the_loaded_weights(tiny_lm, rms, sonnets_text):
    """With the largest decay every step returns to θ₀ first: the weights stay within one step of it."""
    stream = stream_of(tiny_lm, sonnets_text[:2_000])
    free = dynamic_loss(tiny_lm.model, stream, rms, DynamicConfig(segment_length=SEGMENT, learning_rate=0.01, decay=0.0))
    held = dynamic_loss(tiny_lm.model, stream, rms, DynamicConfig(segment_length=SEGMENT, learning_rate=0.01, decay=1.0))
    original = dict(tiny_lm.model.named_parameters())

    def distance(model):
        return sum(float((p - original[k]).detach().norm()) for k, p in model.named_parameters())

    assert distance(held.model) < 0.5 * distance(free.model)


def test_the_api_and_the_command_line_gather_statistics_once(tmp_path, text_file, monkeypatch):
    from typer.testing import CliRunner

    from nlp_lstm.cli import app

    monkeypatch.setenv("NLP_LSTM_CACHE", str(tmp_path / "cache"))
    config = nlp_lstm.TrainConfig(dataset=str(text_file), seq_len=32, batch_size=8, max_steps=20, eval_every=20, threads=1)
    nlp_lstm.train_language_model(config.with_encoder(embedding_dim=16, hidden_size=32, num_layers=1), tmp_path / "run")
    saved = nlp_lstm.load_model(tmp_path / "run" / "best")
    gathered = []
    settings = DynamicConfig(segment_length=SEGMENT, statistics_segments=5, statistics_batch_size=4)
    first = nlp_lstm.evaluate_language_model(
        saved, str(text_file), "validation", dynamic=settings, statistics_progress=lambda d, t: gathered.append(d)
    )
    assert gathered and first["dynamic"]["statistics"]["dataset"] == str(text_file)  # from the model's training record
    again = nlp_lstm.evaluate_language_model(
        saved, str(text_file), "validation", dynamic=settings, statistics_progress=lambda d, t: gathered.append(-1)
    )
    assert -1 not in gathered and again["bits_per_char"] == first["bits_per_char"]  # read from the cache
    static = nlp_lstm.evaluate_language_model(saved, str(text_file), "validation")
    assert first["characters"] == static["characters"] and math.isfinite(first["bits_per_char"])
    runner = CliRunner()
    command = [
        "evaluate",
        "lm",
        "--model",
        str(tmp_path / "run" / "best"),
        "--dataset",
        str(text_file),
        "--split",
        "validation",
        "--json",
    ]
    result = runner.invoke(app, [*command, "--dynamic", "--dynamic-lr", "0"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["bits_per_char"] == pytest.approx(static["bits_per_char"], rel=1e-4)
    refused = runner.invoke(app, [*command, "--dynamic-lr", "0.1"])
    assert refused.exit_code == 2 and "need --dynamic" in refused.stderr
    with_rows = runner.invoke(app, [*command, "--dynamic", "--dynamic-lr", "0", "--dynamic-rows", "3"])
    assert with_rows.exit_code == 0 and json.loads(with_rows.stdout)["dynamic"]["rows"] == 3


def test_settings_out_of_range_are_usage_errors():
    for bad in ({"segment_length": 0}, {"learning_rate": -1.0}, {"decay": 2.0}, {"learning_rate": float("nan")}):
        with pytest.raises(UsageError):
            DynamicConfig(**bad)


@pytest.fixture(scope="module")
def trained_lm(trained_lm_dir):
    """Adaptation starts from a model that has learnt (conftest's, trained for 60 steps on the sonnets)."""
    return nlp_lstm.load_model(trained_lm_dir)


def test_adapt_returns_a_new_model_that_learnt_the_text_and_saves_like_any_other(trained_lm, tmp_path):
    from nlp_lstm.metrics import measure_language_model

    pattern = "the cat sat on the mat. " * 40
    before = {k: v.clone() for k, v in trained_lm.model.state_dict().items()}
    settings = DynamicConfig(segment_length=SEGMENT, learning_rate=3e-3, decay=0.0, statistics_batch_size=8)
    adapted = nlp_lstm.adapt(trained_lm, pattern, settings)
    assert all(torch.equal(before[k], v) for k, v in trained_lm.model.state_dict().items())  # the original is untouched
    record = adapted.training["adapted_on"]
    assert record["texts"] == 1 and record["characters"] == len(pattern) - 1
    assert record["dynamic"]["statistics"]["dataset"].endswith("sonnets.txt")  # the model's own training data
    held_out = ["the mat sat on the cat. " * 5]  # the same words in another order: not in what it read
    adapted_bits = measure_language_model(adapted, held_out)["bits_per_char"]
    assert adapted_bits < 0.8 * measure_language_model(trained_lm, held_out)["bits_per_char"]
    nlp_lstm.save_model(adapted, tmp_path / "adapted")
    reloaded = nlp_lstm.load_model(tmp_path / "adapted")
    assert reloaded.training["adapted_on"] == json.loads(json.dumps(record))
    greedy = nlp_lstm.SampleConfig(length=40, temperature=0)
    assert nlp_lstm.generate(reloaded, "the ", greedy) == nlp_lstm.generate(adapted, "the ", greedy)


def test_adapt_refuses_a_classifier_and_an_empty_text(tiny_lm, text_file):
    with pytest.raises(UsageError, match="at least two characters"):
        nlp_lstm.adapt(tiny_lm, "", statistics_dataset=str(text_file))
    classifier = nlp_lstm.load_model(Path(__file__).resolve().parent.parent / "checkpoints" / "sentiment")
    with pytest.raises(UsageError, match="takes a language model"):
        nlp_lstm.adapt(classifier, "a fine film", statistics_dataset=str(text_file))


def test_generate_adapt_reads_the_text_saves_the_adapted_model_and_leaves_the_original(trained_lm, tmp_path):
    import hashlib

    from typer.testing import CliRunner

    from nlp_lstm.cli import app

    def digest(directory):
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}

    before = digest(trained_lm.path)
    sample = tmp_path / "mine.txt"
    sample.write_text("the cat sat on the mat.\n" * 30, encoding="utf-8")
    runner = CliRunner()
    base = ["generate", "--model", str(trained_lm.path), "--prompt", "the ", "--length", "30", "--seed", "0", "--threads", "1"]
    result = runner.invoke(app, [*base, "--adapt", str(sample), "--save-adapted", str(tmp_path / "adapted")])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("the ") and len(result.stdout) == len("the ") + 30 + 1
    assert "adapting to" in result.stderr or result.stderr == ""  # progress lines come every few seconds
    record = json.loads((tmp_path / "adapted" / "training.json").read_text())["adapted_on"]
    assert record["sources"] == [str(sample)] and record["characters"] == len(sample.read_text()) - 1
    assert digest(trained_lm.path) == before  # the model adapted from is byte for byte as it was
    again = runner.invoke(app, ["generate", "--model", str(tmp_path / "adapted"), *base[3:]])
    assert again.exit_code == 0 and again.stdout == result.stdout  # the saved model writes what the adapted one wrote


@pytest.mark.parametrize(
    "extra, code, message",
    [
        (["--save-adapted", "out"], 2, "--save-adapted needs --adapt"),
        (["--adapt", "-", "--adapt", "-"], 2, "at most once"),
        (["--adapt", "binary.bin"], 1, "holds NUL bytes"),
        (["--adapt", "missing.txt"], 1, "missing"),  # a missing input file is exit 1, as for every input
    ],
)
def test_generate_adapt_refuses_what_it_cannot_read_in_one_line(tmp_path, monkeypatch, extra, code, message):
    from typer.testing import CliRunner

    from nlp_lstm.cli import app

    monkeypatch.chdir(tmp_path)
    (tmp_path / "binary.bin").write_bytes(b"text\0more")
    result = CliRunner().invoke(app, ["generate", "--length", "5", *extra], input="")
    assert result.exit_code == code, result.output
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


def test_rows_read_side_by_side_score_every_token_once_as_their_parts_alone_would(tiny_lm, rms, sonnets_text):
    """With eta = 0, four rows are four parts of the text read from a zero state each: the sum of their static losses."""
    from nlp_lstm.dynamic import side_by_side

    stream = stream_of(tiny_lm, sonnets_text[:2_001])  # 2,000 targets: rows of 500
    result = dynamic_loss(tiny_lm.model, stream, rms, DynamicConfig(segment_length=SEGMENT, learning_rate=0.0, rows=4))
    assert result.tokens == len(stream) - 1
    parts = [language_model_loss(tiny_lm.model, stream[i * 500 : i * 500 + 501], 1, 256, warmup=0)[0] for i in range(4)]
    assert result.nats == pytest.approx(sum(parts), rel=1e-6)
    inputs, targets = side_by_side(stream_of(tiny_lm, sonnets_text[:11]), 3)  # 10 targets in rows of 4: 2 padded
    assert inputs.shape == targets.shape == (3, 4) and int((targets == -100).sum()) == 2
    learning = dynamic_loss(tiny_lm.model, stream, rms, DynamicConfig(segment_length=SEGMENT, learning_rate=0.01, rows=4))
    assert learning.segment_nats[0] == pytest.approx(result.segment_nats[0], rel=1e-6)  # the first segments: before any update
    assert learning.nats != result.nats
