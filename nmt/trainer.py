"""Training: compiled train/eval steps, checkpoints, resume, early stopping."""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keras
import tensorflow as tf

from nmt import cpu_streams, distribute
from nmt.config import Config
from nmt.errors import Interrupted, NmtError
from nmt.interrupt import Interruptible
from nmt.loss import fused_masked_loss, masked_loss, token_count
from nmt.model import Seq2Seq, build_model, model_checkpoint
from nmt.modeldir import BEST_DIR, CHECKPOINT_DIR, CHECKPOINT_ERRORS
from nmt.optimizer import FusedAdam
from nmt.pipeline import Encoded, batches

BATCH_SPEC = (
    tf.TensorSpec([None, None], tf.int32, name="src"),
    tf.TensorSpec([None, None], tf.int32, name="tgt_in"),
    tf.TensorSpec([None, None], tf.int32, name="tgt_out"),
)


@dataclass
class EpochResult:
    epoch: int
    train_loss: float
    dev_loss: float
    tokens_per_s: float
    seconds: float
    dev_metrics: dict[str, float] = field(default_factory=dict)  # e.g. chrF, when computed


@dataclass
class TrainResult:
    steps: int
    epochs: list[EpochResult] = field(default_factory=list)
    best_dev_loss: float = math.inf
    stopped_early: bool = False
    best_dev_metric: float | None = None


