"""Several trained models that decode as one.

At every step each member predicts the next token from its own state; the ensemble's
next-token distribution is the renormalised geometric mean of theirs,

    log p(y | ...) = log_softmax( (1/M) · Σ_m log p_m(y | ...) ),

the log-linear combination Marian and Nematus use. One hypothesis is searched for
all members together, so every member conditions on the same prefix. The attention
returned is the average of the members' attention rows: each row still sums to 1
over the real source positions, and it shows where the members look on average
(their own matrices can differ).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf

from nmt import modeldir
from nmt.errors import NmtError
from nmt.model.loops import PLAIN, Loops


class Ensemble:
    """Models with the same vocabularies, searched with one ``step_function``.

    It has what the search functions ask of a model: ``encode`` (here a tuple of
    the members' memories and states) and ``step_function``.
    """

    def __init__(self, members: Sequence):
        if not members:
            raise ValueError("an ensemble needs at least one model")
        vocabularies = {(m.src_vocab_size, m.tgt_vocab_size) for m in members}
        if len(vocabularies) > 1:
            raise ValueError(f"ensemble members have different vocabularies: {vocabularies}")
        self.members = list(members)

    def encode(self, src_ids, training=False, loops: Loops = PLAIN):
        """``(b, s)`` ids -> ``(memories, states)``, one of each per member."""
        encoded = [m.encode(src_ids, training=training, loops=loops) for m in self.members]
        return tuple(memory for memory, _ in encoded), tuple(state for _, state in encoded)

    def step_function(self, loops: Loops = PLAIN):
        """``step(ids, states, memories) -> (log_probs (b, v), states, weights (b, s))``."""
        steps = [m.step_function(loops) for m in self.members]
        count = float(len(steps))

        def step(ids, states, memories):
            outputs = [run(ids, s, m) for run, s, m in zip(steps, states, memories, strict=True)]
            log_probs = [tf.nn.log_softmax(tf.cast(logits, tf.float32)) for logits, _, _ in outputs]
            weights = [tf.cast(w, tf.float32) for _, _, w in outputs]
            new_states = tuple(state for _, state, _ in outputs)
            return tf.add_n(log_probs) / count, new_states, tf.add_n(weights) / count

        return step


def load_members(model_dirs: Sequence[str | Path]):
    """``(config, models, src_tok, tgt_tok)`` of model directories that can decode together.

    The config is the first directory's, with ``data.max_src_len`` the smallest of
    the members' (no member sees inputs longer than it was trained on).

    Raises:
        NmtError: A directory cannot be loaded, or its tokenizers are not byte for byte
            the first one's: ids would mean different pieces to different members.
    """
    first = Path(model_dirs[0])
    for other in map(Path, model_dirs[1:]):
        for name in (modeldir.SRC_TOKENIZER, modeldir.TGT_TOKENIZER):
            mine, theirs = first / name, other / name
            if mine.is_file() and theirs.is_file() and mine.read_bytes() != theirs.read_bytes():
                raise NmtError(
                    f"--model {other}: its {name} differs from {first}'s; ensemble members "
                    "must share source.spm and target.spm (train them on the same corpus "
                    "with the same data settings)"
                )
    loaded = [modeldir.load(d) for d in model_dirs]
    config, _, src, tgt = loaded[0]
    shortest = min(c.data.max_src_len for c, *_ in loaded)
    data = dataclasses.replace(config.data, max_src_len=shortest)
    config = dataclasses.replace(config, data=data)
    return config, [model for _, model, _, _ in loaded], src, tgt
