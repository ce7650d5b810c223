"""nlp-lstm serve end to end: a real server process on a free port, driven over HTTP (and by Chromium)."""

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

httpx = pytest.importorskip("httpx", reason="the test extra has httpx")
pytest.importorskip("fastapi", reason="the test extra has the serve extra's fastapi and uvicorn")

import nlp_lstm  # noqa: E402
from nlp_lstm.inspection import ink_rgb  # noqa: E402

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Served:
    def __init__(self, *options):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
        command = [sys.executable, "-m", "nlp_lstm", "serve", "--port", str(self.port), *map(str, options)]
        self.process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.communicate()[1]
            try:
                if httpx.get(self.url + "/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.2)
        raise AssertionError("the server did not start")

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.communicate(timeout=60)


@pytest.fixture(scope="module")
def server():
    served = Served("--max-texts", 8, "--max-length", 1500, "--max-chars", 300, "--max-body-bytes", 20_000)
    yield served
    served.stop()


@pytest.fixture(scope="module")
def models():
    return {kind: nlp_lstm.load_model(nlp_lstm.shipped_model(kind), kind=kind) for kind in ("lm", "classifier")}


def post(served, path, body, **options):
    return httpx.post(served.url + path, json=body, timeout=60, **options)


def rgb(css):
    return tuple(int(v) for v in re.findall(r"\d+", css))


def test_every_endpoint_answers_as_the_python_api_does(server, models):
    assert httpx.get(server.url + "/health").json()["status"] == "ok"
    listed = {m["kind"]: m for m in httpx.get(server.url + "/v1/models").json()}
    assert listed["classifier"]["labels"] == ["negative", "positive"] and listed["classifier"]["shipped"]
    assert listed["lm"]["validation"]["bits_per_char"] > 0
    texts = ["a gorgeous, heartfelt film", "a tedious mess", "fine"]
    answered = post(server, "/v1/classify", {"texts": texts}).json()["predictions"]
    expected = nlp_lstm.classify(models["classifier"], texts)
    assert [p["label"] for p in answered] == [p.label for p in expected]
    assert [p["probabilities"]["positive"] for p in answered] == pytest.approx([p.probabilities["positive"] for p in expected])
    assert [p["index"] for p in answered] == [0, 1, 2]
    blank = post(server, "/v1/classify", {"texts": ["fine", " "]}).json()["predictions"][1]
    assert blank == {"index": 1, "label": None, "probabilities": {}}  # as nlp_lstm.classify: a blank text gets no label
    request = {"prompt": "ROMEO:", "length": 60, "temperature": 0.7, "seed": 3}
    config = nlp_lstm.SampleConfig(length=60, temperature=0.7, seed=3)
    continuation = post(server, "/v1/generate", request).json()["continuation"]
    assert continuation == nlp_lstm.generate(models["lm"], "ROMEO:", config)
    with httpx.stream("POST", server.url + "/v1/generate", json={**request, "stream": True}, timeout=60) as streamed:
        assert streamed.headers["content-type"].startswith("text/event-stream")
        events = [e for e in streamed.read().decode().split("\n\n") if e]
    assert events[-1] == "event: done\ndata: {}"
    assert "".join(json.loads(e.removeprefix("data: "))["text"] for e in events[:-1]) == continuation
    page = httpx.get(server.url + "/v1/inspect", params={"text": "But, soft!"}).text
    assert page.lower().startswith("<!doctype html>") and "LSTM gates" in page
    assert 'id="generate"' in httpx.get(server.url + "/").text


def test_limits_are_clear_json_errors_with_the_right_status(server):
    cases = [
        ({"texts": ["x"] * 9}, 413, "at most 8 per request"),
        ({"texts": ["x" * 301]}, 413, "at most 300 each"),
        ({"texts": []}, 422, "texts:"),
        ({"text": ["x"]}, 422, "texts: Field required"),
        ({"texts": ["x"], "model": "other"}, 422, "model: Extra inputs are not permitted"),
    ]
    for body, status, message in cases:
        answer = post(server, "/v1/classify", body)
        assert answer.status_code == status and message in answer.json()["error"], answer.text
    too_long = post(server, "/v1/generate", {"length": 1501})
    assert too_long.status_code == 413 and "at most 1,500 characters" in too_long.json()["error"]
    bad = post(server, "/v1/generate", {"temperature": -1})
    assert bad.status_code == 400 and bad.json() == {"error": "temperature must be >= 0 (0 = greedy), got -1.0"}
    big = httpx.post(server.url + "/v1/classify", content=b"x" * 30_000, headers={"content-type": "application/json"})
    assert big.status_code == 413 and "over 20,000 bytes" in big.json()["error"]


def test_an_error_about_a_value_names_it_as_the_request_spells_it(server):
    """The JSON field or query parameter, never the command line's option (--top-p)."""
    answers = {
        "prompt": post(server, "/v1/generate", {"prompt": "x" * 301}),
        "length": post(server, "/v1/generate", {"length": 1501}),
        "top_p": post(server, "/v1/generate", {"top_p": 2}),
        "top_k": post(server, "/v1/generate", {"top_k": -2}),
        "seed": post(server, "/v1/generate", {"seed": "soon"}),
        "stream": post(server, "/v1/generate", {"stream": "please"}),
        "text": httpx.get(server.url + "/v1/inspect", params={"text": "x" * 301}),
        "texts": post(server, "/v1/classify", {"texts": "one"}),
    }
    for field, answer in answers.items():
        error = answer.json()["error"]
        named = f"{field}:" if answer.status_code == 422 else f"{field} "  # pydantic's "field: ...", or our sentence
        assert answer.status_code in (400, 413, 422) and error.startswith(named), error
        assert "--" not in error, error


def test_the_schema_is_served_and_no_page_needs_a_cdn(server):
    """/docs and /redoc loaded Swagger UI and ReDoc from a CDN, blank offline: they are gone, /openapi.json stays."""
    for page in ("/docs", "/redoc", "/docs/oauth2-redirect"):
        answer = httpx.get(server.url + page)
        assert answer.status_code == 404 and answer.json() == {"error": "Not Found"}, page
    schema = httpx.get(server.url + "/openapi.json").json()
    routes = {"/", "/health", "/v1/models", "/v1/classify", "/v1/generate", "/v1/inspect"}
    assert set(schema["paths"]) == routes and schema["info"]["title"] == "nlp-lstm"
    wide = {**os.environ, "COLUMNS": "200"}
    served_help = subprocess.run([sys.executable, "-m", "nlp_lstm", "serve", "--help"], capture_output=True, text=True, env=wide)
    assert all(route in served_help.stdout for route in (*routes, "/openapi.json"))  # its --help lists every route


def test_concurrent_classify_requests_share_batches():
    served = Served("--batch-wait-ms", 200)
    try:
        before = httpx.get(served.url + "/health").json()["batches"]
        answers = []
        threads = [
            threading.Thread(target=lambda: answers.append(post(served, "/v1/classify", {"texts": ["good"]}))) for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [a.status_code for a in answers] == [200] * 8
        assert httpx.get(served.url + "/health").json()["batches"] - before < 8  # some requests were merged
    finally:
        served.stop()


def test_a_full_queue_answers_503_and_a_key_guards_the_api():
    served = Served("--queue-limit", 1, "--api-key", "s3cret")
    key = {"Authorization": "Bearer s3cret"}
    try:
        assert httpx.get(served.url + "/v1/models").status_code == 401
        assert httpx.get(served.url + "/v1/models", headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert httpx.get(served.url + "/v1/models", headers=key).status_code == 200
        assert httpx.get(served.url + "/health").status_code == 200  # open, for load balancers
        answers = []
        work = lambda: answers.append(post(served, "/v1/generate", {"length": 1200, "seed": 0}, headers=key))  # noqa: E731
        threads = [threading.Thread(target=work) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        codes = sorted(a.status_code for a in answers)
        assert codes[0] == 200 and set(codes) <= {200, 503} and 503 in codes, codes
        assert all("busy" in a.json()["error"] for a in answers if a.status_code == 503)
    finally:
        served.stop()


def test_a_client_that_leaves_stops_its_generation(server):
    with httpx.stream("POST", server.url + "/v1/generate", json={"length": 1500, "stream": True}, timeout=60) as streamed:
        next(streamed.iter_bytes())  # the first characters arrived; then the client goes away
    deadline = time.monotonic() + 10
    while httpx.get(server.url + "/health").json()["generating"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert httpx.get(server.url + "/health").json()["generating"] == 0


def test_sigterm_lets_the_request_in_flight_finish_then_stops():
    served = Served()
    answers = []
    request = threading.Thread(target=lambda: answers.append(post(served, "/v1/generate", {"length": 1500, "seed": 1})))
    request.start()
    # SIGTERM once the generation is computing (the server says so), not after a guessed half second.
    deadline = time.monotonic() + 60
    while not httpx.get(served.url + "/health").json()["generating"]:
        assert time.monotonic() < deadline and not answers, "the generation did not start, or ended before it was seen"
        time.sleep(0.01)
    served.process.send_signal(signal.SIGTERM)
    request.join(timeout=60)
    assert answers and answers[0].status_code == 200 and len(answers[0].json()["continuation"]) > 100
    # After its graceful shutdown uvicorn re-raises the signal, so the process ends as SIGTERM's own would.
    assert served.process.wait(timeout=60) in (0, -signal.SIGTERM)
    with pytest.raises(httpx.TransportError):
        httpx.get(served.url + "/health", timeout=2)


@contextlib.contextmanager
def chromium_page(served):
    """A page of Debian's Chromium at the playground of ``served``, with the errors and requests it made."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        pytest.skip("no Chromium installed (apt-get install chromium; .ci/run does)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra has it)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, headless=True, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1000, "height": 900})
            page.errors, page.requests = [], []
            page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: page.errors.append(str(e)))
            page.on("request", lambda r: page.requests.append(r))
            page.goto(served.url + "/")
            yield page
        finally:
            browser.close()


def sent(page, path):
    return [json.loads(r.post_data) for r in page.requests if r.url.endswith(path)]


def test_the_playground_generates_classifies_and_shows_the_gates_in_chromium(server, tmp_path):
    with chromium_page(server) as page:
        assert not page.is_visible("#key") and page.is_visible("#auth summary")  # folded away: no key is needed
        page.fill("#prompt", "JULIET:")
        page.fill("#length", "80")
        page.fill("#top-p", "0.9")
        page.click("#generate")
        page.wait_for_selector("body[data-generated=yes]", timeout=60_000)
        assert page.text_content("#output").startswith("JULIET:") and len(page.text_content("#output")) > 60
        assert sent(page, "/v1/generate")[0]["top_p"] == 0.9
        page.fill("#text", "   ")
        assert page.is_disabled("#classify")
        page.press("#text", "Enter")  # a blank box does nothing: no request, no error
        page.fill("#text", "a tedious, joyless mess")
        page.click("#classify")
        page.wait_for_selector(".bar", timeout=30_000)
        assert page.text_content("#label") == "negative" and page.locator(".bar").count() == 2
        assert sent(page, "/v1/classify") == [{"texts": ["a tedious, joyless mess"]}] and page.text_content("#error") == ""
        page.click("#gates")
        frame = page.frame_locator("#gate-view")
        frame.locator("#text span.tok").first.wait_for(timeout=60_000)
        styles = "els => els.map(e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).color])"
        colours = [(rgb(back), rgb(ink)) for back, ink in frame.locator("#text span.tok").evaluate_all(styles)]
        assert all(ink == ink_rgb(back) for back, ink in colours) and {ink for _, ink in colours} == {(0, 0, 0), (255, 255, 255)}
        page.screenshot(path=str(tmp_path / "playground.png"), full_page=True)  # looked at when the page changes
        urls = [r.url for r in page.requests]
        assert page.errors == [] and all(url.startswith(server.url) or url == "about:srcdoc" for url in urls), urls


def test_the_playground_unfolds_the_key_box_when_the_server_wants_a_key(tmp_path):
    served = Served("--api-key", "s3cret")
    try:
        with chromium_page(served) as page:
            assert not page.is_visible("#key")
            page.click("#classify")
            page.wait_for_selector("#key", state="visible", timeout=30_000)
            assert page.text_content("#error").startswith("This server needs its API key")
            assert page.evaluate("document.activeElement.id") == "key"
            page.screenshot(path=str(tmp_path / "playground-401.png"), full_page=True)
            page.fill("#key", "wrong")
            page.click("#classify")
            page.wait_for_function("document.getElementById('error').textContent.includes('refused this API key')")
            page.fill("#key", "s3cret")
            page.click("#classify")
            page.wait_for_selector(".bar", timeout=30_000)
            assert page.text_content("#error") == "" and page.text_content("#label") == "positive"
            keys = [r.headers.get("authorization") for r in page.requests if r.url.endswith("/v1/classify")]
            assert keys == [None, "Bearer wrong", "Bearer s3cret"]
            assert all("status of 401" in error for error in page.errors), page.errors  # Chromium's log of each 401
    finally:
        served.stop()
