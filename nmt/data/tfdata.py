"""The tf.data settings every input pipeline of the project shares."""

from __future__ import annotations

import tensorflow as tf


def untuned(ds: tf.data.Dataset) -> tf.data.Dataset:
    """``ds`` with tf.data's autotuner off.

    Freeing an autotuned iterator can block until the autotuner's next round, and
    the rounds come at doubling intervals, seconds apart once an iterator has lived
    a few seconds (docs/speed-training-step.md has the cause). With both cores busy
    training, that stretched most epochs of the quickstart corpus well past their
    steps' time (docs/speed-training-step.md) and delayed ``model.fit`` returning in
    the synthetic benchmark (docs/synthetic.md). Our pipelines slice, pad and gather,
    far too little to need tuning; with the tuner off, AUTOTUNE parallelism means one
    call per core (at most 16).
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)
