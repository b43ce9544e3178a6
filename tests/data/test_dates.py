"""Tests for nmt.data.dates and scripts/make_dates.py: the synthetic dates corpus."""

import calendar
import datetime
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from nmt.data.corpus import read_splits
from nmt.data.dates import (
    FORMS,
    english_ordinal,
    generate_dates,
    render,
    write_dates_corpus,
)
from nmt.errors import NmtError

REPO = Path(__file__).resolve().parents[2]
KOREAN = re.compile(r"(\d{4})년 (\d{1,2})월 (\d{1,2})일(?: (\S+))?")
MONTHS = [datetime.date(2000, m, 1).strftime("%B") for m in range(1, 13)]
WEEKDAYS = [datetime.date(2024, 1, d).strftime("%A") for d in range(1, 8)]  # Monday first
WEEKDAY_PREFIXES = tuple(w[:3].lower() for w in WEEKDAYS)
FULL_NAMES = {n.lower(): "Month" for n in MONTHS} | {n.lower(): "Weekday" for n in WEEKDAYS}
SHORT_NAMES = {n[:3].lower(): "Mon" for n in MONTHS} | {n[:3].lower(): "Wkd" for n in WEEKDAYS}
# Written out here rather than read from nmt.data.dates, so a wrong table there fails.
KOREAN_WEEKDAY = {
    "Monday": "월요일",
    "Tuesday": "화요일",
    "Wednesday": "수요일",
    "Thursday": "목요일",
    "Friday": "금요일",
    "Saturday": "토요일",
    "Sunday": "일요일",
}
# The days of a month whose English ordinal does not end in "th", for the same reason.
NOT_TH = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd", 31: "st"}


def parse_korean(korean):
    """Returns ``(date, weekday or None)`` from the canonical Korean form."""
    match = KOREAN.fullmatch(korean)
    assert match, korean
    year, month, day, weekday = match.groups()
    return datetime.date(int(year), int(month), int(day)), weekday


def shape(english):
    """Reduces an English date to its surface form: "Tue, Apr 10 2018" -> "Wkd, Mon N N"."""

    def placeholder(match):
        word = match.group()
        if word[0].isdigit():
            return "Nth" if word[-1].isalpha() else "N"
        label = FULL_NAMES.get(word.lower()) or SHORT_NAMES.get(word.lower())
        if label is None:  # "the", "of"
            return word
        return label.lower() if word.islower() else label

    return re.sub(r"\d+(?:st|nd|rd|th)?|[A-Za-z]+", placeholder, english)


def test_render_example_with_and_without_weekday():
    d = datetime.date(2018, 4, 10)
    assert render(d, "{Weekday}, {Month} {d}, {y}") == (
        "Tuesday, April 10, 2018",
        "2018년 4월 10일 화요일",
    )
    assert render(d, "{Month} {d}, {y}") == ("April 10, 2018", "2018년 4월 10일")
    english = {render(d, form)[0] for form in FORMS}
    assert {"4/10/2018", "2018-04-10", "the 10th of April, 2018", "Tue, Apr 10 2018"} <= english


def test_generate_is_deterministic_per_seed():
    assert generate_dates(300, seed=1) == generate_dates(300, seed=1)
    assert generate_dates(300, seed=1) != generate_dates(300, seed=2)
    assert generate_dates(0, seed=1) == []


def test_generated_pairs_are_distinct_and_in_range():
    pairs = generate_dates(2000, seed=3)
    assert len(pairs) == 2000
    assert len({english for english, _ in pairs}) == 2000
    for _, korean in pairs:
        d, _ = parse_korean(korean)
        assert 1900 <= d.year <= 2099


def test_korean_matches_the_english_date_and_weekday():
    for english, korean in generate_dates(2000, seed=4):
        d, weekday = parse_korean(korean)
        names_weekday = english.lower().startswith(WEEKDAY_PREFIXES)
        assert (weekday is not None) == names_weekday, (english, korean)
        if weekday is not None:
            assert weekday == KOREAN_WEEKDAY[calendar.day_name[d.weekday()]]
            assert english.lower().startswith(d.strftime("%a").lower())
        assert str(d.year) in english
        if re.search("[A-Za-z]", english):  # the month is named, in full or abbreviated
            named = [m for m in MONTHS if m[:3].lower() in english.lower()]
            assert named == [MONTHS[d.month - 1]], (english, korean)
            assert str(d.day) in re.findall(r"\d+", english)
        else:  # numeric: M/D/YYYY, MM/DD/YYYY or ISO
            numbers = [int(x) for x in re.findall(r"\d+", english)]
            assert numbers in ([d.month, d.day, d.year], [d.year, d.month, d.day]), english


def test_weekday_names_are_monday_first():
    monday = datetime.date(2024, 1, 1)
    assert calendar.weekday(2024, 1, 1) == calendar.MONDAY
    for offset in range(7):
        d = monday + datetime.timedelta(days=offset)
        name = calendar.day_name[calendar.weekday(d.year, d.month, d.day)]
        assert render(d, "{Weekday} {d} {Month} {y}") == (
            f"{name} {d.day} January 2024",
            f"2024년 1월 {d.day}일 {KOREAN_WEEKDAY[name]}",
        )


