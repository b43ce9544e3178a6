"""A real ``nmt serve`` process: startup, loopback load and a graceful SIGTERM."""

import json
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from serve_process import ServeProcess, slow_search

SENTENCES = [
    "Thank you.", "Good morning.", "Machine Learning", "Where is the station?",
    "Artificial Intelligence", "Good morning, thank you.", "Thank you, station.",
]  # fmt: skip
LOAD_REQUESTS = 500
LOAD_WORKERS = 32
LOAD_TIME_LIMIT = 120.0


@pytest.mark.slow
def test_500_concurrent_requests_are_all_answered_correctly(tiny_model_dir):
    server = ServeProcess(tiny_model_dir, "--max-batch", "32")
    try:
        assert server.url.startswith("http://127.0.0.1:")
        status, health = server.request("/health")
        assert status == 200 and health["batcher_alive"] is True
        expected = {}
        for text in SENTENCES:
            status, body = server.request("/translate", {"text": text})
            assert status == 200
            expected[text] = body["translations"][0]["text"]
        texts = [SENTENCES[i % len(SENTENCES)] for i in range(LOAD_REQUESTS)]
        deadline = time.monotonic() + LOAD_TIME_LIMIT

        def ask(text):
            if time.monotonic() > deadline:
                return text, None  # over time: counted as unanswered
            status, body = server.request("/translate", {"text": text}, timeout=30)
            return text, body["translations"][0]["text"] if status == 200 else None

        with ThreadPoolExecutor(LOAD_WORKERS) as pool:
            answers = list(pool.map(ask, texts))
        wrong = [(t, a) for t, a in answers if a != expected[t]]
        assert not wrong, f"{len(wrong)} of {LOAD_REQUESTS} wrong or unanswered: {wrong[:3]}"
        batches = server.request("/health")[1]["batches"]
        assert batches < LOAD_REQUESTS / 2, f"{batches} batches: requests were not gathered"
    finally:
        status = server.stop()
    assert status == 0, "".join(server.stderr_lines)
    assert server.stdout() == ""  # stdout stays quiet
    assert "nmt: serving" in "".join(server.stderr_lines)


@pytest.mark.slow
def test_sigterm_lets_the_request_in_flight_finish_then_exits_0(tiny_model_dir):
    # A long batch window holds the request inside the server when SIGTERM comes.
    server = ServeProcess(tiny_model_dir, "--batch-window-ms", "1500")
    answer = {}

    def ask():
        answer["reply"] = server.request("/translate", {"text": "Thank you."}, timeout=30)

    client = threading.Thread(target=ask)
    try:
        client.start()
        server.wait_for_pending(1, time.monotonic() + 20)
        server.process.terminate()
        client.join(30)
        status = server.wait_for_exit(30)
    finally:
        server.stop()
    assert answer["reply"][0] == 200 and answer["reply"][1]["translations"][0]["source"]
    assert status == 0, "".join(server.stderr_lines)


def test_sigterm_right_after_the_startup_line_stops_the_server(tiny_model_dir):
    # uvicorn starting slowly stands for any moment between the startup line and its
    # own signal handlers; the signal sent then must not be lost.
    slow_start = (
        "import time, uvicorn\n"
        "run = uvicorn.Server.run\n"
        "uvicorn.Server.run = lambda self, *a, **k: (time.sleep(1.5), run(self, *a, **k))[1]"
    )
    server = ServeProcess(
        tiny_model_dir, before=slow_start, on_startup=lambda process: process.terminate()
    )
    try:
        status = server.wait_for_exit(30)
    finally:
        server.stop()
    assert status == 0, "".join(server.stderr_lines)
    assert "nmt: stopped" in "".join(server.stderr_lines)


def test_sigterm_answers_the_requests_queued_behind_a_running_decode(tiny_model_dir):
    # Each search takes 0.4 s more, so the later requests queue behind the first.
    server = ServeProcess(
        tiny_model_dir, "--beam", "1", "--max-batch", "1", before=slow_search(0.4)
    )
    replies = {}

    def ask(i):
        replies[i] = server.request("/translate", {"text": f"Thank you {i}."}, timeout=60)

    clients = [threading.Thread(target=ask, args=(i,)) for i in range(3)]
    try:
        for client in clients:
            client.start()
        server.wait_for_pending(3, time.monotonic() + 30)
        server.process.terminate()
        for client in clients:
            client.join(60)
        status = server.wait_for_exit(60)
    finally:
        server.stop()
    assert [replies[i][0] for i in range(3)] == [200, 200, 200], replies
    assert status == 0, "".join(server.stderr_lines)


def test_a_request_whose_client_went_away_is_never_decoded(tiny_model_dir):
    server = ServeProcess(
        tiny_model_dir, "--beam", "1", "--max-batch", "1", before=slow_search(0.5)
    )
    try:
        first = threading.Thread(
            target=server.request,
            args=("/translate", {"text": "Thank you."}),
            kwargs={"timeout": 30},
        )
        first.start()
        deadline = time.monotonic() + 20
        server.wait_for_pending(1, deadline)
        # A second request, queued behind the first; its client hangs up at once.
        host, port = server.url.split("//")[1].rstrip("/").split(":")
        body = json.dumps({"text": "Good morning."}).encode()
        with socket.create_connection((host, int(port))) as conn:
            conn.sendall(
                b"POST /translate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            server.wait_for_pending(2, deadline)
        first.join(30)
        assert server.request("/translate", {"text": "Hi."})[0] == 200
        health = server.request("/health")[1]
    finally:
        assert server.stop() == 0
    # The first and the last were decoded, the abandoned one never was.
    assert (health["requests"], health["sentences"], health["pending"]) == (2, 2, 0)
