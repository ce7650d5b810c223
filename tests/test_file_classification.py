"""classify --input/--output: every format, chunk by chunk, every input column kept, one input policy."""

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import nlp_lstm
from nlp_lstm.cli import app
from nlp_lstm.data import tables
from nlp_lstm.data.tables import TableReader
from nlp_lstm.file_classification import CHUNK_ROWS, FIRST_CHUNK_ROWS, classify_file, growing

runner = CliRunner()
ROWS = [
    {"id": 7, "review": "a gorgeous, heartfelt film", "stars": 5},
    {"id": 8, "review": "", "stars": 3},  # a blank text: skipped and counted
    {"id": 9, "review": "a tedious, joyless mess", "stars": 1},
    {"id": 10, "review": "funny, warm and wise", "stars": 4},
]


@pytest.fixture(scope="module")
def sentiment():
    return nlp_lstm.load_model(nlp_lstm.shipped_model("classifier"), kind="classifier")


def write(path, rows):
    table = pa.Table.from_pylist(rows)
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    elif path.suffix in (".csv", ".tsv"):
        import pyarrow.csv as pacsv

        pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(delimiter="\t" if path.suffix == ".tsv" else ","))
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        path.write_text(json.dumps(rows))
    return path


def read(path):
    return pa.concat_tables(TableReader(path, tables.table_format(str(path)))).to_pylist()


@pytest.mark.parametrize("source", ["csv", "tsv", "jsonl", "json", "parquet"])
@pytest.mark.parametrize("target", ["csv", "tsv", "jsonl", "json", "parquet"])
def test_every_format_keeps_every_column_and_adds_the_predictions(sentiment, tmp_path, source, target):
    given = write(tmp_path / f"in.{source}", ROWS)
    summary = classify_file(sentiment, given, str(tmp_path / f"out.{target}"), "review")
    assert (summary.rows, summary.classified, summary.skipped) == (4, 3, 1)
    out = read(tmp_path / f"out.{target}")
    assert [list(row)[:3] for row in out] == [["id", "review", "stars"]] * 3  # input columns first, in order
    assert [list(row)[3:] for row in out] == [["label", "p_negative", "p_positive"]] * 3
    assert [str(row["id"]) for row in out] == ["7", "9", "10"]
    expected = nlp_lstm.classify(sentiment, [r["review"] for r in ROWS if r["review"]])
    assert [row["label"] for row in out] == [p.label for p in expected]
    assert [float(row["p_positive"]) for row in out] == pytest.approx([p.probabilities["positive"] for p in expected])


def test_chunks_give_the_same_rows_as_one_pass(sentiment, tmp_path, monkeypatch, reviews):
    texts = reviews.validation.texts[:50]
    given = write(tmp_path / "in.csv", [{"n": i, "text": t if i % 9 else " "} for i, t in enumerate(texts)])
    whole = classify_file(sentiment, given, str(tmp_path / "whole.jsonl"))
    monkeypatch.setattr("nlp_lstm.file_classification.CHUNK_ROWS", 7)
    chunked = classify_file(sentiment, given, str(tmp_path / "chunked.jsonl"))
    assert whole == chunked and chunked.skipped == 6
    one, many = read(tmp_path / "whole.jsonl"), read(tmp_path / "chunked.jsonl")
    assert [(r["n"], r["label"]) for r in one] == [(r["n"], r["label"]) for r in many]
    # Other batch companions pad differently: the same probabilities up to float rounding.
    assert [r["p_positive"] for r in one] == pytest.approx([r["p_positive"] for r in many], abs=1e-6)


def test_a_taken_column_name_gets_a_prefix_instead_of_replacing_it(sentiment, tmp_path):
    given = write(tmp_path / "in.jsonl", [{"text": "great", "label": "mine", "p_positive": "also mine"}])
    classify_file(sentiment, given, str(tmp_path / "out.jsonl"))
    (row,) = read(tmp_path / "out.jsonl")
    assert list(row) == ["text", "label", "p_positive", "predicted_label", "p_negative", "predicted_p_positive"]
    assert (row["label"], row["p_positive"]) == ("mine", "also mine")


def test_the_command_line_streams_files_and_protects_what_exists(tmp_path):
    given = write(tmp_path / "in.csv", ROWS)
    out = tmp_path / "out.parquet"
    done = runner.invoke(app, ["classify", "--input", str(given), "--text-column", "review", "--output", str(out)])
    assert done.exit_code == 0, done.output
    assert "skipped 1 blank text" in done.stderr and done.stdout == ""  # stdout holds results only
    assert pq.read_table(out).num_rows == 3
    again = runner.invoke(app, ["classify", "--input", str(given), "--text-column", "review", "--output", str(out)])
    assert again.exit_code == 2 and "already exists" in again.stderr and pq.read_table(out).num_rows == 3
    wrong = runner.invoke(app, ["classify", "--input", str(given), "--output", str(tmp_path / "none.csv")])
    assert wrong.exit_code == 1 and "choose --text-column from: id, review, stars" in wrong.stderr
    assert not (tmp_path / "none.csv").exists()  # nothing is made before the first chunk is classified
    rows = runner.invoke(app, ["classify", "-i", str(given), "--text-column", "review", "--json", "--id-column", "id"])
    assert [(r["index"], r["id"]) for r in map(json.loads, rows.stdout.splitlines())] == [(0, "7"), (2, "9"), (3, "10")]
    piped = runner.invoke(app, ["classify", "-i", str(given), "--text-column", "review", "-o", "-", "--format", "csv"])
    assert piped.stdout.splitlines()[0] == '"id","review","stars","label","p_negative","p_positive"'


