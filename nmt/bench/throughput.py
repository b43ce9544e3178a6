"""``nmt bench``: training and decoding throughput of the real model on random tokens.

``bench train`` builds ``Seq2Seq`` and ``Trainer`` exactly as ``nmt train`` does, at the
size given by the flags, and times the trainer's own compiled step. Its last output
line is one JSON object, which ``shared/bench/compare.sh`` reads next to the two
reference implementations. ``bench decode`` times the library's search functions
against the tutorial pattern: a Python loop calling the layers eagerly per step.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time

import numpy as np
import tensorflow as tf

from nmt.config import Config
from nmt.constants import BOS_ID, EOS_ID, PAD_ID
from nmt.fast import cpu_streams

FIRST_ID = 4  # random tokens avoid PAD/UNK/BOS/EOS


def bench_config(args) -> Config:
    """The references' model: one LSTM layer each side, no dropout of any kind, untied."""
    config = Config()
    m = config.model
    m.src_vocab_size = m.tgt_vocab_size = args.vocab
    m.embedding_dim = m.readout_dim = args.emb
    m.units = m.attention_units = args.units
    m.encoder_layers, m.bidirectional, m.dropout = 1, False, 0.0
    m.word_dropout, m.tie_embeddings, m.layer_norm = 0.0, False, False
    config.train.label_smoothing = 0.0
    config.train.jit_compile = bool(getattr(args, "jit", False))
    streams = getattr(args, "cpu_streams", None)
    if streams is None:  # explicit --threads mean one stream; else as nmt train does
        streams = 1 if getattr(args, "threads", 0) else cpu_streams.AUTO
    config.train.cpu_streams = streams
    return config


def forward_flops_per_target_token(m, src_len: int, tgt_len: int) -> float:
    """Matmul FLOPs (2 per multiply-add) of one forward pass, per target token, with one
    unidirectional encoder layer (the benched model): every matmul, no elementwise work.

    Per source token: the encoder LSTM ``(e + u) x 4u``, the attention keys ``u x a``;
    per sentence: the bridges ``2 x u x u``; per target token: the input gates ``e x 4u``,
    ``[W_c | W_h]`` ``u x (a + 4u)``, the context gates ``u x 4u``, the scores ``s x a``,
    the context ``s x u``, the readout ``2u x r``, the projection ``r x v`` (tied or not).
    Training costs about three times this (two backward matmuls per forward one).
    """
    if m.bidirectional or m.encoder_layers != 1:
        raise ValueError("the count is for one unidirectional encoder layer")
    e, u, a, r = m.embedding_dim, m.units, m.attention_units, m.readout_dim
    v = m.tgt_vocab_size
    encoder = src_len * ((e + u) * 4 * u + u * a) + 2 * u * u
    decoder = e * 4 * u + u * (a + 4 * u) + u * 4 * u + src_len * (a + u) + 2 * u * r + r * v
    return 2.0 * (decoder + encoder / tgt_len)


class MatmulPeak:
    """GFLOP/s of large fp32 ``tf.matmul``s: the most this machine gives any model.

    One 2048² product with TensorFlow's default threads. With fewer intra-op threads
    than cores (``--threads``, or the training's CPU streams) one product would leave
    cores idle, so the yardstick then runs one product per group of threads side by
    side, as the streams do, and counts them all.

    ``bench train`` times one after every train step and reports the median, so
    that on a shared machine the step and its yardstick see the same load.
    """

    def __init__(self, size: int = 2048):
        self.size = size
        intra = tf.config.threading.get_intra_op_parallelism_threads()
        self.products = max(1, cpu_streams.available_cores() // intra) if intra else 1
        self.x = tf.random.normal((size, size))
        self.y = tf.random.normal((size, size))
        self.rates: list[float] = []
        # A graph, so that the products run side by side; one product runs eagerly.
        self._many = tf.function(lambda: [tf.matmul(self.x, self.y) for _ in range(self.products)])
        self.run().numpy()

    def run(self) -> tf.Tensor:
        """The yardstick's products; returns the first."""
        if self.products == 1:
            return tf.matmul(self.x, self.y)
        return self._many()[0]

    def rate(self, seconds: float) -> float:
        """GFLOP/s of one ``run`` that took ``seconds``."""
        return 2.0 * self.products * self.size**3 / seconds / 1e9

    def measure(self) -> None:
        start = time.perf_counter()
        self.run().numpy()
        self.rates.append(self.rate(time.perf_counter() - start))

    def gflops_per_s(self) -> float:
        return statistics.median(self.rates)


def random_batch(rng, vocab: int, batch: int, src_len: int, tgt_len: int):
    """Full-length random ``(src, tgt_in, tgt_out)``: every target position is a real token."""
    src = rng.integers(FIRST_ID, vocab, (batch, src_len)).astype(np.int32)
    tgt = rng.integers(FIRST_ID, vocab, (batch, tgt_len)).astype(np.int32)
    tgt_in = np.concatenate([np.full((batch, 1), BOS_ID, np.int32), tgt[:, :-1]], axis=1)
    return tf.constant(src), tf.constant(tgt_in), tf.constant(tgt)


def _set_threads(args) -> None:
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)


