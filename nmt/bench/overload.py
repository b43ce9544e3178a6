"""``nmt bench serve --overload``: a server with a small queue under far more concurrent
clients than it can serve at once.

Every request must get its translation (200) or an immediate refusal (503 with
``Retry-After``): none may be lost or hang until the client gives up. Clients wait what
``Retry-After`` says before their next request, as well-behaved ones do (with
``--no-backoff`` they retry at once: the server then spends all its time refusing).
The accepted ones must stay fast, since the queue holds no more than the server can answer, and
``/health`` must answer throughout: it is probed every ``PROBE_SECONDS``, on a
connection of its own, from a process of its own (among the client's hundreds of
threads, a probe would time the wait for Python's lock as much as the server).
"""

from __future__ import annotations

import json
import subprocess
import sys

from nmt.bench.serve import (
    SENTENCES,
    Client,
    percentile_ms,
    send,
    server_flags,
    start_server,
    stop_server,
)

PROBE_SECONDS = 0.05
# The prober: GET /health every INTERVAL seconds until its stdin ends, then the seconds
# each took (null: no answer) as a JSON list on stdout.
_PROBE = """
import http.client, json, sys, threading, time, urllib.parse
url, interval, timeout = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
parts, done, times = urllib.parse.urlsplit(url), threading.Event(), []
threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
while not done.is_set():
    start = time.perf_counter()
    try:
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
        conn.request("GET", "/health")
        ok = conn.getresponse().status == 200
        conn.close()
        times.append(time.perf_counter() - start if ok else None)
    except (OSError, http.client.HTTPException):
        times.append(None)
    done.wait(interval)
print(json.dumps(times))
"""


def run_overload(args) -> int:
    """Runs the overload benchmark; prints the result (one JSON object with ``--json``).

    Exits 1 if any request was lost or hung, ``/health`` failed to answer, or the server
    did not exit 0 after SIGTERM.
    """
    flags = [*server_flags(args), "--max-pending", str(args.max_pending)]
    process, url = start_server(args.model, flags)
    try:
        client = Client(url, timeout=args.timeout)
        client.translate(SENTENCES[0])  # the connection, and the server's first request
        prober = subprocess.Popen(
            [sys.executable, "-I", "-c", _PROBE, url, str(PROBE_SECONDS), str(args.timeout)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            outcomes, seconds = send(
                client, args.requests, args.concurrency, args.max_time, not args.no_backoff
            )
        finally:
            # End of input stops the prober, which then writes what it measured.
            probes = json.loads(prober.communicate("", timeout=args.timeout + 30)[0])
    finally:
        status = stop_server(process)
    accepted = sorted(dt for code, dt in outcomes if code == 200)
    refused = sorted(dt for code, dt in outcomes if code == 503)
    answered = sorted(dt for dt in probes if dt is not None)
    result = {
        "bench": "serve-overload",
        "models": args.model,
        "concurrency": args.concurrency,
        "max_pending": args.max_pending,
        "clients_back_off": not args.no_backoff,
        "requests": len(outcomes),
        "seconds": round(seconds, 2),
        "accepted": len(accepted),
        "refused": len(refused),
        "lost": len(outcomes) - len(accepted) - len(refused),
        "accepted_p50_ms": percentile_ms(accepted, 50),
        "accepted_p99_ms": percentile_ms(accepted, 99),
        "refused_p99_ms": percentile_ms(refused, 99),
        "health_probes": len(probes),
        "health_failed": len(probes) - len(answered),
        "health_p99_ms": percentile_ms(answered, 99),
        "health_max_ms": percentile_ms(answered, 100),
        "server_exit_status": status,
    }
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:24} {value}")
    bad = result["lost"] or result["health_failed"] or status != 0
    return 1 if bad else 0
