import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nlp_lstm.tokenizer import UNK_TEXT, CharTokenizer, TokenizerError, load_tokenizer


def test_build_orders_by_frequency_and_reserves_pad_and_unk():
    tok = CharTokenizer.build(["aab", "a"])
    assert tok.chars == ["a", "b"]
    assert tok.encode("ab") == [2, 3]
    assert tok.pad_id == 0 and tok.unk_id == 1 and tok.vocab_size == 4


def test_unicode_round_trip_and_unknown_characters():
    text = "naïve café — 😀 مرحبا e\u0301 \x00 end"
    tok = CharTokenizer.build([text])
    assert tok.decode(tok.encode(text)) == text
    ids = tok.encode("zq😀")
    assert ids[:2] == [tok.unk_id, tok.unk_id]
    assert tok.decode(ids) == UNK_TEXT * 2 + "😀"


def test_vectorised_encoding_matches_per_character_lookup(sonnets_text):
    tok = CharTokenizer.build([sonnets_text[:5000]])
    slow = [tok._index.get(c, tok.unk_id) for c in sonnets_text]
    assert tok.encode(sonnets_text) == slow


def test_save_and_load(tmp_path):
    tok = CharTokenizer.build(["hello, wörld"])
    tok.save(tmp_path / "tokenizer.json")
    assert load_tokenizer(tmp_path / "tokenizer.json") == tok


def test_bad_files_raise_clear_errors(tmp_path):
    with pytest.raises(TokenizerError, match="missing"):
        load_tokenizer(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(TokenizerError, match="not valid JSON"):
        load_tokenizer(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"type": "wordpiece"}))
    with pytest.raises(TokenizerError, match="unknown tokenizer type 'wordpiece'"):
        load_tokenizer(tmp_path / "other.json")


def test_empty_corpus_is_refused():
    with pytest.raises(TokenizerError, match="empty text"):
        CharTokenizer.build(["", ""])


@given(st.text(min_size=1))
def test_round_trip_on_arbitrary_unicode_within_the_vocabulary(text):
    tok = CharTokenizer.build([text])
    assert tok.decode(tok.encode(text)) == text
