"""``nmt bench``: the command runs the real trainer and reports what compare.sh reads."""

import json
import time

import pytest
import tensorflow as tf

from nmt.bench import matmul_floor
from nmt.bench.throughput import forward_flops_per_target_token
from nmt.cli import main
from nmt.config import ModelConfig
from nmt.model.seq2seq import build_model

TINY = ["--vocab", "50", "--emb", "8", "--units", "8", "--batch", "4"]
# The model TINY asks for: --emb sets the embedding and readout, --units the LSTMs and
# attention; 20 source and target tokens are the command's default lengths.
TINY_MODEL = ModelConfig(
    src_vocab_size=50, tgt_vocab_size=50, embedding_dim=8, readout_dim=8, units=8,
    attention_units=8, bidirectional=False,
)  # fmt: skip
TINY_LENGTHS = (20, 20)


def product(m, k, n):
    """FLOPs of an (m x k)·(k x n) matmul: one multiply and one add per term."""
    return 2 * m * k * n


def hand_count(m, src_len, tgt_len):
    """Forward matmul FLOPs per target token, counted from the architecture.

    One sentence pair of ``src_len`` source and ``tgt_len`` target tokens, a
    one-layer unidirectional encoder (the benchmark's model); the encoder's and the
    bridges' work is shared by the sentence's target tokens.
    """
    e, u, a, r, v = m.embedding_dim, m.units, m.attention_units, m.readout_dim, m.tgt_vocab_size
    s, gates = src_len, 4 * m.units
    per_source_token = (
        product(1, e, gates)  # encoder LSTM: input x_i·W
        + product(1, u, gates)  # encoder LSTM: recurrent h_{i-1}·U
        + product(1, u, a)  # attention key W_y·y_i, projected once per source
    )
    per_sentence = 2 * product(1, u, u)  # the bridges from the encoder's h and c
    per_target_token = (
        product(1, u, a)  # attention query W_c·h_{t-1}
        + s * product(1, a, 1)  # scores v·tanh(W_c·c + W_y·y_i), one per source position
        + product(1, s, u)  # context sum_i s_i·y_i
        + product(1, e, gates)  # decoder LSTM: input (the previous token's embedding)
        + product(1, u, gates)  # decoder LSTM: context
        + product(1, u, gates)  # decoder LSTM: recurrent
        + product(1, 2 * u, r)  # readout W_r·[h_t; context_t]
        + product(1, r, v)  # vocabulary projection
    )
    return per_target_token + (s * per_source_token + per_sentence) / tgt_len


@pytest.fixture
def bench(capsys):
    """``bench(*args)``: the JSON report of ``nmt bench ARGS``, run in this process.

    TensorFlow has started here with its default thread counts, which neither
    ``--threads`` (an error once started) nor the CPU streams can change: an explicit
    ``--cpu-streams N`` still cuts each batch into N slices, the default falls back to one.
    """

    def run(*args):
        capsys.readouterr()
        assert main(["bench", *args]) == 0, capsys.readouterr().err
        return json.loads(capsys.readouterr().out.strip().splitlines()[-1])

    return run


def test_bench_train_reports_throughput_and_no_retracing(bench):
    report = bench("train", *TINY, "--steps", "2", "--json")
    for key in (
        "tgt_tokens_per_s", "compile_s", "step_s", "gflops_per_s",
        "matmul_peak_gflops_per_s", "retraces",
    ):  # fmt: skip
        assert key in report
    assert report["tgt_tokens_per_s"] > 0 and report["step_s"] > 0
    assert report["matmul_peak_gflops_per_s"] > report["gflops_per_s"] > 0
    # The rates are the hand-counted work of the batch over the step's time: training
    # is three matmuls per forward one (the product and the gradients of both operands).
    train_flops = 3 * hand_count(TINY_MODEL, *TINY_LENGTHS)
    assert report["train_mflop_per_tgt_token"] == pytest.approx(train_flops / 1e6, rel=1e-3)
    tokens = 4 * TINY_LENGTHS[1]  # every target position of the batch is a real token
    assert report["tgt_tokens_per_s"] == pytest.approx(tokens / report["step_s"], rel=2e-3)
    gflops_per_s = train_flops * report["tgt_tokens_per_s"] / 1e9
    assert report["gflops_per_s"] == pytest.approx(gflops_per_s, rel=2e-3)
    # Batches of three other lengths reuse the first trace.
    assert report["retraces"] == 0


