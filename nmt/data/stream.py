"""The training split as the trainer sees it: chunks of encoded pairs, epoch after epoch.

One rule decides how a training split is held (``nmt.training.run`` applies it): a split
of at most ``data.chunk_pairs`` pairs is read and tokenized once and kept in memory
(`InMemory`, one chunk); a larger one is streamed from disk (`Streamed`): each epoch
visits its chunks (``nmt.data.scan``) in a seeded order, reading and tokenizing one
while the trainer works through the one before, so memory holds two chunks whatever
the corpus's size. Within a chunk, pairs are shuffled and bucketed by length as for a
split held whole (``nmt.data.pipeline.batches``).

A position in an epoch is the chunk's place in that epoch's order and the batches done
in it: resuming reads nothing before that chunk, and re-tokenizes only that chunk.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

from nmt.config import DataConfig
from nmt.data.corpus import Corpus
from nmt.data.pipeline import Encoded, batch_count
from nmt.data.scan import Index, read_chunk


class InMemory:
    """A split held whole: tokenized once, one chunk, the same pairs every epoch.

    Args:
        data: The encoded split.
        config: How it is batched.
        draw: If given, called each epoch for a new segmentation of ``data``'s pairs
            (subword sampling, ``nmt.data.pipeline.resample``).
    """

    streamed = False

    def __init__(
        self, data: Encoded, config: DataConfig, draw: Callable[[], Encoded] | None = None
    ):
        self.data, self.config, self._draw = data, config, draw
        self.pairs = len(data)

    def order(self, epoch: int) -> list[int]:
        return [0]

    def encoded(self, chunk: int, epoch: int) -> Encoded:
        return self._draw() if self._draw else self.data

    def batch_estimate(self) -> int:
        """Batches in an epoch: exact."""
        return batch_count(self.data, self.config)


class Streamed:
    """A split read from disk a chunk at a time, each epoch in a new order of chunks.

    Args:
        index: The split's ``nmt.data.scan.scan``.
        config: How it is batched.
        encode: Tokenizes a chunk's pairs and applies the length limits (and, with
            subword sampling, samples their segmentation).
        seed: Seeds the order of chunks, with the epoch.
        held_out: Source sentences left out of training (a dev set carved from it).
        skip_bad_lines: As when the split was scanned.
    """

    streamed = True

    def __init__(
        self,
        index: Index,
        config: DataConfig,
        encode: Callable[[Corpus], Encoded],
        *,
        seed: int,
        held_out: frozenset[str] = frozenset(),
        skip_bad_lines: bool = False,
    ):
        self.index, self.config, self._encode, self.seed = index, config, encode, seed
        self.held_out, self.skip_bad_lines = held_out, skip_bad_lines
        self.pairs = index.pairs
        self.dropped = 0  # pairs over the length limits, in the chunks read so far
        self._batches: dict[int, int] = {}  # chunk -> batches, once it has been read

    def order(self, epoch: int) -> list[int]:
        """The chunks in the order ``epoch`` visits them: the same for the same seed."""
        chunks = list(range(len(self.index.chunks)))
        random.Random(self.seed * 1000 + epoch).shuffle(chunks)
        return chunks

    def encoded(self, chunk: int, epoch: int) -> Encoded:
        pairs = read_chunk(
            self.index, chunk, skip_bad_lines=self.skip_bad_lines, held_out=self.held_out
        )
        data = self._encode(pairs)
        if chunk not in self._batches:
            self.dropped += data.dropped
        self._batches[chunk] = batch_count(data, self.config)
        return data

    def batch_estimate(self) -> int:
        """Batches in an epoch: exact for the chunks read so far, and for the rest
        estimated from them in proportion to their pairs (0 before any is read)."""
        known = dict(self._batches)
        if not known:
            return 0
        per_pair = sum(known.values()) / sum(self.index.chunks[c].pairs for c in known)
        rest = sum(c.pairs for i, c in enumerate(self.index.chunks) if i not in known)
        return sum(known.values()) + round(per_pair * rest)


def chunks(split: InMemory | Streamed, epoch: int, first: int) -> Iterator[tuple[int, Encoded]]:
    """``(chunk, its encoded pairs)`` for ``epoch``'s chunks from place ``first`` in its
    order on; a streamed split reads and tokenizes the next chunk in the background
    while the caller trains on this one."""
    order = split.order(epoch)[first:]
    if not split.streamed:
        yield from ((chunk, split.encoded(chunk, epoch)) for chunk in order)
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="nmt-chunk") as pool:
        ahead = pool.submit(split.encoded, order[0], epoch) if order else None
        for i, chunk in enumerate(order):
            data = ahead.result()
            if i + 1 < len(order):
                ahead = pool.submit(split.encoded, order[i + 1], epoch)
            yield chunk, data