def run_train(args) -> int:
    from nmt.training.trainer import Trainer

    _set_threads(args)
    config = bench_config(args)
    # Before the first op, as in nmt train: TensorFlow fixes its threads when it starts.
    cpu_streams.for_training(config.train, None)
    rng = np.random.default_rng(0)
    batch = random_batch(rng, args.vocab, args.batch, args.src_len, args.tgt_len)
    peak = MatmulPeak()
    with tempfile.TemporaryDirectory(prefix="nmt-bench-") as model_dir:
        trainer = Trainer(config, model_dir)
        step = trainer.train_step
        start = time.perf_counter()
        float(step(*batch)[0])
        compile_s = time.perf_counter() - start
        float(step(*batch)[0])
        times = []
        for _ in range(args.steps):
            start = time.perf_counter()
            float(step(*batch)[0])
            times.append(time.perf_counter() - start)
            peak.measure()
        traces = step.experimental_get_tracing_count()
        # Lengths as the pipeline pads them (multiples of data.bucket_width).
        width = config.data.bucket_width
        start = time.perf_counter()
        shapes = ((width, 2 * width), (3 * width, width), (2 * width, 3 * width))
        for lengths in shapes:
            float(step(*random_batch(rng, args.vocab, args.batch, *lengths))[0])
        new_shape_s = (time.perf_counter() - start) / len(shapes)
        retraces = step.experimental_get_tracing_count() - traces
    # The mean, as the reference implementations report it.
    step_s = statistics.mean(times)
    peak_gflops = peak.gflops_per_s()
    flops = 3.0 * forward_flops_per_target_token(config.model, args.src_len, args.tgt_len)
    tokens = args.batch * args.tgt_len
    tokens_per_s = tokens / step_s

    def gflops_per_s(seconds):
        return flops * tokens / seconds / 1e9

    result = {
        "bench": "train",
        "jit": config.train.jit_compile,
        "threads": tf.config.threading.get_intra_op_parallelism_threads(),
        "cpu_streams": trainer.streams,
        "peak_products": peak.products,
        "compile_s": round(compile_s, 2),
        "step_s": _significant(step_s),
        "tgt_tokens_per_s": round(tokens_per_s, 1),
        "train_mflop_per_tgt_token": _significant(flops / 1e6),
        "gflops_per_s": _significant(gflops_per_s(step_s)),
        "matmul_peak_gflops_per_s": round(peak_gflops, 1),
        "fraction_of_peak": _significant(gflops_per_s(step_s) / peak_gflops, 3),
        "retraces": retraces,
        "new_shape_step_s": round(new_shape_s, 2),
    }
    if args.floor:
        rounds = _floor_rounds(config.model, args, trainer, batch, peak, gflops_per_s)
        result["floor_rounds"] = rounds
    _report(result, args.json)
    return 0