def test_bench_train_floor_reports_the_step_beside_its_floors(bench):
    # An odd batch in two CPU streams: the floors' slices differ by a row, as the step's do.
    args = (*TINY[:-1], "5", "--cpu-streams", "2", "--steps", "2", "--floor", "--json")
    report = bench("train", *args)
    assert report["cpu_streams"] == 2
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
    # And the step's fraction is the hand-counted work of the batch of 5 over its time
    # and the peak; no program does more FLOP/s than the peak's large matmul.
    work = 3 * hand_count(TINY_MODEL, *TINY_LENGTHS) * 5 * TINY_LENGTHS[1]
    fraction = work / rounds["step_s"] / 1e9 / rounds["matmul_peak_gflops_per_s"]
    assert rounds["fraction_of_peak"] == pytest.approx(fraction, rel=0.01)
    for name in ("fraction_of_peak", "floor_fraction_of_peak", "step_floor_fraction_of_peak"):
        assert 0 < rounds[name] < 1


@pytest.mark.parametrize(
    "sizes, lengths",
    [
        (dict(), (20, 20)),
        (dict(embedding_dim=8, units=12, attention_units=10, readout_dim=6), (7, 3)),
        (dict(tgt_vocab_size=37, units=5, attention_units=9), (1, 11)),
    ],
)
def test_floor_program_multiplies_exactly_the_counted_flops(sizes, lengths):
    """The matmul-only step does the hand count: 3x forward, every target token."""
    m = ModelConfig(**sizes)
    batch = 6
    expected = 3 * hand_count(m, *lengths) * batch * lengths[1]
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
    assert whole == pytest.approx(3 * hand_count(m, 4, 5) * 5 * 5, rel=1e-12)


def test_bench_decode_compares_with_the_eager_loop(bench):
    report = bench("decode", *TINY, "--src-len", "6", "--tgt-len", "5", "--repeats", "1", "--json")
    assert report["greedy_sentences_per_s"] > 0
    assert report["eager_loop_sentences_per_s"] > 0
    assert report["greedy_tokens_per_s"] >= report["greedy_sentences_per_s"]
    # Tokens per sentence: at least the EOS, at most the limit of 5 (EOS included).
    for search in ("greedy", "eager_loop"):
        per_sentence = report[f"{search}_tokens_per_s"] / report[f"{search}_sentences_per_s"]
        assert 1 - 1e-2 <= per_sentence <= 5 * (1 + 1e-2)


@pytest.mark.parametrize("readout_dim", [8, 16])
def test_flop_count_grows_with_the_vocabulary_projection(readout_dim):
    """The analytic count: one more vocabulary word adds one readout-sized dot product."""
    m = ModelConfig(tgt_vocab_size=100, readout_dim=readout_dim, bidirectional=False)
    more = ModelConfig(tgt_vocab_size=101, readout_dim=readout_dim, bidirectional=False)
    gained = forward_flops_per_target_token(more, 10, 10) - forward_flops_per_target_token(
        m, 10, 10
    )
    assert gained == 2 * readout_dim


# Every size distinct, so that a term with two sizes swapped or a wrong length shows.
# The benchmarked model: one unidirectional encoder layer, untied embeddings.
DISTINCT = ModelConfig(
    src_vocab_size=17, tgt_vocab_size=13, embedding_dim=3, units=5, attention_units=7,
    readout_dim=11, bidirectional=False, tie_embeddings=False,
)  # fmt: skip
BENCHED_DEFAULTS = ModelConfig(bidirectional=False, tie_embeddings=False)


@pytest.mark.parametrize(
    "m, lengths",
    [
        (DISTINCT, (2, 3)),
        (DISTINCT, (9, 1)),
        (TINY_MODEL, TINY_LENGTHS),
        (BENCHED_DEFAULTS, (20, 20)),
    ],
)
def test_flop_count_is_the_hand_count(m, lengths):
    assert forward_flops_per_target_token(m, *lengths) == pytest.approx(
        hand_count(m, *lengths), rel=1e-12
    )


def test_hand_count_is_every_weight_matrix_of_the_model_applied_as_often_as_it_is_used():
    """The hand count's terms against the built model's own kernels, so a weight matrix
    the model gains, or a size that is not what the count assumes, shows here."""
    s, t = 2, 3
    model = build_model(DISTINCT)
    # How often each kernel multiplies one row, per sentence pair.
    uses = {
        "encoder/lstm_0/lstm_cell/kernel": s,
        "encoder/lstm_0/lstm_cell/recurrent_kernel": s,
        "decoder/attention/key/kernel": s,
        "bridge_h/kernel": 1,
        "bridge_c/kernel": 1,
        "decoder/attention/query/kernel": t,
        "decoder/attention/score/kernel": t * s,  # v·m_i at every step and position
        "decoder/input_kernel": t,
        "decoder/context_kernel": t,
        "decoder/recurrent_kernel": t,
        "decoder/readout/kernel": t,
        "decoder/projection/kernel": t,
    }
    # Embeddings are lookups and biases additions: no matmul.
    kernels = {
        v.path.removeprefix("seq2seq/"): v.shape
        for v in model.trainable_variables
        if len(v.shape) == 2 and not v.path.endswith("embeddings")
    }
    assert set(kernels) == set(uses)
    flops = sum(product(1, *shape) * uses[path] for path, shape in kernels.items())
    flops += t * product(1, s, DISTINCT.units)  # the context: weights times the values
    assert hand_count(DISTINCT, s, t) == pytest.approx(flops / t, rel=1e-12)


