"""Training plots, TOML config files, `info`, `--json` and Hub-style loading: the conventions users expect."""

import json

import pytest
from safetensors.torch import load_file
from typer.testing import CliRunner

import nlp_lstm
from nlp_lstm.cli import app
from nlp_lstm.hub import HubError

runner = CliRunner()
PNG = b"\x89PNG\r\n\x1a\n"


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


def small_config(path, text_file):
    path.write_text(
        f'dataset = "{text_file}"\nembedding-dim = 16\nhidden_size = 32\nnum_layers = 1\nseq_len = 32\nbatch_size = 8\n'
        'max_steps = 20\neval_every = 10\nwarmup_steps = 2\ndevice = "cpu"\nlr = 0.003\n'
    )
    return path


def test_config_file_options_are_overridden_by_the_command_line_and_runs_rerun_exactly(tmp_path, text_file):
    config = small_config(tmp_path / "run.toml", text_file)
    first = run("train", "lm", "--config", config, "--output", tmp_path / "a", "--lr", "0.004", "--json")
    assert first.exit_code == 0, first.output
    summary = json.loads(first.stdout.strip().splitlines()[-1])
    assert summary["steps"] == 20 and (tmp_path / "a" / "curves.png").read_bytes().startswith(PNG)
    saved = json.loads((tmp_path / "a" / "train_config.json").read_text())
    assert saved["lr"] == 0.004 and saved["seq_len"] == 32  # command line beat the file; the file beat the defaults

    again = run("train", "lm", "--config", tmp_path / "a" / "run.toml", "--output", tmp_path / "b")
    assert again.exit_code == 0, again.output
    assert (tmp_path / "b" / "train_config.json").read_text() == (tmp_path / "a" / "train_config.json").read_text()
    first_weights = load_file(tmp_path / "a" / "best" / "model.safetensors")
    second_weights = load_file(tmp_path / "b" / "best" / "model.safetensors")
    assert all((first_weights[k] == second_weights[k]).all() for k in first_weights)

    (tmp_path / "bad.toml").write_text("hiden_size = 3\n")
    bad = run("train", "lm", "--config", tmp_path / "bad.toml", "--output", tmp_path / "c")
    assert bad.exit_code == 2 and "unknown keys ['hiden_size']" in bad.output
    assert not (tmp_path / "c").exists()


def test_plot_overlays_runs_and_evaluate_writes_a_confusion_matrix(tmp_path, text_file, reviews_csv):
    config = small_config(tmp_path / "run.toml", text_file)
    for name, seed in (("one", 0), ("two", 1)):
        assert run("train", "lm", "--config", config, "--output", tmp_path / name, "--seed", seed).exit_code == 0
    plotted = run("plot", tmp_path / "one", tmp_path / "two", "--output", tmp_path / "both.png")
    assert plotted.exit_code == 0, plotted.output
    assert (tmp_path / "both.png").read_bytes().startswith(PNG)
    assert run("plot", tmp_path / "nothing-here").exit_code == 2

    options = ["--text-column", "review", "--label-column", "sentiment", "--epochs", "1", "--hidden-size", "16"]
    options += ["--embedding-dim", "8", "--tokenizer", "char", "--device", "cpu"]
    trained = run("train", "classifier", "--dataset", reviews_csv, "--output", tmp_path / "clf", *options)
    assert trained.exit_code == 0, trained.output
    assert (tmp_path / "clf" / "curves.png").read_bytes().startswith(PNG)  # loss and accuracy panels
    evaluated = run(
        "evaluate", "classifier", "--model", tmp_path / "clf" / "best", "--dataset", reviews_csv, "--text-column", "review",
        "--label-column", "sentiment", "--plot", tmp_path / "cm.png", "--json",
    )  # fmt: skip
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["plot"] == str(tmp_path / "cm.png")
    assert (tmp_path / "cm.png").read_bytes().startswith(PNG)


