"""The token store: ids encoded once per tokenizer, memory-mapped back, identical to encoding in memory."""

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from nlp_lstm.cache import CACHE_ENV
from nlp_lstm.data import token_store
from nlp_lstm.data.batching import LMBatches, encode_stream, encode_texts
from nlp_lstm.data.sources import load_text_splits
from nlp_lstm.tokenizer import CharTokenizer, SubwordTokenizer


@pytest.fixture
def store(tmp_path, monkeypatch):
    root = tmp_path / "store"
    monkeypatch.setenv(CACHE_ENV, str(root))
    return root


def stored_files(root):
    return sorted(p.name for p in root.rglob("*") if p.is_file())


@settings(max_examples=300, deadline=None)
@given(texts=st.lists(st.text(alphabet="ab \n", max_size=60), max_size=6), limit=st.integers(1, 40))
def test_chunks_rejoin_to_the_joined_text_and_respect_the_limit(texts, limit):
    saved = token_store.CHUNK_CHARS
    token_store.CHUNK_CHARS = limit
    try:
        chunks = list(token_store._text_chunks(texts))
    finally:
        token_store.CHUNK_CHARS = saved
    assert "".join(chunks) == "\n".join(texts)
    assert all(0 < len(chunk) <= limit for chunk in chunks)


def test_stream_equals_one_whole_encode_and_is_read_back_from_disk(store, shakespeare, monkeypatch):
    texts = shakespeare.train[:5]
    tokenizer = CharTokenizer.build(texts)
    monkeypatch.setattr(token_store, "CHUNK_CHARS", 50_000)  # several chunks, cut between texts
    ids = token_store.stream_ids(texts, tokenizer)
    assert isinstance(ids, np.memmap) and ids.dtype == np.uint16
    assert np.array_equal(ids, tokenizer.encode_array("\n".join(texts)))
    assert len(stored_files(store)) == 1

    def fail(text):
        raise AssertionError("encoded again although the store holds these ids")

    monkeypatch.setattr(tokenizer, "encode_array", fail)
    again = token_store.stream_ids(texts, tokenizer)
    assert np.array_equal(again, ids) and len(stored_files(store)) == 1


def test_other_text_or_tokenizer_gets_its_own_entry(store, shakespeare):
    texts = shakespeare.validation
    char = CharTokenizer.build(shakespeare.train[:3])
    token_store.stream_ids(texts, char)
    token_store.stream_ids(texts[:2], char)
    token_store.stream_ids(texts, CharTokenizer.build(shakespeare.train[3:6]))
    token_store.stream_ids(["ab", "c"], char)
    token_store.stream_ids(["a", "bc"], char)  # the same characters, other texts: joined with a newline elsewhere
    assert len(stored_files(store)) == 5


def test_subword_stream_decodes_to_the_text(store, shakespeare, monkeypatch):
    texts = [t[:20_000] for t in shakespeare.train[:4]]
    tokenizer = SubwordTokenizer.build(texts, vocab_size=500)
    monkeypatch.setattr(token_store, "CHUNK_CHARS", 30_000)
    ids = token_store.stream_ids(texts, tokenizer)
    assert tokenizer.decode(ids.tolist()) == "\n".join(texts)


def test_store_off_or_unwritable_still_gives_the_ids(tmp_path, monkeypatch, shakespeare):
    texts = shakespeare.validation[:1]
    tokenizer = CharTokenizer.build(texts)
    expected = tokenizer.encode_array(texts[0])
    monkeypatch.setenv(CACHE_ENV, "off")
    off = token_store.stream_ids(texts, tokenizer)
    assert not isinstance(off, np.memmap) and np.array_equal(off, expected)
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    monkeypatch.setenv(CACHE_ENV, str(blocker / "store"))  # cannot be created, even by root
    assert np.array_equal(token_store.stream_ids(texts, tokenizer), expected)