class Trainer:
    """Owns the model, optimizer and checkpoints of one model directory.

    The train and eval steps are ``tf.function``s with a fixed input signature, so
    batches of any shape reuse one trace (and ``jit_compile`` compiles once per
    bucketed shape). Checkpoints carry the step, the epoch and the position in the
    epoch, so re-running the same command resumes exactly where it stopped. On a CPU
    the steps may cut each batch into ``self.streams`` slices that run side by side
    (``nmt.cpu_streams``); the loss and gradients are the whole batch's either way.
    """

    def __init__(
        self,
        config: Config,
        model_dir: str | Path,
        model: Seq2Seq | None = None,
        strategy: tf.distribute.Strategy | None = None,
    ):
        self.config = config
        self.model_dir = Path(model_dir)
        # None is TensorFlow's default strategy: one device, steps run as written.
        self.strategy = strategy
        t = config.train
        # Before the model: TensorFlow fixes its thread counts when it starts.
        self.streams = cpu_streams.for_training(t, strategy)
        with self._scope():
            self.model = model or build_model(config.model)
            # Clipping inside the optimizer sees the global gradient (summed over
            # replicas, unscaled under float16 loss scaling) whatever the strategy.
            self.optimizer = FusedAdam(
                learning_rate=t.learning_rate, global_clipnorm=t.clip_norm or None
            )
            if keras.mixed_precision.dtype_policy().name == "mixed_float16":
                self.optimizer = keras.optimizers.LossScaleOptimizer(self.optimizer)
            self.optimizer.build(self.model.trainable_variables)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.batch_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.best_dev_loss = tf.Variable(math.inf, dtype=tf.float64, trainable=False)
        self.bad_epochs = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.checkpoint = model_checkpoint(
            self.model,
            # The inner optimizer: a loss scale is not worth restoring, and leaving it
            # out lets a checkpoint resume in any precision.
            optimizer=getattr(self.optimizer, "inner_optimizer", self.optimizer),
            step=self.step,
            epoch=self.epoch,
            batch_in_epoch=self.batch_in_epoch,
            best_dev_loss=self.best_dev_loss,
            bad_epochs=self.bad_epochs,
        )
        self._write_dir = distribute.worker_dir(self.model_dir, strategy)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self._write_dir / CHECKPOINT_DIR, max_to_keep=t.keep_checkpoints
        )
        # The dev BLEU/chrF of the best weights is saved with them, not in the training
        # checkpoint, so checkpoints written before it existed still resume.
        self.best_dev_metric = tf.Variable(-math.inf, dtype=tf.float64, trainable=False)
        self.best_manager = tf.train.CheckpointManager(
            model_checkpoint(self.model, best_dev_metric=self.best_dev_metric),
            self._write_dir / BEST_DIR,
            max_to_keep=1,
        )
        jit = t.jit_compile and strategy is None
        self.train_step = _step(self._train_step, BATCH_SPEC, jit_compile=jit)
        self.eval_step = _step(self._eval_step, BATCH_SPEC, jit_compile=jit)
        self._distributed_steps = None  # traced for the distributed dataset's element spec
        self._eval_data = None  # (split, eval step, its batches), built on first use
        # XLA for the loss even when the step itself is not compiled: fused, the loss
        # over (b, t, v) logits is a few passes over memory instead of one per op
        # (docs/speed.md). The matmuls stay with TensorFlow's oneDNN kernels, faster on
        # CPU than XLA's, and the update is already one kernel per weight (FusedAdam).
        self._loss = tf.function(masked_loss, jit_compile=True)
        self._train_loss, self._eval_loss = self._slice_train_loss, self._slice_eval_loss
        if self.streams > 1:
            # One trace for every slice: traced once per slice, the model's graph made
            # the first step about 1 s longer (docs/speed.md).
            self._train_loss, self._eval_loss = (
                _step(fn, BATCH_SPEC) for fn in (self._slice_train_loss, self._slice_eval_loss)
            )

    def _scope(self):
        return self.strategy.scope() if self.strategy else contextlib.nullcontext()

    def _train_step(self, src, tgt_in, tgt_out):
        loss_sum, tokens, gradients = self._run(self._replica_gradients, src, tgt_in, tgt_out)
        if self.strategy is not None:
            pairs = [(g, v.value) for g, v in zip(gradients, self.model.trainable_variables)]
            gradients = self.strategy.extended.batch_reduce_to("SUM", pairs)
        self._apply_gradients(gradients)
        return loss_sum, tokens

    def _replica_gradients(self, src, tgt_in, tgt_out):
        """One replica's share: its loss sum and token count, and gradients of its
        loss sum over the *global* token count, so summed over replicas they are the
        gradients of the global mean whatever the number of replicas."""
        context = tf.distribute.get_replica_context()
        # Counted from the targets, not taken from the slices' losses: then each
        # slice's backward pass starts when its own loss is done instead of waiting
        # for every slice's (docs/speed.md).
        tokens = token_count(tgt_out)
        all_tokens = context.all_reduce("SUM", tokens) if self.strategy else tokens
        with tf.GradientTape() as tape:
            # Each slice's pass is its own chain of ops until the gradients are summed.
            parts = [self._train_loss(*part) for part in self._slices(src, tgt_in, tgt_out)]
            loss_sum, _ = _sum_parts(parts)
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

    def _run(self, fn, *batch):
        """``fn`` on every replica; its first two outputs summed over replicas."""
        if self.strategy is None:
            return fn(*batch)
        loss_sum, tokens, *rest = self.strategy.run(fn, batch)
        loss_sum = self.strategy.reduce("SUM", loss_sum, axis=None)
        tokens = self.strategy.reduce("SUM", tokens, axis=None)
        return loss_sum, tokens, *rest

    def _apply_gradients(self, gradients):
        self.optimizer.apply_gradients(zip(gradients, self.model.trainable_variables))

    def _eval_step(self, src, tgt_in, tgt_out):
        return self._run(self._replica_loss, src, tgt_in, tgt_out)

    def _replica_loss(self, src, tgt_in, tgt_out):
        return _sum_parts([self._eval_loss(*part) for part in self._slices(src, tgt_in, tgt_out)])

    def _slice_train_loss(self, src, tgt_in, tgt_out):
        logits, _ = self.model((src, tgt_in), training=True)
        # Training's loss also hands over its gradient, from the same XLA function.
        return fused_masked_loss(logits, tgt_out, self.config.train.label_smoothing)

    def _slice_eval_loss(self, src, tgt_in, tgt_out):
        logits, _ = self.model((src, tgt_in), training=False)
        return self._loss(logits, tgt_out)

    def _slices(self, *batch):
        return cpu_streams.slices(self.streams, *batch)

    def _steps_for(self, data: tf.data.Dataset):
        """The train and eval steps and the dataset to feed them, for this strategy.

        The train step here is ``step(batch, signal) -> (loss_sum, tokens, stop)``:
        under a strategy, a signal that reached any worker stops every worker after
        the same step, so they save together instead of waiting on each other.
        """
        if self.strategy is None:
            return (lambda batch, sig: (*self.train_step(*batch), sig)), self.eval_step, data
        data = self.strategy.experimental_distribute_dataset(data)
        if self._distributed_steps is None:
            # One trace for every batch shape: the element spec has None lengths.
            spec = list(data.element_spec)
            signal_spec = tf.TensorSpec([], tf.int32)
            self._distributed_steps = (
                _step(self._train_step_or_stop, [*spec, signal_spec]),
                _step(self._eval_step, spec),
            )
        train_step, eval_step = self._distributed_steps
        return (lambda batch, sig: train_step(*batch, sig)), eval_step, data

    def _train_step_or_stop(self, src, tgt_in, tgt_out, sig):
        loss_sum, tokens = self._train_step(src, tgt_in, tgt_out)
        signals = self.strategy.run(lambda: tf.identity(sig))
        return loss_sum, tokens, self.strategy.reduce("SUM", signals, axis=None)

    def restore(self) -> bool:
        """Resume from the latest checkpoint, if any. Returns whether one was found."""
        # From the model directory, which other workers than the chief only read.
        latest = tf.train.latest_checkpoint(self.model_dir / CHECKPOINT_DIR)
        if latest is None:
            return False
        try:
            self.checkpoint.restore(latest).assert_existing_objects_matched()
            best = tf.train.latest_checkpoint(self.model_dir / BEST_DIR)
            if best is not None:
                metric = tf.train.Checkpoint(best_dev_metric=self.best_dev_metric)
                metric.restore(best).expect_partial()
        except CHECKPOINT_ERRORS as exc:
            raise NmtError(
                f"checkpoint {latest} cannot be restored ({type(exc).__name__}); it is corrupt "
                "or from a different model: delete it to fall back to an older one, "
                "or use --overwrite"
            ) from None
        return True

    def save(self) -> str:
        return self.manager.save(checkpoint_number=int(self.step.numpy()))

    def close(self) -> None:
        """Remove the scratch checkpoints of a worker other than the chief."""
        distribute.discard_worker_dir(self._write_dir, self.model_dir)

    def evaluate(self, data: Encoded) -> float:
        """Mean per-token loss over a split."""
        total, tokens = 0.0, 0.0
        # The dev split is the same every epoch: build (and trace) its pipeline once.
        if self._eval_data is None or self._eval_data[0] is not data:
            _, eval_step, batched = self._steps_for(batches(data, self.config.data))
            self._eval_data = (data, eval_step, batched)
        _, eval_step, batched = self._eval_data
        for batch in batched:
            loss_sum, count = eval_step(*batch)
            total += float(loss_sum)
            tokens += float(count)
        return total / max(tokens, 1.0)

    def fit(
        self,
        train: Encoded,
        dev: Encoded,
        *,
        log: Callable[[str], None] = print,
        on_epoch_end: Callable[[EpochResult], None] | None = None,
        dev_metric: Callable[[], float] | None = None,
    ) -> TrainResult:
        """Train until ``train.epochs``, early stopping, or an interruption.

        ``best/`` keeps the weights with the lowest dev loss or, given ``dev_metric``
        (dev BLEU or chrF of the current weights, higher is better), the highest
        metric; patience counts epochs without improvement of the same measure.
        """
        cfg = self.config
        measure = cfg.train.early_stop_metric if dev_metric else "loss"
        result = TrainResult(steps=int(self.step.numpy()), best_dev_loss=float(self.best_dev_loss))
        if cfg.train.patience and int(self.bad_epochs.numpy()) >= cfg.train.patience:
            result.stopped_early = True
            return result
        with Interruptible() as interrupt:
            while int(self.epoch.numpy()) < cfg.train.epochs:
                epoch = int(self.epoch.numpy())
                stats = self._train_epoch(train, epoch, interrupt, log)
                if interrupt.signal:
                    path = self.save()
                    raise Interrupted(
                        signal.Signals(interrupt.signal).name, path, int(self.step.numpy())
                    )
                dev_loss = self.evaluate(dev)
                self.epoch.assign_add(1)
                self.batch_in_epoch.assign(0)
                improved = dev_loss < float(self.best_dev_loss)
                self.best_dev_loss.assign(min(dev_loss, float(self.best_dev_loss)))
                value = dev_metric() if dev_metric else None
                if value is not None:
                    improved = value > float(self.best_dev_metric)
                    self.best_dev_metric.assign(max(value, float(self.best_dev_metric)))
                if improved:
                    self.bad_epochs.assign(0)
                    self.best_manager.save(checkpoint_number=int(self.step.numpy()))
                else:
                    self.bad_epochs.assign_add(1)
                self.save()
                er = EpochResult(epoch + 1, stats[0], dev_loss, stats[1], stats[2])
                if value is not None:
                    er.dev_metrics[measure] = value
                result.epochs.append(er)
                shown = "" if value is None else f", dev {measure} {value:.2f}"
                log(
                    f"epoch {er.epoch}/{cfg.train.epochs}: train loss {er.train_loss:.4f}, "
                    f"dev loss {dev_loss:.4f}{shown}, {er.tokens_per_s:,.0f} tgt tokens/s, "
                    f"{er.seconds:.1f} s"
                )
                if on_epoch_end:
                    on_epoch_end(er)
                if cfg.train.patience and int(self.bad_epochs.numpy()) >= cfg.train.patience:
                    log(f"early stop: dev {measure} did not improve in {cfg.train.patience} epochs")
                    result.stopped_early = True
                    break
        result.steps = int(self.step.numpy())
        result.best_dev_loss = float(self.best_dev_loss)
        if dev_metric:
            result.best_dev_metric = float(self.best_dev_metric)
        return result

    def _train_epoch(
        self, train: Encoded, epoch: int, interrupt, log
    ) -> tuple[float, float, float]:
        cfg = self.config
        skip = int(self.batch_in_epoch.numpy())
        # The seed depends on the epoch only, so a resumed epoch replays the same order.
        data = batches(train, cfg.data, shuffle=True, seed=cfg.train.seed * 1000 + epoch)
        train_step, _, data = self._steps_for(data.skip(skip))
        total, tokens, start = 0.0, 0.0, time.perf_counter()
        progress = _Progress(f"epoch {epoch + 1}", log)
        for batch in data:
            loss_sum, count, stop = train_step(batch, tf.constant(interrupt.signal, tf.int32))
            loss_sum, count = float(loss_sum), float(count)
            if int(stop) and not interrupt.signal:
                interrupt.signal = signal.SIGTERM  # another worker was stopped
            if not math.isfinite(loss_sum):
                raise NmtError(
                    f"training diverged: loss is {loss_sum} at step {int(self.step.numpy()) + 1}; "
                    "the last good checkpoint is kept — lower train.learning_rate and re-run"
                )
            total, tokens = total + loss_sum, tokens + count
            self.step.assign_add(1)
            self.batch_in_epoch.assign_add(1)
            every = cfg.train.checkpoint_every
            if every and int(self.step.numpy()) % every == 0:
                self.save()
            elapsed = time.perf_counter() - start
            progress.update(int(self.step.numpy()), total / max(tokens, 1.0), tokens / elapsed)
            if interrupt.signal:
                break
        progress.close()
        elapsed = time.perf_counter() - start
        return total / max(tokens, 1.0), tokens / max(elapsed, 1e-9), elapsed


