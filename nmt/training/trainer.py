"""Training: compiled train/eval steps, checkpoints, resume, early stopping."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf

from nmt.config import Config
from nmt.data.pipeline import Encoded, batches
from nmt.data.stream import InMemory, Streamed
from nmt.errors import Interrupted
from nmt.fast import cpu_streams
from nmt.fast.optimizer import FusedAdam
from nmt.model.seq2seq import Seq2Seq, build_model
from nmt.training import distribute
from nmt.training.checkpoints import TrainingState, Verdict
from nmt.training.ema import MovingAverage
from nmt.training.epoch import train_epoch
from nmt.training.interrupt import Interruptible, TimeBudget, format_duration
from nmt.training.results import EpochResult, TrainResult
from nmt.training.steps import Steps


class Trainer:
    """Owns the model, optimizer, compiled steps and checkpoints of one model directory.

    ``train_step`` and ``eval_step`` are ``nmt.training.steps.Steps``'s: traced once for every
    batch shape, and on a CPU possibly cut into ``streams`` slices that run side by
    side. Checkpoints carry the step, the epoch and the position in the epoch, so
    re-running the same command resumes exactly where it stopped.
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
            self.ema = None
            if t.ema_decay:
                self.ema = MovingAverage(self.model.trainable_variables, t.ema_decay)
        self.state = TrainingState(
            self.model,
            self.optimizer,
            self.model_dir,
            distribute.worker_dir(self.model_dir, strategy),
            keep=t.keep_checkpoints,
            keep_best=t.keep_best,
            ema=self.ema,
        )
        s = self.state
        self.step, self.epoch, self.batch_in_epoch = s.step, s.epoch, s.batch_in_epoch
        self.chunk_in_epoch, self.batch_in_chunk = s.chunk_in_epoch, s.batch_in_chunk
        self.best_dev_loss, self.bad_epochs = s.best_dev_loss, s.bad_epochs
        self.train_seconds, self.best_dev_metric = s.train_seconds, s.best_dev_metric
        self.steps = Steps(
            self.model,
            self.optimizer,
            label_smoothing=t.label_smoothing,
            jit_compile=t.jit_compile,
            strategy=strategy,
            streams=self.streams,
            ema=self.ema,
        )
        self.train_step, self.eval_step = self.steps.train_step, self.steps.eval_step
        self._eval_data = None  # (split, eval step, its batches), built on first use
        self.budget = None  # the TimeBudget of a fit() under way
        # Called after every step with the step number and its target tokens.
        self.on_step: Callable[[int, float], None] | None = None

    def _scope(self):
        return self.strategy.scope() if self.strategy else contextlib.nullcontext()

    def restore(self) -> bool:
        """Resume from the latest checkpoint, if any. Returns whether one was found."""
        return self.state.restore()

    def save(self) -> str:
        if self.budget is not None:
            self.budget.record()
        return self.state.save()

    def close(self) -> None:
        """Remove the scratch checkpoints of a worker other than the chief."""
        distribute.discard_worker_dir(self.state.write_dir, self.model_dir)

    def evaluate(self, data: Encoded) -> float:
        """Mean per-token loss over a split."""
        total, tokens = 0.0, 0.0
        # The dev split is the same every epoch: build (and trace) its pipeline once.
        if self._eval_data is None or self._eval_data[0] is not data:
            _, eval_step, batched = self.steps.for_dataset(batches(data, self.config.data))
            self._eval_data = (data, eval_step, batched)
        _, eval_step, batched = self._eval_data
        for batch in batched:
            loss_sum, count = eval_step(*batch)
            total += float(loss_sum)
            tokens += float(count)
        return total / max(tokens, 1.0)

    def fit(
        self,
        train: Encoded | InMemory | Streamed,
        dev: Encoded,
        *,
        log: Callable[[str], None] = print,
        on_epoch_end: Callable[[EpochResult], None] | None = None,
        dev_metric: Callable[[], float] | None = None,
    ) -> TrainResult:
        """Train until ``train.epochs``, early stopping, ``train.max_time``, or an interruption.

        ``best/`` keeps the weights with the lowest dev loss or, given ``dev_metric``
        (dev BLEU or chrF of the current weights, higher is better), the highest
        metric: the trained weights or, with ``train.ema_decay``, their moving average,
        whichever scores better. Patience counts epochs without improvement of that
        measure or, with ``train.patience_on="any"``, of neither it nor the dev loss.
        ``train`` is a split held whole or streamed (``nmt.data.stream``), or an encoded
        split to hold whole.
        """
        cfg = self.config
        if isinstance(train, Encoded):
            train = InMemory(train, cfg.data)
        measure = cfg.train.early_stop_metric if dev_metric else "loss"
        also = " or dev loss" if cfg.train.patience_on == "any" and measure != "loss" else ""
        result = TrainResult(steps=int(self.step.numpy()), best_dev_loss=float(self.best_dev_loss))
        budget = self.budget = TimeBudget(cfg.train.max_time, self.train_seconds)
        if cfg.train.patience and int(self.bad_epochs.numpy()) >= cfg.train.patience:
            result.stopped_early = True
            return result
        if budget.exhausted:
            log(
                f"time budget spent: {format_duration(budget.seconds())} trained, "
                f"train.max_time is {format_duration(budget.limit)}; raise --max-time to go on"
            )
            result.out_of_time = True
            return result
        with Interruptible() as interrupt:
            while int(self.epoch.numpy()) < cfg.train.epochs:
                epoch = int(self.epoch.numpy())
                stats, out_of_time, interrupted = train_epoch(self, train, epoch, interrupt)
                if interrupted:
                    path = self.save()
                    raise Interrupted(
                        signal.Signals(interrupt.signal).name, path, int(self.step.numpy())
                    )
                if out_of_time:
                    # The weights since the last epoch may be the best yet: judge them
                    # now, but leave the patience count to whole epochs.
                    verdict = self._judge(dev, dev_metric)
                    dev_loss, value = verdict.dev_loss, verdict.value
                    self.save()
                    log(
                        f"time budget of {format_duration(budget.limit)} spent at step "
                        f"{int(self.step.numpy())} (epoch {epoch + 1}): dev loss {dev_loss:.4f}"
                        f"{_metric_text(measure, value)}; raise --max-time and re-run to go on"
                    )
                    result.out_of_time = True
                    break
                self.epoch.assign_add(1)
                for counter in (self.batch_in_epoch, self.chunk_in_epoch, self.batch_in_chunk):
                    counter.assign(0)
                verdict = self._judge(dev, dev_metric)
                dev_loss, value = verdict.dev_loss, verdict.value
                # What patience counts as progress (train.patience_on).
                either = cfg.train.patience_on == "any" and verdict.loss_improved
                if verdict.improved or either:
                    self.bad_epochs.assign(0)
                else:
                    self.bad_epochs.assign_add(1)
                    self._lower_learning_rate(measure + also, log)
                self.save()
                er = EpochResult(epoch + 1, stats[0], dev_loss, stats[1], stats[2])
                if value is not None:
                    er.dev_metrics[measure] = value
                result.epochs.append(er)
                log(
                    f"epoch {er.epoch}/{cfg.train.epochs}: train loss {er.train_loss:.4f}, "
                    f"dev loss {dev_loss:.4f}{_metric_text(measure, value)}, "
                    f"{er.tokens_per_s:,.0f} tgt tokens/s, "
                    f"{er.seconds:.1f} s{_AVERAGED if verdict.averaged else ''}"
                )
                if on_epoch_end:
                    on_epoch_end(er)
                if cfg.train.patience and int(self.bad_epochs.numpy()) >= cfg.train.patience:
                    log(f"early stop: no better dev {measure}{also} in {cfg.train.patience} epochs")
                    result.stopped_early = True
                    break
        result.steps = int(self.step.numpy())
        result.best_dev_loss = float(self.best_dev_loss)
        if dev_metric:
            result.best_dev_metric = float(self.best_dev_metric)
        return result

    def _judge(self, dev: Encoded, dev_metric: Callable[[], float] | None) -> Verdict:
        """``TrainingState.judge`` of the current weights."""
        return self.state.judge(lambda: (self.evaluate(dev), dev_metric and dev_metric()))

    @property
    def learning_rate(self):
        """The optimizer's current learning rate (a variable)."""
        return getattr(self.optimizer, "inner_optimizer", self.optimizer).learning_rate

    def _lower_learning_rate(self, measure: str, log: Callable[[str], None]) -> None:
        """``train.lr_decay`` times the rate after every ``train.lr_patience`` epochs without
        improvement; the rate is an optimizer variable, so a resumed run goes on with it."""
        t, bad = self.config.train, int(self.bad_epochs.numpy())
        if t.lr_decay == 1.0 or not t.lr_patience or bad % t.lr_patience:
            return
        lowered = float(self.learning_rate.numpy()) * t.lr_decay
        with self._scope():
            self.learning_rate.assign(lowered)
        log(f"learning rate lowered to {lowered:.3g}: no better dev {measure} in {bad} epochs")


def _metric_text(measure: str, value: float | None) -> str:
    """The dev metric's part of a log line, e.g. ``", dev chrf 41.20"``; empty without one."""
    return "" if value is None else f", dev {measure} {value:.2f}"


# Ends an epoch's log line when the scores are those of the weights' moving average.
_AVERAGED = "; the moving average scored better"
