import json

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from nlp_lstm.errors import NlpLstmError
from nlp_lstm.tokenizer import (
    UNK_TEXT,
    CharTokenizer,
    PretrainedTokenizer,
    SubwordTokenizer,
    Tokenizer,
    TokenizerError,
    load_tokenizer,
)


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


@pytest.fixture
def every_kind(tmp_path):
    """One tokenizer of each kind, built here on a few words: characters, byte-level BPE, a WordPiece vocabulary."""
    from tokenizers import BertWordPieceTokenizer

    texts = ["the cat sat on the mat", "a dog ran to the cat"] * 3
    wordpiece = BertWordPieceTokenizer(lowercase=True)
    wordpiece.train_from_iterator(texts, vocab_size=120, min_frequency=1)
    wordpiece.save(str(tmp_path / "wordpiece.json"))
    pretrained = PretrainedTokenizer.from_file(tmp_path / "wordpiece.json", pad_id=wordpiece.token_to_id("[PAD]"))
    return [CharTokenizer.build(texts), SubwordTokenizer.build(texts, 300), pretrained]


def test_every_kind_of_tokenizer_satisfies_the_declared_interface(every_kind):
    members = {name for name in vars(Tokenizer) if not name.startswith("_")} | set(Tokenizer.__annotations__)
    assert {"encode", "decode", "id_to_token", "vocab_size", "pad_id", "unk_id", "subword", "to_dict"} <= members
    for tokenizer in every_kind:
        assert not sorted(name for name in members if not hasattr(tokenizer, name)), tokenizer.kind
        ids = tokenizer.encode("the cat")
        assert tokenizer.decode(ids) == "the cat" and tokenizer.encode_array("the cat").tolist() == ids
        assert all(isinstance(tokenizer.id_to_token(i), str) for i in [*ids, tokenizer.pad_id, tokenizer.unk_id])
        assert tokenizer.id_to_token(tokenizer.vocab_size) is None
    assert [t.kind for t in every_kind] == ["char", "bpe", "wordpiece"]
    assert [t.subword for t in every_kind] == [False, True, True]
    char = every_kind[0]
    assert "".join(char.id_to_token(i) for i in char.encode("the cat")) == "the cat"


def test_word_vectors_go_only_to_a_tokenizer_that_declares_subwords(every_kind, tmp_path):
    from nlp_lstm.training.distillation import glove_embeddings

    vectors = tmp_path / "vectors.txt"
    vectors.write_text("cat 0.5 -0.5\n", encoding="utf-8")
    char, _, pretrained = every_kind
    with pytest.raises(NlpLstmError, match="needs a subword vocabulary"):
        glove_embeddings(vectors, char, torch.zeros(char.vocab_size, 2))
    table = glove_embeddings(vectors, pretrained, torch.zeros(pretrained.vocab_size, 2))
    row = pretrained.encode("cat")[0]
    assert table[row].tolist() != [0.0, 0.0] and table.abs().sum() == table[row].abs().sum()
