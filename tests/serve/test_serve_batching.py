"""The batcher gathers concurrent requests, and batched answers equal one-at-a-time ones."""

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from fastapi.testclient import TestClient

from nmt.decoding.export import load_translator
from nmt.decoding.translation import Hypothesis, Translation
from nmt.serve.app import create_app
from nmt.serve.batcher import Batcher, Busy
from nmt.serve.settings import Settings


class Recorder:
    """A stand-in search that records each batch it is given and echoes its texts."""

    def __init__(self, delay=0.0, gate=None):
        self.batches = []
        self.prefixes = []
        self.delay = delay
        self.gate = gate

    def __call__(self, texts, beam, n_best, prefixes=None):
        if self.gate is not None:
            self.gate.wait(5)
        time.sleep(self.delay)
        self.batches.append((list(texts), beam, n_best))
        self.prefixes.append(prefixes)
        prefixes = prefixes or [""] * len(texts)
        return [
            Translation(t, [], [Hypothesis(f"{p}{t}/{beam}", [], None, 0.0, 0.0)])
            for t, p in zip(texts, prefixes, strict=True)
        ]


def run(batcher, coroutine_factory):
    async def main():
        batcher.start()
        try:
            return await coroutine_factory()
        finally:
            await batcher.stop()

    return asyncio.run(main())


def test_concurrent_requests_share_a_batch_in_order():
    recorder = Recorder()
    batcher = Batcher(recorder, max_batch=32, window=0.05, max_pending=100)

    async def requests():
        jobs = [batcher.translate([f"s{i}", f"t{i}"], 1, 1) for i in range(5)]
        return await asyncio.gather(*jobs)

    results = run(batcher, requests)
    assert [[r.text for r in rs] for rs in results] == [[f"s{i}/1", f"t{i}/1"] for i in range(5)]
    assert len(recorder.batches) == 1 and len(recorder.batches[0][0]) == 10
    assert batcher.stats.batches == 1 and batcher.stats.requests == 5


def test_different_search_options_never_share_a_batch():
    recorder = Recorder()
    batcher = Batcher(recorder, max_batch=32, window=0.05, max_pending=100)

    async def requests():
        keys = [(1, 1), (4, 2), (1, 1), (4, 2), (4, 1)]
        return await asyncio.gather(*(batcher.translate([f"x{i}"], *k) for i, k in enumerate(keys)))

    results = run(batcher, requests)
    assert [r[0].text for r in results] == ["x0/1", "x1/4", "x2/1", "x3/4", "x4/4"]
    by_key = sorted((beam, n_best, texts) for texts, beam, n_best in recorder.batches)
    assert by_key == [(1, 1, ["x0", "x2"]), (4, 1, ["x4"]), (4, 2, ["x1", "x3"])]


def test_batches_hold_at_most_max_batch_sentences():
    recorder = Recorder()
    batcher = Batcher(recorder, max_batch=4, window=0.05, max_pending=100)

    async def requests():
        return await asyncio.gather(
            *(batcher.translate([f"{i}a", f"{i}b"], 1, 1) for i in range(5))
        )

    run(batcher, requests)
    assert [len(texts) for texts, _, _ in recorder.batches] == [4, 4, 2]


def test_requests_queued_during_a_search_form_the_next_batch_at_once():
    gate = threading.Event()
    recorder = Recorder(gate=gate)
    batcher = Batcher(recorder, max_batch=32, window=0.0, max_pending=100)

    async def requests():
        first = asyncio.ensure_future(batcher.translate(["first"], 1, 1))
        await asyncio.sleep(0.05)  # the first batch is now decoding, held by the gate
        rest = [asyncio.ensure_future(batcher.translate([f"r{i}"], 1, 1)) for i in range(6)]
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.gather(first, *rest)

    run(batcher, requests)
    assert [len(texts) for texts, _, _ in recorder.batches] == [1, 6]


