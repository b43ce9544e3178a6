"""The training step's matmuls alone: how fast the step could be if nothing else cost time.

``nmt bench train --floor`` times a program made only of the matmuls that
``nmt.bench.throughput.forward_flops_per_target_token`` counts, forward and backward, at the
model's shapes and in the step's order: the loops as ``tf.while_loop``s of dependent
steps multiplied in ``nmt.fast.loop_matmul``'s layout, as the real loops do, and the
large products as single matmuls that may overlap where the real step lets them
(a stage waits only for the stages it names in ``after``). Its time is a floor for
the real step on this machine: whatever the step does besides matmuls (activations,
the attention's ``tanh``, softmax and loss, gathers, the optimizer update) comes on
top. So ``useful FLOPs / floor / matmul peak`` is the highest ``fraction_of_peak``
this model can reach here with these matmul kernels.

The loops chain each product into the next through their thin operand (a slice or
a tile of the previous product, a few microseconds per step), so no step can start
before the one before it, as in the model.

``step_function(..., unavoidable=True)`` adds, in place, the work besides matmuls that
no implementation of this model can skip, each once and forward only: the LSTM gates'
activations and cell update in every step of both loops, the attention's
``tanh(W_c·c + W_y·y_i)`` over ``(b, s, a)`` in every decoder step (the scores then
multiply that instead of a fixed operand), the exponent and row sums of every logit for
the softmax, and the optimizer's update of every weight. Left out: the activations'
derivatives, the loss gradient, gathers, masks, and every extra pass over memory a real
step makes. Its time is the step floor: the fastest step these kernels allow however
well the rest were fused, since in the step each added part is on the critical path
(inside the recurrences, between the projection and its gradient, after the global norm
of all gradients).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from typing import NamedTuple

import tensorflow as tf

from nmt.fast import loop_matmul


class Stage(NamedTuple):
    """Products ``(m, k, n)`` (``(m x k)·(k x n)``) or batched ``(batch, m, k, n)``.

    ``steps`` 0 runs each product once; ``steps`` n runs all of them in turn, n times,
    each step's products chained through the loop's carry ``(b, ·)``. ``unavoidable``
    names the work besides matmuls that the stage adds under
    ``step_function(..., unavoidable=True)``: ``"lstm"`` (a loop's last product are the
    gates), ``"attention"`` (a decoder loop's second product are the scores) or
    ``"softmax"`` (the stage's product are the logits).
    """

    name: str
    products: tuple[tuple[int, ...], ...]
    steps: int = 0
    after: tuple[str, ...] = ()
    unavoidable: tuple[str, ...] = ()


def stages(m, batch: int, src_len: int, tgt_len: int) -> list[Stage]:
    """The matmuls of one training step of the benchmark's model, forward then backward."""
    b, s, t = batch, src_len, tgt_len
    e, u, a, r, v = m.embedding_dim, m.units, m.attention_units, m.readout_dim, m.tgt_vocab_size
    bs, bt, g = b * s, b * t, 4 * u
    return [
        Stage("encoder inputs", ((bs, e, g),)),
        Stage("decoder inputs", ((bt, e, g),)),
        Stage(
            "encoder loop", ((b, u, g),), steps=s, after=("encoder inputs",), unavoidable=("lstm",)
        ),
        Stage("keys, bridges", ((bs, u, a), (b, u, u), (b, u, u)), after=("encoder loop",)),
        # Per step: [W_c | W_h], the scores v·m_i, the context, the context gates.
        Stage(
            "decoder loop",
            ((b, u, a + g), (b, s, a, 1), (b, 1, s, u), (b, u, g)),
            steps=t,
            after=("keys, bridges", "decoder inputs"),
            unavoidable=("attention", "lstm"),
        ),
        Stage("readout", ((bt, 2 * u, r),), after=("decoder loop",)),
        Stage("projection", ((bt, r, v),), after=("readout",), unavoidable=("softmax",)),
        Stage("projection backward", ((bt, v, r), (r, bt, v)), after=("projection",)),
        Stage("readout backward", ((bt, r, 2 * u), (2 * u, bt, r)), after=("projection backward",)),
        # Per step: dz·W_ctxᵀ, the scores' gradient from the context, the query's
        # gradient, v's gradient, then [d_query, dz]·[W_c | W_h]ᵀ.
        Stage(
            "decoder backward loop",
            ((b, g, u), (b, s, u, 1), (b, 1, s, a), (1, 1, bs, a), (b, a + g, u)),
            steps=t,
            after=("readout backward",),
        ),
        # What the encoder's backward waits for: the values' and keys' gradients.
        Stage(
            "values, keys, bridges backward",
            ((b, s, t, u), (bs, a, u), (u, bs, a), (b, u, u), (b, u, u), (u, b, u), (u, b, u)),
            after=("decoder backward loop",),
        ),
        Stage(
            "decoder weight gradients",
            ((u, bt, a + g), (u, bt, g), (e, bt, g), (bt, g, e)),
            after=("decoder backward loop",),
        ),
        Stage(
            "encoder backward loop",
            ((b, g, u),),
            steps=s,
            after=("values, keys, bridges backward",),
        ),
        Stage(
            "encoder weight gradients",
            ((u, bs, g), (e, bs, g), (bs, g, e)),
            after=("encoder backward loop",),
        ),
    ]


def flops(stage_list: list[Stage]) -> float:
    """2 FLOPs per multiply-add, over every product and step."""
    return sum(
        2.0 * math.prod(p) * max(stage.steps, 1) for stage in stage_list for p in stage.products
    )


def step_function(
    slices: Sequence[tuple[list[Stage], int]], unavoidable: bool = False,
    update: Callable[[], object] | None = None,
):  # fmt: skip
    """A ``tf.function`` running each slice's stages once; its scalar result reads every
    product.

    ``slices`` holds ``(stages, batch)`` per slice: one for a plain step; one per CPU
    stream for a step cut into streams (``nmt.fast.cpu_streams``), whose slices run side by
    side and may differ by a row. A product's operands are shared by the slices where
    their shapes agree, as the streams share the weights. With ``unavoidable``, each
    stage also does the work its ``Stage.unavoidable`` names, and ``update`` (the
    optimizer's, with fixed gradients) runs once after every stage of every slice.
    """
    rng = tf.random.Generator.from_seed(0)
    variables = {}

    def operand(key, *shape):
        # Keyed by the product too: two products of one shape read two operands.
        if (key, shape) not in variables:
            variables[key, shape] = tf.Variable(rng.normal(shape) * 0.01, trainable=False)
        return variables[key, shape]

    def operands(stage, i):
        *lead, m, k, n = stage.products[i]
        key = stage.name, i
        if stage.steps == 0:
            return operand(key, *lead, m, k), operand(key, *lead, k, n)
        if not lead:
            return None, operand(key, n, k)  # prepared: Wᵀ
        if m == 1:
            return None, operand(key, *lead, k, n)
        return operand(key, *lead, m, k), None

    def start(stage_list, batch):
        """The loops' first carry, wide enough for every loop's thin operand."""
        widths = [p[-2] for stage in stage_list if stage.steps for p in stage.products]
        return operand("start", batch, max(widths, default=1))

    # Every operand now: a tf.function may create variables only when first traced.
    for stage_list, batch in slices:
        start(stage_list, batch)
        for stage in stage_list:
            for i in range(len(stage.products)):
                operands(stage, i)

    def run_loop(stage, batch, first):
        extra = stage.unavoidable if unavoidable else ()
        # The cell's width, when the last product are an LSTM's gates.
        units = stage.products[-1][-1] // 4 if "lstm" in extra else 1

        def body(i, carry, cell):
            for j, p in enumerate(stage.products):
                lhs, rhs = operands(stage, j)
                k = p[-2]
                if len(p) == 3:
                    y = loop_matmul.matmul(_width(carry, k), tf.convert_to_tensor(rhs))
                elif p[-3] == 1:  # the thin side is the left one: (B, 1, k)
                    x = _width(carry, p[0] * k // batch)
                    y = tf.matmul(tf.reshape(x, [p[0], 1, k]), rhs)
                else:  # (B, m, k)·(B, k, 1)
                    x = _width(carry, k)
                    if j == 1 and "attention" in extra:  # the scores of tanh(keys + query)
                        lhs = tf.tanh(lhs + x[:, None, :])
                    y = tf.matmul(lhs, x[:, :, None])
                if j == len(stage.products) - 1 and "lstm" in extra:
                    y, cell = _lstm_cell(y, cell, units)
                if y.shape[0] == batch:  # v's gradient is not on the recurrence
                    carry = tf.reshape(y, [batch, -1])
            return i + 1, _width(carry, first.shape[-1]), cell

        cell = tf.zeros([batch, units])
        return tf.while_loop(lambda i, *_: i < stage.steps, body, (0, first, cell))[1]

    @tf.function
    def program():
        outputs = {}
        for copy, (stage_list, batch) in enumerate(slices):
            first = start(stage_list, batch)
            for stage in stage_list:
                after = [outputs[copy, name] for name in stage.after]
                with tf.control_dependencies(after):
                    outputs[copy, stage.name] = run_stage(stage, batch, first)
        if update is not None and unavoidable:
            with tf.control_dependencies(list(outputs.values())):
                update()
        return tf.add_n(list(outputs.values()))

    def run_stage(stage, batch, first):
        if stage.steps:
            results = [run_loop(stage, batch, first)]
        else:
            pairs = [operands(stage, i) for i in range(len(stage.products))]
            results = [tf.matmul(lhs, rhs) for lhs, rhs in pairs]
        if unavoidable and "softmax" in stage.unavoidable:
            # Every logit's exponent, and the normaliser of every row.
            row_sums = tf.reduce_sum(tf.exp(results[0]), axis=-1)
            results.append(tf.reduce_sum(tf.math.log(row_sums))[None])
        # One element of each product, so none is pruned as unused.
        return tf.add_n([tf.reshape(y, [-1])[0] for y in results])

    return program


def time_floors(programs: list, repeats: int) -> list[float]:
    """Median seconds of each program (a ``step_function``, or any callable returning a
    scalar), alternated ``repeats`` times, so that on a shared machine each sees the
    same load."""
    for program in programs:
        float(program())
    seconds = [[] for _ in programs]
    for _ in range(repeats):
        for program, times in zip(programs, seconds):
            start = time.perf_counter()
            float(program())
            times.append(time.perf_counter() - start)
    return [statistics.median(times) for times in seconds]


def _lstm_cell(gates, c, units: int):
    """``(b, 4u)`` gates before their activations -> ``(h, c)``.

    The gates are taken as i, f, o, g (the model's order is i, f, g, o): one sigmoid
    over three of them, the same work.
    """
    i_f_o = tf.sigmoid(gates[:, : 3 * units])
    c = i_f_o[:, units : 2 * units] * c + i_f_o[:, :units] * tf.tanh(gates[:, 3 * units :])
    return i_f_o[:, 2 * units :] * tf.tanh(c), c


def _width(x, k: int):
    """``(b, n)`` -> ``(b, k)``: the first k columns, repeating x if it is narrower."""
    n = x.shape[-1]
    if n < k:
        x = tf.tile(x, [1, -(-k // n)])
    return x[:, :k]