def _floor_rounds(m, args, trainer, batch, peak: MatmulPeak, gflops_per_s) -> dict:
    """The step beside its two floors (``nmt.bench.matmul_floor``) and the matmul peak, all four
    alternated for ``args.steps`` rounds so that they see the same load: the step's
    matmuls alone, the step floor (those plus the work no implementation can skip; its
    update is the trainer's optimizer's) and the real step. Medians of the rounds."""
    from nmt.bench import matmul_floor

    # A step in CPU streams is its slices' steps side by side: so are its floors, cut
    # as the trainer cuts the batch (an odd batch's slices differ by a row).
    rows = [int(part[0].shape[0]) for part in cpu_streams.slices(trainer.streams, batch[0])]
    slices = [(matmul_floor.stages(m, n, args.src_len, args.tgt_len), n) for n in rows if n]
    variables = trainer.model.trainable_variables
    gradients = [tf.random.normal(v.shape, stddev=1e-3, seed=0) for v in variables]

    def update():
        trainer.optimizer.apply_gradients(zip(gradients, variables))

    programs = [
        matmul_floor.step_function(slices),
        matmul_floor.step_function(slices, unavoidable=True, update=update),
        lambda: trainer.train_step(*batch)[0],
        lambda: peak.run()[0, 0],
    ]
    floor_s, step_floor_s, step_s, peak_s = matmul_floor.time_floors(programs, args.steps)
    peak_gflops = peak.rate(peak_s)
    return {
        "step_s": _significant(step_s),
        "matmul_floor_s": _significant(floor_s),
        "step_floor_s": _significant(step_floor_s),
        "matmul_peak_gflops_per_s": round(peak_gflops, 1),
        "fraction_of_peak": _significant(gflops_per_s(step_s) / peak_gflops, 3),
        "floor_fraction_of_peak": _significant(gflops_per_s(floor_s) / peak_gflops, 3),
        "step_floor_fraction_of_peak": _significant(gflops_per_s(step_floor_s) / peak_gflops, 3),
        # How close the step comes to the fastest step these kernels allow.
        "share_of_step_floor": _significant(step_floor_s / step_s, 3),
    }


def run_decode(args) -> int:
    from nmt.decoding import search
    from nmt.fast.loops import CpuLoops
    from nmt.model.seq2seq import build_model

    _set_threads(args)
    config = bench_config(args)
    model = build_model(config.model)
    rng = np.random.default_rng(0)
    src = rng.integers(FIRST_ID, args.vocab, (args.batch, args.src_len)).astype(np.int32)
    src[:, -1] = EOS_ID
    src = tf.constant(src)
    # Random weights never emit EOS on purpose: every search runs to the limit.
    limits = tf.fill([args.batch], args.tgt_len)
    loops = CpuLoops()  # what nmt translate runs

    def greedy(src_ids, limits):
        return search.greedy_search(model, src_ids, limits, loops)[0]

    searches = {"greedy": tf.function(greedy)}
    if hasattr(search, "beam_search"):
        searches[f"beam{args.beam}"] = tf.function(
            lambda src_ids, limits: _beam_ids(search, model, src_ids, limits, args.beam, loops)
        )
    searches["eager_loop"] = lambda src_ids, limits: eager_greedy(model, src_ids, limits)
    result = {"bench": "decode", "batch": args.batch, "beam_search": "beam_search" in dir(search)}
    for name, fn in searches.items():
        ids = fn(src, limits)  # trace, and warm up
        seconds = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            ids = np.asarray(fn(src, limits))
            seconds.append(time.perf_counter() - start)
        dt = statistics.median(seconds)
        tokens = int(np.sum(ids != PAD_ID))
        result[f"{name}_sentences_per_s"] = round(args.batch / dt, 1)
        result[f"{name}_tokens_per_s"] = round(tokens / dt, 1)
    result["greedy_vs_eager_loop"] = round(
        result["greedy_sentences_per_s"] / result["eager_loop_sentences_per_s"], 2
    )
    _report(result, args.json)
    return 0


def _beam_ids(search, model, src_ids, limits, beam: int, loops):
    out = search.beam_search(model, src_ids, limits, beam, loops=loops)
    return out[0] if isinstance(out, tuple | list) else out


def eager_greedy(model, src_ids, limits):
    """The tutorial pattern: a Python loop calling the model's layers eagerly each step."""
    memory, state = model.encode(src_ids)
    prev = tf.fill([src_ids.shape[0]], BOS_ID)
    finished = np.zeros(src_ids.shape[0], bool)
    out = []
    for t in range(int(tf.reduce_max(limits))):
        logits, state, _ = model.decode_step(prev, state, memory)
        token = tf.argmax(logits, axis=-1, output_type=tf.int32).numpy()
        token = np.where(t + 1 >= limits.numpy(), EOS_ID, token)
        token = np.where(finished, PAD_ID, token)
        finished |= token == EOS_ID
        out.append(token)
        if finished.all():
            break
        prev = tf.constant(token)
    return np.stack(out, axis=1)


def _significant(x: float, digits: int = 4) -> float:
    """Rounded to significant digits, so a tiny model's rates do not print as 0."""
    return float(f"{x:.{digits}g}")


def _report(result: dict, as_json: bool) -> None:
    lines = [f"{key:28} {value}" for key, value in result.items()]
    print(json.dumps(result) if as_json else "\n".join(lines), flush=True)
