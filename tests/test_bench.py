"""``nmt bench``: the command runs the real trainer and reports what compare.sh reads."""

import json
import os
import subprocess
import sys

import pytest

from nmt.bench import forward_flops_per_target_token
from nmt.config import ModelConfig

TINY = ["--vocab", "50", "--emb", "8", "--units", "8", "--batch", "4"]


def run(*args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run(
        [sys.executable, "-m", "nmt", "bench", *args],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip


def bench(*args):
    result = run(*args)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_bench_train_reports_throughput_and_no_retracing():
    report = bench("train", *TINY, "--steps", "2", "--json")
    for key in (
        "tgt_tokens_per_s", "compile_s", "step_s", "gflops_per_s",
        "matmul_peak_gflops_per_s", "retraces",
    ):  # fmt: skip
        assert key in report
    assert report["tgt_tokens_per_s"] > 0 and report["step_s"] > 0
    assert report["matmul_peak_gflops_per_s"] > report["gflops_per_s"] > 0
    # Batches of three other lengths reuse the first trace.
    assert report["retraces"] == 0


def test_bench_decode_compares_with_the_eager_loop():
    report = bench("decode", *TINY, "--src-len", "6", "--tgt-len", "5", "--repeats", "1", "--json")
    assert report["greedy_sentences_per_s"] > 0
    assert report["eager_loop_sentences_per_s"] > 0
    assert report["greedy_tokens_per_s"] >= report["greedy_sentences_per_s"]


@pytest.mark.parametrize("readout_dim", [8, 16])
def test_flop_count_grows_with_the_vocabulary_projection(readout_dim):
    """The analytic count: one more vocabulary word adds one readout-sized dot product."""
    m = ModelConfig(tgt_vocab_size=100, readout_dim=readout_dim)
    more = ModelConfig(tgt_vocab_size=101, readout_dim=readout_dim)
    gained = forward_flops_per_target_token(more, 10, 10) - forward_flops_per_target_token(
        m, 10, 10
    )
    assert gained == 2 * readout_dim


def test_bad_sizes_are_one_line_errors():
    result = run("train", *TINY, "--steps", "0")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "argument --steps: must be a positive integer, got '0'" in result.stderr
    result = run("decode", *TINY, "--vocab", "4")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "nmt: error: --vocab must be above 4" in result.stderr
