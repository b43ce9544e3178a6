"""``nmt bench``: the command runs the real trainer and reports what compare.sh reads."""

import json
import os
import subprocess
import sys

import pytest
import tensorflow as tf

from nmt.bench import matmul_floor
from nmt.bench.throughput import forward_flops_per_target_token
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


def test_bench_train_floor_reports_the_step_beside_its_floors():
    # An odd batch: in CPU streams the floors' slices differ by a row, as the step's do.
    report = bench("train", *TINY[:-1], "5", "--steps", "2", "--floor", "--json")
    rounds = report["floor_rounds"]
    # Every fraction is useful FLOP/s over the same peak, at its own step time.
    for time_s, fraction in (
        ("matmul_floor_s", "floor_fraction_of_peak"),
        ("step_floor_s", "step_floor_fraction_of_peak"),
    ):
        assert rounds[time_s] > 0
        ratio = rounds[fraction] / rounds["fraction_of_peak"]
        assert ratio == pytest.approx(rounds["step_s"] / rounds[time_s], rel=0.02)
    share = rounds["step_floor_s"] / rounds["step_s"]
    assert rounds["share_of_step_floor"] == pytest.approx(share, rel=0.01)


@pytest.mark.parametrize(
    "sizes, lengths",
    [
        (dict(), (20, 20)),
        (dict(embedding_dim=8, units=12, attention_units=10, readout_dim=6), (7, 3)),
        (dict(tgt_vocab_size=37, units=5, attention_units=9), (1, 11)),
    ],
)
def test_floor_program_multiplies_exactly_the_counted_flops(sizes, lengths):
    """The matmul-only step does the analytic count: 3x forward, every target token."""
    m = ModelConfig(**sizes)
    batch = 6
    expected = 3 * forward_flops_per_target_token(m, *lengths) * batch * lengths[1]
    stages = matmul_floor.stages(m, batch, *lengths)
    assert matmul_floor.flops(stages) == pytest.approx(expected, rel=1e-12)


def tiny_floor_stages():
    """A floor's stages at a tiny size: batch 3, 4 source and 5 target tokens."""
    m = ModelConfig(tgt_vocab_size=30, embedding_dim=4, units=6, attention_units=5, readout_dim=3)
    return matmul_floor.stages(m, 3, 4, 5)


def counting_update():
    """An ``update`` for ``step_function`` that counts its runs in a variable."""
    updates = tf.Variable(0)

    def update():
        updates.assign_add(1)

    return updates, update


def test_floor_program_holds_every_product_in_its_loop_or_outside():
    stages = tiny_floor_stages()
    program = matmul_floor.step_function([(stages, 3)])
    assert float(program()) == float(program())  # runs, and the operands stay fixed
    graph = program.get_concrete_function().graph.as_graph_def()

    def products(nodes):
        return sum(node.op in ("MatMul", "BatchMatMulV2") for node in nodes)

    bodies = [f for f in graph.library.function if "body" in f.signature.name]
    loops = sorted(products(f.node_def) for f in bodies)
    assert loops == sorted(len(s.products) for s in stages if s.steps)
    assert products(graph.node) == sum(len(s.products) for s in stages if not s.steps)


def test_step_floor_adds_the_unavoidable_work_where_the_step_does_it():
    """The same products; activations in the loops that have them, the softmax's
    exponents outside them, and the update once, after everything else."""
    stages = tiny_floor_stages()
    updates, update = counting_update()
    plain = matmul_floor.step_function([(stages, 3)], update=update)
    program = matmul_floor.step_function([(stages, 3)], unavoidable=True, update=update)
    float(plain())
    assert int(updates.numpy()) == 0  # only the step floor updates
    float(program())
    float(program())
    assert int(updates.numpy()) == 2
    graph = program.get_concrete_function().graph.as_graph_def()

    def count(nodes, op):
        return sum(node.op == op for node in nodes)

    bodies = [f.node_def for f in graph.library.function if "body" in f.signature.name]
    # Per step: the encoder's cell (tanh of g and of c); the decoder's attention and cell.
    assert sorted(count(body, "Tanh") for body in bodies) == [0, 0, 2, 3]
    assert sorted(count(body, "Sigmoid") for body in bodies) == [0, 0, 1, 1]
    assert sorted(count(body, "MatMul") + count(body, "BatchMatMulV2") for body in bodies) == (
        sorted(len(s.products) for s in stages if s.steps)
    )
    assert count(graph.node, "Exp") == 1


def test_floor_slices_run_every_stage_once_per_stream_and_the_update_once():
    """A step in CPU streams is one slice's step per stream, side by side: its floor too,
    with each slice's own rows (an odd batch of 5 in two streams: 2 and 3)."""
    m = ModelConfig(tgt_vocab_size=30, embedding_dim=4, units=6, attention_units=5, readout_dim=3)
    updates, update = counting_update()
    graphs = {}
    for rows in ([5], [2, 3]):
        slices = [(matmul_floor.stages(m, n, 4, 5), n) for n in rows]
        program = matmul_floor.step_function(slices, True, update)
        float(program())
        graphs[len(rows)] = program.get_concrete_function().graph
    assert int(updates.numpy()) == 2

    def ops(graph, types):
        return [op for op in graph.get_operations() if op.type in types]

    for types in (("While", "StatelessWhile"), ("MatMul", "BatchMatMulV2"), ("Exp",)):
        assert len(ops(graphs[2], types)) == 2 * len(ops(graphs[1], types)) > 0
    # Every loop carries its slice's rows: two loops of each kind per slice.
    loops = ops(graphs[2], ("While", "StatelessWhile"))
    rows = [x.shape[0] for op in loops for x in op.inputs if x.shape.rank == 2]
    assert sorted(set(rows)) == [2, 3] and rows.count(2) == rows.count(3)
    # And the slices together multiply what the whole batch does.
    whole = matmul_floor.flops(matmul_floor.stages(m, 5, 4, 5))
    parts = sum(matmul_floor.flops(matmul_floor.stages(m, n, 4, 5)) for n in (2, 3))
    assert parts == pytest.approx(whole, rel=1e-12)


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
    result = run("train", *TINY, "--cpu-streams", "-1")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "argument --cpu-streams: must be an integer >= 0, got '-1'" in result.stderr
    result = run("train", *TINY, "--threads", "1", "--cpu-streams", "2")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "nmt: error: --threads cannot be combined with --cpu-streams 2" in result.stderr
    result = run("decode", *TINY, "--threads", "-2")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "argument --threads: must be an integer >= 0, got '-2'" in result.stderr
    result = run("decode", *TINY, "--vocab", "4")
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "nmt: error: --vocab must be above 4" in result.stderr
