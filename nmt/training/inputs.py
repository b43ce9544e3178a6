"""What a training run reads: the training split (held whole or streamed), the dev split,
and the text its tokenizers learn from.

One rule, `read_inputs`, decides how the training split is held: a scan of its files
(``nmt.data.scan``) counts its pairs; up to ``data.chunk_pairs`` it is read whole and
kept in memory, as small corpora always were; beyond, it is streamed a chunk at a time
(``nmt.data.stream``). The tokenizers learn from every pair up to
``data.tokenizer_sample`` pairs, and from a seeded sample of that many beyond.

A streamed corpus without a dev split holds out at most ``STREAMED_DEV_PAIRS`` pairs of
its sample, and leaves every pair with one of their source sentences out of training.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nmt.config import Config
from nmt.data.corpus import Corpus, read_corpus, read_splits, split_file, split_off, train_files
from nmt.data.pipeline import encode, resample, samples_subwords
from nmt.data.scan import Index, scan
from nmt.data.stream import InMemory, Streamed
from nmt.data.tokenizer import Tokenizer
from nmt.errors import NmtError

# Dev pairs held out of a streamed corpus that has no dev split: decoded after every
# epoch, so bounded, whatever data.dev_fraction of millions of pairs would be.
STREAMED_DEV_PAIRS = 2000


@dataclass
class Inputs:
    """A run's corpus, read as far as training needs before the tokenizers exist.

    Attributes:
        index: The scan of the training split's files.
        dev: The dev split, in memory.
        train: The training split in memory, or None when it is streamed.
        held_out: Source sentences kept out of a streamed training split.
        tokenizer_text: ``(sources, targets)`` the tokenizers learn from.
        scale: Training pairs each pair of ``tokenizer_text`` stands for.
    """

    index: Index
    dev: Corpus
    train: Corpus | None
    held_out: frozenset[str]
    tokenizer_text: tuple[list[str], list[str]]
    scale: float

    @property
    def streamed(self) -> bool:
        return self.train is None

    def drop_sample(self) -> None:
        """Forgets the sample once the tokenizers are trained: memory for the chunks."""
        self.index.sample = Corpus([], [])
        self.tokenizer_text = ([], [])


def read_inputs(
    config: Config,
    corpus: str | Path | None,
    src: str | Path | None,
    tgt: str | Path | None,
) -> Inputs:
    """Scan the training split, then read what of the corpus lives in memory.

    Raises:
        NmtError: The corpus is missing or malformed (``FILE:LINE``), or too small.
    """
    d = config.data
    files = train_files(corpus, src=src, tgt=tgt)
    index = scan(
        files,
        chunk_pairs=d.chunk_pairs,
        sample_pairs=d.tokenizer_sample,
        skip_bad_lines=d.skip_bad_lines,
    )
    if not index.pairs:
        note = f" (bad lines skipped: {index.skipped})" if index.skipped else ""
        raise NmtError(f"{' and '.join(index.paths)}: no sentence pairs found{note}")
    if index.pairs <= d.chunk_pairs:
        splits = read_splits(corpus, src=src, tgt=tgt, skip_bad_lines=d.skip_bad_lines)
        train, dev = _train_dev(splits, config)
        text = (train.src, train.tgt)
        held_out = frozenset(dev.src) if "dev" not in splits else frozenset()
        if len(index.sample) < index.pairs:
            text = _leave_out(index.sample, held_out)
        return Inputs(index, dev, train, frozenset(), text, len(train) / len(text[0]))
    dev_file = None if corpus is None or not Path(corpus).is_dir() else split_file(corpus, "dev")
    if dev_file is not None:
        dev = read_corpus(dev_file, skip_bad_lines=d.skip_bad_lines)
        rest = index.sample
    else:
        wanted = min(STREAMED_DEV_PAIRS, max(1, round(index.pairs * d.dev_fraction)))
        # Seed 0 for the reason _train_dev gives.
        rest, dev = split_off(index.sample, min(0.5, wanted / len(index.sample)), seed=0)
    held_out = frozenset() if dev_file is not None else frozenset(dev.src)
    text = (rest.src, rest.tgt)
    return Inputs(index, dev, None, held_out, text, index.pairs / max(len(rest), 1))


def training_split(
    inputs: Inputs,
    src_tok: Tokenizer,
    tgt_tok: Tokenizer,
    config: Config,
    *,
    sampling: bool,
) -> InMemory | Streamed:
    """The training split as the trainer reads it, tokenized by ``src_tok``/``tgt_tok``;
    with ``sampling``, each epoch samples new segmentations (``data.subword_alpha``)."""
    d = config.data
    sampling = sampling and samples_subwords(d)

    def encoded(pairs: Corpus):
        data = encode(pairs.src, pairs.tgt, src_tok, tgt_tok, d)
        if sampling:
            data = resample(pairs.src, pairs.tgt, src_tok, tgt_tok, d, like=data)
        return data

    if not inputs.streamed:
        train = inputs.train
        data = encode(train.src, train.tgt, src_tok, tgt_tok, d)
        draw: Callable | None = None
        if sampling:
            draw = lambda: resample(train.src, train.tgt, src_tok, tgt_tok, d, like=data)  # noqa: E731
        return InMemory(data, d, draw)
    return Streamed(
        inputs.index,
        d,
        encoded,
        seed=config.train.seed,
        held_out=inputs.held_out,
        skip_bad_lines=d.skip_bad_lines,
    )


def _leave_out(sample: Corpus, held_out: frozenset[str]) -> tuple[list[str], list[str]]:
    keep = [i for i, s in enumerate(sample.src) if s not in held_out]
    return [sample.src[i] for i in keep], [sample.tgt[i] for i in keep]


def _train_dev(splits: dict[str, Corpus], config: Config) -> tuple[Corpus, Corpus]:
    train = splits["train"]
    if "dev" in splits:
        return train, splits["dev"]
    if len(train) < 2:
        raise NmtError("the corpus needs at least 2 pairs to hold out a dev set")
    # Not train.seed: runs that differ only in their seed hold out the same dev set, so
    # they train the same tokenizers and can decode together as an ensemble.
    return split_off(train, config.data.dev_fraction, seed=0)
