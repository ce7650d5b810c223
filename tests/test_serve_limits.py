"""The server's bounds, through a real server process on 127.0.0.1: every bad value, body, Host or connection
gets its status and one error shape, {"error": ...}, and the server stays healthy with nothing left computing."""

import json
import socket
import time

import pytest
import torch

httpx = pytest.importorskip("httpx", reason="the test extra has httpx")
pytest.importorskip("fastapi", reason="the test extra has the serve extra's fastapi and uvicorn")

from test_serve import Served  # noqa: E402

import nlp_lstm  # noqa: E402
from nlp_lstm.serve.guards import HostCheck  # noqa: E402

LONG = 1_000_000  # characters: minutes of generation, so a generation that was not stopped would be seen running


@pytest.fixture(scope="module")
def server():
    served = Served(
        "--max-body-bytes", 20_000, "--max-length", LONG, "--queue-limit", 4, "--timeout-s", 5,
        "--idle-timeout-s", 1, "--allowed-host", "rebound.example",
    )  # fmt: skip
    yield served
    served.stop()


def post(served, path, body, **options):
    """``body`` as JSON text with \\u escapes, so that a lone surrogate travels as JSON can carry it."""
    headers = {"content-type": "application/json", **options.pop("headers", {})}
    return httpx.post(served.url + path, content=json.dumps(body), headers=headers, timeout=60, **options)


def settled(served, seconds=30):
    """/health once nothing is in progress or computing, or as it is when ``seconds`` have passed."""
    deadline = time.monotonic() + seconds
    while True:
        health = httpx.get(served.url + "/health", timeout=10).json()
        if (health["active"] == 0 and health["generating"] == 0) or time.monotonic() > deadline:
            return health
        time.sleep(0.1)


def assert_healthy(served):
    health = settled(served)
    assert health["status"] == "ok" and health["active"] == 0 and health["generating"] == 0, health


def connect(served, data=b""):
    sock = socket.create_connection(("127.0.0.1", served.port), timeout=30)
    sock.sendall(data)
    return sock


def request_bytes(path, body):
    payload = json.dumps(body).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n\r\n"
    return head.encode() + payload


