"""Text in, translations out: the one inference path of the CLI, plots and export."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from nmt import modeldir
from nmt.config import Config
from nmt.model import Seq2Seq
from nmt.search import greedy_search, max_lengths
from nmt.tokenizer import EOS_ID, PAD_ID, Tokenizer


@dataclass
class Translation:
    """One sentence's result; ``attention[j, i]`` is target token j's weight on source token i."""

    source: str
    text: str
    src_tokens: list[str]
    tgt_tokens: list[str]
    attention: np.ndarray  # (len(tgt_tokens), len(src_tokens))
    score: float
    truncated: bool = False

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "translation": self.text,
            "score": self.score,
            "src_tokens": self.src_tokens,
            "tgt_tokens": self.tgt_tokens,
            "attention": np.round(self.attention, 5).tolist(),
            "truncated": self.truncated,
        }


class Translator(tf.Module):
    """A trained model with its tokenizers, decoding raw strings in one compiled graph.

    Sources longer than ``data.max_src_len`` tokens are cut to that length (the
    result says so in ``truncated``): the model never saw longer inputs.
    """

    def __init__(self, model: Seq2Seq, src_tok: Tokenizer, tgt_tok: Tokenizer, config: Config):
        super().__init__()
        self.model = model
        self.src_tok = src_tok
        self.tgt_tok = tgt_tok
        self.config = config
        self._batch_size = max(1, config.data.batch_size)

    @classmethod
    def load(cls, model_dir: str | Path) -> Translator:
        config, model, src, tgt = modeldir.load(model_dir)
        return cls(model, src, tgt, config)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def translate_strings(self, text):
        """``(b,)`` strings -> dict of ``(b, ...)`` tensors: the graph behind ``translate``."""
        ids = self.src_tok.tokenize(text)
        limit = self.config.data.max_src_len
        truncated = ids.row_lengths() > limit
        ids = tf.concat([ids[:, :-1][:, : limit - 1], ids[:, -1:]], axis=1)
        src_ids = ids.to_tensor(default_value=PAD_ID)
        decode = self.config.decode
        out_ids, weights, scores = greedy_search(
            self.model, src_ids, max_lengths(src_ids, decode.max_len_a, decode.max_len_b)
        )
        return {
            "translation": self.tgt_tok.detokenize(out_ids),
            "src_ids": src_ids,
            "ids": out_ids,
            "attention": weights,
            "scores": scores,
            "truncated": truncated,
        }

    def translate(self, texts: list[str]) -> list[Translation]:
        """Translate sentences in batches of similar length; blank input gives blank output."""
        results: list[Translation | None] = [None] * len(texts)
        todo = [i for i, t in enumerate(texts) if t.strip()]
        for i in set(range(len(texts))) - set(todo):
            results[i] = Translation(texts[i], "", [], [], np.zeros((0, 0), np.float32), 0.0)
        todo.sort(key=lambda i: len(texts[i]))
        for start in range(0, len(todo), self._batch_size):
            chunk = todo[start : start + self._batch_size]
            out = self.translate_strings(tf.constant([texts[i] for i in chunk]))
            for row, i in enumerate(chunk):
                results[i] = self._unpack(texts[i], out, row)
        return results

    def _unpack(self, source: str, out: dict, row: int) -> Translation:
        src_ids = out["src_ids"][row].numpy()
        src_ids = src_ids[src_ids != PAD_ID]
        ids = out["ids"][row].numpy()
        ids = ids[ids != PAD_ID]
        end = np.flatnonzero(ids == EOS_ID)
        ids = ids[: end[0] + 1] if len(end) else ids
        attention = out["attention"][row].numpy()[: len(ids), : len(src_ids)]
        return Translation(
            source=source,
            text=out["translation"][row].numpy().decode("utf-8"),
            src_tokens=self._pieces(self.src_tok, src_ids),
            tgt_tokens=self._pieces(self.tgt_tok, ids),
            attention=attention,
            score=float(out["scores"][row].numpy()),
            truncated=bool(out["truncated"][row].numpy()),
        )

    @staticmethod
    def _pieces(tokenizer: Tokenizer, ids: np.ndarray) -> list[str]:
        return [p.decode("utf-8") for p in tokenizer.id_to_piece(ids).numpy()]
