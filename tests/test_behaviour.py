"""The behavioural suite (issue 28): its data, its expansion, its scoring, and its runs over real tiny classifiers."""

import csv
import json
import random
import subprocess
import sys

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import nlp_lstm
from nlp_lstm.behaviour import perturb
from nlp_lstm.behaviour.runner import evaluate_behaviour, template_cases
from nlp_lstm.behaviour.scoring import mft_failures, pair_failures, three_way
from nlp_lstm.behaviour.suite import SPLITS, expand, load_suite
from nlp_lstm.checkpoint import ModelBundle, save
from nlp_lstm.cli import app
from nlp_lstm.config import ModelConfig
from nlp_lstm.errors import UsageError
from nlp_lstm.model import Classifier
from nlp_lstm.tokenizer import CharTokenizer
from nlp_lstm.train_config import ClassifierTrainConfig

try:  # the tiny BERT teacher's fixtures, for the suite over a teacher directory
    from test_teacher import task, teacher, tiny_bert  # noqa: F401
except pytest.skip.Exception:  # no transformers
    teacher = None

runner = CliRunner()
LABELS = ["negative", "positive"]


def constant_classifier(p_positive: float) -> ModelBundle:
    """A real (tiny) LSTM classifier whose head ignores the text: every text gets ``p_positive``."""
    tokenizer = CharTokenizer.build(["abcdefghijklmnopqrstuvwxyz .,!?'"])
    torch.manual_seed(0)
    model = Classifier(ModelConfig(vocab_size=tokenizer.vocab_size, embedding_dim=8, hidden_size=8, num_layers=1, num_classes=2))
    with torch.no_grad():
        model.head.linear.weight.zero_()
        model.head.linear.bias.copy_(torch.tensor([0.0, float(np.log(p_positive / (1 - p_positive)))]))
    return ModelBundle(model.eval(), tokenizer, "classifier", LABELS, {"note": "constant"})


@pytest.fixture(scope="module")
def trained(tmp_path_factory, reviews) -> ModelBundle:
    """A small classifier trained for one epoch on 400 real Rotten Tomatoes sentences."""
    directory = tmp_path_factory.mktemp("behaviour")
    with open(directory / "rt.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        every = range(0, len(reviews.train), len(reviews.train) // 400)  # both labels: the split is sorted by label
        writer.writerows((reviews.train.texts[i], LABELS[reviews.train.labels[i]]) for i in every)
    config = ClassifierTrainConfig(dataset=str(directory / "rt.csv"), epochs=1, batch_size=16, max_length=64, threads=1)
    nlp_lstm.train_classifier(config.with_encoder(embedding_dim=16, hidden_size=16, num_layers=1), directory / "run")
    return nlp_lstm.load_model(directory / "run" / "best", kind="classifier")


def test_every_test_has_templates_in_both_halves_and_the_halves_share_none():
    suite = load_suite()
    for name in {t.test for t in suite.templates}:
        halves = {split: {t.description for t in suite.half(split) if t.test == name} for split in SPLITS}
        assert halves["dev"] and halves["test"], f"{name} lacks a half"
        if all(t.perturbation is None for t in suite.templates if t.test == name):  # templated: different templates
            assert not halves["dev"] & halves["test"], name
    dev_texts = {pair for t in suite.half("dev") if t.text for pair in expand(t, suite.words)}
    test_texts = {pair for t in suite.half("test") if t.text for pair in expand(t, suite.words)}
    assert dev_texts and test_texts and not dev_texts & test_texts


def test_templates_expand_the_same_in_every_process():
    suite = load_suite()
    here = [expand(t, suite.words) for t in suite.templates if t.text]
    code = "from nlp_lstm.behaviour.suite import load_suite, expand; import json; s = load_suite(); "
    code += "print(json.dumps([expand(t, s.words) for t in s.templates if t.text]))"
    other = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env={"PYTHONHASHSEED": "123", "PATH": ""}
    )
    assert [[list(p) for p in pairs] for pairs in here] == json.loads(other.stdout)
    slots_left = [text for pairs in here for pair in pairs for text in pair if text and "{" in text]
    assert not slots_left
    assert all(len(set(pairs)) == len(pairs) for pairs in here)  # no filling drawn twice


