"""``nmt bench serve``: what batching buys a real ``nmt serve`` process under load.

The server runs in a process of its own, as in production, on a free loopback port;
its startup line names the port. A bounded pool of client threads, each with one
keep-alive connection, sends ``POST /translate`` requests of one sentence, first one at
a time (the baseline: every request is a batch of one) and then ``concurrency`` at once.
Both runs are bounded in count and in time; the server is stopped with SIGTERM and
must exit 0.
"""

from __future__ import annotations

import http.client
import json
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

from nmt.errors import NmtError

SENTENCES = (
    "Thank you.", "Good morning.", "Where is the station?", "I like coffee.",
    "How much is this?", "Artificial Intelligence", "Machine Learning",
    "Please speak slowly.", "What time is it now?", "I am a student.",
    "The weather is nice today.", "Can you help me?", "I don't understand.",
    "See you tomorrow.", "This book is interesting.", "Where do you live?",
)  # fmt: skip
_STARTUP = re.compile(r"nmt: serving .* at (http://\S+/) ")
STARTUP_TIMEOUT = 300.0


def start_server(model_dirs: list[str], extra: list[str]) -> tuple[subprocess.Popen, str]:
    """``nmt serve --port 0`` in a subprocess, once it is ready: ``(process, url)``."""
    command = [sys.executable, "-m", "nmt", "serve", "--port", "0", *extra]
    for model_dir in model_dirs:
        command += ["--model", str(model_dir)]
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    found: list[str] = []
    lines: list[str] = []
    ready = threading.Event()

    def read():
        for line in process.stderr:
            lines.append(line)
            match = _STARTUP.search(line)
            if match:
                found.append(match.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(STARTUP_TIMEOUT) or not found:
        process.kill()
        raise NmtError("nmt serve did not start: " + "".join(lines[-5:]).strip())
    return process, found[0]


class Client:
    """One keep-alive connection per thread, reopened after a failure."""

    def __init__(self, url: str, timeout: float):
        parts = urlsplit(url)
        self.host, self.port, self.timeout = parts.hostname, parts.port, timeout
        self._local = threading.local()

    def health(self) -> tuple[dict, float]:
        """The server's ``/health`` answer, and the seconds it took (on a new connection)."""
        start = time.perf_counter()
        conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            conn.request("GET", "/health")
            return json.loads(conn.getresponse().read()), time.perf_counter() - start
        finally:
            conn.close()

    def batches(self) -> int:
        """The batches the server has decoded so far."""
        return int(self.health()[0]["batches"])

    def translate(self, text: str) -> tuple[bool, float]:
        """``(answered with 200, seconds)`` of one request."""
        status, seconds = self.post(text)
        return status == 200, seconds

    def retry_after(self) -> float:
        """The ``Retry-After`` seconds of this thread's last answer (0 without one)."""
        try:
            return float(getattr(self._local, "retry_after", None) or 0)
        except ValueError:
            return 0.0

    def post(self, text: str) -> tuple[int | None, float]:
        """``(HTTP status, seconds)`` of one request; None: no answer (a lost or hung
        request, or a 200 without translations)."""
        start = time.perf_counter()
        body = json.dumps({"text": text})
        try:
            conn = getattr(self._local, "conn", None)
            if conn is None:
                conn = self._local.conn = http.client.HTTPConnection(
                    self.host, self.port, timeout=self.timeout
                )
            conn.request("POST", "/translate", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            status = response.status
            self._local.retry_after = response.getheader("Retry-After")
            answer = json.loads(response.read())
            if status == 200 and not answer["translations"]:
                status = None
        except (OSError, http.client.HTTPException, ValueError, KeyError):
            self._local.conn = None
            status = None
        return status, time.perf_counter() - start


def send(
    client: Client, requests: int, concurrency: int, max_time: float, backoff: bool = False
) -> tuple[list[tuple[int | None, float]], float]:
    """``(status, seconds)`` of ``requests`` one-sentence requests sent from
    ``concurrency`` threads (those not sent within ``max_time`` left out), and the
    seconds it all took. With ``backoff``, a thread refused with 503 waits what the
    answer's ``Retry-After`` says (at most a second) before its next request."""
    deadline = time.perf_counter() + max_time

    def one(text):
        if time.perf_counter() >= deadline:
            return None
        status, seconds = client.post(text)
        if backoff and status == 503:
            time.sleep(min(1.0, client.retry_after()))
        return status, seconds

    texts = [SENTENCES[i % len(SENTENCES)] for i in range(requests)]

    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        outcomes = [o for o in pool.map(one, texts) if o is not None]
    return outcomes, time.perf_counter() - start


def load(client: Client, requests: int, concurrency: int, max_time: float) -> dict:
    """Sends ``requests`` one-sentence requests from ``concurrency`` threads."""
    outcomes, seconds = send(client, requests, concurrency, max_time)
    latencies = sorted(dt for status, dt in outcomes if status == 200)
    failed = sum(status != 200 for status, _ in outcomes)
    return {
        "requests": len(outcomes),
        "failed": failed,
        "seconds": round(seconds, 2),
        "sentences_per_s": round(len(latencies) / seconds, 1),
        "p50_ms": percentile_ms(latencies, 50),
        "p95_ms": percentile_ms(latencies, 95),
        "p99_ms": percentile_ms(latencies, 99),
    }


def percentile_ms(sorted_seconds: list[float], p: float) -> float | None:
    if not sorted_seconds:
        return None
    index = min(len(sorted_seconds) - 1, round(p / 100 * (len(sorted_seconds) - 1)))
    return round(1000 * sorted_seconds[index], 1)


def run_serve(args) -> int:
    """Runs the benchmark and prints the result (one JSON object with ``--json``)."""
    process, url = start_server(args.model, server_flags(args))
    try:
        client = Client(url, timeout=args.timeout)
        client.translate(SENTENCES[0])  # the connection, and the server's first request
        sequential = load(client, args.sequential, 1, args.max_time)
        before = client.batches()
        concurrent = load(client, args.requests, args.concurrency, args.max_time)
        # How many batches the concurrent requests shared: fewer than requests if
        # the server batched them at all.
        concurrent["batches"] = client.batches() - before
    finally:
        status = stop_server(process)
    result = {"bench": "serve", "models": args.model, "beam": args.beam or "model default",
              "concurrency": args.concurrency}  # fmt: skip
    result.update({f"concurrent_{k}": v for k, v in concurrent.items()})
    result.update({f"sequential_{k}": v for k, v in sequential.items()})
    result["speedup"] = round(
        concurrent["sentences_per_s"] / max(sequential["sentences_per_s"], 1e-9), 2
    )
    result["server_exit_status"] = status
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:32} {value}")
    failed = concurrent["failed"] + sequential["failed"]
    return 0 if failed == 0 and status == 0 else 1


def server_flags(args) -> list[str]:
    """The ``nmt serve`` flags the benchmark's options ask for."""
    extra = ["--max-batch", str(args.max_batch), "--batch-window-ms", str(args.batch_window_ms)]
    return [*extra, "--beam", str(args.beam)] if args.beam else extra


def stop_server(process: subprocess.Popen) -> int:
    """SIGTERM, then the exit status (killed after a minute)."""
    process.terminate()
    try:
        return process.wait(60)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()