def test_stdin_and_text_files_skip_blank_lines_and_keep_line_numbers(tmp_path):
    lines = "a gorgeous film\n\n   \na tedious mess\n"
    piped = runner.invoke(app, ["classify", "-", "--json"], input=lines)
    (tmp_path / "in.txt").write_text(lines)
    from_file = runner.invoke(app, ["classify", "--input", str(tmp_path / "in.txt"), "--json"])
    assert piped.exit_code == 0 and from_file.exit_code == 0, piped.output + from_file.output
    assert [json.loads(r)["index"] for r in piped.stdout.splitlines()] == [0, 3]
    assert piped.stdout == from_file.stdout
    assert "skipped 2 blank texts" in piped.stderr and "skipped 2 blank texts" in from_file.stderr


def test_long_commands_report_progress_on_stderr_and_results_alone_on_stdout(monkeypatch, tmp_path, reviews_csv):
    monkeypatch.setattr("nlp_lstm.cli.render.PLAIN_EVERY_S", 0.0)  # a line at every update, not every 5 s
    columns = ["--text-column", "review", "--label-column", "sentiment"]
    evaluated = runner.invoke(
        app, ["evaluate", "classifier", "--dataset", str(reviews_csv), *columns, "--split", "all", "--json"]
    )
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.stdout)["examples"] == len(read(reviews_csv))  # stdout is the result alone
    lines = [line for line in evaluated.stderr.splitlines() if line.startswith("evaluating on")]
    assert lines and lines[-1].endswith("(100%), eta 0 s") and " texts/s" in lines[-1]
    table = runner.invoke(app, ["evaluate", "classifier", "--dataset", str(reviews_csv), *columns])
    assert "scored: the test split of" in table.stdout and "our stratified 80/10/10 split with seed 0" in table.stdout
    rows = write(tmp_path / "in.jsonl", ROWS)
    classified = runner.invoke(app, ["classify", "-i", str(rows), "--text-column", "review", "-o", str(tmp_path / "o.csv")])
    assert classified.exit_code == 0 and "classifying" in classified.stderr and "rows/s" in classified.stderr


@pytest.mark.parametrize("suffix", ["csv", "tsv", "jsonl", "json", "parquet", "txt"])
def test_a_reader_counts_rows_against_the_rows_of_the_file_not_the_bytes_read_ahead(tmp_path, reviews, suffix):
    texts = reviews.train.texts[:2_000]
    path = tmp_path / f"in.{suffix}"
    if suffix == "txt":
        path.write_text("".join(t.replace("\n", " ") + "\n" for t in texts), encoding="utf-8")
    else:
        write(path, [{"text": t} for t in texts])
    reader = TableReader(path, tables.table_format(str(path)), CHUNK_ROWS)
    done, shares = 0, []
    for piece in growing(reader, FIRST_CHUNK_ROWS, CHUNK_ROWS):  # as classified_chunks reads it
        done += piece.num_rows
        shares.append(reader.share_of_rows(done))
    # The first chunk is 256 of 2,000 rows, though the reader has read the whole file to give it.
    assert shares == pytest.approx([256 / 2_000, 768 / 2_000, 1_792 / 2_000, 1.0], abs=0.01)


def test_the_share_of_a_file_larger_than_a_block_is_estimated_from_its_bytes(tmp_path, reviews):
    texts = (reviews.train.texts * 3)[:20_000]  # about 2.3 MB: pyarrow parses it a block (1 MiB) at a time
    path = write(tmp_path / "in.csv", [{"text": t} for t in texts])
    reader = TableReader(path, "csv", CHUNK_ROWS)
    done = 0
    for piece in growing(reader, FIRST_CHUNK_ROWS, CHUNK_ROWS):
        done += piece.num_rows
        assert reader.share_of_rows(done) == pytest.approx(done / len(texts), abs=0.05)
    assert reader.share_of_rows(done) == 1.0


def test_classify_input_reports_rows_classified_not_bytes_read(monkeypatch, tmp_path, reviews):
    monkeypatch.setattr("nlp_lstm.cli.render.PLAIN_EVERY_S", 0.0)  # a line at every update, not every 5 s
    given = write(tmp_path / "in.csv", [{"text": t} for t in reviews.train.texts[:2_000]])
    done = runner.invoke(app, ["classify", "--input", str(given), "--output", str(tmp_path / "out.csv")])
    assert done.exit_code == 0, done.output
    lines = [line for line in done.stderr.splitlines() if line.startswith("classifying")]
    assert "256 rows" in lines[0] and "(13%)" in lines[0] and "eta 0 s" not in lines[0]
    assert "2,000 rows" in lines[-1] and lines[-1].endswith("(100%), eta 0 s")