def read_response(sock):
    """The status and, when it has a length, the JSON body of the response on ``sock``."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection without an answer: {data!r}"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    length = int(headers.get("content-length", 0))
    while len(rest) < length:
        rest += sock.recv(65536)
    return int(lines[0].split()[1]), json.loads(rest[:length]) if length else None


BAD_VALUES = [
    ({"temperature": 1e308}, "temperature must be at most 100 (0 = greedy), got 1e+308"),
    ({"temperature": -1}, "temperature must be >= 0 (0 = greedy), got -1.0"),
    ({"top_p": 0}, "top_p must be in (0, 1] (1 = off), got 0.0"),
    ({"top_p": 1.5}, "top_p must be in (0, 1] (1 = off), got 1.5"),
    ({"top_k": -1}, "top_k must be >= 0 (0 = off), got -1"),
    ({"seed": 2**70}, f"seed must be an integer from 0 to 2^64 - 1, got {2**70}"),
    ({"seed": -(2**70)}, f"seed must be an integer from 0 to 2^64 - 1, got {-(2**70)}"),
    ({"seed": -1}, "seed must be an integer from 0 to 2^64 - 1, got -1"),
    ({"length": 0}, "length must be a positive integer, got 0"),
    ({"prompt": "ROMEO \ud800"}, "prompt holds a lone surrogate, U+D800, at index 6; send valid Unicode"),
]


@pytest.mark.slow
@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("body", "message"), BAD_VALUES)
def test_every_bad_value_is_a_400_naming_its_json_field(server, body, message, stream):
    answer = post(server, "/v1/generate", {"length": 20, **body, "stream": stream})
    assert answer.status_code == 400 and answer.json() == {"error": message}, answer.text
    assert "--" not in message
    assert_healthy(server)


@pytest.mark.slow
def test_a_lone_surrogate_among_texts_is_a_400_naming_which(server):
    answer = post(server, "/v1/classify", {"texts": ["fine", "\udc00 bad"]})
    assert answer.status_code == 400 and answer.json() == {
        "error": "texts[1] holds a lone surrogate, U+DC00, at index 0; send valid Unicode"
    }
    assert_healthy(server)


@pytest.mark.slow
def test_values_at_the_edges_of_their_ranges_work_as_their_limits(server):
    greedy = post(server, "/v1/generate", {"prompt": "ROMEO:", "length": 40, "temperature": 0}).json()["continuation"]
    for edge in ({"temperature": 1e-300}, {"top_p": 1e-300, "seed": 2**64 - 1}, {"top_p": 5e-324, "seed": 0}):
        answer = post(server, "/v1/generate", {"prompt": "ROMEO:", "length": 40, **edge})
        assert answer.status_code == 200 and answer.json()["continuation"] == greedy, (edge, answer.text)
    assert post(server, "/v1/generate", {"length": 5, "temperature": 100, "seed": 0}).status_code == 200


ERRORS = [
    ("GET", "/nope", {}, 404, "Not Found"),
    ("DELETE", "/v1/generate", {}, 405, "Method Not Allowed"),
    ("POST", "/v1/generate", {"content": b"{broken", "headers": {"content-type": "application/json"}}, 422, "the body is not valid JSON"),
    ("POST", "/v1/generate", {"content": b'{"prompt": "\xff"}', "headers": {"content-type": "application/json"}}, 422, "not JSON text in UTF-8"),
    ("POST", "/v1/generate", {"content": b"{}"}, 422, "send a JSON object, with the header Content-Type: application/json"),
    ("POST", "/v1/generate", {"json": [1, 2]}, 422, "body: Input should be a valid dictionary"),
    ("POST", "/v1/generate", {"json": {"temp": 1}}, 422, "temp: Extra inputs are not permitted"),
    ("POST", "/v1/generate", {"json": {"length": "long"}}, 422, "length: Input should be a valid integer"),
    ("POST", "/v1/generate", {"json": {"length": LONG + 1}}, 413, f"at most {LONG:,} characters per request"),
    ("GET", "/health", {"headers": {"host": "evil.example"}}, 400, "start it with --allowed-host evil.example"),
]  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("method", "path", "options", "status", "message"), ERRORS)
def test_every_error_has_one_shape(server, method, path, options, status, message):
    answer = httpx.request(method, server.url + path, timeout=60, **options)
    assert answer.status_code == status and list(answer.json()) == ["error"], answer.text
    assert message in answer.json()["error"]
    assert_healthy(server)


@pytest.mark.slow
def test_a_request_h11_cannot_parse_is_a_json_400(server):
    with connect(server, b"NOT HTTP AT ALL\r\n\r\n") as sock:
        assert read_response(sock) == (400, {"error": "not a valid HTTP/1.1 request"})
    assert_healthy(server)


@pytest.mark.slow
def test_only_its_own_host_names_are_answered(server):
    port = server.port
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", "rebound.example", "REBOUND.example."):
        assert httpx.get(server.url + "/health", headers={"host": host}).status_code == 200, host
    for path in ("/", "/v1/models", "/health"):
        answer = httpx.get(server.url + path, headers={"host": "attacker.example:8000"})
        assert answer.status_code == 400 and answer.json() == {
            "error": "Host 'attacker.example' is not a name this server answers to; start it with --allowed-host attacker.example"
        }


def test_host_names_follow_the_address_listened_on():
    everywhere = HostCheck("0.0.0.0", ())
    assert all(everywhere.allows(h) for h in (b"192.168.1.20:8000", b"[fe80::1]:80", b"localhost", socket.gethostname().encode()))
    assert not everywhere.allows(b"attacker.example")
    one = HostCheck("192.168.1.5", ())
    assert one.allows(b"192.168.1.5:8000") and not one.allows(b"localhost") and not one.allows(b"10.0.0.1")
    assert HostCheck("::1", ()).allows(b"[::1]:80") and HostCheck("127.0.0.1", ("*",)).allows(b"attacker.example")


@pytest.mark.slow
def test_a_chunked_body_is_refused_at_the_limit_not_read_whole(server):
    head = (
        b"POST /v1/classify HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    chunks = (b"2710\r\n" + b" " * 10_000 + b"\r\n") * 3  # 30,000 bytes, and the closing 0-chunk never comes
    with connect(server, head + chunks) as sock:  # a server that read the whole body would never answer
        assert read_response(sock) == (413, {"error": "request body over 20,000 bytes"})
    small = httpx.post(  # a chunked body under the limit is read as any other
        server.url + "/v1/classify",
        content=iter([b'{"texts": ', b'["a fine film"]}']),
        headers={"content-type": "application/json"},
    )
    assert small.status_code == 200 and len(small.json()["predictions"]) == 1
    assert_healthy(server)


@pytest.mark.slow
def test_idle_connections_and_slow_heads_are_closed(server):
    for data in (b"", b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n"):  # nothing at all; a head that never ends
        with connect(server, data) as sock:
            assert sock.recv(1) == b""  # closed by the server (--idle-timeout-s 1), long before the socket's 30 s
    assert_healthy(server)


@pytest.mark.slow
def test_the_queue_limit_holds_for_concurrent_streams_and_their_places_free_when_clients_leave(server):
    request = request_bytes("/v1/generate", {"length": LONG, "stream": True})
    socks = [connect(server, request) for _ in range(10)]  # sent together: admission must not race
    try:
        answers = [read_response(sock) for sock in socks]
        assert sorted(status for status, _ in answers) == [200] * 4 + [503] * 6, answers
        assert all(body["error"].startswith("busy: 4 requests in progress") for status, body in answers if status == 503)
        assert httpx.get(server.url + "/health").json()["active"] == 4
    finally:
        for sock in socks:
            sock.close()
    assert_healthy(server)  # minutes of generation each, had they not stopped


@pytest.mark.slow
def test_a_generation_stops_when_its_client_leaves_before_the_answer(server):
    with connect(server, request_bytes("/v1/generate", {"length": LONG})):
        deadline = time.monotonic() + 30
        while httpx.get(server.url + "/health").json()["generating"] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert httpx.get(server.url + "/health").json()["generating"] == 1
    assert_healthy(server)


@pytest.mark.slow
def test_a_request_over_its_time_is_a_504_and_its_generation_stops(server):
    answer = post(server, "/v1/generate", {"length": LONG})
    assert answer.status_code == 504 and answer.json() == {"error": "the request took more than 5 s; send less at once"}
    assert_healthy(server)


@pytest.fixture(scope="module")
def overflowing_model(tmp_path_factory):
    """A language model whose finite weights overflow its logits to infinity: it loads, and sampling fails."""
    from nlp_lstm.checkpoint import ModelBundle
    from nlp_lstm.config import ModelConfig
    from nlp_lstm.model import LanguageModel
    from nlp_lstm.tokenizer import CharTokenizer

    tokenizer = CharTokenizer.build(["From fairest creatures we desire increase"])
    model = LanguageModel(ModelConfig(vocab_size=tokenizer.vocab_size, embedding_dim=8, hidden_size=8, num_layers=1))
    with torch.no_grad():
        model.encoder.embedding.weight.fill_(1.0)
        model.encoder.lstm.weight_ih_l0.fill_(10.0)  # every gate open: every unit's output is positive
        model.head.decoder.weight.fill_(3e38)  # eight terms of about 2e38: every logit is +inf, and softmax NaN
    return nlp_lstm.save_model(ModelBundle(model.eval(), tokenizer, "lm", None, {}), tmp_path_factory.mktemp("m") / "lm")


@pytest.mark.slow
def test_a_generation_that_fails_says_so_in_its_stream_and_its_answer(overflowing_model):
    served = Served("--generator", overflowing_model)
    failure = "the server failed (RuntimeError: probability tensor contains nan: the model's logits are not finite)"
    try:
        body = {"length": 50, "seed": 0, "stream": True}
        with httpx.stream("POST", served.url + "/v1/generate", json=body, timeout=60) as streamed:
            assert streamed.status_code == 200
            events = [e for e in streamed.read().decode().split("\n\n") if e]
        assert events[-1].startswith("event: error\ndata: ") and "event: done" not in "".join(events)
        assert json.loads(events[-1].split("data: ", 1)[1])["error"].startswith(failure)
        answer = post(served, "/v1/generate", {"length": 50, "seed": 0})
        assert answer.status_code == 500 and answer.json()["error"].startswith(failure)
        assert_healthy(served)
    finally:
        served.stop()