@pytest.mark.parametrize(
    ("day", "english", "korean"),
    [
        (datetime.date(1900, 1, 1), "Monday, January 1, 1900", "1900년 1월 1일 월요일"),
        (datetime.date(1945, 8, 15), "Wednesday, August 15, 1945", "1945년 8월 15일 수요일"),
        (datetime.date(1969, 7, 20), "Sunday, July 20, 1969", "1969년 7월 20일 일요일"),
        (datetime.date(2000, 1, 1), "Saturday, January 1, 2000", "2000년 1월 1일 토요일"),
        (datetime.date(2000, 2, 29), "Tuesday, February 29, 2000", "2000년 2월 29일 화요일"),
        (datetime.date(2099, 12, 31), "Thursday, December 31, 2099", "2099년 12월 31일 목요일"),
    ],
)
def test_weekday_of_known_dates(day, english, korean):
    assert render(day, "{Weekday}, {Month} {d}, {y}") == (english, korean)


def test_at_least_ten_surface_forms_occur():
    shapes = {shape(english) for english, _ in generate_dates(2000, seed=5)}
    assert len(shapes) >= 10, shapes


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (1, "1st"),
        (2, "2nd"),
        (3, "3rd"),
        (4, "4th"),
        (11, "11th"),
        (12, "12th"),
        (13, "13th"),
        (21, "21st"),
        (22, "22nd"),
        (23, "23rd"),
        (30, "30th"),
        (31, "31st"),
    ],
)
def test_english_ordinal(day, expected):
    assert english_ordinal(day) == expected


def test_generated_ordinals_match_the_day():
    seen = 0
    for english, korean in generate_dates(2000, seed=6):
        match = re.search(r"(\d+)(st|nd|rd|th)", english)
        if match:
            seen += 1
            day = parse_korean(korean)[0].day
            assert match.group() == f"{day}{NOT_TH.get(day, 'th')}", (english, korean)
    assert seen > 100


def test_generate_rejects_bad_counts():
    with pytest.raises(NmtError):
        generate_dates(-1, seed=0)
    with pytest.raises(NmtError):
        generate_dates(10**6, seed=0)


def test_written_splits_are_readable_disjoint_and_deterministic(tmp_path):
    paths = write_dates_corpus(tmp_path / "a", n_train=1000, n_dev=100, n_test=50, seed=9)
    assert list(paths) == ["train", "dev", "test"]
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "dev.tsv",
        "test.tsv",
        "train.tsv",
    ]
    splits = read_splits(tmp_path / "a")
    assert {name: len(corpus) for name, corpus in splits.items()} == {
        "train": 1000,
        "dev": 100,
        "test": 50,
    }
    days = {name: {parse_korean(k)[0] for k in corpus.tgt} for name, corpus in splits.items()}
    assert days["train"].isdisjoint(days["dev"] | days["test"])
    assert days["dev"].isdisjoint(days["test"])
    data = paths["train"].read_bytes()
    assert b"\r" not in data and data.endswith(b"\n")

    write_dates_corpus(tmp_path / "b", n_train=1000, n_dev=100, n_test=50, seed=9)
    write_dates_corpus(tmp_path / "c", n_train=1000, n_dev=100, n_test=50, seed=10)
    write_dates_corpus(tmp_path / "d", n_train=20, n_dev=100, n_test=50, seed=9)
    for name in ("train.tsv", "dev.tsv", "test.tsv"):
        text = (tmp_path / "a" / name).read_text(encoding="utf-8")
        assert (tmp_path / "b" / name).read_text(encoding="utf-8") == text
        assert (tmp_path / "c" / name).read_text(encoding="utf-8") != text
    # Held-out splits do not move when only the training size changes.
    for name in ("dev.tsv", "test.tsv"):
        assert (tmp_path / "d" / name).read_bytes() == (tmp_path / "a" / name).read_bytes()


def test_write_rejects_bad_counts(tmp_path):
    with pytest.raises(NmtError, match="dev"):
        write_dates_corpus(tmp_path, n_train=10, n_dev=0, n_test=5)
    with pytest.raises(NmtError, match="at most"):
        write_dates_corpus(tmp_path, n_train=80_000, n_dev=5, n_test=5)
    assert not list(tmp_path.iterdir())


def run_script(*args):
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    return subprocess.run(
        [sys.executable, str(REPO / "scripts" / "make_dates.py"), *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_script_writes_the_corpus(tmp_path):
    out = tmp_path / "dates"
    result = run_script("--out", str(out), "--train", "30", "--dev", "5", "--test", "4")
    assert result.returncode == 0, result.stderr
    assert str(out / "train.tsv") in result.stdout
    splits = read_splits(out)
    assert [len(splits[name]) for name in ("train", "dev", "test")] == [30, 5, 4]
    again = run_script(
        "--out", str(tmp_path / "again"), "--train", "30", "--dev", "5", "--test", "4"
    )
    assert again.returncode == 0
    assert (tmp_path / "again" / "test.tsv").read_bytes() == (out / "test.tsv").read_bytes()


def test_script_reports_user_errors_on_one_line(tmp_path):
    result = run_script("--out", str(tmp_path / "dates"), "--test", "0")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "error:" in result.stderr and "test" in result.stderr
