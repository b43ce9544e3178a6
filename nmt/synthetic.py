"""The classic LSTM-attention experiment: does attention find the one informative input?

Every sample is standard-normal noise except at ``column``, whose features are overwritten
with the binary label. A model that solves the task should put its attention there, so the
experiment doubles as a check that an attention layer can learn *where* to look.

Variants: ``after`` (attention over the LSTM outputs), ``before`` (attention over the raw
input, then an LSTM), ``dense`` (the 1-D version over the features of a flat vector) and
``additive`` (``nmt.attention.AdditiveAttention`` over the LSTM outputs, queried with the last
hidden state).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from dataclasses import dataclass
from pathlib import Path

import keras
import numpy as np
from keras import layers

from nmt.attention import AdditiveAttention
from nmt.errors import NmtError

VARIANTS = ("after", "before", "dense", "additive")
FEATURES = 2  # per time step, for the recurrent variants
UNITS = 32
PLOT_FORMATS = (".png", ".svg", ".pdf")


@dataclass(frozen=True)
class SyntheticConfig:
    """Data, training and read-out settings; field names are the CLI flags."""

    samples: int = 300_000
    epochs: int = 1
    batch_size: int = 128
    validation_split: float = 0.1
    column: int = 10
    seed: int = 0
    time_steps: int = 20
    input_dims: int = 32
    readout_samples: int = 50
    learning_rate: float = 1e-3
    # Compiled-step settings, measured on a 2-core CPU (docs/synthetic.md).
    jit: bool = False
    steps_per_execution: int = 32


@dataclass(frozen=True)
class SyntheticResult:
    """One trained variant. ``attention`` is ``(t,)`` (``(input_dims,)`` for ``dense``)."""

    variant: str
    accuracy: float  # training accuracy of the last epoch
    val_accuracy: float
    attention: np.ndarray
    argmax: int
    mass_at_column: float
    seconds: float  # wall time of model.fit
    column: int
    reference_seconds: float | None = None  # the same fit with Keras' compile defaults

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["attention"] = [round(float(a), 6) for a in self.attention]
        if self.reference_seconds is not None:
            data["ratio"] = self.seconds / self.reference_seconds
        return data


def check(variant: str, config: SyntheticConfig) -> None:
    """Raise ``NmtError`` for settings the experiment cannot run with."""
    if variant not in VARIANTS:
        raise NmtError(f"unknown variant {variant!r}; choose one of {', '.join(VARIANTS)}")
    width, name = (
        (config.input_dims, "--input-dims")
        if variant == "dense"
        else (config.time_steps, "--time-steps")
    )
    if not 0 <= config.column < width:
        raise NmtError(
            f"--column {config.column} is outside [0, {width}) for variant {variant!r} "
            f"({name} {width})"
        )
    validation = int(config.samples * config.validation_split)
    if validation < 1 or validation >= config.samples:
        raise NmtError(
            f"--validation-split {config.validation_split} of --samples {config.samples} "
            "leaves no validation or no training samples"
        )


def make_data(
    variant: str, n: int, config: SyntheticConfig, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Noise with the label written into ``config.column``.

    Returns:
        ``x``: ``(n, t, 2)`` float32, or ``(n, input_dims)`` for ``dense``; ``y``: ``(n, 1)``
        float32 of 0/1.
    """
    if variant == "dense":
        x = rng.standard_normal((n, config.input_dims), dtype=np.float32)
    else:
        x = rng.standard_normal((n, config.time_steps, FEATURES), dtype=np.float32)
    y = rng.integers(0, 2, size=(n, 1)).astype(np.float32)
    x[:, config.column] = y if variant != "dense" else y[:, 0]
    return x, y


def attention_3d_block(inputs):
    """The inputs weighted by a softmax over time, one distribution per feature.

    Args:
        inputs: ``(b, t, f)``.

    Returns:
        ``(weighted, probs)``, both ``(b, t, f)``; ``probs`` sums to 1 over ``t`` and is the
        output of the layer named ``attention_vec``.
    """
    time_steps = inputs.shape[1]
    scores = layers.Permute((2, 1))(inputs)  # (b, f, t): Dense then mixes time steps
    probs = layers.Dense(time_steps, activation="softmax", name="attention_dense")(scores)
    probs = layers.Permute((2, 1), name="attention_vec")(probs)
    return layers.Multiply()([inputs, probs]), probs


