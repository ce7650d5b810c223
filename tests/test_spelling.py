"""The speller (nlp_lstm.spelling) and a WordPiece tokenizer that carries one."""

import json
import random
from pathlib import Path

import pytest

from nlp_lstm.behaviour.perturb import delete_character, swap_characters
from nlp_lstm.spelling import MEMO_LIMIT, Speller, SpellingError, one_edit
from nlp_lstm.tokenizer import PretrainedTokenizer, TokenizerError, load_tokenizer

SHIPPED_TOKENIZER = "checkpoints/sentiment/tokenizer.json"
COUNTS = {"terrible": 50, "terrific": 40, "great": 90, "grate": 2, "movie": 200, "detest": 3, "amuse": 4}


def test_one_edit_reaches_every_single_edit_and_nothing_else():
    edits = one_edit("word")
    assert {"wrod", "wod", "wordy", "ward", "swords"[:5]} <= edits  # swap, drop, add, change, add in front
    assert "word" not in edits and "wrdo" not in edits  # itself, and two edits away
    assert len(edits) == len(set(edits))
    assert all(abs(len(e) - 4) <= 1 for e in edits)


def test_a_misspelt_word_becomes_the_most_frequent_word_one_edit_away():
    speller = Speller(COUNTS)
    assert speller.correct("A terrbile movie.") == "A terrible movie."
    assert speller.correct("A terible mvoie.") == "A terrible movie."
    assert speller.correct("grat") == "great"  # 'great' (90) over 'grate' (2), both one edit away
    assert speller.correct("Terrbile!") == "Terrible!" and speller.correct("TERRBILE") == "TERRIBLE"


def test_known_short_foreign_and_far_words_are_left_alone():
    speller = Speller(COUNTS, vocabulary=["grea", "##ble"])
    assert speller.correct("grate movie") == "grate movie"  # known, however rare
    assert speller.correct("grea") == "grea"  # a whole word of the vocabulary
    assert speller.correct("gret") == "great" and Speller({"only": 5}).correct("ony") == "only"  # three letters are enough ...
    assert Speller({"on": 5, "in": 9}).correct("n") == "n"  # ... one or two are too few to choose well
    assert Speller(COUNTS, min_length=5).correct("gret") == "gret"  # a first speller's files say 4
    assert speller.correct("terrïble") == "terrïble"  # a letter outside a-z
    assert speller.correct("xyzzyq") == "xyzzyq"  # nothing one edit away
    assert speller.correct("b4 1999 n0w") == "b4 1999 n0w"


def test_a_known_word_with_a_common_ending_is_not_corrected_into_another():
    """'detested' is one edit from nothing here, but 'detesting' would not be 'detest' -> it is known by its stem."""
    speller = Speller({**COUNTS, "detected": 80, "amused": 1}, vocabulary=["bae"])
    assert speller.correct("detested") == "detested"  # not 'detected'
    assert speller.correct("amusing") == "amusing"  # 'amuse' without its e, plus 'ing'
    assert speller.correct("detcted") == "detected"
    assert Speller({"badly": 9}, vocabulary=["bae"]).correct("baely") == "badly"  # a vocabulary token is no stem


def test_build_counts_the_words_of_the_texts_and_keeps_the_frequent_ones():
    speller = Speller.build(["A great film, great!", "great fun", "a rare word"], min_count=2)
    assert speller.counts == {"great": 3, "a": 2}
    assert speller.correct("graet") == "great" and speller.correct("rare wrod") == "rare wrod"


def test_the_dictionary_round_trips_and_a_malformed_one_is_refused():
    speller = Speller(COUNTS, vocabulary=["movie", "film"])
    data = json.loads(json.dumps(speller.to_dict()))
    assert data["words"][0] == "movie"  # most frequent first
    assert Speller.from_dict(data, ["movie", "film"]) == speller
    for bad in (
        [],
        {"min_length": 4, "words": ["a"], "counts": []},
        {"min_length": 4, "words": ["a"], "counts": [0]},
        {"min_length": 4, "words": ["a"], "counts": [True]},
        {"min_length": 0, "words": ["a"], "counts": [1]},
        {"min_length": True, "words": ["a"], "counts": [1]},
        {"min_length": 4, "words": [1], "counts": [1]},
    ):
        with pytest.raises(SpellingError, match="malformed speller"):
            Speller.from_dict(bad)


def test_the_memo_of_unknown_words_stays_bounded():
    assert Speller(COUNTS).memo_limit == MEMO_LIMIT
    speller = Speller(COUNTS, memo_limit=50)
    rng = random.Random(0)
    sizes = []
    for _ in range(120):
        speller.correct_word("".join(rng.choice("qxzjv") for _ in range(8)))
        sizes.append(len(speller._memo))
    assert max(sizes) == 50 and sizes[-1] < 50  # filled to the limit, then emptied and filled again
    assert speller.correct("A terrbile movie.") == "A terrible movie."  # and still correcting