def test_an_interrupted_encode_leaves_no_entry(store, shakespeare, monkeypatch):
    texts = shakespeare.train[:3]
    tokenizer = CharTokenizer.build(texts)
    monkeypatch.setattr(token_store, "CHUNK_CHARS", 10_000)
    calls = []
    real = tokenizer.encode_array

    def interrupted(text):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(text)

    monkeypatch.setattr(tokenizer, "encode_array", interrupted)
    with pytest.raises(KeyboardInterrupt):
        token_store.stream_ids(texts, tokenizer)
    assert stored_files(store) == []
    monkeypatch.setattr(tokenizer, "encode_array", real)
    assert np.array_equal(token_store.stream_ids(texts, tokenizer), real("\n".join(texts)))


def test_classifier_rows_equal_encode_texts_and_depend_on_the_length_policy(store, reviews, monkeypatch):
    texts = reviews.train.texts[:300]
    tokenizer = SubwordTokenizer.build(texts, vocab_size=400)
    monkeypatch.setattr(token_store, "ROWS_PER_CHUNK", 64)

    def rows(max_length, keep):
        cut = lambda batch: encode_texts(batch, tokenizer, max_length, keep)  # noqa: E731
        return token_store.row_ids(texts, tokenizer, cut, f"{max_length} {keep}")

    for max_length, keep in [(12, "end"), (12, "start"), (400, "end")]:
        stored = rows(max_length, keep)
        assert [r.tolist() for r in stored] == [r.tolist() for r in encode_texts(texts, tokenizer, max_length, keep)]
    assert len(stored_files(store)) == 6  # ids and offsets for each policy
    assert [r.tolist() for r in rows(12, "end")] == [r.tolist() for r in encode_texts(texts, tokenizer, 12, "end")]


def test_lm_batches_read_the_stored_stream_like_an_in_memory_one(store, shakespeare):
    tokenizer = CharTokenizer.build(shakespeare.validation)
    stored = encode_stream(shakespeare.validation, tokenizer)
    in_memory = torch.from_numpy(tokenizer.encode_array("\n".join(shakespeare.validation)))
    assert stored.dtype == torch.uint16
    for epoch in (0, 1):
        a = LMBatches(stored, 8, 64).epoch(epoch, seed=3)
        b = LMBatches(in_memory, 8, 64).epoch(epoch, seed=3)
        assert all(torch.equal(x.long(), y) for x, y in zip(a, b))


def test_large_local_corpus_rows_are_read_from_arrow(store, tmp_path, shakespeare):
    path = tmp_path / "works.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in shakespeare.train[:30]), encoding="utf-8")
    splits = load_text_splits(str(path), seed=0)
    train = list(splits.train)
    tokenizer = CharTokenizer.build(train)
    assert torch.equal(encode_stream(splits.train, tokenizer).long(), torch.from_numpy(tokenizer.encode_array("\n".join(train))))


def test_a_bpe_vocabulary_is_trained_once_for_the_same_texts(store, reviews, monkeypatch):
    texts = reviews.train.texts[:400]
    first = token_store.cached_tokenizer("bpe", texts, 300)
    assert first == SubwordTokenizer.build(texts, vocab_size=300)

    def fail(*args, **kwargs):
        raise AssertionError("trained again although the store holds this vocabulary")

    monkeypatch.setattr(token_store, "train_tokenizer", fail)
    assert token_store.cached_tokenizer("bpe", texts, 300) == first
    with pytest.raises(AssertionError, match="trained again"):
        token_store.cached_tokenizer("bpe", texts, 301)  # another size is another vocabulary
    (entry,) = (store / "tokenizers").iterdir()
    entry.write_text("{damaged")
    monkeypatch.undo()
    monkeypatch.setenv(CACHE_ENV, str(store))
    assert token_store.cached_tokenizer("bpe", texts, 300) == first  # rebuilt and replaced
    assert json.loads(entry.read_text())["type"] == "bpe"