def _step(fn, signature, jit_compile=False):
    """A step's ``tf.function``: traced once for every batch shape (``signature``), and
    without AutoGraph, since the model and trainer write their loops and conditions as
    TensorFlow ops already; converting every function they call took about 0.5 s of
    the first step's trace (docs/speed.md)."""
    return tf.function(fn, input_signature=signature, jit_compile=jit_compile, autograph=False)


def _sum_parts(parts):
    """Per-slice ``(loss_sum, tokens)`` pairs -> the batch's."""
    if len(parts) == 1:
        return parts[0]
    return tf.add_n([p[0] for p in parts]), tf.add_n([p[1] for p in parts])


class _Progress:
    """A one-line progress display: redrawn in place on a terminal, sparse in logs."""

    def __init__(self, label: str, log: Callable[[str], None]):
        self.label = label
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def update(self, step: int, loss: float, tokens_per_s: float) -> None:
        now = time.perf_counter()
        if not self.tty or now - self.last < 0.2:
            return
        self.last = now
        line = f"{self.label} step {step}: loss {loss:.4f}, {tokens_per_s:,.0f} tgt tokens/s"
        sys.stderr.write("\r" + line.ljust(70))
        sys.stderr.flush()

    def close(self) -> None:
        if self.tty and self.last:
            sys.stderr.write("\r" + " " * 70 + "\r")
            sys.stderr.flush()