def test_a_wordpiece_tokenizer_with_a_speller_reads_typos_as_the_words_and_saves_it(tmp_path):
    plain = load_tokenizer(SHIPPED_TOKENIZER)
    assert isinstance(plain, PretrainedTokenizer) and plain.speller is None
    texts = ["An utterly terrible film, though the soundtrack is wonderful.", "I loved every minute of this movie."]
    speller = Speller.build(texts * 3, plain.whole_words())
    spelled = plain.with_speller(speller)
    rng = random.Random(1)
    for text in texts:
        for change in (delete_character, swap_characters):
            typo = change(text, rng)
            assert plain.encode(typo) != plain.encode(text)  # the typo changes the pieces ...
            assert spelled.encode(typo) == spelled.encode(text) == plain.encode(text), typo  # ... and is put right
            assert [a.tolist() for a in spelled.encode_batch([typo])] == [plain.encode(text)]
    spelled.save(tmp_path / "tokenizer.json")
    assert list(json.loads((tmp_path / "tokenizer.json").read_text()))[-1] == "tokenizer"  # the fast reader's layout
    loaded = load_tokenizer(tmp_path / "tokenizer.json")
    assert loaded == spelled and loaded.speller == speller
    assert plain.with_speller(None).to_dict() == plain.to_dict()


def test_a_malformed_speller_in_a_tokenizer_file_is_a_one_line_error(tmp_path):
    data = load_tokenizer(SHIPPED_TOKENIZER).to_dict()
    data = {"type": data["type"], "pad_id": data["pad_id"], "spelling": {"words": "oops"}, "tokenizer": data["tokenizer"]}
    (tmp_path / "tokenizer.json").write_text(json.dumps(data))
    with pytest.raises(TokenizerError, match="malformed speller"):
        load_tokenizer(tmp_path / "tokenizer.json")


def test_a_saved_model_keeps_its_speller_and_info_says_so(tmp_path):
    import dataclasses

    import nlp_lstm
    from nlp_lstm.catalog import model_info

    shipped = nlp_lstm.load_model("sentiment")
    speller = Speller.build(["a terrible film"] * 3, shipped.tokenizer.whole_words())
    nlp_lstm.save_model(dataclasses.replace(shipped, tokenizer=shipped.tokenizer.with_speller(speller)), tmp_path / "spelled")
    loaded = nlp_lstm.load_model(tmp_path / "spelled")
    assert loaded.tokenizer.speller == speller
    assert [p.probabilities for p in nlp_lstm.classify(loaded, ["a terrbile film"])] == [
        p.probabilities for p in nlp_lstm.classify(shipped, ["a terrible film"])
    ]
    assert model_info(tmp_path / "spelled")["speller"] == "corrects typos against 3 words (one edit)"
    assert ("speller" in model_info(Path("checkpoints/sentiment"))) == (shipped.tokenizer.speller is not None)


def test_train_classifier_with_speller_saves_one_built_from_its_training_split(tmp_path, reviews_csv):
    from typer.testing import CliRunner

    import nlp_lstm
    from nlp_lstm.cli import app

    common = ["train", "classifier", "--dataset", str(reviews_csv), "--text-column", "review", "--label-column", "sentiment"]
    shape = ["--vocab-size", "500", "--max-length", "48", "--embedding-dim", "16", "--hidden-size", "16", "--epochs", "1"]
    run = CliRunner().invoke(app, [*common, *shape, "--speller", "--device", "cpu", "--output", str(tmp_path / "run")])
    assert run.exit_code == 0, run.output
    saved = nlp_lstm.load_model(tmp_path / "run" / "best")
    speller = saved.tokenizer.speller
    assert saved.tokenizer.kind == "bpe" and speller is not None
    train = nlp_lstm.load_labelled_splits(str(reviews_csv), text_column="review", label_column="sentiment").train
    assert speller == Speller.build(train.texts, saved.tokenizer.whole_words())  # the training split's words only
    word = max((w for w in speller.counts if len(w) >= 6), key=speller.counts.get)
    typo = word[0] + word[2] + word[1] + word[3:]
    assert saved.tokenizer.encode(f"a {typo} film") == saved.tokenizer.encode(f"a {word} film")
    assert json.loads((tmp_path / "run" / "best" / "training.json").read_text())["train_config"]["speller"] is True
    assert "speller = true" in (tmp_path / "run" / "run.toml").read_text()
    refused = CliRunner().invoke(app, [*common, *shape, "--tokenizer", "char", "--speller", "--output", str(tmp_path / "c")])
    assert refused.exit_code != 0 and not (tmp_path / "c").exists()
    assert "--speller needs a subword tokenizer" in refused.output and "Traceback" not in refused.output
