"""Corpus-level quality: exact match, sacrebleu BLEU and chrF, length ratio."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import sacrebleu

from nmt.data.corpus import read_corpus
from nmt.decoding.translator import Translator
from nmt.progress import progress_bar

# Korean attaches particles to words, so whitespace tokens ("eojeol") almost never
# match exactly and word BLEU reads near zero for decent output. Character
# tokenization scores the syllables Korean writes, needs no extra analyser
# (ko-mecab is a native dependency) and is what chrF already does.
BLEU_TOKENIZE = "char"


@dataclass
class Scores:
    sentences: int
    exact_match: float
    bleu: float
    chrf: float
    length_ratio: float
    bleu_signature: str
    chrf_signature: str

    def to_json(self) -> dict:
        return asdict(self)


def score(hypotheses: list[str], references: list[str]) -> Scores:
    """Scores of aligned hypotheses against single references."""
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses for {len(references)} references")
    bleu = sacrebleu.metrics.BLEU(tokenize=BLEU_TOKENIZE)
    chrf = sacrebleu.metrics.CHRF()
    bleu_score = bleu.corpus_score(hypotheses, [references])
    chrf_score = chrf.corpus_score(hypotheses, [references])
    exact = sum(h.strip() == r.strip() for h, r in zip(hypotheses, references))
    n = max(len(references), 1)
    ref_chars = sum(len(r) for r in references)
    return Scores(
        sentences=len(references),
        exact_match=exact / n,
        bleu=bleu_score.score,
        chrf=chrf_score.score,
        length_ratio=sum(len(h) for h in hypotheses) / max(ref_chars, 1),
        bleu_signature=str(bleu.get_signature()),
        chrf_signature=str(chrf.get_signature()),
    )


def evaluate(
    translator: Translator,
    corpus: str | Path,
    split: str = "test",
    beam_size: int | None = None,
    length_penalty: float | None = None,
    *,
    progress: bool = False,
) -> tuple[Scores, list[str]]:
    """Translate a split of ``corpus`` and score it; returns the scores and hypotheses.

    ``translator`` is a ``Translator`` or an ``nmt.decoding.export.ExportedTranslator``;
    search options default to the model's ``decode`` config. With ``progress``, a
    bar over the sentences is drawn on stderr when it is a terminal.
    """
    data = read_corpus(corpus, split=split)
    with progress_bar(len(data), f"evaluate {split}", unit="sentence", enabled=progress) as bar:
        results = translator.translate(data.src, beam_size, 1, length_penalty, progress=bar.update)
    hypotheses = [t.text for t in results]
    return score(hypotheses, data.tgt), hypotheses


def dev_metric(
    translator: Translator, sources: list[str], references: list[str], metric: str
) -> Callable[[], float]:
    """A function scoring greedy translations of ``sources`` by ``metric`` ("bleu" or "chrf").

    The trainer calls it after every epoch; the translator holds the model being
    trained, so each call sees the current weights without retracing.
    """

    def measure() -> float:
        hypotheses = [t.text for t in translator.translate(sources, beam_size=1, n_best=1)]
        return getattr(score(hypotheses, references), metric)

    return measure
