"""What training resumes from: its counters, saved with the weights and the optimizer."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import tensorflow as tf

from nmt.errors import NmtError
from nmt.model.seq2seq import model_checkpoint
from nmt.modeldir import BEST_DIR, CHECKPOINT_DIR, CHECKPOINT_ERRORS


class TrainingState:
    """The step, epoch, position in the epoch, early-stopping counters and time spent,
    with the checkpoints that save them.

    ``checkpoints/`` holds the latest state (weights, optimizer, counters); ``best/``
    the best weights so far and their dev metric, with the ``keep_best - 1`` bests
    before them (each one an improvement on the last), which ``nmt average`` averages.
    A worker other than the chief writes into ``write_dir``, a scratch directory, and
    every worker reads from ``model_dir``.
    """

    def __init__(
        self,
        model,
        optimizer,
        model_dir: Path,
        write_dir: Path,
        keep: int,
        keep_best: int = 1,
        ema=None,
    ):
        self.model_dir, self.write_dir = Path(model_dir), Path(write_dir)
        self.step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.batch_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        # A streamed split's position: the chunk's place in the epoch's order, and the
        # batches done in that chunk (nmt.data.stream).
        self.chunk_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.batch_in_chunk = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.best_dev_loss = tf.Variable(math.inf, dtype=tf.float64, trainable=False)
        self.bad_epochs = tf.Variable(0, dtype=tf.int64, trainable=False)
        # Seconds of training over every run, for train.max_time (interrupt.TimeBudget).
        self.train_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        state = dict(
            # The inner optimizer: a loss scale is not worth restoring, and leaving it
            # out lets a checkpoint resume in any precision.
            optimizer=getattr(optimizer, "inner_optimizer", optimizer),
            step=self.step,
            epoch=self.epoch,
            batch_in_epoch=self.batch_in_epoch,
            best_dev_loss=self.best_dev_loss,
            bad_epochs=self.bad_epochs,
        )
        # Written after the format's first release: a checkpoint without them resumes
        # through a view that leaves them out (the moving average then starts afresh).
        self._later = dict(
            train_seconds=self.train_seconds,
            chunk_in_epoch=self.chunk_in_epoch,
            batch_in_chunk=self.batch_in_chunk,
        )
        if ema is not None:
            self._later["ema"] = ema
        self.ema = ema
        self._model, self._state = model, state
        self.checkpoint = model_checkpoint(model, **state, **self._later)
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, self.write_dir / CHECKPOINT_DIR, max_to_keep=keep
        )
        # The dev BLEU/chrF of the best weights is saved with them, not in the training
        # checkpoint, so checkpoints written before it existed still resume.
        self.best_dev_metric = tf.Variable(-math.inf, dtype=tf.float64, trainable=False)
        self.best_manager = tf.train.CheckpointManager(
            model_checkpoint(model, best_dev_metric=self.best_dev_metric),
            self.write_dir / BEST_DIR,
            max_to_keep=keep_best,
        )

    def restore(self) -> bool:
        """Resume from the latest checkpoint, if any. Returns whether one was found."""
        # From the model directory, which other workers than the chief only read.
        latest = tf.train.latest_checkpoint(self.model_dir / CHECKPOINT_DIR)
        if latest is None:
            return False
        try:
            saved = {name.split("/")[0] for name, _ in tf.train.list_variables(latest)}
            later = {k: v for k, v in self._later.items() if k in saved}
            checkpoint = model_checkpoint(self._model, **self._state, **later)
            checkpoint.restore(latest).assert_existing_objects_matched()
            if self.ema is not None and "ema" not in saved:
                self.ema.reset()
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
        """The latest state, numbered by its step."""
        return self.manager.save(checkpoint_number=int(self.step.numpy()))

    def save_best(self) -> str:
        """The current weights (and best_dev_metric) as the best so far."""
        return self.best_manager.save(checkpoint_number=int(self.step.numpy()))

    def judge(self, score: Callable[[], tuple[float, float | None]]) -> Verdict:
        """Score the weights on dev, and their moving average if one is kept; record the
        better, and save it to best/ if it is the best so far.

        ``score()`` gives the dev loss and the dev metric (higher is better; None when
        early stopping uses the loss) of the weights the model holds when it is called.
        """
        dev_loss, value = score()
        averaged = False
        if self.ema is not None:
            with self.ema.swapped_in():
                average = score()
            averaged = average[1] > value if value is not None else average[0] < dev_loss
            if averaged:
                dev_loss, value = average
        loss_improved = dev_loss < float(self.best_dev_loss)
        self.best_dev_loss.assign(min(dev_loss, float(self.best_dev_loss)))
        improved = loss_improved
        if value is not None:
            improved = value > float(self.best_dev_metric)
            self.best_dev_metric.assign(max(value, float(self.best_dev_metric)))
        if improved:
            with self.ema.swapped_in() if averaged else contextlib.nullcontext():
                self.save_best()
        return Verdict(dev_loss, value, improved, loss_improved, averaged)


@dataclass
class Verdict:
    """What ``TrainingState.judge`` found: the better weights' dev scores, whether they
    are the best yet (by the metric, if any) and whether the dev loss is, and whether
    the moving average was the better."""

    dev_loss: float
    value: float | None
    improved: bool
    loss_improved: bool
    averaged: bool
