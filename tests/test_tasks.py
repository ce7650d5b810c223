"""The table of tasks: its rows name real code, and the saved spellings of the kinds never change."""

import pytest

from nlp_lstm import tasks


def test_saved_kinds_keep_their_spelling():
    # Model directories on disk record these words; renaming one would orphan every saved model.
    assert (tasks.LM, tasks.CLASSIFIER, tasks.TEACHER) == ("lm", "classifier", "teacher")
    assert tasks.model_kinds()[:2] == ("lm", "classifier") and tasks.TEACHER not in tasks.model_kinds()
    assert tasks.shipped_models() == {"lm": "shakespeare-char", "classifier": "sentiment"}


@pytest.mark.parametrize("kind", tasks.kinds())
def test_every_row_names_code_that_exists(kind):
    task = tasks.get(kind)
    assert isinstance(tasks.model_class(kind), type)
    for name in (task.recipe, task.evaluation):
        assert callable(tasks.resolve(name)), name
    assert task.headline.format(0.5)
    assert task.loads_as is None or task.loads_as in tasks.model_kinds()


def test_a_kind_is_registered_once():
    with pytest.raises(ValueError, match="registered already"):
        tasks.register(tasks.get(tasks.LM))
    assert tasks.called("regression") == "'regression'" and tasks.find(None) is None
