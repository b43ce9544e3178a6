"""One pass over a training split: its size, where its chunks start, and a sample of it.

A split too large for memory is trained on a chunk at a time (``nmt.data.stream``).
Before training, one streaming pass over its file(s) checks every line (a bad line
stops with its ``FILE:LINE``, or is counted with ``skip_bad_lines``, exactly as reading
the whole file would), counts the pairs, notes where every ``chunk_pairs``-th pair
starts, and draws a seeded uniform sample of pairs for the tokenizers and the
vocabulary-size rule. Memory is the sample's; time is one read of the files.
"""

from __future__ import annotations

import math
import os
import random
from dataclasses import dataclass

from nmt.data.corpus import Corpus
from nmt.data.formats import PairReader, Position


@dataclass(frozen=True)
class Chunk:
    """``pairs`` consecutive well-formed pairs, the first of them at ``start``."""

    start: Position
    pairs: int


@dataclass
class Index:
    """What `scan` found: the split's pairs, their chunks, and a sample of them.

    Attributes:
        paths: The TSV file, or the Moses source and target files.
        pairs: Well-formed pairs in the files.
        skipped: Malformed lines skipped (only with ``skip_bad_lines``).
        chunks: Consecutive runs of ``chunk_pairs`` pairs (the last may be shorter),
            in file order, together holding every pair once.
        sample: A uniform random sample of the pairs in file order: all of them
            when there are no more than the sample size.
    """

    paths: tuple[str, ...]
    pairs: int
    skipped: int
    chunks: list[Chunk]
    sample: Corpus

    @property
    def sample_scale(self) -> float:
        """How many pairs of the split each sampled pair stands for (1.0: all sampled)."""
        return self.pairs / max(len(self.sample), 1)


def scan(
    paths: tuple[str | os.PathLike, ...],
    *,
    chunk_pairs: int,
    sample_pairs: int,
    skip_bad_lines: bool = False,
    seed: int = 0,
) -> Index:
    """Reads the files once, start to end, without holding more than the sample.

    The sample is drawn with reservoir sampling (Li 1994, algorithm L): each pair is
    equally likely to be in it, the same ones for the same files and ``seed``, and a
    random number is drawn only for the few pairs that enter it.

    Raises:
        NmtError: A file is missing, unreadable or not valid gzip, or a line is
            malformed and ``skip_bad_lines`` is false.
    """
    reader = PairReader(tuple(paths), skip_bad_lines=skip_bad_lines)
    rng = random.Random(seed)
    chunks: list[Position] = []
    kept: list[tuple[int, str, str]] = []
    weight = math.exp(math.log(1.0 - rng.random()) / sample_pairs)
    pick = sample_pairs + _gap(rng, weight)
    n = 0
    for position, s, t in reader:
        if n % chunk_pairs == 0:
            chunks.append(position)
        if n < sample_pairs:
            kept.append((n, s, t))
        elif n == pick:
            kept[rng.randrange(sample_pairs)] = (n, s, t)
            weight *= math.exp(math.log(1.0 - rng.random()) / sample_pairs)
            pick += 1 + _gap(rng, weight)
        n += 1
    kept.sort()
    sizes = [min(chunk_pairs, n - i * chunk_pairs) for i in range(len(chunks))]
    return Index(
        paths=tuple(str(p) for p in paths),
        pairs=n,
        skipped=reader.skipped,
        chunks=[Chunk(start, size) for start, size in zip(chunks, sizes, strict=True)],
        sample=Corpus([s for _, s, _ in kept], [t for _, _, t in kept]),
    )


def _gap(rng: random.Random, weight: float) -> int:
    """Pairs passed over before the next one enters the reservoir (algorithm L)."""
    if weight >= 1.0:
        return 0
    return math.floor(math.log(1.0 - rng.random()) / math.log(1.0 - weight))


def read_chunk(
    index: Index,
    chunk: int,
    *,
    skip_bad_lines: bool = False,
    held_out: frozenset[str] = frozenset(),
) -> Corpus:
    """The pairs of ``index.chunks[chunk]``, less those whose source is in ``held_out``.

    Raises:
        NmtError: As `scan`: the files changed since, or cannot be read.
    """
    part = index.chunks[chunk]
    reader = PairReader(index.paths, skip_bad_lines=skip_bad_lines, start=part.start)
    src, tgt = [], []
    for i, (_, s, t) in enumerate(reader):
        if i == part.pairs:
            break
        if s not in held_out:
            src.append(s)
            tgt.append(t)
    return Corpus(src, tgt)
