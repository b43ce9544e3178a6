"""Training on a CPU in concurrent slices of each batch, one intra-op thread each.

The encoder's and decoder's loops are chains of small ops (a 64-row matmul, the gates'
activations, the attention's ``tanh``). With TensorFlow's default threading, each op
is split across every core and each core then waits for the others: on two shared
cores a loop spends much of its time in those waits, and a single-threaded
elementwise kernel leaves the other core idle. Cut into ``streams`` independent
slices of the batch, each slice's forward and backward pass is its own chain of ops,
which TensorFlow's inter-op threads run side by side, one slice per core, without
waiting on each other until their gradients are summed.

TensorFlow reads its thread counts once, when it starts, so ``configure`` has to run
before the first op: ``train_translator`` and ``nmt bench train`` call it first, and
``Trainer`` calls it again before building the model (a no-op once set).
"""

from __future__ import annotations

import os

import tensorflow as tf

AUTO = 0


def available_cores() -> int:
    """The cores this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def resolve(requested: int) -> int:
    """The number of streams for ``train.cpu_streams``.

    ``AUTO`` gives 2 on a machine without a GPU and with exactly two cores, the only
    kind it was measured on (docs/speed-training-step.md), and 1 elsewhere. A GPU runs one slice
    after another, so there it is always 1.
    """
    if tf.config.list_physical_devices("GPU"):
        return 1
    if requested != AUTO:
        return requested
    return 2 if available_cores() == 2 else 1


def threads(streams: int) -> tuple[int, int]:
    """Intra- and inter-op thread counts that give each stream its share of the cores."""
    return max(1, available_cores() // streams), max(2, streams)


def configure(requested: int) -> int:
    """Resolve ``train.cpu_streams`` and set TensorFlow's threads for it.

    Returns the number of streams to cut each batch into. When TensorFlow already runs
    with other thread counts, a requested count is kept (the slices are still correct,
    only slower than they could be) and ``AUTO`` falls back to 1.
    """
    streams = resolve(requested)
    if streams == 1:
        return 1
    wanted = threads(streams)
    config = tf.config.threading
    current = (
        config.get_intra_op_parallelism_threads(),
        config.get_inter_op_parallelism_threads(),
    )
    if current == wanted:
        return streams
    if current != (0, 0) and requested == AUTO:
        return 1  # the caller chose its own threads: leave them
    try:
        config.set_intra_op_parallelism_threads(wanted[0])
        config.set_inter_op_parallelism_threads(wanted[1])
    except RuntimeError:  # TensorFlow has started: its thread pools are fixed
        return streams if requested != AUTO else 1
    return streams


def for_training(train, strategy) -> int:
    """``configure`` for a ``TrainConfig``: 1 under a distribution strategy (which
    places the batch itself) or ``jit_compile`` (one XLA program runs its ops in turn)."""
    if strategy is not None or train.jit_compile:
        return 1
    return configure(train.cpu_streams)


def slices(streams: int, *batch: tf.Tensor) -> list[tuple[tf.Tensor, ...]]:
    """``batch`` cut into ``streams`` row ranges of (nearly) equal size; a batch with
    fewer rows than streams gives some empty slices, which the model and loss accept."""
    if streams == 1:
        return [batch]
    rows = tf.shape(batch[0])[0]
    bounds = [rows * i // streams for i in range(streams + 1)]
    return [tuple(x[a:b] for x in batch) for a, b in zip(bounds, bounds[1:])]