def test_the_neutral_band_and_the_tolerance_are_the_papers():
    p = np.array([0.0, 0.33, 1 / 3, 0.5, 2 / 3, 0.67, 1.0])
    assert list(three_way(p)) == ["negative", "negative", "neutral", "neutral", "neutral", "positive", "positive"]
    assert list(mft_failures(np.array([0.2, 0.4, 0.9]), "not negative")) == [True, False, False]
    assert list(mft_failures(np.array([0.2, 0.4, 0.9]), "negative")) == [False, True, True]
    assert list(mft_failures(np.array([0.2, 0.4, 0.9]), "neutral")) == [True, False, True]
    # inv: a move across a band edge fails, a move inside a band does not
    assert list(pair_failures(np.array([0.5, 0.9, 0.1]), np.array([0.7, 0.7, 0.3]), "same")) == [True, False, False]
    # dir: up fails when the positive probability falls by more than 0.1
    assert list(pair_failures(np.array([0.9, 0.9, 0.2]), np.array([0.75, 0.85, 0.9]), "up")) == [True, False, False]
    assert list(pair_failures(np.array([0.2, 0.2, 0.9]), np.array([0.35, 0.25, 0.1]), "down")) == [True, False, False]


@pytest.mark.parametrize("p_positive", [0.5, 0.2])
def test_a_model_with_known_outputs_fails_exactly_what_the_rules_say(p_positive):
    """Every text gets the same probability: neutral (0.5) or negative (0.2); the failures follow from the rules."""
    result = evaluate_behaviour(constant_classifier(p_positive), "test")
    label = three_way(np.array([p_positive]))[0]
    suite = load_suite()
    for test in result.tests:
        templates = [t for t in suite.half("test") if t.test == test.name]
        if test.kind == "mft":
            met = {"positive": {"positive"}, "negative": {"negative"}, "neutral": {"neutral"}}
            met |= {"not negative": {"neutral", "positive"}, "not positive": {"neutral", "negative"}}
            expected = sum(len(template_cases(suite, t)) for t in templates if label not in met[t.expect])
        else:
            expected = 0  # nothing moves: no invariance or direction test can fail
        assert test.failures == expected, test.name
        assert test.cases == sum(len(template_cases(suite, t)) for t in templates) > 0
    summary = result.to_dict()
    assert summary["failures"] == sum(t.failures for t in result.tests)
    assert sum(c["cases"] for c in summary["capabilities"].values()) == summary["cases"]


def positive(saved: ModelBundle, texts: list[str]) -> np.ndarray:
    return np.array([p.probabilities["positive"] for p in nlp_lstm.classify(saved, texts)])


def test_a_trained_model_is_scored_from_its_own_probabilities(trained):
    """The runner's counts agree with classify's probabilities scored by hand, test by test."""
    suite = load_suite()
    result = {t.name: t for t in evaluate_behaviour(trained, "dev").tests}
    for name in ("negated positive is negative", "typos", "adding a negative phrase"):
        failures = 0
        for template in (t for t in suite.half("dev") if t.test == name):
            pairs = template_cases(suite, template)
            before = positive(trained, [a for a, _ in pairs])
            if template.kind == "mft":
                failures += int((three_way(before) != template.expect).sum())
                continue
            after = positive(trained, [b for _, b in pairs])
            moved = three_way(before) != three_way(after) if template.expect == "same" else after > before + 0.1
            failures += int(moved.sum())
        assert result[name].failures == failures, name
        assert len(result[name].examples) == min(3, failures)


