"""Word alignments and omission flags on a trained dates model, where the truth is known.

A dates model renders "Tuesday, April 10, 2018" as 2018년 4월 10일 화요일: every field
moves, so the alignment is known by construction (year↔year, month↔month, day↔day,
weekday↔weekday), and deleting the weekday from a reference leaves one known omission.
"""

import datetime
import random

import pytest

from nmt.cli import main
from nmt.data.dates import render, write_dates_corpus
from nmt.decoding.translator import Translator
from nmt.viz.links import word_alignment

FORM = "{Weekday}, {Month} {d}, {y}"  # source words: weekday, month, day, year
# The default model is sharp after 3 epochs of 3,000 pairs (dev chrF 100); dev loss picks
# the best epoch without decoding dev after each.
TRAIN = ["--set", "train.patience=0", "--epochs", "4", "--early-stop", "loss"]


@pytest.fixture(scope="module")
def translator(tmp_path_factory):
    root = tmp_path_factory.mktemp("dates")
    write_dates_corpus(root / "corpus", 3000, 100, 10)
    assert main(["train", "--corpus", str(root / "corpus"), "--out", str(root / "m"), *TRAIN]) == 0
    return Translator.load(root / "m")


@pytest.fixture(scope="module")
def dates():
    rng = random.Random(7)
    days = [
        datetime.date(1900, 1, 1) + datetime.timedelta(rng.randrange(73_000)) for _ in range(40)
    ]
    return [render(day, FORM) for day in days]


@pytest.mark.slow
def test_each_field_links_to_its_source_field(translator, dates):
    results = translator.force([en for en, _ in dates], [ko for _, ko in dates])
    exact = 0
    for (en, ko), result in zip(dates, results, strict=True):
        found = word_alignment(result.attention, result.src_tokens, result.tgt_tokens)
        assert len(found.src_words) == 4 and found.tgt_words == ko.split(), (en, found)
        # 2018년 ← 2018 (source word 3), 4월 ← April (1), 10일 ← 10, (2), 화요일 ← Tuesday, (0).
        exact += found.links == [(0, 3), (1, 1), (2, 2), (3, 0)]
    assert exact >= 0.9 * len(dates), f"{exact} of {len(dates)} aligned exactly"


@pytest.mark.slow
def test_a_deleted_weekday_is_flagged_and_a_whole_reference_is_not(translator, dates):
    sources = [en for en, _ in dates]
    cut = translator.force(sources, [ko.rsplit(" ", 1)[0] for _, ko in dates])
    whole = translator.force(sources, [ko for _, ko in dates])
    flagged_weekday = 0
    for result in cut:
        found = word_alignment(result.attention, result.src_tokens, result.tgt_tokens)
        flagged_weekday += found.uncovered == [0]  # the weekday, and nothing else
    assert flagged_weekday >= 0.9 * len(dates), f"{flagged_weekday} of {len(dates)}"
    # Nothing is missing: any flag is a false alarm.
    false_alarms = 0
    for result in whole:
        found = word_alignment(result.attention, result.src_tokens, result.tgt_tokens)
        false_alarms += bool(found.uncovered)
    assert false_alarms <= 0.05 * len(dates), f"{false_alarms} of {len(dates)}"