def test_info_and_generate_json():
    shipped = nlp_lstm.shipped_model("classifier")
    info = run("info", shipped, "--json")
    assert info.exit_code == 0, info.output
    details = json.loads(info.stdout)
    assert details["kind"] == "classifier" and details["labels"] == ["negative", "positive"]
    assert details["tokenizer"] == json.loads((shipped / "tokenizer.json").read_text())["type"]
    assert details["parameters"] == json.loads((shipped / "training.json").read_text())["parameters"]
    assert run("info", "no/such/dir").exit_code == 1

    generated = run("generate", "--prompt", "KING:", "--length", "25", "--num-samples", "2", "--seed", "4", "--json")
    assert generated.exit_code == 0, generated.output
    rows = [json.loads(line) for line in generated.stdout.splitlines()]
    assert [r["index"] for r in rows] == [0, 1] and all(len(r["continuation"]) == 25 and r["prompt"] == "KING:" for r in rows)


def test_save_pretrained_and_from_pretrained_stay_local(tmp_path, tiny_lm, monkeypatch):
    import huggingface_hub

    def no_network(*args, **kwargs):
        raise AssertionError("a local path must never reach the Hub")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_network)
    directory = tiny_lm.save_pretrained(tmp_path / "owner" / "model")  # looks like a repo id, exists locally
    card = (directory / "README.md").read_text()
    assert "language model" in card and "from_pretrained" in card
    loaded = nlp_lstm.ModelBundle.from_pretrained(directory)
    for name, value in tiny_lm.model.state_dict().items():
        assert (loaded.model.state_dict()[name] == value).all()
    monkeypatch.chdir(tmp_path)
    assert nlp_lstm.from_pretrained("owner/model").kind == "lm"  # a relative path that is also a valid repo id


def test_hub_ids_fail_clearly_while_offline(tmp_path, tiny_lm):
    with pytest.raises(HubError, match="not in the Hugging Face cache while offline"):
        nlp_lstm.from_pretrained("nobody-here/no-such-model")
    with pytest.raises(HubError, match="HF_HUB_OFFLINE is set"):
        tiny_lm.push_to_hub("nobody-here/no-such-model")


def test_titles_fit_and_break_between_words_with_long_paths_shortened():
    from nlp_lstm.plots import fit_title

    title = "/tmp/some/very/long/directory/name/that/goes/on/checkpoints/sentiment on builtin:rotten_tomatoes (test)"
    lines = fit_title(title, 40).splitlines()
    assert all(len(line) <= 40 for line in lines)
    assert lines == ["/\u2026/that/goes/on/checkpoints/sentiment on", "builtin:rotten_tomatoes (test)"]
    assert fit_title("runs/a on b (test)", 80) == "runs/a on b (test)"


def test_a_table_title_is_never_broken_inside_a_path(capsys):
    from nlp_lstm.cli.render import print_metrics_table

    print_metrics_table("/tmp/x/checkpoints/sentiment on builtin:rotten_tomatoes (test)", [("accuracy", "0.8123")])
    printed = capsys.readouterr().out  # not a terminal: 80 columns
    assert "/tmp/x/checkpoints/sentiment on builtin:rotten_tomatoes (test)" in printed


def test_a_confusion_matrix_title_stays_inside_the_figure(tmp_path):
    import matplotlib.image

    from nlp_lstm.plots import plot_confusion

    title = "/tmp/x/data/some/longer/folder/reviews_held_out.csv (test)"
    image = matplotlib.image.imread(plot_confusion([[40, 10], [7, 43]], ["negative", "positive"], tmp_path / "cm.png", title))
    band = image[: image.shape[0] // 8, :, :3]  # the title's band, above the matrix
    assert band.min() < 0.5  # the title is drawn
    assert band[:, :3].min() == 1.0 and band[:, -3:].min() == 1.0  # and no letter touches either edge
