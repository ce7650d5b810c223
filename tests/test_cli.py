"""The command line end to end on a small text file, through typer's CliRunner."""

import json
import shlex

import pandas as pd
import pytest
from typer.testing import CliRunner

from nlp_lstm.cli import app

runner = CliRunner()
SMALL = [
    "--embedding-dim",
    "16",
    "--hidden-size",
    "32",
    "--num-layers",
    "1",
    "--seq-len",
    "32",
    "--batch-size",
    "8",
    "--eval-every",
    "10",
    "--warmup-steps",
    "2",
    "--device",
    "cpu",
]


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def trained(tmp_path, text_file):
    out = tmp_path / "run"
    result = run("train", "lm", "--dataset", text_file, "--output", out, "--max-steps", 20, *SMALL)
    assert result.exit_code == 0, result.output
    return out


def test_train_generate_evaluate_resume(trained, text_file):
    assert (trained / "best" / "model.safetensors").exists() and (trained / "metrics.jsonl").exists()

    result = run("generate", "--model", trained / "best", "--prompt", "From", "--length", 50, "--seed", 1)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("From") and len(result.stdout.rstrip("\n")) == 54
    again = run("generate", "--model", trained / "best", "--prompt", "From", "--length", 50, "--seed", 1)
    assert again.stdout == result.stdout

    two = run("generate", "-m", trained / "best", "-p", "A", "-n", 10, "--num-samples", 2, "--seed", 0)
    assert two.exit_code == 0 and two.stdout.startswith("--- sample 1 of 2 ---\nA") and "\n--- sample 2 of 2 ---\nA" in two.stdout

    result = run("evaluate", "lm", "--model", trained / "best", "--dataset", text_file, "--split", "test", "--json")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["split"] == "test" and metrics["bits_per_char"] > 0
    lines = text_file.read_text().split("\n")
    test_text = "\n".join(lines[int(len(lines) * 0.95) :])  # the last 5% of the lines
    assert metrics["characters"] == metrics["tokens"] == len(test_text) - 1  # every target once

    table = run("evaluate", "lm", "--model", trained / "best", "--dataset", text_file)
    assert table.exit_code == 0 and "bits per char" in table.stdout

    whole = run("evaluate", "lm", "--model", trained / "best", "--dataset", text_file, "--split", "all", "--json")
    assert whole.exit_code == 0, whole.output
    assert json.loads(whole.stdout)["characters"] == len("\n".join(lines)) - 1  # the whole file, every target once

    resumed = run("train", "lm", "--dataset", text_file, "--output", trained, "--max-steps", 30, "--resume", *SMALL)
    assert resumed.exit_code == 0, resumed.output
    steps = [json.loads(line)["step"] for line in (trained / "metrics.jsonl").read_text().splitlines()]
    assert max(steps) == 30 and steps.count(20) == 2  # train + validation lines, not repeated by the resume


def test_user_errors_are_one_line_and_exit_non_zero(tmp_path, trained, text_file):
    csv_file = tmp_path / "d.csv"
    csv_file.write_text("review,stars\n" + "".join(f"line {i},{i % 5}\n" for i in range(40)))
    cases = [
        (["generate", "--model", tmp_path / "absent"], "no such model directory", 1),
        (["generate", "--model", trained / "best", "--temperature", "-1"], "--temperature must be >= 0", 2),
        (["generate", "--model", trained / "best", "--top-p", "0"], "--top-p must be in (0, 1]", 2),
        (["train", "lm", "--dataset", text_file, "--output", trained, *SMALL], "already holds a run", 2),
        (["train", "lm", "--dataset", tmp_path / "missing.txt", "--output", tmp_path / "x"], "no such file", 1),
        (
            ["train", "lm", "--dataset", text_file, "--output", tmp_path / "y", "--hidden-size", "0"],
            "--hidden-size must be a positive",
            2,
        ),
        (
            ["train", "lm", "--dataset", csv_file, "--output", tmp_path / "z", "--text-column", "body"],
            "column 'body' not found; choose --text-column from: review, stars",
            1,
        ),
        (["train", "lm", "--resume", "--overwrite", "--output", trained], "contradict each other", 2),
        (["evaluate", "lm", "--model", trained / "best", "--dataset", "nobody/nothing"], "cannot be reached", 1),
    ]
    # Exit codes: 1 for a runtime failure (missing file, offline), 2 for options that cannot work.
    for args, message, code in cases:
        result = run(*args)
        assert result.exit_code == code, (args, result.output)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], (args, result.stderr)
        assert "Traceback" not in result.output