def test_a_full_queue_turns_requests_away():
    gate = threading.Event()
    batcher = Batcher(Recorder(gate=gate), max_batch=2, window=0.0, max_pending=3)

    async def requests():
        held = asyncio.ensure_future(batcher.translate(["a", "b", "c"], 1, 1))
        await asyncio.sleep(0.02)
        with pytest.raises(Busy):
            await batcher.translate(["d"], 1, 1)
        gate.set()
        return await held

    assert [r.text for r in run(batcher, requests)] == ["a/1", "b/1", "c/1"]


def test_a_failing_search_fails_its_requests_only():
    calls = []

    def flaky(texts, beam, n_best, prefixes):
        calls.append(texts)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return Recorder()(texts, beam, n_best, prefixes)

    batcher = Batcher(flaky, max_batch=8, window=0.0, max_pending=100)

    async def requests():
        with pytest.raises(RuntimeError):
            await batcher.translate(["a"], 1, 1)
        return await batcher.translate(["b"], 1, 1)

    assert run(batcher, requests)[0].text == "b/1"


def test_a_poison_input_fails_its_own_request_only_not_its_batch():
    recorder = Recorder()

    def poisoned(texts, beam, n_best, prefixes):
        if "POISON" in texts:
            raise RuntimeError("the search failed")
        return recorder(texts, beam, n_best, prefixes)

    batcher = Batcher(poisoned, max_batch=32, window=0.05, max_pending=100)

    async def requests():
        texts = [["a", "b"], ["POISON"], ["c"], ["d", "POISON"], ["e"]]
        jobs = [batcher.translate(t, 1, 1) for t in texts]
        return await asyncio.gather(*jobs, return_exceptions=True)

    results = run(batcher, requests)
    assert [r.text for r in results[0]] == ["a/1", "b/1"]
    assert [r.text for r in results[2]] == ["c/1"] and [r.text for r in results[4]] == ["e/1"]
    assert isinstance(results[1], RuntimeError) and isinstance(results[3], RuntimeError)
    # The batch of all five failed; then each request ran alone.
    assert [b[0] for b in recorder.batches] == [["a", "b"], ["c"], ["e"]]


SENTENCES = ["Thank you.", "Good morning.", "Machine Learning", "Where is the station?",
             "Artificial Intelligence", "Good morning, thank you."]  # fmt: skip


def test_the_app_batches_concurrent_requests_with_the_same_results(tiny_model_dir):
    translator = load_translator(tiny_model_dir)
    settings = Settings(max_batch=16, batch_window_ms=50.0)
    app = create_app(translator, [str(tiny_model_dir)], settings)
    texts = [SENTENCES[i % len(SENTENCES)] for i in range(24)]
    expected = {t: r for t, r in zip(SENTENCES, translator.translate(SENTENCES, 1, 1))}
    with TestClient(app) as client:

        def ask(text):
            body = client.post("/translate", json={"text": text, "attention": True}).json()
            return body["translations"][0]

        one_at_a_time = [ask(t) for t in SENTENCES]
        before = app.state.batcher.stats.batches
        assert before == len(SENTENCES)
        with ThreadPoolExecutor(12) as pool:
            together = list(pool.map(ask, texts))
        batches = app.state.batcher.stats.batches - before
    assert batches < len(texts) / 2, f"{batches} batches for {len(texts)} requests"
    by_text = {out["source"]: out for out in one_at_a_time}
    for text, out in zip(texts, together):
        assert out["text"] == expected[text].text == by_text[text]["text"]
        assert out["hypotheses"][0]["tgt_tokens"] == by_text[text]["hypotheses"][0]["tgt_tokens"]
        assert out["hypotheses"][0]["score"] == pytest.approx(
            by_text[text]["hypotheses"][0]["score"], abs=1e-4
        )
        np.testing.assert_allclose(
            out["hypotheses"][0]["attention"],
            by_text[text]["hypotheses"][0]["attention"],
            atol=1e-4,
        )


