"""Issue 30: the classifier head regressing a score from a text (``--problem regression``), on real tiny models."""

from __future__ import annotations

import csv
import json
import math
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

import nlp_lstm
from nlp_lstm import checkpoint
from nlp_lstm.cli import app
from nlp_lstm.scores import average_ranks, spearman
from nlp_lstm.train_config import ClassifierTrainConfig

WORDS = ("good", "film", "plot", "actor", "scene", "music")
TINY = {"embedding_dim": 16, "hidden_size": 32, "dropout": 0.0, "embedding_dropout": 0.0}
runner = CliRunner()


def scored_csv(path: Path, rows: int = 240, seed: int = 0) -> Path:
    """Texts of 3 to 8 words whose score is how many times "good" occurs: a number only reading can tell."""
    rng = random.Random(seed)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "rating", "genre"])
        for _ in range(rows):
            words = [rng.choice(WORDS) for _ in range(rng.randint(3, 8))]
            writer.writerow([" ".join(words), words.count("good"), rng.choice(["drama", "comedy"])])
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, dict]:
    root = tmp_path_factory.mktemp("regression")
    data = scored_csv(root / "scores.csv")
    config = ClassifierTrainConfig(
        dataset=str(data), label_column="rating", problem="regression", tokenizer="char", epochs=12,
        batch_size=16, lr=1e-2, warmup_steps=10, max_length=64, device="cpu", patience=0,
    )  # fmt: skip
    result = nlp_lstm.train_classifier(config.with_encoder(**TINY), root / "run")
    return data, result.best_dir, result.best_validation


def test_a_tiny_model_learns_a_counted_score(trained):
    data, best, validation = trained
    saved = nlp_lstm.load_model(best)
    metrics = nlp_lstm.evaluate_classifier(saved, str(data), split="test", label_column="rating")
    # The scores are 0 to 3 with a spread near 0.8: predicting the mean would give an RMSE near 0.8 and no ranking.
    assert metrics["rmse"] < 0.35 and metrics["spearman"] > 0.8, metrics
    assert metrics["mae"] <= metrics["rmse"] and metrics["problem"] == "regression"
    assert {"rmse", "mae", "spearman"} <= set(validation)


def test_predictions_come_back_in_the_data_units(trained):
    saved = nlp_lstm.load_model(trained[1])
    none, three = nlp_lstm.classify(saved, ["film plot actor scene", "good good good film"])
    assert none.label is None and none.probabilities == {}
    assert abs(none.score) < 0.6 and abs(three.score - 3) < 0.8, (none.score, three.score)


def test_the_saved_config_keeps_the_problem_and_the_target_statistics(trained):
    data, best, _ = trained
    saved = json.loads((best / "config.json").read_text())
    model = saved["model"]
    ratings = [float(row["rating"]) for row in csv.DictReader(data.open())]
    assert model["problem"] == "regression" and model["num_classes"] == 1 and saved["labels"] == ["rating"]
    assert 0 < model["target_std"] < 2 and min(ratings) < model["target_mean"] < max(ratings)
    loaded = checkpoint.load(best)
    assert (loaded.config.problem, loaded.config.target_mean, loaded.config.target_std) == (
        "regression",
        model["target_mean"],
        model["target_std"],
    )


def test_classify_prints_a_score(trained):
    result = runner.invoke(app, ["classify", "--model", str(trained[1]), "--json", "good good film"])
    assert result.exit_code == 0, result.output
    line = json.loads(result.output.strip().splitlines()[-1])
    assert "label" not in line and isinstance(line["score"], float)


def test_the_tables_show_the_score_and_a_file_is_refused_in_one_line(trained):
    data, best, _ = trained
    table = runner.invoke(app, ["classify", "--model", str(best), "good good film"])
    assert table.exit_code == 0 and "rating" in table.output, table.output
    args = ["evaluate", "classifier", "--model", str(best), "--dataset", str(data), "--label-column", "rating"]
    figures = runner.invoke(app, args)
    assert figures.exit_code == 0 and "spearman" in figures.output, figures.output
    refused = runner.invoke(app, ["classify", "--model", str(best), "--input", str(data)])
    assert refused.exit_code == 2 and "regression model predicts a score" in refused.output, refused.output


def test_evaluate_reports_rmse_and_spearman(trained):
    data, best, _ = trained
    args = ["evaluate", "classifier", "--model", str(best), "--dataset", str(data), "--label-column", "rating", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.output)
    assert metrics["rmse"] < 0.35 and metrics["spearman"] > 0.8


def test_spearman_with_ties_matches_a_hand_computed_value():
    assert average_ranks([10, 20, 20, 30]) == [1, 2.5, 2.5, 4]
    # ranks (1, 2.5, 2.5, 4) and (1, 2, 3, 4): covariance 4.5, spreads sqrt(4.5 * 5) -> 4.5 / sqrt(22.5)
    assert spearman([10, 20, 20, 30], [1, 2, 3, 4]) == pytest.approx(4.5 / math.sqrt(22.5))
    assert spearman([1, 2, 3], [30, 20, 10]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 1, 1], [1, 2, 3]))


def test_a_text_label_column_is_refused_in_one_line(tmp_path):
    data = scored_csv(tmp_path / "scores.csv", rows=40)
    args = ["train", "classifier", "--dataset", str(data), "--label-column", "genre", "--problem", "regression"]
    result = runner.invoke(app, [*args, "--output", str(tmp_path / "run"), "--tokenizer", "char", "--device", "cpu"])
    assert result.exit_code == 2, result.output
    message = result.output.strip()
    assert "--label-column genre" in message and "numeric" in message and "Traceback" not in message


def test_an_old_classifier_directory_still_loads_as_classification():
    shipped = Path(nlp_lstm.__file__).resolve().parent.parent / "checkpoints" / "sentiment"
    saved = nlp_lstm.load_model(shipped)
    assert saved.config.problem == "classification" and saved.config.num_classes == 2
    assert "problem" not in json.loads((shipped / "config.json").read_text())["model"]
    assert not {"problem", "target_mean", "target_std"} & set(saved.config.to_dict())  # saved again, as before issue 30
    (prediction,) = nlp_lstm.classify(saved, "a wonderful, moving film")
    assert prediction.label in saved.labels and prediction.score is None


def test_the_routes_that_read_class_probabilities_refuse_a_score_model(trained, tmp_path):
    """Export, ensembles and the server read the head's output as class probabilities: a score model is refused."""
    import socket
    import subprocess
    import sys

    saved = nlp_lstm.load_model(trained[1])
    with pytest.raises(nlp_lstm.UsageError, match="regression"):
        nlp_lstm.export_onnx(saved, tmp_path / "export")
    assert not (tmp_path / "export").exists()
    with pytest.raises(nlp_lstm.UsageError, match=r"predicts a score \(--problem regression\)"):
        nlp_lstm.build_ensemble([trained[1], trained[1]], tmp_path / "ensemble")
    with socket.socket() as probe:  # a free port, in case the refusal failed and the server started
        probe.bind(("127.0.0.1", 0))
        port = str(probe.getsockname()[1])
    command = [sys.executable, "-m", "nlp_lstm", "serve", "--classifier", str(trained[1]), "--port", port]
    served = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert served.returncode != 0 and "predicts a score (--problem regression); serve a classifier" in served.stderr
    assert "Traceback" not in served.stderr
