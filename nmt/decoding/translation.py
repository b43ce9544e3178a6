"""What a translation returns: the hypotheses of one sentence, with their attention."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Hypothesis:
    """One output of the search.

    ``attention[j, i]`` is target token j's weight on source token i.
    """

    text: str
    tgt_tokens: list[str]
    attention: np.ndarray  # (len(tgt_tokens), len(src_tokens))
    score: float  # log_prob / length_penalty(len(tgt_tokens)): what hypotheses are ranked by
    log_prob: float  # summed log-probability of tgt_tokens under the model

    def to_json(self) -> dict:
        return {
            "translation": self.text,
            "score": self.score,
            "log_prob": self.log_prob,
            "tgt_tokens": self.tgt_tokens,
            "attention": np.round(self.attention, 5).tolist(),
        }


@dataclass
class Translation:
    """One sentence's result: its hypotheses, best first (several with ``n_best``).

    ``text``, ``tgt_tokens``, ``attention``, ``score`` and ``log_prob`` are those of
    the best hypothesis.
    """

    source: str
    src_tokens: list[str]
    hypotheses: list[Hypothesis]
    truncated: bool = False
    prefix_length: int = 0  # target tokens a given prefix forced, at the start of each

    @property
    def best(self) -> Hypothesis:
        return self.hypotheses[0]

    @property
    def text(self) -> str:
        return self.best.text

    @property
    def tgt_tokens(self) -> list[str]:
        return self.best.tgt_tokens

    @property
    def attention(self) -> np.ndarray:
        return self.best.attention

    @property
    def score(self) -> float:
        return self.best.score

    @property
    def log_prob(self) -> float:
        return self.best.log_prob

    def to_json(self) -> dict:
        """The best hypothesis's fields, plus ``nbest`` (all of them) when there are several."""
        out = {"source": self.source, **self.best.to_json(), "src_tokens": self.src_tokens}
        out["truncated"] = self.truncated
        if self.prefix_length:
            out["prefix_length"] = self.prefix_length
        if len(self.hypotheses) > 1:
            out["nbest"] = [h.to_json() for h in self.hypotheses]
        return out


def unpack(source: str, out: dict, row: int) -> Translation:
    """Row ``row`` of a translate function's output dict, as a ``Translation``."""
    src_length = int(out["src_length"][row])
    hypotheses = []
    for j, length in enumerate(out["length"][row]):
        if out["log_prob"][row, j] == -np.inf:
            break  # fewer outputs fit the length limit than were asked for
        hypotheses.append(
            Hypothesis(
                text=out["translation"][row, j].decode("utf-8"),
                tgt_tokens=_strings(out["tgt_tokens"][row, j, :length]),
                attention=out["attention"][row, j, :length, :src_length],
                score=float(out["score"][row, j]),
                log_prob=float(out["log_prob"][row, j]),
            )
        )
    return Translation(
        source=source,
        src_tokens=_strings(out["src_tokens"][row, :src_length]),
        hypotheses=hypotheses,
        truncated=bool(out["truncated"][row]),
        prefix_length=int(out["prefix_length"][row]) if "prefix_length" in out else 0,
    )


def _strings(pieces: np.ndarray) -> list[str]:
    return [p.decode("utf-8") for p in pieces]
