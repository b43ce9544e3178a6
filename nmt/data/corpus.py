"""Parallel corpora: one split of aligned sentences, the splits a corpus provides, dev hold-out.

A corpus is given either as one TSV file, as a directory holding ``train.tsv``,
``dev.tsv`` and ``test.tsv``, or as a Moses pair of files (``--src``/``--tgt``)
whose line i translate each other. ``nmt.data.formats`` reads the files (stripping
and NFC-normalizing every sentence); this module turns what it read into ``Corpus``
splits.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path

from nmt.data.formats import is_moses, moses_pairs, tsv_pairs
from nmt.errors import NmtError

SPLITS = ("train", "dev", "test")


@dataclass(frozen=True)
class Corpus:
    """One split of a parallel corpus: ``src[i]`` translates to ``tgt[i]``.

    Attributes:
        src: Source sentences, stripped and NFC-normalized, never empty.
        tgt: Target sentences aligned with ``src``.
        skipped: Malformed lines skipped while reading (only with ``skip_bad_lines``).
    """

    src: list[str]
    tgt: list[str]
    skipped: int = 0

    def __post_init__(self) -> None:
        if len(self.src) != len(self.tgt):
            raise ValueError(f"unaligned corpus: {len(self.src)} sources, {len(self.tgt)} targets")

    def __len__(self) -> int:
        return len(self.src)


def read_tsv(path: str | os.PathLike, *, skip_bad_lines: bool = False) -> Corpus:
    """Reads ``english<TAB>korean`` lines; later columns (Anki attribution) are ignored.

    Blank lines are skipped silently. A leading BOM and CRLF line ends are accepted.

    Args:
        path: The TSV file, UTF-8.
        skip_bad_lines: Skip and count malformed lines instead of raising.

    Returns:
        The pairs in file order.

    Raises:
        NmtError: The file is missing or unreadable, holds no pairs, or has a
            malformed line (no tab, an empty side, bytes that are not UTF-8)
            and ``skip_bad_lines`` is false.
    """
    return _nonempty(Corpus(*tsv_pairs(path, skip_bad_lines=skip_bad_lines)), path)


def read_moses(
    src_path: str | os.PathLike, tgt_path: str | os.PathLike, *, skip_bad_lines: bool = False
) -> Corpus:
    """``nmt.data.formats.moses_pairs`` as a ``Corpus``: line i of ``src_path`` translates
    line i of ``tgt_path``.

    Raises:
        NmtError: As ``moses_pairs`` does, and when the files hold no pairs.
    """
    pairs = moses_pairs(src_path, tgt_path, skip_bad_lines=skip_bad_lines)
    return _nonempty(Corpus(*pairs), f"{src_path} and {tgt_path}")


def read_corpus(
    path: str | os.PathLike | None = None,
    *,
    src: str | os.PathLike | None = None,
    tgt: str | os.PathLike | None = None,
    split: str = "train",
    skip_bad_lines: bool = False,
) -> Corpus:
    """Reads one split of a corpus given as a TSV file, a split directory or Moses files.

    Args:
        path: A TSV file (returned whatever ``split`` is) or a directory holding
            ``train.tsv``, ``dev.tsv`` and ``test.tsv`` (each possibly gzip-compressed,
            ``train.tsv.gz``). Leave None for Moses files.
        src: Moses source file; needs ``tgt`` and no ``path``.
        tgt: Moses target file.
        split: ``"train"``, ``"dev"`` or ``"test"``; selects the file in a directory.
        skip_bad_lines: Skip and count malformed lines instead of raising.

    Returns:
        The requested split.

    Raises:
        NmtError: The arguments do not name exactly one corpus, a file is
            missing, or reading it fails (see `read_tsv` and `read_moses`).
    """
    if split not in SPLITS:
        raise NmtError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if is_moses(path, src, tgt):
        return read_moses(src, tgt, skip_bad_lines=skip_bad_lines)
    if not Path(path).is_dir():
        return read_tsv(path, skip_bad_lines=skip_bad_lines)
    return read_tsv(_required_split(path, split), skip_bad_lines=skip_bad_lines)


def split_file(directory: str | os.PathLike, split: str) -> Path | None:
    """The file of ``split`` in a split directory: ``SPLIT.tsv`` or ``SPLIT.tsv.gz``."""
    for name in (f"{split}.tsv", f"{split}.tsv.gz"):
        if (Path(directory) / name).is_file():
            return Path(directory) / name
    return None


def train_files(
    path: str | os.PathLike | None = None,
    *,
    src: str | os.PathLike | None = None,
    tgt: str | os.PathLike | None = None,
) -> tuple[Path, ...]:
    """The file(s) holding a corpus's training split: one TSV, or Moses source and target.

    Raises:
        NmtError: As `read_corpus`.
    """
    if is_moses(path, src, tgt):
        return (Path(src), Path(tgt))
    if not Path(path).is_dir():
        return (Path(path),)
    return (_required_split(path, "train"),)


def _required_split(directory: str | os.PathLike, split: str) -> Path:
    found = split_file(directory, split)
    if found is None:
        expected = ", ".join(f"{name}.tsv" for name in SPLITS)
        raise NmtError(f"{directory}: directory has no {split}.tsv (expected {expected})")
    return found


def read_splits(
    path: str | os.PathLike | None = None,
    *,
    src: str | os.PathLike | None = None,
    tgt: str | os.PathLike | None = None,
    skip_bad_lines: bool = False,
) -> dict[str, Corpus]:
    """Reads every split a corpus provides.

    A directory yields ``train`` plus whichever of ``dev`` and ``test`` it holds.
    A single TSV file or a Moses pair yields ``train`` only; the caller carves a
    dev set from it with `split_off`.

    Args:
        path: A TSV file or a split directory; None for Moses files.
        src: Moses source file.
        tgt: Moses target file.
        skip_bad_lines: Skip and count malformed lines instead of raising.

    Returns:
        Split name to corpus, in the order train, dev, test.

    Raises:
        NmtError: As `read_corpus`; a directory without ``train.tsv`` is an error.
    """
    if is_moses(path, src, tgt) or not Path(path).is_dir():
        return {"train": read_corpus(path, src=src, tgt=tgt, skip_bad_lines=skip_bad_lines)}
    return {
        split: read_corpus(path, split=split, skip_bad_lines=skip_bad_lines)
        for split in SPLITS
        if split == "train" or split_file(path, split) is not None
    }


def split_off(corpus: Corpus, fraction: float, seed: int) -> tuple[Corpus, Corpus]:
    """Holds out a random dev set, the same one for the same corpus and seed.

    All pairs sharing a source sentence go to the same side: Tatoeba lists many
    translations of one English sentence, and splitting them would let the dev
    set score sentences the model trained on.

    Args:
        corpus: At least two pairs.
        fraction: About what share of pairs to hold out, in (0, 1); whole groups
            of a source sentence may overshoot it. At least one pair is held
            out and at least one is kept.
        seed: Seeds the choice.

    Returns:
        ``(rest, held_out)``, each in the corpus order; ``rest`` keeps ``skipped``.

    Raises:
        NmtError: ``fraction`` is out of range or the corpus has under two pairs.
    """
    if not 0.0 < fraction < 1.0:
        raise NmtError(f"dev fraction must be between 0 and 1, got {fraction}")
    n = len(corpus)
    if n < 2:
        raise NmtError(f"need at least 2 sentence pairs to hold out a dev set, got {n}")
    wanted = min(n - 1, max(1, round(n * fraction)))
    groups: dict[str, list[int]] = {}
    for i, sentence in enumerate(corpus.src):
        groups.setdefault(sentence, []).append(i)
    rng = random.Random(seed)
    keys = list(groups)
    rng.shuffle(keys)
    held: list[int] = []
    for key in keys:
        if len(held) >= wanted:
            break
        if len(held) + len(groups[key]) < n:  # never hold out everything
            held.extend(groups[key])
    if not held:  # every pair shares one source sentence: split pairs after all
        held = rng.sample(range(n), wanted)
    held_set = set(held)
    rest_ids = [i for i in range(n) if i not in held_set]
    return _subset(corpus, rest_ids, corpus.skipped), _subset(corpus, sorted(held_set), 0)


def _nonempty(corpus: Corpus, where: str | os.PathLike) -> Corpus:
    if not corpus.src:
        note = f" (bad lines skipped: {corpus.skipped})" if corpus.skipped else ""
        raise NmtError(f"{where}: no sentence pairs found{note}")
    return corpus


def _subset(corpus: Corpus, ids: list[int], skipped: int) -> Corpus:
    return Corpus([corpus.src[i] for i in ids], [corpus.tgt[i] for i in ids], skipped)
