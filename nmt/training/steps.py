"""The compiled train and eval steps of one model: on one device, under a distribution
strategy, or cut into CPU streams."""

from __future__ import annotations

import keras
import tensorflow as tf

from nmt.fast import cpu_streams
from nmt.fast.loops import CpuLoops
from nmt.fast.loss import fused_masked_loss
from nmt.model.loops import Loops
from nmt.model.loss import masked_loss, token_count

BATCH_SPEC = (
    tf.TensorSpec([None, None], tf.int32, name="src"),
    tf.TensorSpec([None, None], tf.int32, name="tgt_in"),
    tf.TensorSpec([None, None], tf.int32, name="tgt_out"),
)


class Steps:
    """``train_step(src, tgt_in, tgt_out) -> (loss_sum, tokens)`` and ``eval_step``, the
    same without the update, for ``model`` and ``optimizer``.

    Both are ``tf.function``s with a fixed input signature, so batches of any shape
    reuse one trace (and ``jit_compile`` compiles once per bucketed shape). With
    ``streams`` above 1, each batch is cut into that many slices that run side by side
    (``nmt.fast.cpu_streams``); the loss and gradients are the whole batch's either way.
    The model runs through ``loops``: by default the CPU loops (``nmt.fast.loops``),
    which fall back to the plain ones where they are not exact (a GPU, mixed precision).
    """

    def __init__(
        self,
        model: keras.Model,
        optimizer: keras.optimizers.Optimizer,
        *,
        label_smoothing: float = 0.0,
        jit_compile: bool = False,
        strategy: tf.distribute.Strategy | None = None,
        streams: int = 1,
        loops: Loops | None = None,
        ema=None,
    ):
        self.model, self.optimizer, self.ema = model, optimizer, ema
        self.loops = CpuLoops() if loops is None else loops
        self.label_smoothing = label_smoothing
        self.strategy, self.streams = strategy, streams
        jit = jit_compile and strategy is None
        self.train_step = compile_step(self._train_step, BATCH_SPEC, jit_compile=jit)
        self.eval_step = compile_step(self._eval_step, BATCH_SPEC, jit_compile=jit)
        self._distributed = None  # traced for the distributed dataset's element spec
        # XLA for the loss even when the step itself is not compiled: fused, the loss
        # over (b, t, v) logits is a few passes over memory instead of one per op
        # (docs/speed-training-step.md). The matmuls stay with TensorFlow's oneDNN
        # kernels, faster on CPU than XLA's, and the update is already one kernel per
        # weight (FusedAdam).
        self._loss = tf.function(masked_loss, jit_compile=True)
        self._train_loss, self._eval_loss = self._slice_train_loss, self._slice_eval_loss
        if streams > 1:
            # One trace for every slice: tracing the model's graph once per slice made
            # the first step markedly longer (docs/speed-training-step.md, "CPU streams").
            self._train_loss, self._eval_loss = (
                compile_step(fn, BATCH_SPEC)
                for fn in (self._slice_train_loss, self._slice_eval_loss)
            )

    def for_dataset(self, data: tf.data.Dataset):
        """The train and eval steps and the dataset to feed them, for this strategy.

        The train step here is ``step(batch, signal) -> (loss_sum, tokens, stop)``:
        under a strategy, a signal that reached any worker stops every worker after
        the same step, so they save together instead of waiting on each other.
        """
        if self.strategy is None:
            return (lambda batch, sig: (*self.train_step(*batch), sig)), self.eval_step, data
        data = self.strategy.experimental_distribute_dataset(data)
        if self._distributed is None:
            # One trace for every batch shape: the element spec has None lengths.
            spec = list(data.element_spec)
            signal_spec = tf.TensorSpec([], tf.int32)
            self._distributed = (
                compile_step(self._train_step_or_stop, [*spec, signal_spec]),
                compile_step(self._eval_step, spec),
            )
        train_step, eval_step = self._distributed
        return (lambda batch, sig: train_step(*batch, sig)), eval_step, data

    def replica_gradients(self, src, tgt_in, tgt_out):
        """One replica's share: its loss sum and token count, and gradients of its
        loss sum over the *global* token count, so summed over replicas they are the
        gradients of the global mean whatever the number of replicas."""
        context = tf.distribute.get_replica_context()
        # Counted from the targets, not taken from the slices' losses: then each
        # slice's backward pass starts when its own loss is done instead of waiting
        # for every slice's (docs/speed-training-step.md).
        tokens = token_count(tgt_out)
        all_tokens = context.all_reduce("SUM", tokens) if self.strategy else tokens
        with tf.GradientTape() as tape:
            # Each slice's pass is its own chain of ops until the gradients are summed.
            parts = [self._train_loss(*part) for part in self._slices(src, tgt_in, tgt_out)]
            loss_sum = tf.add_n([part_sum for part_sum, _ in parts])
            loss = loss_sum / tf.maximum(all_tokens, 1.0)
            if isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
                loss = self.optimizer.scale_loss(loss)
        variables = self.model.trainable_variables
        # Embedding gradients arrive as IndexedSlices with one row per token
        # occurrence; Keras's Adam applies such duplicates one by one, which
        # multiplies the step size of frequent tokens. Dense gradients give the
        # textbook update, and the table is small next to the step's matmuls.
        gradients = [tf.convert_to_tensor(g) for g in tape.gradient(loss, variables)]
        return loss_sum, tokens, gradients

    def _train_step(self, src, tgt_in, tgt_out):
        loss_sum, tokens, gradients = self._run(self.replica_gradients, src, tgt_in, tgt_out)
        variables = self.model.trainable_variables
        if self.strategy is not None:
            pairs = [(g, v.value) for g, v in zip(gradients, variables)]
            gradients = self.strategy.extended.batch_reduce_to("SUM", pairs)
        self.optimizer.apply_gradients(zip(gradients, variables))
        if self.ema is not None:
            self.ema.update()
        return loss_sum, tokens

    def _train_step_or_stop(self, src, tgt_in, tgt_out, sig):
        loss_sum, tokens = self._train_step(src, tgt_in, tgt_out)
        signals = self.strategy.run(lambda: tf.identity(sig))
        return loss_sum, tokens, self.strategy.reduce("SUM", signals, axis=None)

    def _eval_step(self, src, tgt_in, tgt_out):
        return self._run(self._replica_loss, src, tgt_in, tgt_out)

    def _run(self, fn, *batch):
        """``fn`` on every replica; its first two outputs summed over replicas."""
        if self.strategy is None:
            return fn(*batch)
        loss_sum, tokens, *rest = self.strategy.run(fn, batch)
        loss_sum = self.strategy.reduce("SUM", loss_sum, axis=None)
        tokens = self.strategy.reduce("SUM", tokens, axis=None)
        return loss_sum, tokens, *rest

    def _replica_loss(self, src, tgt_in, tgt_out):
        return _sum_parts([self._eval_loss(*part) for part in self._slices(src, tgt_in, tgt_out)])

    def _slice_train_loss(self, src, tgt_in, tgt_out):
        logits, _ = self.model((src, tgt_in), training=True, loops=self.loops)
        # Training's loss also hands over its gradient, from the same XLA function.
        return fused_masked_loss(logits, tgt_out, self.label_smoothing)

    def _slice_eval_loss(self, src, tgt_in, tgt_out):
        logits, _ = self.model((src, tgt_in), training=False, loops=self.loops)
        return self._loss(logits, tgt_out)

    def _slices(self, *batch):
        return cpu_streams.slices(self.streams, *batch)


def compile_step(fn, signature, jit_compile=False):
    """A step's ``tf.function``: traced once for every batch shape (``signature``), and
    without AutoGraph, since the model and trainer write their loops and conditions as
    TensorFlow ops already; converting every function they call made a sizeable part
    of the first step's trace (docs/speed-history.md, "Steps traced without AutoGraph")."""
    return tf.function(fn, input_signature=signature, jit_compile=jit_compile, autograph=False)


def _sum_parts(parts):
    """Per-slice ``(loss_sum, tokens)`` pairs -> the batch's."""
    if len(parts) == 1:
        return parts[0]
    return tf.add_n([p[0] for p in parts]), tf.add_n([p[1] for p in parts])
