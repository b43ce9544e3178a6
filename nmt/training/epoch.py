"""One epoch of training: its chunks' batches through the compiled step, until the epoch
ends, a signal arrives or the time budget is spent."""

from __future__ import annotations

import math
import signal
import time

import tensorflow as tf

from nmt.data.pipeline import batches
from nmt.data.stream import chunks
from nmt.errors import NmtError
from nmt.progress import progress_bar

# Added to the stop flag a train step shares between workers; signal numbers are below it.
OUT_OF_TIME = 1000
# Spreads the shuffle seeds of an epoch's chunks apart (any prime far above the epochs).
_CHUNK_SEED_STRIDE = 7919


def train_epoch(trainer, split, epoch: int, interrupt):
    """Train ``trainer`` on ``split`` (``nmt.data.stream``) from the position its
    checkpointed counters hold.

    Under a strategy, only the flag the workers share after each step ends the
    loop: a signal that arrives during a step is carried into the next one's flag,
    so every worker stops after the same step (a worker leaving alone would leave
    the others waiting for it until they lose contact).

    Returns:
        ``((mean loss, tgt tokens/s, seconds), whether the time budget ran out,
        whether a signal stopped the epoch)``.
    """
    cfg = trainer.config
    out_of_time = interrupted = False
    streamed = split.streamed
    # A split held whole resumes by its batch in the epoch, which checkpoints written
    # before streaming existed also hold.
    first = int(trainer.chunk_in_epoch.numpy()) if streamed else 0
    skip = int((trainer.batch_in_chunk if streamed else trainer.batch_in_epoch).numpy())
    total, tokens, start = 0.0, 0.0, time.perf_counter()
    label = f"epoch {epoch + 1}/{cfg.train.epochs}"
    done = int(trainer.batch_in_epoch.numpy())
    # A streamed split's length is estimated, and refined with every chunk it reads.
    with progress_bar(split.batch_estimate() or None, label, unit="step", initial=done) as bar:
        for chunk, data in chunks(split, epoch, first):
            bar.total = max(split.batch_estimate(), done)
            # Depends on the epoch and the chunk only, so a resumed epoch replays the
            # same order; a split held whole shuffles as it always has.
            seed = cfg.train.seed * 1000 + epoch + _CHUNK_SEED_STRIDE * chunk
            ordered = batches(data, cfg.data, shuffle=True, seed=seed)
            train_step, _, ordered = trainer.steps.for_dataset(ordered.skip(skip))
            skip = 0
            for batch in ordered:
                # Every worker learns of a signal or a spent budget anywhere from the
                # step, so all stop after the same one.
                flag = interrupt.signal + (OUT_OF_TIME if trainer.budget.exhausted else 0)
                loss_sum, count, stop = train_step(batch, tf.constant(flag, tf.int32))
                loss_sum, count, stop = float(loss_sum), float(count), int(stop)
                if stop % OUT_OF_TIME and not interrupt.signal:
                    interrupt.signal = signal.SIGTERM  # another worker was stopped
                out_of_time = stop >= OUT_OF_TIME
                if not math.isfinite(loss_sum):
                    raise NmtError(
                        f"training diverged: loss is {loss_sum} at step "
                        f"{int(trainer.step.numpy()) + 1}; the last good checkpoint is kept — "
                        "lower train.learning_rate and re-run"
                    )
                total, tokens, done = total + loss_sum, tokens + count, done + 1
                for counter in (trainer.step, trainer.batch_in_epoch, trainer.batch_in_chunk):
                    counter.assign_add(1)
                if trainer.on_step:
                    trainer.on_step(int(trainer.step.numpy()), count)
                every = cfg.train.checkpoint_every
                if every and int(trainer.step.numpy()) % every == 0:
                    trainer.save()
                elapsed = time.perf_counter() - start
                # Set on every step, drawn a few times a second (nmt.progress.MININTERVAL).
                rates = f"loss {total / max(tokens, 1.0):.4f}, {tokens / elapsed:,.0f} tgt tokens/s"
                bar.set_postfix_str(rates, refresh=False)
                bar.update()
                interrupted = bool(stop % OUT_OF_TIME) or (
                    trainer.strategy is None and bool(interrupt.signal)
                )
                if interrupted or out_of_time:
                    break
            if interrupted or out_of_time:
                break
            trainer.chunk_in_epoch.assign_add(1)
            trainer.batch_in_chunk.assign(0)
    elapsed = time.perf_counter() - start
    stats = (total / max(tokens, 1.0), tokens / max(elapsed, 1e-9), elapsed)
    return stats, out_of_time, interrupted
