"""The bundled data/en-ko corpus: its format and an honest held-out split.

The neighbour test is written here again, as a plain word-level Levenshtein distance,
rather than imported from scripts/split_en_ko.py, so a bug in the script's key
indexing cannot hide itself.
"""

import re
import unicodedata
from pathlib import Path

import pytest

DATA = Path(__file__).resolve().parents[2] / "data" / "en-ko"
SPLITS = ("train", "dev", "test")
SIDES = {"english": 0, "korean": 1}


def words(sentence):
    return tuple(re.findall(r"[\w']+", sentence.lower()))


def within_one_word(a, b):
    """Whether the word-level Levenshtein distance of token tuples ``a`` and ``b`` is <= 1."""
    if abs(len(a) - len(b)) > 1:
        return False
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        current = [i]
        for j, y in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        if min(current) > 1:  # distances never shrink down the table
            return False
        previous = current
    return previous[-1] <= 1


@pytest.fixture(scope="module")
def lines():
    """The raw lines of each split, without their line ends."""
    return {
        split: (DATA / f"{split}.tsv").read_bytes().decode("utf-8").split("\n")[:-1]
        for split in SPLITS
    }


@pytest.fixture(scope="module")
def pairs(lines):
    return {
        split: [tuple(line.split("\t")) for line in split_lines]
        for split, split_lines in lines.items()
    }


def test_within_one_word():
    assert within_one_word(words("Do you speak German?"), words("Do you speak Spanish?"))
    assert within_one_word(words("Thank you."), words("Thank you very."))
    assert within_one_word(words("Thank you."), words("thank YOU!"))
    assert within_one_word(words("queue"), words("Yes."))
    assert not within_one_word(words("I like tea."), words("tea I like."))
    assert not within_one_word(words("My son is 2."), words("My daughter is 5."))
    assert not within_one_word(words("a"), words("a b c"))


def test_files_are_utf8_nfc_lf_and_end_with_a_newline():
    for split in SPLITS:
        data = (DATA / f"{split}.tsv").read_bytes()
        text = data.decode("utf-8")
        assert not text.startswith("\ufeff"), split
        assert "\r" not in text, split
        assert text.endswith("\n"), split
        assert unicodedata.normalize("NFC", text) == text, split


def test_every_line_is_one_tab_separated_pair_of_trimmed_sentences(lines):
    for split, split_lines in lines.items():
        assert split_lines, split
        for number, line in enumerate(split_lines, 1):
            where = f"{split}.tsv:{number}: {line!r}"
            assert line.count("\t") == 1, where
            for side in line.split("\t"):
                assert side and side == side.strip(), where


def test_no_pair_twice_and_no_english_in_two_splits(pairs):
    everything = [pair for split in SPLITS for pair in pairs[split]]
    assert len(set(everything)) == len(everything)
    for i, first in enumerate(SPLITS):
        for second in SPLITS[i + 1 :]:
            shared = {en for en, _ in pairs[first]} & {en for en, _ in pairs[second]}
            assert not shared, (first, second, sorted(shared)[:5])


def test_artificial_intelligence_is_in_train(pairs):
    assert ("Artificial Intelligence", "인공 지능") in pairs["train"]


@pytest.mark.parametrize("side", SIDES)
@pytest.mark.parametrize("split", ["dev", "test"])
def test_no_held_out_sentence_is_within_one_word_of_a_training_sentence(pairs, split, side):
    column = SIDES[side]
    train = {words(pair[column]) for pair in pairs["train"]}
    close = [
        pair[column]
        for pair in pairs[split]
        if any(within_one_word(words(pair[column]), seen) for seen in train)
    ]
    assert not close, f"{len(close)} {split} sentences, e.g. {close[:5]}"
