"""ONNX export and the torch-free runtime: real exports run by real ONNX Runtime, compared with PyTorch."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

pytest.importorskip("onnx")
pytest.importorskip("onnxscript")
ort = pytest.importorskip("onnxruntime")

from typer.testing import CliRunner  # noqa: E402

import nlp_lstm  # noqa: E402
from nlp_lstm import runtime  # noqa: E402
from nlp_lstm.checkpoint import ModelBundle  # noqa: E402
from nlp_lstm.cli import app  # noqa: E402
from nlp_lstm.config import ModelConfig  # noqa: E402
from nlp_lstm.data.batching import encode_texts  # noqa: E402
from nlp_lstm.export import export_onnx  # noqa: E402
from nlp_lstm.model import Classifier  # noqa: E402
from nlp_lstm.runtime.encoding import encode_texts as runtime_encode_texts  # noqa: E402
from nlp_lstm.tokenizer import CharTokenizer  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE = 1e-4
LENGTHS = (1, 7, 40)  # three lengths, none of them the (2, 5) the graph is traced at
runner = CliRunner()


def session(directory: Path):
    return ort.InferenceSession(str(directory / "model.onnx"), providers=["CPUExecutionProvider"])


@pytest.fixture(scope="module")
def shipped_exports(tmp_path_factory):
    """The two shipped models, exported once for the module."""
    root = tmp_path_factory.mktemp("exports")
    lm, classifier = (
        nlp_lstm.load_model(ROOT / "checkpoints/shakespeare-char"),
        nlp_lstm.load_model(ROOT / "checkpoints/sentiment"),
    )
    return lm, export_onnx(lm, root / "lm"), classifier, export_onnx(classifier, root / "classifier")


def tiny_classifier(bidirectional: bool) -> ModelBundle:
    torch.manual_seed(0)
    tokenizer = CharTokenizer.build(["a gorgeous, heartfelt film; a tedious mess!"])
    config = ModelConfig(tokenizer.vocab_size, 16, 32, num_layers=2, bidirectional=bidirectional, num_classes=3)
    return ModelBundle(
        Classifier(config).eval(), tokenizer, "classifier", ["neg", "neu", "pos"], inputs={"max_length": 50, "keep": "both"}
    )


def padded_batch(vocab_size: int, steps: int, batch: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(steps)
    lengths = torch.randint(1, steps + 1, (batch,), generator=generator)
    lengths[0] = steps
    ids = torch.randint(2, vocab_size, (batch, steps), generator=generator)
    return ids.masked_fill(torch.arange(steps)[None] >= lengths[:, None], 0), lengths


def test_language_model_step_matches_torch_at_three_lengths(tiny_lm, tmp_path):
    directory = export_onnx(tiny_lm, tmp_path / "lm")
    signature = json.loads((directory / "signature.json").read_text())
    assert signature["kind"] == "lm" and signature["exporter"] == "dynamo"
    assert sorted(p.name for p in directory.iterdir()) == ["model.onnx", "signature.json", "tokenizer.json"]
    config, onnx_lm = tiny_lm.config, session(directory)
    for batch, steps in ((1, LENGTHS[0]), (3, LENGTHS[1]), (2, LENGTHS[2])):
        ids = torch.randint(2, config.vocab_size, (batch, steps))
        h, c = torch.randn(2, config.num_layers, batch, config.hidden_size)
        with torch.no_grad():
            logits, (h_out, c_out) = tiny_lm.model(ids, (h, c))
        got = onnx_lm.run(None, {"ids": ids.numpy(), "h": h.numpy(), "c": c.numpy()})
        for onnx_value, torch_value in zip(got, (logits[:, -1], h_out, c_out)):
            assert np.abs(onnx_value - torch_value.numpy()).max() < TOLERANCE


@pytest.mark.parametrize("bidirectional", [True, False])
def test_classifier_matches_torch_on_padded_batches(bidirectional, tmp_path):
    saved = tiny_classifier(bidirectional)
    directory = export_onnx(saved, tmp_path / "classifier")
    signature = json.loads((directory / "signature.json").read_text())
    assert json.loads((directory / "labels.json").read_text()) == ["neg", "neu", "pos"]
    assert signature["input_policy"]["max_length"] == 50
    onnx_classifier = session(directory)
    for steps in LENGTHS:
        ids, lengths = padded_batch(saved.config.vocab_size, steps)
        with torch.no_grad():
            expected = saved.model(ids, lengths).numpy()
        (got,) = onnx_classifier.run(None, {"ids": ids.numpy(), "lengths": lengths.numpy()})
        assert np.abs(got - expected).max() < TOLERANCE


def test_both_directions_of_a_bilstm_follow_the_time_axis(tmp_path):
    """The backward LSTM reads each row reversed within its length: a longer batch than the traced one must not be cut
    (the frozen time axis of pytorch/pytorch#191855), and a text's logits do not depend on the padding around it."""
    saved = tiny_classifier(bidirectional=True)
    onnx_classifier = session(export_onnx(saved, tmp_path / "classifier"))
    ids, lengths = padded_batch(saved.config.vocab_size, 40)
    (batched,) = onnx_classifier.run(None, {"ids": ids.numpy(), "lengths": lengths.numpy()})
    for row in range(len(ids)):
        alone = ids[row : row + 1, : lengths[row]].numpy()
        (single,) = onnx_classifier.run(None, {"ids": alone, "lengths": lengths[row : row + 1].numpy()})
        assert np.abs(single - batched[row]).max() < TOLERANCE
    reversed_text = ids.clone()  # a text and its reverse differ only through the direction each stack reads
    reversed_text[0] = ids[0].flip(0)
    (flipped,) = onnx_classifier.run(None, {"ids": reversed_text.numpy(), "lengths": lengths.numpy()})
    with torch.no_grad():
        assert np.abs(flipped[0] - saved.model(reversed_text, lengths)[0].numpy()).max() < TOLERANCE


def test_greedy_generation_equals_torch_for_200_characters(shipped_exports):
    lm, directory, _, _ = shipped_exports
    config = nlp_lstm.SampleConfig(length=200, temperature=0.0, seed=7)
    exported = runtime.load_exported(directory)
    for prompt in ("ROMEO:", ""):
        assert runtime.generate(exported, prompt, 200, temperature=0.0, seed=7) == nlp_lstm.generate(lm, prompt, config)


def test_runtime_classifies_as_the_torch_path(shipped_exports):
    _, _, classifier, directory = shipped_exports
    texts = ["a gorgeous, heartfelt film", "   ", None, "a tedious mess. " * 300, "fine"]
    expected = nlp_lstm.classify(classifier, texts)
    got = runtime.classify(runtime.load_exported(directory), texts)
    assert [(p.index, p.label) for p in got] == [(p.index, p.label) for p in expected]
    for a, b in zip(got, expected):
        assert a.probabilities.keys() == b.probabilities.keys()
        assert all(abs(a.probabilities[k] - b.probabilities[k]) < TOLERANCE for k in a.probabilities)
    assert len(runtime.classify(runtime.load_exported(directory), "one string is one text")) == 1


def test_runtime_tokenizes_as_the_library(shipped_exports):
    _, _, classifier, directory = shipped_exports
    exported = runtime.load_exported(directory)
    texts = ["Ünïcode café, naïve — fine", "x" * 20000, "great " * 900 + "awful"]
    for keep in ("start", "end", "both"):
        policy = {"max_length": 400, "keep": keep}
        got = runtime_encode_texts(texts, exported.vocabulary, policy)
        want = encode_texts(texts, classifier.tokenizer, 400, keep)
        assert all(np.array_equal(a, b) for a, b in zip(got, want))
    char = CharTokenizer.build(["abc"])
    from nlp_lstm.runtime.encoding import CharVocabulary

    vocabulary = CharVocabulary(char.chars, char.unk_id)
    assert vocabulary.encode("abzc") == char.encode("abzc")


def answers_without_torch(lm_directory: Path, classifier_directory: Path) -> list[str]:
    """The label of 'a fine film' and the length of a 20-character generation, from a fresh process that fails if torch came in."""
    script = (
        "import sys\n"
        "from nlp_lstm import runtime\n"
        f"print(runtime.classify(runtime.load_exported({str(classifier_directory)!r}), 'a fine film')[0].label)\n"
        f"print(len(runtime.generate(runtime.load_exported({str(lm_directory)!r}), 'ROMEO:', 20)))\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "assert 'nlp_lstm.model' not in sys.modules\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_the_runtime_never_imports_torch(shipped_exports):
    _, lm_directory, _, classifier_directory = shipped_exports
    assert answers_without_torch(lm_directory, classifier_directory) == ["positive", "20"]


def test_cli_export_and_onnx_runtime(shipped_exports, tmp_path):
    _, lm_directory, _, classifier_directory = shipped_exports
    texts = ["a gorgeous, heartfelt film", "", "a tedious mess"]
    torch_rows = runner.invoke(app, ["classify", *texts, "--json"])
    onnx_rows = runner.invoke(app, ["classify", *texts, "--json", "--runtime", "onnx", "--model", str(classifier_directory)])
    assert torch_rows.exit_code == onnx_rows.exit_code == 0
    labels = [[json.loads(line)["label"] for line in result.stdout.splitlines()] for result in (torch_rows, onnx_rows)]
    assert labels[0] == labels[1] == ["positive", "negative"]
    generated = runner.invoke(
        app, ["generate", "--runtime", "onnx", "--model", str(lm_directory), "-p", "ROMEO:", "-n", "30", "-t", "0", "--json"]
    )
    assert generated.exit_code == 0 and len(json.loads(generated.stdout)["continuation"]) == 30


def test_cli_refusals_are_one_line(shipped_exports, tmp_path):
    _, lm_directory, _, classifier_directory = shipped_exports
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    refused = runner.invoke(app, ["export", "--model", str(ROOT / "checkpoints/sentiment"), "--output", str(foreign)])
    assert refused.exit_code == 2 and "notes.txt" in refused.output and (foreign / "notes.txt").exists()
    wrong_kind = runner.invoke(app, ["generate", "--runtime", "onnx", "--model", str(classifier_directory)])
    assert wrong_kind.exit_code == 2 and "classifier" in wrong_kind.output
    not_export = runner.invoke(app, ["classify", "hi", "--runtime", "onnx", "--model", str(tmp_path)])
    assert not_export.exit_code == 1 and "nlp-lstm export" in not_export.output
    top_k = runner.invoke(app, ["generate", "--runtime", "onnx", "--model", str(lm_directory), "--top-k", "5"])
    assert top_k.exit_code == 2 and "Traceback" not in top_k.output


def test_export_replaces_an_earlier_export(tiny_lm, tmp_path):
    target = export_onnx(tiny_lm, tmp_path / "lm")
    first = (target / "model.onnx").read_bytes()
    export_onnx(tiny_lm, target)
    assert (target / "model.onnx").read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lm"]  # no temporaries left beside it


def test_shipped_models_match_torch_at_three_lengths(shipped_exports):
    """The shipped LM primed with real text from zero state, and the shipped biLSTM on padded batches of reviews' ids."""
    lm, lm_directory, classifier, classifier_directory = shipped_exports
    prompt = "ROMEO:\nBut soft, what light through yonder window breaks? It is the east, and Juliet is the sun.\n" * 5
    ids = torch.tensor([lm.tokenizer.encode(prompt)])
    zeros = torch.zeros(lm.config.num_layers, 1, lm.config.hidden_size)
    onnx_lm, onnx_classifier = session(lm_directory), session(classifier_directory)
    for steps in (1, 100, 400):
        with torch.no_grad():
            expected = lm.model(ids[:, :steps], (zeros, zeros))[0][:, -1].numpy()
        got = onnx_lm.run(None, {"ids": ids[:, :steps].numpy(), "h": zeros.numpy(), "c": zeros.numpy()})[0]
        assert np.abs(got - expected).max() < TOLERANCE
    for steps in (1, 37, 400):
        batch, lengths = padded_batch(classifier.config.vocab_size, steps, batch=8)
        with torch.no_grad():
            expected = classifier.model(batch, lengths).numpy()
        assert (
            np.abs(onnx_classifier.run(None, {"ids": batch.numpy(), "lengths": lengths.numpy()})[0] - expected).max() < TOLERANCE
        )


def test_an_export_corrects_typos_as_the_library(shipped_exports, tmp_path):
    """A WordPiece tokenizer's speller goes into the export (spelling.json) and the runtime applies it first."""
    import dataclasses
    import shutil

    from nlp_lstm.runtime.encoding import ExportedModelError
    from nlp_lstm.spelling import Speller

    _, _, classifier, _ = shipped_exports
    speller = Speller.build(["a terrible, tedious film", "a wonderful film"] * 3, classifier.tokenizer.whole_words())
    spelled = dataclasses.replace(classifier, tokenizer=classifier.tokenizer.with_speller(speller))
    directory = export_onnx(spelled, tmp_path / "spelled")
    exported = runtime.load_exported(directory)
    texts, policy = ["a terrbile, tedoius film", "a wonderfull film", "fine"], {"max_length": 400, "keep": "both"}
    got = runtime_encode_texts(texts, exported.vocabulary, policy)
    assert all(np.array_equal(a, b) for a, b in zip(got, encode_texts(texts, spelled.tokenizer, 400, "both")))
    assert not np.array_equal(got[0], encode_texts(texts, classifier.tokenizer, 400, "both")[0])  # corrected
    assert "spelling" in json.loads((directory / "signature.json").read_text())["tokenizer"]
    broken = Path(shutil.copytree(directory, tmp_path / "broken"))
    (broken / "spelling.json").write_text("[]")
    with pytest.raises(ExportedModelError, match="malformed speller"):
        runtime.load_exported(broken)
    export_onnx(classifier, directory)  # an export without a speller replaces it ...
    assert not (directory / "spelling.json").exists()  # ... and leaves no stale speller behind