def test_requests_that_could_not_be_answered_in_time_are_turned_away_at_once():
    # About 20 sentences a second (2 every 0.1 s); a deadline of 0.3 s holds 6.
    batcher = Batcher(Recorder(delay=0.1), max_batch=2, window=0.0, max_pending=100, deadline=0.3)

    async def requests():
        await batcher.translate(["warm", "up"], 1, 1)  # the rate, from one batch
        assert 0 < batcher.rate <= 25
        held = [asyncio.ensure_future(batcher.translate(["x", "y"], 1, 1)) for _ in range(2)]
        await asyncio.sleep(0.01)
        started = time.perf_counter()
        with pytest.raises(Busy) as refused:
            await batcher.translate(["a", "b", "c"], 1, 1)  # 7 pending: 0.35 s of work
        assert time.perf_counter() - started < 0.25  # at once, not after the deadline
        assert refused.value.retry_after >= 1
        await asyncio.gather(*held)
        return await batcher.translate(["a", "b", "c"], 1, 1)  # the queue has drained

    assert [r.text for r in run(batcher, requests)] == ["a/1", "b/1", "c/1"]


class Gated:
    """A translator whose every search first waits (at most 10 s) for ``gate``."""

    def __init__(self, translator, gate):
        self.translator, self.gate, self.config = translator, gate, translator.config

    def translate(self, texts, *args, **kwargs):
        self.gate.wait(10)
        return self.translator.translate(texts, *args, **kwargs)


def test_a_busy_server_answers_503_with_retry_after(tiny_model_dir):
    gate = threading.Event()
    held = Gated(load_translator(tiny_model_dir), gate)
    app = create_app(held, ["m"], Settings(max_pending=2, beam=1, n_best=1))
    with TestClient(app) as client, ThreadPoolExecutor(1) as pool:
        first = pool.submit(client.post, "/translate", json={"texts": ["Thank you.", "Hi."]})
        deadline = time.monotonic() + 10
        while app.state.batcher.pending < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        response = client.post("/translate", json={"text": "Good morning."})
        # Refused before the body is read: a full queue takes nothing whatever it holds.
        unread = client.post("/translator/translate", content=b"{not json")
        health = client.get("/health")
        gate.set()
        assert unread.status_code == 503 and "busy" in unread.json()["error"]
        assert health.status_code == 200 and health.json()["pending"] == 2
        assert response.status_code == 503
        assert int(response.headers["retry-after"]) >= 1
        assert "busy" in response.json()["error"]
        assert first.result(10).status_code == 200


def test_a_translation_past_the_timeout_answers_503_and_the_server_goes_on(tiny_model_dir):
    gate = threading.Event()
    translator = load_translator(tiny_model_dir)
    translator.translate(["Thank you."], 1, 1)  # traced now, not within the time limit
    app = create_app(Gated(translator, gate), ["m"], Settings(timeout=0.3, beam=1, n_best=1))
    with TestClient(app) as client:
        response = client.post("/translate", json={"text": "Thank you."})
        assert response.status_code == 503
        assert "no translation within the time limit (0.3 s)" in response.json()["error"]
        assert response.headers["retry-after"] == "1"
        gate.set()  # the late batch finishes; its answer has nobody to go to
        deadline = time.monotonic() + 10
        while app.state.batcher.stats.batches < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client.post("/translate", json={"text": "Thank you."}).status_code == 200


def test_requests_with_and_without_prefixes_share_a_batch_each_with_its_own():
    recorder = Recorder()
    batcher = Batcher(recorder, max_batch=32, window=0.05, max_pending=100)

    async def requests():
        jobs = [
            batcher.translate(["a", "b"], 1, 1),
            batcher.translate(["c"], 1, 1, ["P:"]),
            batcher.translate(["d", "e"], 1, 1, ["", "Q:"]),
        ]
        return await asyncio.gather(*jobs)

    results = run(batcher, requests)
    assert [[r.text for r in result] for result in results] == [
        ["a/1", "b/1"],
        ["P:c/1"],
        ["d/1", "Q:e/1"],
    ]
    assert recorder.batches == [(["a", "b", "c", "d", "e"], 1, 1)]
    assert recorder.prefixes == [["", "", "P:", "", "Q:"]]
    alone = Recorder()
    plain = Batcher(alone, max_batch=32, window=0.0, max_pending=100)
    run(plain, lambda: plain.translate(["a"], 1, 1, [""]))
    assert alone.prefixes == [None]  # no prefix in the batch: the plain search