def test_the_command_prints_json_and_a_table_and_refuses_bad_names_in_one_line(tmp_path):
    save(constant_classifier(0.5), tmp_path / "model")
    done = runner.invoke(app, ["evaluate", "classifier", "--model", str(tmp_path / "model"), "--suite", "behaviour", "--json"])
    assert done.exit_code == 0, done.output
    result = json.loads(done.output)
    assert result["suite"] == "behaviour" and result["split"] == "test" and result["neutral_band"] == [1 / 3, 2 / 3]
    assert {"cases", "failures", "failure_rate", "capabilities", "tests", "model", "base_texts"} <= set(result)
    assert {"negation", "robustness", "roles", "temporal", "contrast"} <= set(result["capabilities"])
    test = next(t for t in result["tests"] if t["name"] == "sentiment words")
    assert test["failure_rate"] == 1.0 and test["examples"][0]["expected"] in ("positive", "negative")
    table = runner.invoke(app, ["evaluate", "classifier", "--model", str(tmp_path / "model"), "--suite", "behaviour"])
    assert table.exit_code == 0 and "per capability" in table.output and "examples of failures" in table.output
    for arguments, fix in (
        (["--suite", "checklist"], "the suites are behaviour"),
        (["--suite", "behaviour", "--suite-split", "validation"], "use dev"),
        (["--suite-split", "dev"], "--suite-split needs --suite"),
    ):
        refused = runner.invoke(app, ["evaluate", "classifier", "--model", str(tmp_path / "model"), *arguments])
        assert refused.exit_code == 2, refused.output
        assert fix in refused.output and "Traceback" not in refused.output and len(refused.output.strip().splitlines()) == 1


def test_the_api_refuses_what_it_cannot_score():
    with pytest.raises(UsageError, match="use dev"):
        evaluate_behaviour(constant_classifier(0.5), "validation")
    other = constant_classifier(0.5)
    other.labels = ["bad", "good"]
    with pytest.raises(UsageError, match="negative and positive"):
        evaluate_behaviour(other)


def test_perturbations_change_what_they_say_and_nothing_else():
    rng = random.Random(0)
    text = "the film isn't great , but steven spielberg gives it 7/10 and 2 thumbs up ."
    typo = perturb.swap_characters(text, rng)
    assert len(typo) == len(text) and sum(a != b for a, b in zip(typo, text)) == 2
    assert len(perturb.delete_character(text, rng)) == len(text) - 1
    assert perturb.expand(text, rng, ["is not|isn't"]) == text.replace("isn't", "is not")
    assert perturb.contract("it is not good", rng, ["is not|isn't"]) == "it isn't good"
    assert perturb.contract("nothing to change", rng, ["is not|isn't"]) is None
    renamed = perturb.replace_word(text, rng, ["steven", "anna"])
    assert renamed == text.replace("steven", "anna")
    numbered = perturb.replace_number(text, rng)
    assert "7/10" in numbered and numbered != text  # a rating is never changed, a count is
    assert perturb.strip_final_punctuation(text, rng) == text[:-2]
    assert perturb.exclaim(text, rng) == text[:-2] + " !"


def test_the_shipped_models_card_holds_its_failure_rates_on_the_test_half():
    """The card's figures are what the suite gives the shipped model now (the run is deterministic)."""
    directory = nlp_lstm.shipped_model("classifier")
    card = (directory / "README.md").read_text()
    result = evaluate_behaviour(nlp_lstm.load_model(directory, kind="classifier"), "test")
    assert "## Behavioural tests" in card and "--suite behaviour --suite-split test" in card
    for test in result.tests:
        row = f"| {test.capability}: {test.name} | {test.kind} | {test.cases:,} | {100 * test.failure_rate:.1f} % |"
        assert row in card, row
    for name, entry in result.capabilities().items():
        assert f"| {name} | {entry['tests']} | {entry['cases']:,} | {100 * entry['failure_rate']:.1f} % |" in card, name


@pytest.mark.slow
@pytest.mark.skipif(teacher is None, reason="the teacher extra (transformers) is not installed")
def test_a_teacher_directory_runs_the_suite(teacher):
    """Any classifier load_model loads: here the tiny BERT teacher of tests/test_teacher.py (its fixtures)."""
    saved = nlp_lstm.load_model(teacher / "best", kind="classifier")
    assert type(saved.model).__name__ == "TeacherClassifier"
    result = evaluate_behaviour(saved, "test")
    assert result.to_dict()["cases"] == evaluate_behaviour(constant_classifier(0.5), "test").to_dict()["cases"]
