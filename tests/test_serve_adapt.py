"""POST /v1/generate with "adapt": a real server with a small trained generator, adapting per request, isolated."""

import json
import threading
import time

import pytest

httpx = pytest.importorskip("httpx", reason="the test extra has httpx")
pytest.importorskip("fastapi", reason="the test extra has the serve extra's fastapi and uvicorn")

from test_serve import Served, post  # noqa: E402

import nlp_lstm  # noqa: E402

pytestmark = pytest.mark.slow
SAMPLED = {"prompt": "the ", "length": 300, "temperature": 1.0, "seed": 3}  # long enough for small changes to show
SAME = nlp_lstm.SampleConfig(length=300, temperature=1.0, seed=3)
MINE = "the cat sat on the mat. " * 80


@pytest.fixture(scope="module")
def generator(trained_lm_dir):
    return trained_lm_dir  # conftest's small model, trained for 60 steps on the sonnets


@pytest.fixture(scope="module")
def served(generator):
    server = Served("--generator", generator, "--max-adapt-chars", 2_000)
    yield server
    server.stop()


def adapted_answer(served, body, seconds=120):
    """The answer once the server has its statistics: the first request that adapts starts gathering them (503)."""
    deadline = time.monotonic() + seconds
    while True:
        answer = post(served, "/v1/generate", body)
        if answer.status_code != 503 or time.monotonic() > deadline:
            return answer
        assert "gathering the statistics" in answer.json()["error"]
        time.sleep(0.5)


def test_a_request_that_adapts_writes_what_the_library_writes_and_others_are_untouched(served, generator):
    first = adapted_answer(served, {**SAMPLED, "adapt": MINE})
    assert first.status_code == 200, first.text
    local = nlp_lstm.adapt(nlp_lstm.load_model(generator), MINE)
    expected = nlp_lstm.generate(local, "the ", SAME)
    assert first.json()["continuation"] == expected
    plain = nlp_lstm.generate(nlp_lstm.load_model(generator), "the ", SAME)
    assert expected != plain  # adapting changed what it writes
    answers = {}

    def ask(name, body):
        answers[name] = post(served, "/v1/generate", body).json()["continuation"]

    threads = [threading.Thread(target=ask, args=("adapted", {**SAMPLED, "adapt": MINE}))]
    threads += [threading.Thread(target=ask, args=(f"plain{i}", SAMPLED)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert answers == {"adapted": expected, "plain0": plain, "plain1": plain}  # nobody saw another's weights


def test_a_stream_adapts_too(served):
    assert adapted_answer(served, {**SAMPLED, "adapt": MINE}).status_code == 200
    with httpx.stream("POST", served.url + "/v1/generate", json={**SAMPLED, "adapt": MINE, "stream": True}, timeout=120) as reply:
        body = reply.read().decode()
    assert reply.status_code == 200 and body.rstrip().endswith("event: done\ndata: {}"), body


@pytest.mark.parametrize(
    "adapt, status, message",
    [
        ("x" * 2_001, 413, "adapt has 2,001 characters; at most 2,000"),
        ("a\ud800b", 400, "adapt holds a lone surrogate"),
        ("x", 400, "adapt needs"),
    ],
)
def test_bad_adapt_text_is_refused_naming_the_field(served, adapt, status, message):
    body = json.dumps({**SAMPLED, "adapt": adapt})  # \u escapes: how JSON carries a lone surrogate
    answer = httpx.post(served.url + "/v1/generate", content=body, headers={"content-type": "application/json"}, timeout=60)
    assert answer.status_code == status and answer.json()["error"].startswith(message), answer.text