def test_bad_sizes_are_one_line_errors(capsys):
    def error(*args):
        """The status of ``nmt bench ARGS`` and what it wrote to stderr."""
        try:
            status = main(["bench", *args])
        except SystemExit as usage_error:  # from argparse
            status = usage_error.code
        return status, capsys.readouterr().err

    status, stderr = error("train", *TINY, "--steps", "0")
    assert status == 2 and "argument --steps: must be a positive integer, got '0'" in stderr
    status, stderr = error("train", *TINY, "--cpu-streams", "-1")
    assert status == 2 and "argument --cpu-streams: must be an integer >= 0, got '-1'" in stderr
    status, stderr = error("train", *TINY, "--threads", "1", "--cpu-streams", "2")
    assert status == 2
    assert "nmt: error: --threads cannot be combined with --cpu-streams 2" in stderr
    status, stderr = error("decode", *TINY, "--threads", "-2")
    assert status == 2 and "argument --threads: must be an integer >= 0, got '-2'" in stderr
    status, stderr = error("decode", *TINY, "--vocab", "4")
    assert status == 2 and "nmt: error: --vocab must be above 4" in stderr


def test_steady_rate_leaves_out_the_warm_up_and_gaps():
    from nmt.bench.data import GAP, WARMUP, steady_rate

    # Steps of 0.1 s and 50 tokens after a slow warm-up, with one dev evaluation.
    ends, t = [], 0.0
    for i in range(WARMUP + 41):
        t += 5.0 if i < WARMUP or i == WARMUP + 20 else 0.1
        ends.append((t, 50.0))
    rate, timed, gaps = steady_rate(ends)
    assert (timed, gaps) == (39, 1)
    assert rate == pytest.approx(500.0)
    assert GAP * 0.1 < 5.0  # the premise: a 5 s step is a gap
    assert steady_rate(ends[:WARMUP]) == (0.0, 0, 0)


def test_bench_data_child_trains_a_streamed_corpus_stops_and_reports(tmp_path, capsys):
    # In this process: the command runs the same function in a child of its own.
    from nmt.bench.data import _child

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    lines = "".join(f"pair number {i}.\t{i}번째 문장.\n" for i in range(300))
    (corpus / "train.tsv").write_text(lines, encoding="utf-8")
    (corpus / "dev.tsv").write_text(lines[:200], encoding="utf-8")
    tiny = [
        "model.embedding_dim=8", "model.units=8", "model.attention_units=8",
        "model.readout_dim=8", "data.chunk_pairs=100", "data.tokenizer_sample=50",
        "train.early_stop_metric=loss",
    ]  # fmt: skip
    request = dict(corpus=str(corpus), src=None, tgt=None, out=str(tmp_path / "m"))
    _child({**request, "steps": 14, "set": tiny, "spawned": time.time()})
    captured = capsys.readouterr()
    assert "streamed from disk in 3 chunks" in captured.err
    run = json.loads(captured.out.strip().splitlines()[-1])
    assert 0 < run["first_step_s"] < 120
    assert run["peak_rss_mb"] > 100
    assert run["tgt_tokens_per_s"] > 0
    assert run["timed_steps"] + run["gaps"] == 14 - 10 - 1
    # Stopped as Ctrl-C would: a checkpoint at the last step, for --resume to go on from.
    assert tf.train.latest_checkpoint(str(tmp_path / "m" / "checkpoints")).endswith("-14")


def test_bench_data_needs_a_corpus_and_reports_a_failed_run(tmp_path, capsys):
    assert main(["bench", "data"]) == 2
    assert "nmt: error: give --corpus PATH, or both --src and --tgt" in capsys.readouterr().err
    (tmp_path / "bad.tsv").write_text("no tab\n", encoding="utf-8")
    assert main(["bench", "data", "--corpus", str(tmp_path / "bad.tsv")]) == 2
    err = capsys.readouterr().err
    assert "the benchmark's training run failed: error: " in err and "bad.tsv:1: no tab" in err
