"""The classic LSTM-attention experiment: does attention find the one informative input?

Every sample is standard-normal noise except at ``column``, whose features are overwritten
with the binary label, so a model that solves the task should put its attention there.

Variants: ``after`` (attention over the LSTM outputs), ``before`` (attention over the raw
input, then an LSTM), ``dense`` (the 1-D version over the features of a flat vector),
``additive`` (``nmt.model.attention.AdditiveAttention`` queried by the LSTM's last hidden state over
per-step, position-aware annotations of the input) and ``additive-lstm`` (the same over the
LSTM outputs, the classic recipe: it solves the task but looks at late steps, because every
LSTM output after the label column carries the label too; docs/synthetic.md has the numbers).
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from nmt.data.tfdata import untuned
from nmt.model.attention import AdditiveAttention
from nmt.synthetic.config import SyntheticConfig, check, validation_count

FEATURES = 2  # per time step, for the recurrent variants
UNITS = 32


@dataclass(frozen=True)
class SyntheticResult:
    """One trained variant. ``attention`` is ``(t,)``, or ``(input_dims,)`` for ``dense``."""

    variant: str
    accuracy: float  # training accuracy, averaged over the last epoch's batches
    val_accuracy: float
    attention: np.ndarray
    argmax: int
    mass_at_column: float
    seconds: float  # wall time of model.fit
    column: int
    reference_seconds: float | None = None  # the same fit with Keras' compile defaults

    def to_json(self) -> dict:
        """Plain JSON types; adds ``ratio`` (ours / reference) when there is a reference."""
        data = dataclasses.asdict(self)
        data["attention"] = [float(a) for a in self.attention]
        if self.reference_seconds is not None:
            data["ratio"] = self.seconds / self.reference_seconds
        return data


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
    x[:, config.column] = y[:, 0] if variant == "dense" else y
    return x, y


class StepAnnotations(layers.Layer):
    """``tanh(W·x_i + p_i)``: an annotation that sees only its own step, and knows which.

    Attention can then point at the label column only: no other annotation carries the label,
    and the learned position term ``p_i`` lets the scorer tell the steps apart.

    Args:
        units: Size ``u`` of each annotation.

    Call arguments:
        inputs: ``(b, t, f)``; ``t`` is fixed when the layer is built.

    Returns:
        ``(b, t, u)``.
    """

    def __init__(self, units: int, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.dense = layers.Dense(units, name="dense")

    def build(self, input_shape):
        self.dense.build(input_shape)
        self.positions = self.add_weight(shape=(input_shape[1], self.units), name="positions")

    def call(self, inputs):
        return ops.tanh(self.dense(inputs) + self.positions)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config


def attention_3d_block(inputs):
    """The inputs weighted by a softmax over time, one distribution per feature.

    Args:
        inputs: ``(b, t, f)``.

    Returns:
        ``(weighted, probs)``, both ``(b, t, f)``; ``probs`` sums to 1 over ``t`` and is the
        output of the layer named ``attention_vec``.
    """
    scores = layers.Permute((2, 1))(inputs)  # (b, f, t): the Dense below mixes time steps
    probs = layers.Dense(inputs.shape[1], activation="softmax", name="attention_dense")(scores)
    probs = layers.Permute((2, 1), name="attention_vec")(probs)
    return layers.Multiply()([inputs, probs]), probs


def build_model(variant: str, config: SyntheticConfig) -> tuple[keras.Model, keras.Model]:
    """The classifier, and a model sharing its layers that outputs the attention weights.

    The attention model maps the same inputs to ``(b, t, 2)`` for ``after``/``before``,
    ``(b, t)`` for the additive variants and ``(b, input_dims)`` for ``dense``.
    """
    if variant == "dense":
        inputs = keras.Input((config.input_dims,))
        attention = layers.Dense(config.input_dims, activation="softmax", name="attention_probs")
        probs = attention(inputs)
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
        _, state, _ = layers.LSTM(UNITS, return_state=True)(inputs)
        values = StepAnnotations(UNITS, name="annotations")(inputs)
    elif variant == "additive-lstm":
        values, state, _ = layers.LSTM(UNITS, return_sequences=True, return_state=True)(inputs)
    if variant.startswith("additive"):
        hidden, probs = AdditiveAttention(UNITS, name="attention")(state, values)  # query: (b, u)
    model = keras.Model(inputs, layers.Dense(1, activation="sigmoid")(hidden), name=variant)
    return model, keras.Model(inputs, probs, name=f"{variant}_attention")


def read_attention(attention_model: keras.Model, x: np.ndarray) -> np.ndarray:
    """Attention averaged over features (if any) and then over the samples of ``x``."""
    probs = ops.convert_to_numpy(attention_model(x, training=False))
    if probs.ndim == 3:
        probs = probs.mean(axis=-1)  # (n, t, f) -> (n, t)
    attention = probs.mean(axis=0)
    if not np.isclose(attention.sum(), 1.0, rtol=0.0, atol=1e-4):
        raise RuntimeError(f"attention sums to {attention.sum()}, not 1")
    return attention


def fit(variant: str, config: SyntheticConfig, x, y, keras_defaults: bool = False):
    """Build and train a fresh model; returns ``(attention_model, history, seconds)``.

    ``keras_defaults`` compiles with Keras' own defaults (``jit_compile="auto"``, which is off
    on a CPU, and one step per execution) instead of ``config.jit`` and
    ``config.steps_per_execution``: the plain Keras reference. Both read the same batches.
    """
    keras.utils.set_random_seed(config.seed)  # same initial weights for both
    model, attention_model = build_model(variant, config)
    compiled = {"jit_compile": config.jit, "steps_per_execution": config.steps_per_execution}
    model.compile(
        optimizer=keras.optimizers.Adam(config.learning_rate),
        loss="binary_crossentropy",
        metrics=["accuracy"],
        **({} if keras_defaults else compiled),
    )
    train, validation = datasets(x, y, config)
    start = time.perf_counter()
    history = model.fit(
        train, validation_data=validation, epochs=config.epochs, shuffle=False, verbose=0
    )
    return attention_model, history.history, time.perf_counter() - start


def datasets(x, y, config: SyntheticConfig) -> tuple[tf.data.Dataset, tf.data.Dataset]:
    """Training batches, reshuffled each epoch, and validation batches: the last
    ``validation_split`` of the samples, as Keras' ``validation_split`` would take.

    Not Keras' own array adapter, whose autotuned iterators could hold ``fit`` long
    after its last epoch (``nmt.data.tfdata.untuned``; docs/synthetic.md).
    """
    n_train = len(x) - validation_count(len(x), config.validation_split)
    x_train, y_train = tf.constant(x[:n_train]), tf.constant(y[:n_train])
    train = (
        tf.data.Dataset.range(n_train)
        .shuffle(n_train, seed=config.seed)
        .batch(config.batch_size)
        # Indices are shuffled and gathered a batch at a time: cheaper than
        # shuffling hundreds of thousands of single samples.
        .map(lambda i: (tf.gather(x_train, i), tf.gather(y_train, i)))
        .prefetch(2)
    )
    validation = tf.data.Dataset.from_tensor_slices((x[n_train:], y[n_train:]))
    return untuned(train), untuned(validation.batch(config.batch_size))


def run(
    variant: str, config: SyntheticConfig | None = None, compare_keras: bool = False
) -> SyntheticResult:
    """Train one variant and read its attention out on fresh samples.

    With ``compare_keras`` the same model is then trained again on the same data with Keras'
    compile defaults, and that wall time is ``reference_seconds``.
    """
    config = config or SyntheticConfig()
    check(variant, config)
    rng = np.random.default_rng(config.seed)
    x, y = make_data(variant, config.samples, config, rng)
    attention_model, history, seconds = fit(variant, config, x, y)
    fresh, _ = make_data(variant, config.readout_samples, config, rng)  # new draws
    attention = read_attention(attention_model, fresh)
    reference = fit(variant, config, x, y, keras_defaults=True)[2] if compare_keras else None
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
