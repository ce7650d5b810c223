"""Input files that are not what they claim, through the real commands: one line, its exit code, and no output that looks complete.

``classify --input FILE`` refuses what is not text as stdin does, reads long rows, names a column
that does not hold text, and a failed or killed run leaves nothing at ``--output`` (it is written
beside, and renamed into place at the end). ``train classifier --dataset FILE`` says what is wrong
with a file it cannot train on.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

import nlp_lstm
from nlp_lstm.cli import app
from nlp_lstm.data import tables
from nlp_lstm.errors import UsageError
from nlp_lstm.file_classification import classify_file

runner = CliRunner()
REVIEWS = ["a gorgeous, heartfelt film", "a tedious, joyless mess", "funny, warm and wise"]


def invoke(*args):
    return runner.invoke(app, [str(arg) for arg in args])


def one_line(done, code, *words):
    """The command failed with ``code`` and one line on stderr that holds ``words``: no traceback, no stray log line."""
    assert done.exit_code == code, done.output
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert "unexpected" not in lines[0] and "Traceback" not in done.stderr, lines[0]
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def left_in(directory):
    """Every name in ``directory``, hidden temporaries included."""
    return sorted(os.listdir(directory))


def jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


# Text or not: the check stdin has, for every text format of a file.


@pytest.mark.parametrize(
    "name, content",
    [
        ("line.txt", b"a gorgeous film\na tedious \0mess\n"),
        ("cell.csv", b'id,text\n1,"a gorgeous film"\n2,"a tedious \0 mess"\n'),
        ("row.jsonl", b'{"text": "a gorgeous film"}\n{"text": "a \0"}\n'),
        ("utf16.txt", "a gorgeous film\na tedious mess\n".encode("utf-16-le")),  # no byte-order mark
    ],
)
def test_nul_bytes_are_not_text_and_leave_no_output(tmp_path, name, content):
    given = tmp_path / name
    given.write_bytes(content)
    out = tmp_path / "out.csv"
    one_line(invoke("classify", "--input", given, "--output", out), 1, "holds NUL bytes", "not text", "iconv -f utf-16")
    assert left_in(tmp_path) == [name]


def test_a_50_megabyte_file_of_nul_bytes_is_refused_at_its_first_block(tmp_path):
    given = tmp_path / "zeros.txt"
    with open(given, "wb") as handle:
        handle.truncate(50_000_000)  # sparse: 50 MB of NUL bytes without writing them
    one_line(invoke("classify", "--input", given, "--json"), 1, "zeros.txt: holds NUL bytes (the first at byte 0)")


def test_latin1_files_are_not_utf8_text_with_the_byte_that_shows_it(tmp_path):
    given = tmp_path / "latin1.csv"
    given.write_bytes("text\ncaf\xe9 cr\xe8me\n".encode("latin-1"))
    one_line(invoke("classify", "--input", given, "--json"), 1, "latin1.csv: is not UTF-8 text (byte 8)", "iconv")


# A failed run never leaves an output that parses as complete, and says how far it got.


def test_bad_bytes_after_the_first_chunks_leave_no_output_and_say_how_many_rows(tmp_path, monkeypatch):
    monkeypatch.setattr("nlp_lstm.file_classification.CHUNK_ROWS", 16)  # rows are written before the bad line
    given = tmp_path / "in.jsonl"
    rows = b"".join(json.dumps({"text": f"{REVIEWS[i % 3]} {i}"}).encode() + b"\n" for i in range(40))
    given.write_bytes(rows + b'{"text": "caf\xe9"}\n')
    line = one_line(invoke("classify", "--input", given, "--output", tmp_path / "out.json"), 1, "not UTF-8 text")
    assert line.endswith("nothing is written to " + str(tmp_path / "out.json") + " (32 rows had been classified)")
    assert left_in(tmp_path) == ["in.jsonl"]  # neither out.json nor its temporary


def test_a_type_change_between_chunks_leaves_no_output(tmp_path, monkeypatch):
    monkeypatch.setattr("nlp_lstm.file_classification.CHUNK_ROWS", 16)
    given = jsonl(tmp_path / "in.jsonl", [{"text": REVIEWS[i % 3], "n": i if i < 16 else "x"} for i in range(32)])
    for out in ("out.json", "out.csv", "out.parquet", "out.jsonl"):
        line = one_line(invoke("classify", "--input", given, "--output", tmp_path / out), 1, "change type")
        assert line.endswith("(16 rows had been classified)"), line
    assert left_in(tmp_path) == ["in.jsonl"]


def test_a_failure_on_stdout_says_how_many_rows_were_printed(tmp_path, monkeypatch):
    monkeypatch.setattr("nlp_lstm.file_classification.CHUNK_ROWS", 16)
    given = jsonl(tmp_path / "in.jsonl", [{"text": REVIEWS[i % 3], "n": i if i < 16 else "x"} for i in range(32)])
    done = invoke("classify", "--input", given, "--output", "-", "--format", "jsonl")
    one_line(done, 1, "16 rows were written to stdout before it")
    assert len(done.stdout.splitlines()) == 16


def test_a_file_that_appears_at_the_output_meanwhile_is_kept(tmp_path, sentiment):
    given = jsonl(tmp_path / "in.jsonl", [{"text": t} for t in REVIEWS])
    out = tmp_path / "out.csv"

    def someone_writes_it(rows, fraction):
        out.write_text("the user's own file\n")

    with pytest.raises(UsageError, match="appeared while the rows were written; nothing is overwritten"):
        classify_file(sentiment, given, str(out), progress=someone_writes_it)
    assert out.read_text() == "the user's own file\n"
    assert left_in(tmp_path) == ["in.jsonl", "out.csv"]


@pytest.mark.slow
def test_a_killed_run_leaves_no_output_and_the_next_run_clears_its_temporary(tmp_path):
    given = tmp_path / "in.txt"
    given.write_text("".join(f"{REVIEWS[i % 3]} {i}\n" for i in range(40_000)))
    out = tmp_path / "out.jsonl"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    command = [sys.executable, "-m", "nlp_lstm", "classify", "--input", str(given), "--output", str(out)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    partial = tmp_path / f".out.jsonl.partial-{process.pid}"
    deadline = time.monotonic() + 120  # a bound on a hang, not a measurement
    while not partial.exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert partial.exists(), "the first rows were never written"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not out.exists() and partial.exists()  # killed: the rows so far are beside it, hidden, never at out
    given.write_text(REVIEWS[0] + "\n")
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert left_in(tmp_path) == ["in.txt", "out.jsonl"] and len(out.read_text().splitlines()) == 1


# Long rows are read; a row longer than LONGEST_ROW is one line that names the limit.


def test_a_long_csv_cell_grows_the_block_and_keeps_every_row_once(tmp_path, monkeypatch):
    monkeypatch.setattr(tables, "FIRST_BLOCK", 4096)  # a 50 kB cell then needs the growth a 5 MB one needs
    long_text = "a gorgeous film " * 3_200
    given = tmp_path / "in.csv"
    lines = [f"row {i},{i}" for i in range(500)] + [f'"{long_text}",long', "", "after,1"]
    given.write_text("text,n\n" + "\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    done = invoke("classify", "--input", given, "--output", out)
    assert done.exit_code == 0, done.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["n"] for row in rows] == [str(i) for i in range(500)] + ["long", "1"]
    assert rows[500]["text"] == long_text


def test_a_five_megabyte_text_in_one_csv_cell_is_read(tmp_path):
    long_text = "a gorgeous film " * 320_000
    given = tmp_path / "in.csv"
    given.write_text(f'text,n\n"{long_text}",1\nshort,2\n')
    done = invoke("classify", "--input", given, "--json")
    assert done.exit_code == 0, done.output
    assert [json.loads(line)["index"] for line in done.stdout.splitlines()] == [0, 1]


@pytest.mark.parametrize("suffix", ["txt", "jsonl", "csv"])
def test_a_row_longer_than_the_limit_is_one_line_that_names_it(tmp_path, monkeypatch, suffix):
    monkeypatch.setattr(tables, "LONGEST_ROW", 2**20)  # the 64 MiB limit, at a size a test can afford
    text = "a" * (5 * 2**19)  # 2.5 MiB: the last rows of a CSV file may be up to twice the limit
    given = tmp_path / f"in.{suffix}"
    lines = {
        "txt": ["fine", text],
        "jsonl": ['{"text": "fine"}', f'{{"text": "{text}"}}'],
        "csv": ["text", "fine", text, "after"],
    }
    given.write_text("\n".join(lines[suffix]) + "\n")
    one_line(
        invoke("classify", "--input", given, "--output", tmp_path / "out.csv"), 1, "longer than 1 MiB, the most one row may hold"
    )
    assert left_in(tmp_path) == [f"in.{suffix}"]


# Columns and values that are not text.


@pytest.mark.parametrize(
    "values, kind",
    [([[1, 2], [3]], "list<"), ([{"a": 1}, {"a": 2}], "struct<a: int64>"), ([1, 2], "int64")],
)
def test_a_parquet_text_column_of_another_type_is_named_with_its_type(tmp_path, values, kind):
    given = tmp_path / "in.parquet"
    pq.write_table(pa.table({"text": values, "title": ["one", "two"]}), given)
    line = one_line(invoke("classify", "--input", given, "--json"), 1, "column 'text' holds", kind, "not text")
    assert line.endswith("choose --text-column from: title")


def test_numbers_in_a_jsonl_text_column_are_not_blank_texts(tmp_path):
    given = jsonl(tmp_path / "in.jsonl", [{"text": 1}, {"text": 2}])
    one_line(invoke("classify", "--input", given, "--json"), 1, "column 'text' holds int64, not text")


def test_two_columns_of_one_name_are_one_line(tmp_path):
    given = tmp_path / "in.csv"
    given.write_text("text,text\na gorgeous film,a tedious mess\n")
    one_line(invoke("classify", "--input", given, "--json"), 1, "2 columns are named 'text'")


@pytest.mark.parametrize(
    "other, words",
    [
        ("[" * 100_000 + "]" * 100_000, ["in.jsonl:2: not valid JSON (nested too deeply)"]),
        ("9" * 5_000, ["in.jsonl:2:", "5000 digits"]),
    ],
)
def test_deep_nesting_and_giant_integers_in_jsonl_name_their_line(tmp_path, other, words):
    given = tmp_path / "in.jsonl"
    given.write_text(f'{{"text": "fine"}}\n{{"text": "fine", "other": {other}}}\n')
    line = one_line(invoke("classify", "--input", given, "--json"), 1, *words)
    assert "sys.set_int_max_str_digits" not in line  # Python's advice to itself, not the user's fix


def test_a_missing_id_column_is_one_line(tmp_path):
    given = jsonl(tmp_path / "in.jsonl", [{"text": t} for t in REVIEWS])
    one_line(invoke("classify", "--input", given, "--json", "--id-column", "key"), 1, "choose --id-column from: text")


# No rows: the rule of classify with no texts.


@pytest.mark.parametrize("name, content", [("in.txt", ""), ("in.jsonl", ""), ("in.jsonl", "\n\n"), ("in.csv", "text,n\n")])
def test_a_file_of_no_rows_has_no_texts(tmp_path, name, content):
    given = tmp_path / name
    given.write_text(content)
    one_line(invoke("classify", "--input", given, "--output", tmp_path / "out.csv"), 2, "no texts")
    assert left_in(tmp_path) == [name]
    one_line(invoke("classify"), 2, "no texts")  # the same rule as no texts at all


# Where the output goes.


def test_an_output_in_a_missing_directory_or_on_a_dangling_link_is_refused_before_anything(tmp_path):
    given = jsonl(tmp_path / "in.jsonl", [{"text": t} for t in REVIEWS])
    one_line(invoke("classify", "--input", given, "--output", tmp_path / "none" / "out.csv"), 2, "no such directory")
    (tmp_path / "dangling.csv").symlink_to(tmp_path / "nowhere" / "x.csv")
    one_line(
        invoke("classify", "--input", given, "--output", tmp_path / "dangling.csv"),
        2,
        "already exists (a link to a missing file)",
    )
    assert (tmp_path / "dangling.csv").is_symlink() and left_in(tmp_path) == ["dangling.csv", "in.jsonl"]


# Training on a file that cannot be trained on.


def test_training_on_a_header_only_csv_says_it_has_no_rows(tmp_path):
    given = tmp_path / "header.csv"
    given.write_text("text,label\n")
    done = invoke("train", "classifier", "--dataset", given, "--output", tmp_path / "run", "--device", "cpu")
    one_line(done, 1, f"{given} has no rows")
    assert not (tmp_path / "run").exists()


def test_training_with_too_few_rows_per_class_says_so_and_how_to_fix_it(tmp_path):
    given = tmp_path / "many.csv"
    given.write_text("text,label\n" + "".join(f"review {i} of class {i // 3},c{i // 3}\n" for i in range(3_000)))
    done = invoke("train", "classifier", "--dataset", given, "--output", tmp_path / "run", "--device", "cpu")
    one_line(done, 1, "every class has fewer than the 10 rows", "1,000 classes, the largest with 3 rows", "at least 10 rows")


@pytest.mark.slow
def test_training_on_a_latin1_csv_is_our_one_line_and_no_log_line_of_datasets(tmp_path):
    given = tmp_path / "latin1.csv"
    given.write_bytes("text,label\ncaf\xe9,a\ncr\xe8me,b\n".encode("latin-1"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    command = [
        sys.executable,
        "-m",
        "nlp_lstm",
        "train",
        "classifier",
        "--dataset",
        str(given),
        "--output",
        str(tmp_path / "run"),
    ]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [f"error: {given}: not UTF-8 text; convert it with iconv -f ITS-ENCODING -t utf-8"]


@pytest.fixture(scope="module")
def sentiment():
    return nlp_lstm.load_model(nlp_lstm.shipped_model("classifier"), kind="classifier")


def test_inspect_input_gets_the_same_text_check(tmp_path):
    """inspect --input reads its file through the check every input gets: NUL bytes and non-UTF-8 are one line."""
    binary, latin = tmp_path / "binary.txt", tmp_path / "latin.txt"
    binary.write_bytes(b"ROMEO:\0 what light")
    latin.write_bytes("caf\xe9".encode("latin-1"))
    for path, message in ((binary, "holds NUL bytes"), (latin, "is not UTF-8 text")):
        result = CliRunner().invoke(app, ["inspect", "--input", str(path), "--json"])
        assert result.exit_code == 1, result.output
        assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
