"""``nmt bench data``: what a corpus costs a training run, from start to steady steps.

Each run is a child process that trains on the corpus exactly as ``nmt train`` does (in a
scratch model directory, from the defaults and ``--set``), stops itself after ``--steps``
steps as Ctrl-C would (saving a checkpoint), and reports: seconds from the process's
start to its first training step done, its peak resident memory, and its steady target
tokens/s. With ``--resume`` a second child then resumes that checkpoint, as a re-run of
``nmt train`` would, and reports the same.

Steady throughput leaves out the first ``WARMUP`` steps (traces of new batch shapes) and
any step over ``GAP`` times the median, which is an epoch's dev evaluation or a chunk
boundary rather than training; how many were left out is reported.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time

from nmt.errors import NmtError

WARMUP = 10
GAP = 10.0


def run_data(args) -> int:
    """Runs the children and prints one line each (and, with ``--json``, a JSON object)."""
    corpus = {"corpus": args.corpus, "src": args.src, "tgt": args.tgt}
    with tempfile.TemporaryDirectory(prefix="nmt-bench-data-") as out:
        runs = {"start": _run_child(corpus, out, args)}
        if args.resume:
            runs["resume"] = _run_child(corpus, out, args)
    for name, run in runs.items():
        print(
            f"{name:6}  first step {run['first_step_s']:6.1f} s  peak RSS "
            f"{run['peak_rss_mb']:7.0f} MB  {run['tgt_tokens_per_s']:8.0f} tgt tokens/s "
            f"({run['timed_steps']} steps timed, {run['gaps']} left out)"
        )
    if args.json:
        print(json.dumps(runs))
    return 0


def _run_child(corpus: dict, out: str, args) -> dict:
    request = {**corpus, "out": out, "steps": args.steps, "set": args.set, "spawned": time.time()}
    command = [sys.executable, "-m", "nmt.bench.data", json.dumps(request)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise NmtError(f"the benchmark's training run failed: {last}")
    return json.loads(lines[-1])


def _child(request: dict) -> None:
    """One training run, stopped after ``steps`` steps; prints its measurements as JSON."""
    from nmt.config import Config
    from nmt.errors import Interrupted
    from nmt.training.run import train_translator

    config = Config().override(request["set"])
    config.train.max_time = 0.0
    config.train.epochs = 1_000_000
    steps: list[tuple[float, float]] = []

    def on_step(step: int, tokens: float) -> None:
        steps.append((time.time(), tokens))
        if len(steps) == request["steps"]:
            os.kill(os.getpid(), signal.SIGINT)  # a clean stop: checkpoint, then Interrupted

    try:
        train_translator(
            config,
            request["out"],
            corpus=request["corpus"],
            src=request["src"],
            tgt=request["tgt"],
            log=lambda message: print(message, file=sys.stderr, flush=True),
            on_step=on_step,
        )
    except Interrupted:
        pass
    except NmtError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    rate, timed, gaps = steady_rate(steps)
    print(
        json.dumps(
            {
                "first_step_s": steps[0][0] - request["spawned"] if steps else None,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "tgt_tokens_per_s": rate,
                "timed_steps": timed,
                "gaps": gaps,
            }
        )
    )


def steady_rate(steps: list[tuple[float, float]]) -> tuple[float, int, int]:
    """``(target tokens/s, steps timed, steps left out)`` over ``(end time, tokens)`` of
    consecutive steps, past the warm-up and without the gaps (module docstring)."""
    timed = [
        (end - before, tokens)
        for (before, _), (end, tokens) in zip(steps[WARMUP:], steps[WARMUP + 1 :], strict=False)
    ]
    if not timed:
        return 0.0, 0, 0
    limit = GAP * statistics.median(seconds for seconds, _ in timed)
    kept = [(seconds, tokens) for seconds, tokens in timed if seconds <= limit]
    rate = sum(tokens for _, tokens in kept) / sum(seconds for seconds, _ in kept)
    return rate, len(kept), len(timed) - len(kept)


if __name__ == "__main__":
    _child(json.loads(sys.argv[1]))