def run_settings(out):
    """The settings the run went on with, as its last checkpoint records them."""
    return json.loads((out / "last" / "training.json").read_text())["train_config"]


def test_resume_takes_an_option_given_at_its_default_value(tmp_path, text_file):
    out = tmp_path / "run"
    first = run("train", "lm", "--dataset", text_file, "--output", out, "--max-steps", 2, "--patience", 3, *SMALL)
    assert first.exit_code == 0, first.output
    again = run("train", "lm", "--output", out, "--resume", "--max-steps", 4, "--patience", 0)  # 0 is the default
    assert again.exit_code == 0, again.output
    assert run_settings(out)["patience"] == 0 and run_settings(out)["max_steps"] == 4  # given, so it counts


def test_resume_refuses_a_setting_given_at_its_default_value_that_differs_from_the_run(tmp_path, text_file):
    out = tmp_path / "run"
    first = run("train", "lm", "--dataset", text_file, "--output", out, "--max-steps", 2, "--lr", 0.001, *SMALL)
    assert first.exit_code == 0, first.output
    again = run("train", "lm", "--output", out, "--resume", "--lr", 0.002)  # 0.002 is the default
    assert again.exit_code == 2 and "--resume keeps the run's settings; these differ from it: --lr" in again.stderr


def test_the_command_in_run_toml_runs_again(tmp_path, text_file, monkeypatch):
    monkeypatch.chdir(tmp_path)  # paths as a user types them, relative to where the run starts
    result = run("train", "lm", "--dataset", text_file.name, "--output", "runs/first try", "--max-steps", 5, *SMALL)
    assert result.exit_code == 0, result.output
    header = (tmp_path / "runs" / "first try" / "run.toml").read_text().splitlines()[0]
    command = shlex.split(header.split("Run it again with: ", 1)[1])
    assert command[:3] == ["nlp-lstm", "train", "lm"], header
    again = runner.invoke(app, command[1:])
    assert again.exit_code == 0, again.output
    assert (tmp_path / "runs" / "first try-again" / "best").is_dir()


