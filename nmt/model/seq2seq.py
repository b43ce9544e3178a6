"""The translation model: source ids in, target logits and attention weights out."""

from __future__ import annotations

import dataclasses

import keras
import tensorflow as tf

from nmt.model.decoder import Decoder, Memory, State
from nmt.model.encoder import Encoder
from nmt.model.loops import PLAIN, Loops


class Seq2Seq(keras.Model):
    """LSTM encoder, bridge, and additive-attention LSTM decoder.

    Maps ids to logits and nothing more: text, search and training live elsewhere.
    The constructor arguments are the fields of ``nmt.config.ModelConfig``.

    Args:
        src_vocab_size: Source vocabulary size.
        tgt_vocab_size: Target vocabulary size ``v``.
        embedding_dim: Embedding size of both sides.
        units: LSTM size ``u`` of the encoder outputs and of the decoder.
        attention_units: Hidden size of the attention scorer.
        encoder_layers: Stacked encoder LSTM layers.
        bidirectional: Bidirectional encoder.
        dropout: Dropout rate.
        readout_dim: Size of the decoder's readout layer before the vocabulary.
        word_dropout: Probability of dropping a whole input token in training.
        tie_embeddings: The decoder's output projection is its embedding matrix.
        layer_norm: Layer-normalised LSTMs in encoder and decoder.

    Call arguments:
        inputs: ``(src_ids (b, s), tgt_in_ids (b, t))``, 0 for padding; ``tgt_in``
            starts with BOS (teacher forcing).
        training: Whether dropout is active.
        loops: The ``Loops`` that run the recurrences (``nmt.model.loops``): plain by
            default; the trainer passes faster CPU ones computing the same function.

    Returns:
        ``(logits (b, t, v), weights (b, t, s))``.
    """

    def __init__(
        self,
        src_vocab_size: int,
        tgt_vocab_size: int,
        embedding_dim: int = 128,
        units: int = 256,
        attention_units: int = 256,
        encoder_layers: int = 1,
        bidirectional: bool = False,
        dropout: float = 0.1,
        readout_dim: int = 128,
        word_dropout: float = 0.0,
        tie_embeddings: bool = False,
        layer_norm: bool = False,
        **kwargs,
    ):
        # A fixed name keeps variable paths, and so checkpoint keys, the same
        # however many models a process has built.
        kwargs.setdefault("name", "seq2seq")
        super().__init__(**kwargs)
        self.src_vocab_size = src_vocab_size
        self.tgt_vocab_size = tgt_vocab_size
        self.embedding_dim = embedding_dim
        self.units = units
        self.attention_units = attention_units
        self.encoder_layers = encoder_layers
        self.bidirectional = bidirectional
        self.dropout = dropout
        self.readout_dim = readout_dim
        self.word_dropout = word_dropout
        self.tie_embeddings = tie_embeddings
        self.layer_norm = layer_norm
        self.encoder = Encoder(
            src_vocab_size,
            embedding_dim,
            units,
            encoder_layers,
            bidirectional,
            dropout,
            word_dropout=word_dropout,
            layer_norm=layer_norm,
            name="encoder",
        )
        # The bridge lets encoder and decoder states live in different spaces.
        self.bridge_h = keras.layers.Dense(units, activation="tanh", name="bridge_h")
        self.bridge_c = keras.layers.Dense(units, name="bridge_c")
        self.decoder = Decoder(
            tgt_vocab_size,
            embedding_dim,
            units,
            attention_units,
            context_dim=units,
            readout_dim=readout_dim,
            dropout=dropout,
            word_dropout=word_dropout,
            tie_embeddings=tie_embeddings,
            layer_norm=layer_norm,
            name="decoder",
        )

    def build(self, input_shape=None):
        self.encoder.build((None, None))
        self.bridge_h.build((None, self.units))
        self.bridge_c.build((None, self.units))
        self.decoder.build((None, None))

    def encode(self, src_ids, training=False, loops: Loops = PLAIN) -> tuple[Memory, State]:
        """``(b, s)`` ids -> the decoder's ``Memory`` and initial ``State``."""
        values, mask, (h, cell) = self.encoder(src_ids, training=training, loops=loops)
        state = State(self.bridge_h(h), self.bridge_c(cell))
        return self.decoder.memory(values, mask), state

    def call(self, inputs, training=False, loops: Loops = PLAIN):
        src_ids, tgt_in_ids = inputs
        memory, state = self.encode(src_ids, training=training, loops=loops)
        return self.decoder(tgt_in_ids, state, memory, training=training, loops=loops)

    def decode_step(self, ids, state: State, memory: Memory):
        """``(b,)`` previous tokens -> ``(logits (b, v), State, weights (b, s))``."""
        return self.decoder.decode_step(ids, state, memory)

    def step_function(self, loops: Loops = PLAIN):
        """``decode_step`` as ``loops`` runs it: what a search loop calls once per step."""
        return loops.decoder_step(self.decoder)

    def compute_mask(self, *args, **kwargs):
        return None

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "src_vocab_size": self.src_vocab_size,
                "tgt_vocab_size": self.tgt_vocab_size,
                "embedding_dim": self.embedding_dim,
                "units": self.units,
                "attention_units": self.attention_units,
                "encoder_layers": self.encoder_layers,
                "bidirectional": self.bidirectional,
                "dropout": self.dropout,
                "readout_dim": self.readout_dim,
                "word_dropout": self.word_dropout,
                "tie_embeddings": self.tie_embeddings,
                "layer_norm": self.layer_norm,
            }
        )
        return config


def build_model(model_config) -> Seq2Seq:
    """A built model from a ``ModelConfig``."""
    model = Seq2Seq(**dataclasses.asdict(model_config))
    model.build()
    return model


def weight_map(model: keras.Model) -> dict:
    """The model's variables keyed by their Keras path, for ``tf.train.Checkpoint``.

    Keras 3 layers do not expose every sublayer (lists of layers, for one) to
    TensorFlow's object-graph tracking, so checkpointing the model object itself
    silently leaves weights out. Keying by path saves every variable and fails
    loudly when a checkpoint is missing one.
    """
    return {v.path.replace("/", "."): v for v in model.weights}


def model_checkpoint(model: keras.Model, **extra) -> tf.train.Checkpoint:
    return tf.train.Checkpoint(model=weight_map(model), **extra)
