"""The tf.data settings every input pipeline of the project shares."""

from __future__ import annotations

import tensorflow as tf


def untuned(ds: tf.data.Dataset) -> tf.data.Dataset:
    """``ds`` with tf.data's autotuner off.

    Freeing an autotuned iterator can block until the autotuner's next round, and
    the rounds come at doubling intervals: 5.1, then 10.2, then 20.5 s after the
    iterator started (docs/speed.md has the cause). With both cores busy training,
    that happened to most epochs of the quickstart corpus (an epoch of 5-6 s of
    steps took 10.3 s) and to ``model.fit`` returning in the synthetic benchmark
    (up to 20 s). Our pipelines slice, pad and gather, far too little to need
    tuning; with the tuner off, AUTOTUNE parallelism means one call per core (at
    most 16).
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)
