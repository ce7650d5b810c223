"""The Python API behaves like the CLI (issue 25, item 1): what it takes, what it answers, the names it knows.

A string is one text; a blank text gets no label, in the API, the CLI and the server alike; the
names ``nlp-lstm models`` prints load everywhere, in one resolution order (path, shipped name, Hub id).
"""

import json

import pytest
from typer.testing import CliRunner

import nlp_lstm
from nlp_lstm.checkpoint import ModelLoadError
from nlp_lstm.cli import app
from nlp_lstm.hub import HubError, ModelNotFound

runner = CliRunner()


@pytest.fixture(scope="module")
def classifier():
    return nlp_lstm.load_model("sentiment")


@pytest.fixture(scope="module")
def language_model():
    return nlp_lstm.load_model("shakespeare-char")


# 1. A string is one text, and every public function that takes texts says what it takes.


def test_a_string_is_one_text_and_the_answer_is_a_list_of_one(classifier):
    (alone,) = nlp_lstm.classify(classifier, "just one string")
    (listed,) = nlp_lstm.classify(classifier, ["just one string"])
    assert alone == listed and alone.index == 0 and alone.label in classifier.labels
    assert nlp_lstm.classify(classifier, ("a tuple", "of texts"))[1].index == 1  # any iterable of strings
    assert nlp_lstm.classify(classifier, []) == []


def test_texts_that_are_not_strings_are_refused_naming_their_index(classifier, language_model):
    with pytest.raises(nlp_lstm.UsageError, match=r"^texts\[1\] is int, not a string; pass each text as str$"):
        nlp_lstm.classify(classifier, ["fine", 3])
    with pytest.raises(nlp_lstm.UsageError, match="got bytes; decode bytes to str first"):
        nlp_lstm.classify(classifier, b"bytes")
    with pytest.raises(
        nlp_lstm.UsageError, match=r"classify takes a model loaded by nlp_lstm.load_model\(NAME_OR_PATH\), got str"
    ):
        nlp_lstm.classify("sentiment", ["fine"])
    with pytest.raises(ModelLoadError, match="shakespeare-char: is a language model, but classify needs a classifier"):
        nlp_lstm.classify(language_model, ["fine"])


def test_generate_takes_one_prompt_and_says_so_at_the_call(classifier, language_model):
    config = nlp_lstm.SampleConfig(length=12, seed=0)
    assert len(nlp_lstm.generate(language_model, "ROMEO:", config)) == 12
    with pytest.raises(nlp_lstm.UsageError, match="prompt must be a string, got list; generate continues one prompt"):
        nlp_lstm.generate(language_model, ["ROMEO:", "JULIET:"], config)
    with pytest.raises(nlp_lstm.UsageError, match="prompt must be a string, got SampleConfig"):
        nlp_lstm.generate(language_model, config)  # the config in the prompt's place
    with pytest.raises(nlp_lstm.UsageError, match="config must be a SampleConfig, e.g. nlp_lstm.SampleConfig"):
        nlp_lstm.generate_samples(language_model, "ROMEO:", {"length": 5})
    with pytest.raises(ModelLoadError, match="sentiment: is a classifier, but generate needs a language model"):
        nlp_lstm.generate_stream(classifier, "ROMEO:")  # refused when called, not at the first next()


def test_evaluation_takes_a_dataset_spec_and_a_model_of_its_kind(classifier, language_model):
    with pytest.raises(nlp_lstm.UsageError, match=r"dataset must be a dataset spec \(builtin:NAME, .*\), got list"):
        nlp_lstm.evaluate_classifier(classifier, ["a fine film", "a dull one"])
    with pytest.raises(nlp_lstm.UsageError, match="dataset must be a dataset spec"):
        nlp_lstm.evaluate_language_model(language_model, ["some text"])
    with pytest.raises(ModelLoadError, match="is a language model, but evaluate_classifier needs a classifier"):
        nlp_lstm.evaluate_classifier(language_model, "builtin:rotten_tomatoes")
    with pytest.raises(ModelLoadError, match="is a classifier, but evaluate_language_model needs a language model"):
        nlp_lstm.evaluate_language_model(classifier, "builtin:shakespeare")


# 2. A blank text never gets a label: in the API a result with no label, in its place.


def test_a_blank_text_gets_a_result_with_no_label_in_its_place(classifier):
    texts = ["a gorgeous, heartfelt film", "", None, " \n\t", "a tedious mess"]
    predictions = nlp_lstm.classify(classifier, texts)
    assert [p.index for p in predictions] == [0, 1, 2, 3, 4]
    assert [(p.label, p.probabilities) for p in predictions[1:4]] == [(None, {})] * 3
    alone = nlp_lstm.classify(classifier, [texts[0], texts[4]])
    assert [p.probabilities for p in (predictions[0], predictions[4])] == [p.probabilities for p in alone]
    assert nlp_lstm.classify(classifier, [""]) == [nlp_lstm.Prediction(0, None, {})]