def test_version_and_help():
    import nlp_lstm

    result = run("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"nlp-lstm {nlp_lstm.__version__}"
    for command in (
        ["train", "lm"],
        ["train", "classifier"],
        ["generate"],
        ["classify"],
        ["evaluate", "lm"],
        ["evaluate", "classifier"],
    ):
        help_text = run(*command, "--help").stdout
        assert "Example: nlp-lstm" in help_text


CLASSIFIER = [
    "--text-column",
    "review",
    "--label-column",
    "sentiment",
    "--epochs",
    "2",
    "--max-length",
    "48",
    "--embedding-dim",
    "16",
    "--hidden-size",
    "16",
    "--tokenizer",
    "bpe",
    "--vocab-size",
    "400",
    "--device",
    "cpu",
]


def test_classifier_train_classify_evaluate(tmp_path, reviews_csv, trained):
    out = tmp_path / "clf"
    result = run("train", "classifier", "--dataset", reviews_csv, "--output", out, *CLASSIFIER)
    assert result.exit_code == 0, result.output
    model = out / "best"

    args = run("classify", "--model", model, "a gorgeous, heartfelt film", "a tedious mess", "--json")
    assert args.exit_code == 0, args.output
    rows = [json.loads(line) for line in args.stdout.splitlines()]
    assert [r["index"] for r in rows] == [0, 1]
    assert all(r["label"] in ("negative", "positive") and set(r["probabilities"]) == {"negative", "positive"} for r in rows)

    stdin = runner.invoke(app, ["classify", "--model", str(model), "-", "--json"], input="great fun\ndull\nfine\n")
    assert stdin.exit_code == 0 and len(stdin.stdout.splitlines()) == 3

    texts = tmp_path / "texts.txt"
    texts.write_text("first review\n\nsecond review\n")
    from_txt = run("classify", "--model", model, "--input", texts, "--json")
    assert from_txt.exit_code == 0 and len(from_txt.stdout.splitlines()) == 2  # blank lines are not texts
    from_csv = run("classify", "--model", model, "--input", reviews_csv, "--text-column", "review", "--json")
    assert from_csv.exit_code == 0 and len(from_csv.stdout.splitlines()) == len(pd.read_csv(reviews_csv))

    table = run("classify", "--model", model, "a gorgeous, heartfelt film")
    assert table.exit_code == 0 and "p(positive)" in table.stdout

    evaluated = run(
        "evaluate",
        "classifier",
        "--model",
        model,
        "--dataset",
        reviews_csv,
        "--text-column",
        "review",
        "--label-column",
        "sentiment",
        "--split",
        "test",
        "--json",
    )
    assert evaluated.exit_code == 0, evaluated.output
    metrics = json.loads(evaluated.stdout)
    assert metrics["labels"] == ["negative", "positive"] and 0 <= metrics["accuracy"] <= 1
    assert (
        sum(map(sum, metrics["confusion_matrix"]))
        == metrics["examples"]
        == sum(m["support"] for m in metrics["per_class"].values())
    )

    columns = ["--text-column", "review", "--label-column", "sentiment"]
    every_row = run("evaluate", "classifier", "-m", model, "-d", reviews_csv, *columns, "--split", "all", "--json")
    assert every_row.exit_code == 0, every_row.output
    assert json.loads(every_row.stdout)["examples"] == len(pd.read_csv(reviews_csv))
    no_split = run("evaluate", "classifier", "-m", model, "-d", reviews_csv, "--split", "everything")
    assert no_split.exit_code == 2 and "choose one of train, validation, test or all" in no_split.stderr  # a usage error

    wrong_kind = run("classify", "--model", trained / "best", "some text")
    assert wrong_kind.exit_code == 1 and "is a language model, but this command needs a classifier" in wrong_kind.stderr
    wrong_kind = run("generate", "--model", model)
    assert wrong_kind.exit_code == 1 and "is a classifier, but this command needs a language model" in wrong_kind.stderr
    nothing = run("classify", "--model", model)
    assert nothing.exit_code == 2 and "no texts to classify" in nothing.stderr


@pytest.mark.parametrize("kind", ["lm", "classifier"])
def test_the_api_and_the_cli_train_the_same_model_from_the_same_options(tmp_path, text_file, reviews_csv, kind):
    """Defaults live in the library: the same words give the same config.json and train_config.json."""
    import nlp_lstm
    from nlp_lstm import ClassifierTrainConfig, TrainConfig

    if kind == "lm":
        shared = {"dataset": str(text_file), "max_steps": 2, "eval_every": 2, "seq_len": 16, "batch_size": 4, "device": "cpu"}
        nlp_lstm.train_language_model(TrainConfig(**shared), tmp_path / "api")
    else:
        shared = {"dataset": str(reviews_csv), "text_column": "review", "label_column": "sentiment", "epochs": 1}
        shared |= {"vocab_size": 300, "max_length": 16, "device": "cpu"}
        nlp_lstm.train_classifier(ClassifierTrainConfig(**shared), tmp_path / "api")
    options = [f"--{k.replace('_', '-')}={v}" for k, v in shared.items()]
    result = run("train", kind, "--output", tmp_path / "cli", *options)
    assert result.exit_code == 0, result.output
    for name in ("train_config.json", "best/config.json"):
        assert json.loads((tmp_path / "api" / name).read_text()) == json.loads((tmp_path / "cli" / name).read_text()), name
    if kind == "classifier":  # the classifier's own defaults, not the language model's
        model = json.loads((tmp_path / "api" / "best" / "config.json").read_text())["model"]
        assert (model["hidden_size"], model["num_layers"], model["dropout"]) == (256, 1, 0.3)
    tomllib = pytest.importorskip("tomllib")
    api_options, cli_options = (tomllib.loads((tmp_path / d / "run.toml").read_text()) for d in ("api", "cli"))
    assert api_options.pop("output") != cli_options.pop("output") and api_options == cli_options  # one layer writes it


HELP_COMMANDS = [
    ["train", "lm"],
    ["train", "classifier"],
    ["train", "teacher"],
    ["generate"],
    ["classify"],
    ["inspect"],
    ["evaluate", "lm"],
    ["evaluate", "classifier"],
    ["info"],
    ["models"],
    ["plot"],
    ["ensemble"],
]


def help_of(command):
    result = runner.invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("command", HELP_COMMANDS, ids=" ".join)
def test_help_reads_right(command):
    """Choices listed, flags without a value, no placeholders; every computing command has --device and --threads."""
    text = help_of(command)
    usage = next(line for line in text.splitlines() if "Usage:" in line)
    assert "{" not in usage and "}" not in usage, usage
    assert "<bool>" not in text and "<list" not in text  # a flag takes no value; a list argument is <str>... or <path>...
    if command not in (["info"], ["models"], ["plot"]):
        assert "[auto|cpu|cuda|cuda:N|mps]" in text and "--threads" in text


def test_help_shows_what_each_parameter_takes():
    top = help_of([])
    assert "<bool>" not in top and "--help " in top and "--install-completion " in top  # typer's own flags too
    assert "TEXT      <str>..." in help_of(["classify"]) and "RUN      <path>..." in help_of(["plot"])
    assert "MODEL      <path>..." in help_of(["ensemble"])


def test_help_lists_the_choices_and_groups_the_training_options():
    lm = help_of(["train", "lm"])
    assert "<char|bpe>" in lm and "<fp32|bf16>" in lm
    assert [title for title in ("Data", "Model", "Optimisation", "Run") if f"─ {title} " in lm] == [
        "Data",
        "Model",
        "Optimisation",
        "Run",
    ]
    classifier = help_of(["train", "classifier"])
    assert "<start|end|both>" in classifier and "builtin:shakespeare" not in classifier  # it has no labels
    assert "<char|bpe|teacher>" in classifier and "─ Distillation " in classifier
    assert "<f|i|o|c|h>" in help_of(["inspect"])
    assert "[train|validation|test|all]" in help_of(["evaluate", "lm"])
    assert "Hub datasets" not in help_of(["classify"])  # --input reads local files only


def test_a_training_command_takes_each_setting_of_its_config_with_the_help_its_field_declares():
    from nlp_lstm.cli.forecast import FORECASTER_OPTIONS
    from nlp_lstm.cli.options import RUN_OPTIONS
    from nlp_lstm.cli.training import CLASSIFIER_OPTIONS, LM_OPTIONS, TEACHER_OPTIONS
    from nlp_lstm.forecast_config import ForecastTrainConfig
    from nlp_lstm.train_config import ClassifierTrainConfig, TeacherTrainConfig, TrainConfig, flat_settings

    left_to_the_library = {ForecastTrainConfig: {"embedding_dropout", "precision"}}  # a forecaster keeps their defaults
    commands = {TrainConfig: LM_OPTIONS, ClassifierTrainConfig: CLASSIFIER_OPTIONS, TeacherTrainConfig: TEACHER_OPTIONS}
    for config, names in {**commands, ForecastTrainConfig: FORECASTER_OPTIONS}.items():
        assert set(names) - set(RUN_OPTIONS) == set(flat_settings(config())) - left_to_the_library.get(config, set())
    for command, config, name in [("lm", TrainConfig, "state_reset"), ("classifier", ClassifierTrainConfig, "patience")]:
        help_text = " ".join(help_of(["train", command]).replace("│", " ").split())
        assert config.__dataclass_fields__[name].metadata["help"] in help_text


def test_a_plain_hub_name_offline_fails_naming_the_built_in(tmp_path):
    result = run("train", "classifier", "--dataset", "imdb", "--output", tmp_path / "run", "--device", "cpu")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [
        "error: 'imdb' is a Hub dataset that is not in the local cache, and the Hub cannot be reached (offline); "
        "for the built-in copy of its training part use --dataset builtin:imdb"
    ]
    assert not (tmp_path / "run").exists()


def test_texts_come_the_same_way_to_classify_and_inspect(tmp_path):
    mixed = runner.invoke(app, ["classify", "-", "another"], input="hi\n")
    assert mixed.exit_code == 2 and "give it alone" in mixed.stderr
    piped = runner.invoke(app, ["classify", "-", "--json", "--device", "cpu"], input="a fine film\n")
    assert piped.exit_code == 0 and json.loads(piped.stdout)["index"] == 0
    quote = "But, soft! what light through yonder window breaks?"
    as_argument = runner.invoke(app, ["inspect", quote, "--json", "--threads", "1"])
    from_stdin = runner.invoke(app, ["inspect", "-", "--json", "--threads", "1"], input=quote)
    assert as_argument.exit_code == 0 and from_stdin.exit_code == 0, as_argument.output + from_stdin.output
    assert json.loads(as_argument.stdout) == json.loads(from_stdin.stdout)
    assert json.loads(as_argument.stdout)["tokens"] == len(quote)
    both = runner.invoke(app, ["inspect", quote, "--input", str(tmp_path / "x.txt")])
    assert both.exit_code == 2 and "give one text" in both.stderr


def test_info_takes_the_model_as_every_command_does():
    import nlp_lstm

    shipped = str(nlp_lstm.shipped_model("lm"))
    by_option = runner.invoke(app, ["info", "--model", shipped, "--json"])
    by_argument = runner.invoke(app, ["info", shipped, "--json"])
    assert by_option.exit_code == 0 and json.loads(by_option.stdout) == json.loads(by_argument.stdout)
    assert runner.invoke(app, ["info", shipped, "--model", shipped]).exit_code == 2
    assert runner.invoke(app, ["info"]).exit_code == 2


def test_info_writes_counts_as_models_does(tmp_path):
    import nlp_lstm

    shipped = str(nlp_lstm.shipped_model("classifier"))
    details = json.loads(runner.invoke(app, ["info", shipped, "--json"]).stdout)
    table = runner.invoke(app, ["info", shipped], env={"COLUMNS": "200"}).stdout
    listed = runner.invoke(app, ["models", "--runs", str(tmp_path)], env={"COLUMNS": "200"}).stdout
    parameters = f"{details['parameters']:,}"  # 4,700,418
    assert parameters in table and parameters in listed and str(details["parameters"]) not in table
    assert f"{details['vocabulary']:,}" in table and f"{details['step']:,}" in table


def test_the_model_list_keeps_every_path_whole_at_80_columns(tmp_path):
    import nlp_lstm

    result = runner.invoke(app, ["models", "--runs", str(tmp_path)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    paths = [line.split()[-1] for line in result.stdout.splitlines() if line.strip().startswith("path")]
    shipped = [nlp_lstm.shipped_model(kind).resolve() for kind in ("lm", "classifier")]
    assert [(tmp_path.cwd() / p).resolve() for p in paths] == shipped


def test_training_without_a_terminal_prints_whole_plain_lines_as_it_goes(tmp_path, text_file, monkeypatch):
    monkeypatch.setattr("nlp_lstm.cli.render.TRAINING_LINE_EVERY_S", 0.0)  # a line at every logged step, not every 30 s
    result = run("train", "lm", "--dataset", text_file, "--output", tmp_path / "run", "--max-steps", 30, *SMALL)
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    steps = [line for line in lines if line.startswith("step ") and "loss" in line]
    assert [line.split(":")[0] for line in steps] == ["step 10/30 (33%)", "step 20/30 (67%)", "step 30/30 (100%)"]
    assert all(" tok/s, lr " in line and ", elapsed 0:00:" in line and ", eta 0:00:" in line for line in steps)
    assert steps[-1].endswith("eta 0:00:00")
    start = next(line for line in lines if line.startswith("training on cpu: "))
    assert len(start) > 80 and start.endswith("steps per epoch)")  # one line in a log, not cut at 80 columns
