"""Re-splits data/en-ko so that no dev or test pair is within one word of a training pair.

Half the corpus comes from sentence templates. Split at random, most dev and test
sentences differ from a training sentence by one filled-in slot ("Do you speak German?"
held out, "Do you speak Spanish?" trained on), so their scores measure slot filling.

Definition. A side is tokenized as lowercased words, ``re.findall(r"[\\w']+", s.lower())``
(for Korean these are eojeol, each with its particles). Two sentences are *within one
word* when the word-level Levenshtein distance of their tokens is at most 1: one
substitution, insertion or deletion, or identical. Two pairs are neighbours when their
English *or* their Korean sides are within one word: templates whose slot takes
several English words ("Where is the post office?" / "Where is the pharmacy?") still
differ by one Korean word (우체국은 / 약국은).

Template families are the connected components of the neighbour graph, and whole
families go to one split. Families holding a dictionary entry (English not ending in
``.``, ``?`` or ``!``: technical terms such as "Artificial Intelligence", single words)
and families larger than ``MAX_HELD_OUT_FAMILY`` go to train; shuffled smaller families
fill dev and test. Any two one-word sides are one substitution apart, so all single
words and one-word sentences form one giant family, in train.

Usage:
    python3 scripts/split_en_ko.py [--data data/en-ko] [--dev 200] [--test 200] [--seed 0]
    python3 scripts/split_en_ko.py --check   # exit 1 if a held-out pair has a neighbour
"""

from __future__ import annotations

import argparse
import random
import re
import sys
from collections import defaultdict
from pathlib import Path

from nmt.data.corpus import SPLITS, read_tsv
from nmt.errors import NmtError

Pair = tuple[str, str]
SIDES = ("english", "korean")
WILDCARD = "*"  # never a token: tokens match [\w']+
# A template with more fillers than this is worth learning from, and held out it would
# be over 5% of a 200-pair split.
MAX_HELD_OUT_FAMILY = 10


def words(sentence: str) -> tuple[str, ...]:
    """The lowercased word tokens of one side of a pair."""
    return tuple(re.findall(r"[\w']+", sentence.lower()))


def keys(tokens: tuple[str, ...]) -> list[tuple[str, ...]]:
    """Keys that two token tuples share exactly when they are within one word.

    Identical tuples, or tuples differing by a substitution at i, share the tuple with
    position i wildcarded. When deleting position i of the longer tuple leaves the
    shorter, the shorter with a wildcard inserted at i equals the longer wildcarded at
    i. No other tuples share a key, since the wildcard is never a token.
    """
    n = len(tokens)
    replaced = [tokens[:i] + (WILDCARD,) + tokens[i + 1 :] for i in range(n)]
    return replaced + [tokens[:i] + (WILDCARD,) + tokens[i:] for i in range(n + 1)]


def families(pairs: list[Pair]) -> list[list[Pair]]:
    """Connected components of the neighbour graph, by union-find over shared keys.

    Args:
        pairs: Distinct pairs, in a fixed order.

    Returns:
        The families, each in the order of ``pairs``, ordered by their first pair.
    """
    parent = list(range(len(pairs)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]  # path halving keeps the trees shallow
            i = parent[i]
        return i

    for side in range(len(SIDES)):
        first_with: dict[tuple[str, ...], int] = {}
        for i, pair in enumerate(pairs):
            for key in keys(words(pair[side])):
                parent[root(i)] = root(first_with.setdefault(key, i))
    members: dict[int, list[Pair]] = defaultdict(list)
    for i, pair in enumerate(pairs):
        members[root(i)].append(pair)
    return list(members.values())  # dicts keep insertion order: by first member


def is_entry(pair: Pair) -> bool:
    """Whether the English is a dictionary entry (term or word) rather than a sentence."""
    return not pair[0].endswith((".", "?", "!"))


def assign(groups: list[list[Pair]], dev: int, test: int, seed: int) -> dict[str, list[Pair]]:
    """Puts whole families into splits; dev and test get at most ``dev``/``test`` pairs.

    Args:
        groups: The families from `families`.
        dev: Pairs wanted in dev.
        test: Pairs wanted in test.
        seed: Seed for the family order and for the order of pairs within each split.

    Returns:
        Pairs per split name, each list shuffled.
    """
    rng = random.Random(seed)
    splits: dict[str, list[Pair]] = {name: [] for name in SPLITS}
    wanted = {"dev": dev, "test": test}
    order = list(groups)
    rng.shuffle(order)
    for family in order:
        target = "train"
        if len(family) <= MAX_HELD_OUT_FAMILY and not any(map(is_entry, family)):
            # The emptier held-out split first, so dev and test fill alike.
            for name in sorted(wanted, key=lambda name: len(splits[name])):
                if len(splits[name]) + len(family) <= wanted[name]:
                    target = name
                    break
        splits[target].extend(family)
    for pairs in splits.values():
        rng.shuffle(pairs)
    return splits


def neighbour_fractions(splits: dict[str, list[Pair]]) -> dict[str, dict[str, float]]:
    """Per held-out split and side, the fraction of pairs within one word of a train pair."""
    fractions: dict[str, dict[str, float]] = {"dev": {}, "test": {}}
    for side, side_name in enumerate(SIDES):
        train_keys = {key for pair in splits["train"] for key in keys(words(pair[side]))}
        for name, by_side in fractions.items():
            close = sum(
                any(key in train_keys for key in keys(words(pair[side]))) for pair in splits[name]
            )
            by_side[side_name] = close / max(len(splits[name]), 1)
    return fractions


def write_tsv(path: Path, pairs: list[Pair]) -> None:
    """Writes ``english<TAB>korean`` lines, UTF-8 with ``\\n`` line ends."""
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.writelines(f"{english}\t{korean}\n" for english, korean in pairs)


def report(splits: dict[str, list[Pair]]) -> bool:
    """Prints split sizes and neighbour fractions; returns whether all fractions are 0."""
    print(", ".join(f"{name} {len(pairs)}" for name, pairs in splits.items()))
    fractions = neighbour_fractions(splits)
    for name, by_side in fractions.items():
        print(
            f"{name}: within one word of a train pair: "
            + ", ".join(f"{side} {fraction:.1%}" for side, fraction in by_side.items())
        )
    return not any(f for by_side in fractions.values() for f in by_side.values())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/en-ko", help="corpus directory (%(default)s)")
    parser.add_argument("--dev", type=int, default=200, help="dev pairs (%(default)s)")
    parser.add_argument("--test", type=int, default=200, help="test pairs (%(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (%(default)s)")
    parser.add_argument("--check", action="store_true", help="only measure the split")
    args = parser.parse_args(argv)
    data = Path(args.data)
    try:
        # read_tsv strips and NFC-normalizes each side.
        current = {name: read_tsv(data / f"{name}.tsv") for name in SPLITS}
    except NmtError as exc:
        parser.exit(2, f"{parser.prog}: error: {exc}\n")
    splits = {name: list(zip(c.src, c.tgt)) for name, c in current.items()}
    if args.check:
        sys.exit(0 if report(splits) else 1)
    print("before: ", end="")
    report(splits)
    # Sorted and deduplicated, so the result does not depend on the current split.
    pairs = sorted({pair for split in splits.values() for pair in split})
    splits = assign(families(pairs), args.dev, args.test, args.seed)
    for name, split in splits.items():
        write_tsv(data / f"{name}.tsv", split)
    print("after: ", end="")
    report(splits)


if __name__ == "__main__":
    main()