def test_the_cli_leaves_blank_texts_out_and_refuses_blank_texts_only(tmp_path):
    mixed = runner.invoke(app, ["classify", "fine", "", "dull", "--json"])
    assert mixed.exit_code == 0, mixed.output
    assert [json.loads(line)["index"] for line in mixed.stdout.splitlines()] == [0, 2]
    assert "skipped 1 blank text" in mixed.stderr
    message = "no texts to classify: the text given is blank; pass them as arguments, '-' for stdin, or --input FILE"
    blank = runner.invoke(app, ["classify", ""])
    assert (blank.exit_code, blank.stdout, blank.stderr.strip()) == (2, "", f"error: {message}")
    none = runner.invoke(app, ["classify"])
    assert none.exit_code == 2 and "no texts to classify" in none.stderr
    piped = runner.invoke(app, ["classify", "-"], input="\n  \n")
    assert piped.exit_code == 2 and "all 2 texts given are blank" in piped.stderr
    (tmp_path / "blank.txt").write_text("\n \n\n")
    from_file = runner.invoke(app, ["classify", "--input", str(tmp_path / "blank.txt"), "-o", str(tmp_path / "out.csv")])
    assert from_file.exit_code == 2 and "no texts to classify (its 3 rows are blank)" in from_file.stderr
    assert not (tmp_path / "out.csv").exists()


def test_the_server_answers_a_blank_text_with_no_label_and_knows_model_names():
    testclient = pytest.importorskip("fastapi.testclient", reason="the serve extra has fastapi")
    from nlp_lstm.serve.app import create_app
    from nlp_lstm.serve.settings import ServeSettings

    settings = ServeSettings(classifier="sentiment", generator="shakespeare-char", allowed_hosts=("testserver",))
    with testclient.TestClient(create_app(settings)) as client:
        answer = client.post("/v1/classify", json={"texts": ["", "a tedious mess"]})
        assert answer.status_code == 200, answer.text
        blank, text = answer.json()["predictions"]
        assert blank == {"index": 0, "label": None, "probabilities": {}}
        assert text["index"] == 1 and text["label"] == "negative"
        listed = {m["kind"]: m["name"] for m in client.get("/v1/models").json()}
        assert listed == {"classifier": "sentiment", "lm": "shakespeare-char"}  # the names led to the shipped directories


# 3. and 4. The names `nlp-lstm models` prints load everywhere, through one loader in one order.


def test_shipped_names_load_in_the_api_and_the_cli():
    models = runner.invoke(app, ["models", "--json"])
    names = {entry["name"]: entry["kind"] for entry in json.loads(models.stdout) if entry["shipped"]}
    assert names == {"shakespeare-char": "lm", "sentiment": "classifier"}
    for name, kind in names.items():
        assert nlp_lstm.load_model(name).kind == kind and nlp_lstm.from_pretrained(name).kind == kind
        assert nlp_lstm.ModelBundle.from_pretrained(name).kind == kind
        assert nlp_lstm.shipped_model(name) == nlp_lstm.shipped_model(kind)
        info = runner.invoke(app, ["info", name, "--json"])
        assert info.exit_code == 0 and json.loads(info.stdout)["kind"] in ("language model", "classifier"), info.output
    classified = runner.invoke(app, ["classify", "--model", "sentiment", "a gorgeous film", "--json"])
    assert classified.exit_code == 0 and json.loads(classified.stdout)["label"] == "positive", classified.output
    generated = runner.invoke(app, ["generate", "--model", "shakespeare-char", "-n", "10", "--seed", "0"])
    assert generated.exit_code == 0 and len(generated.stdout) == 11, generated.output
    wrong = runner.invoke(app, ["generate", "--model", "sentiment"])
    assert wrong.exit_code == 1 and "is a classifier, but this command needs a language model" in wrong.stderr


def test_unknown_names_are_one_clear_error():
    with pytest.raises(
        ModelLoadError, match=r"^'happy' is not a shipped model; the shipped ones are 'shakespeare-char' \(or 'lm'\)"
    ):
        nlp_lstm.shipped_model("happy")
    with pytest.raises(ModelNotFound, match=r"^sentimnt: no such model directory, and no shipped model is called that"):
        nlp_lstm.load_model("sentimnt")
    typo = runner.invoke(app, ["info", "sentimnt"])
    assert typo.exit_code == 1 and typo.stderr.startswith("error: sentimnt: no such model directory")
    with pytest.raises(nlp_lstm.UsageError, match="kind must be one of 'lm', 'classifier', 'forecaster' or None"):
        nlp_lstm.load_model("sentiment", kind="sentiment")


def test_a_path_that_exists_comes_before_a_shipped_name(tmp_path, tiny_lm, monkeypatch):
    tiny_lm.save_pretrained(tmp_path / "sentiment")  # a model of the user's own, named like a shipped one
    monkeypatch.chdir(tmp_path)
    assert nlp_lstm.load_model("sentiment").model.config.hidden_size == 32
    assert nlp_lstm.from_pretrained("sentiment").kind == "lm"


def test_a_path_of_the_checkout_from_elsewhere_names_the_problem(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(HubError) as raised:
        nlp_lstm.from_pretrained("checkpoints/sentiment")  # also a valid repo id, so the Hub is asked last
    message = str(raised.value)
    assert message.startswith(f"checkpoints/sentiment: no such directory in {tmp_path}, and no shipped model is called that")
    assert "the shipped one is named 'sentiment', which works from any directory" in message
    assert "not in the Hugging Face cache while offline" in message and "\n" not in message
    assert nlp_lstm.from_pretrained("sentiment").kind == "classifier"
