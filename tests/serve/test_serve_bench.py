"""``nmt bench serve`` end to end, at a size that takes seconds."""

import json

import pytest

from nmt.cli import main


@pytest.mark.slow
def test_bench_serve_reports_throughput_latency_and_a_clean_stop(tiny_model_dir, capsys):
    argv = ["bench", "serve", "--model", str(tiny_model_dir), "--concurrency", "8",
            "--requests", "48", "--sequential", "8", "--json"]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["concurrent_requests"] == 48 and result["sequential_requests"] == 8
    assert result["concurrent_failed"] == result["sequential_failed"] == 0
    assert result["server_exit_status"] == 0
    # What batching must give: concurrent requests share batches, and answer faster
    # together than one at a time.
    assert 0 < result["concurrent_batches"] < result["concurrent_requests"]
    assert result["speedup"] > 1.0
    assert result["concurrent_p50_ms"] > 0


@pytest.mark.slow
def test_bench_serve_overload_loses_nothing_and_health_answers(tiny_model_dir, capsys):
    argv = ["bench", "serve", "--model", str(tiny_model_dir), "--overload",
            "--concurrency", "32", "--requests", "300", "--max-pending", "2",
            "--max-time", "60", "--json"]  # fmt: skip
    assert main(argv) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["requests"] == 300 and result["lost"] == 0
    # A queue of 2 against 32 clients: some are served, the rest refused at once.
    assert result["accepted"] > 0 and result["refused"] > 0
    assert result["accepted"] + result["refused"] == 300
    assert result["health_probes"] > 0 and result["health_failed"] == 0
    assert result["server_exit_status"] == 0