def build_model(variant: str, config: SyntheticConfig) -> tuple[keras.Model, keras.Model]:
    """The classifier, and a model sharing its layers that outputs the attention weights.

    The attention model maps the same inputs to ``(b, t, 2)`` for ``after``/``before``,
    ``(b, t)`` for ``additive`` and ``(b, input_dims)`` for ``dense``.
    """
    if variant == "dense":
        inputs = keras.Input((config.input_dims,))
        probs = layers.Dense(config.input_dims, activation="softmax", name="attention_probs")
        probs = probs(inputs)
        hidden = layers.Multiply()([inputs, probs])
    else:
        inputs = keras.Input((config.time_steps, FEATURES))
    if variant == "after":
        outputs = layers.LSTM(UNITS, return_sequences=True)(inputs)
        hidden, probs = attention_3d_block(outputs)
        hidden = layers.Flatten()(hidden)
    elif variant == "before":
        hidden, probs = attention_3d_block(inputs)
        hidden = layers.LSTM(UNITS)(hidden)
    elif variant == "additive":
        outputs, state, _ = layers.LSTM(UNITS, return_sequences=True, return_state=True)(inputs)
        hidden, probs = AdditiveAttention(UNITS, name="attention")(state, outputs)
    model = keras.Model(inputs, layers.Dense(1, activation="sigmoid")(hidden), name=variant)
    return model, keras.Model(inputs, probs, name=f"{variant}_attention")


def read_attention(attention_model: keras.Model, x: np.ndarray) -> np.ndarray:
    """Attention averaged over features (if any) and then over the samples of ``x``."""
    probs = keras.ops.convert_to_numpy(attention_model(x, training=False))
    if probs.ndim == 3:
        probs = probs.mean(axis=-1)  # (n, t, f) -> (n, t)
    attention = probs.mean(axis=0)
    if not np.isclose(attention.sum(), 1.0, rtol=0.0, atol=1e-4):
        raise RuntimeError(f"attention sums to {attention.sum()}, not 1")
    return attention


def fit(variant: str, config: SyntheticConfig, x, y, keras_defaults: bool = False):
    """Build and train a fresh model; returns ``(model, attention_model, history, seconds)``.

    ``keras_defaults`` compiles with Keras' own defaults (``jit_compile="auto"``, which is off
    on a CPU, and one step per execution) instead of ``config.jit`` and
    ``config.steps_per_execution``: the plain Keras reference.
    """
    keras.utils.set_random_seed(config.seed)  # same initial weights and shuffling for both
    model, attention_model = build_model(variant, config)
    compiled = (
        {}
        if keras_defaults
        else {
            "jit_compile": config.jit,
            "steps_per_execution": config.steps_per_execution,
        }
    )
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
        **compiled,
    )
    start = time.perf_counter()
    history = model.fit(
        x,
        y,
        batch_size=config.batch_size,
        epochs=config.epochs,
        validation_split=config.validation_split,
        verbose=0,
    )
    return model, attention_model, history.history, time.perf_counter() - start


def run(
    variant: str, config: SyntheticConfig = SyntheticConfig(), compare_keras: bool = False
) -> SyntheticResult:
    """Train one variant and read its attention out on fresh samples.

    With ``compare_keras`` the same model is trained a second time, afterwards, with Keras'
    compile defaults, and its wall time is recorded as ``reference_seconds``.
    """
    check(variant, config)
    rng = np.random.default_rng(config.seed)
    x, y = make_data(variant, config.samples, config, rng)
    _, attention_model, history, seconds = fit(variant, config, x, y)
    fresh, _ = make_data(variant, config.readout_samples, config, rng)  # new draws
    attention = read_attention(attention_model, fresh)
    reference = fit(variant, config, x, y, keras_defaults=True)[3] if compare_keras else None
    return SyntheticResult(
        variant=variant,
        accuracy=float(history["accuracy"][-1]),
        val_accuracy=float(history["val_accuracy"][-1]),
        attention=attention,
        argmax=int(np.argmax(attention)),
        mass_at_column=float(attention[config.column]),
        seconds=seconds,
        column=config.column,
        reference_seconds=reference,
    )
