"""A synthetic English→Korean dates corpus: a small, exact task to prove the model learns.

English dates come in many surface forms (``Tuesday, April 10, 2018``, ``4/10/2018``,
``the 10th of April, 2018``, ...); Korean uses one canonical form,
``2018년 4월 10일``, followed by the weekday (``화요일``) only when the English
names one. Leaving the weekday out otherwise keeps every target a pure
rewriting of its source, so a model can reach exact-match accuracy without
doing calendar arithmetic.
"""

from __future__ import annotations

import datetime
import os
import random
from pathlib import Path

from nmt.errors import NmtError

FIRST_DAY = datetime.date(1900, 1, 1)
LAST_DAY = datetime.date(2099, 12, 31)
N_DAYS = LAST_DAY.toordinal() - FIRST_DAY.toordinal() + 1

KOREAN_WEEKDAYS = ("월요일", "화요일", "수요일", "목요일", "금요일", "토요일", "일요일")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_WEEKDAY_FIELDS = ("{Weekday}", "{Wkd}", "{weekday}")


def english_ordinal(day: int) -> str:
    """Returns ``day`` with its English suffix: 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st."""
    if day % 100 in (11, 12, 13):
        return f"{day}th"
    return f"{day}{({1: 'st', 2: 'nd', 3: 'rd'}).get(day % 10, 'th')}"


def _fields(d: datetime.date) -> dict[str, object]:
    month, weekday = _MONTHS[d.month - 1], _WEEKDAYS[d.weekday()]
    return {
        "y": d.year,
        "m": d.month,
        "d": d.day,
        "mm": f"{d.month:02d}",
        "dd": f"{d.day:02d}",
        "dth": english_ordinal(d.day),
        "Month": month,
        "Mon": month[:3],
        "month": month.lower(),
        "Weekday": weekday,
        "Wkd": weekday[:3],
        "weekday": weekday.lower(),
    }


# Each form is a str.format template over `_fields`; those naming a weekday make the
# Korean name it too. Numeric forms are US month/day/year and ISO only: a day/month
# form as well would make "4/10/2018" ambiguous.
FORMS = (
    "{Weekday}, {Month} {d}, {y}",
    "{Month} {d}, {y}",
    "{d} {Month} {y}",
    "{d} {Mon} {y}",
    "{Mon} {d}, {y}",
    "{m}/{d}/{y}",
    "{mm}/{dd}/{y}",
    "{y}-{mm}-{dd}",
    "{Month} {dth}, {y}",
    "the {dth} of {Month}, {y}",
    "{Wkd}, {Mon} {d} {y}",
    "{weekday} {month} {d} {y}",
    "{Weekday} {d} {Month} {y}",
    "{Weekday}, the {dth} of {Month}, {y}",
)


def render(d: datetime.date, form: str) -> tuple[str, str]:
    """Returns the ``(english, korean)`` pair for date ``d`` written in ``form``."""
    korean = f"{d.year}년 {d.month}월 {d.day}일"
    if any(field in form for field in _WEEKDAY_FIELDS):
        korean += f" {KOREAN_WEEKDAYS[d.weekday()]}"
    return form.format(**_fields(d)), korean


def generate_dates(n: int, seed: int) -> list[tuple[str, str]]:
    """Returns ``n`` distinct random date pairs, the same ones for the same seed.

    Args:
        n: How many pairs, at most `N_DAYS` (73,049 days from 1900 to 2099).
        seed: Seeds the dates and forms.

    Returns:
        ``(english, korean)`` pairs with distinct English sides.

    Raises:
        NmtError: ``n`` is negative or above `N_DAYS`.
    """
    return _sample(random.Random(seed), n, banned_days=set())[0]


def write_dates_corpus(
    out_dir: str | os.PathLike,
    n_train: int = 10_000,
    n_dev: int = 500,
    n_test: int = 500,
    seed: int = 0,
) -> dict[str, Path]:
    """Writes ``train.tsv``, ``dev.tsv`` and ``test.tsv`` of ``english<TAB>korean`` lines.

    Splits share no date, not only no pair, so dev and test measure how the model
    handles days it never saw. Test is drawn first and dev second, so they stay
    the same for a seed whatever ``n_train`` is. Each file is written to a
    temporary file and renamed, so an interrupted run leaves no half-written split.

    Args:
        out_dir: Directory to write into; created if missing.
        n_train: Training pairs, at least 1.
        n_dev: Dev pairs, at least 1.
        n_test: Test pairs, at least 1.
        seed: Seeds all three splits.

    Returns:
        Split name to the path written, in the order train, dev, test.

    Raises:
        NmtError: A count is below 1, the counts add up to more than `N_DAYS`,
            or the directory cannot be written.
    """
    counts = {"train": n_train, "dev": n_dev, "test": n_test}
    for split, n in counts.items():
        if n < 1:
            raise NmtError(f"need at least 1 {split} pair, got {n}")
    total = sum(counts.values())
    if total > N_DAYS:
        # Each held-out day costs at least one pair, so this bound keeps every split fillable.
        raise NmtError(
            f"the dates corpus holds at most {N_DAYS} pairs in all "
            f"(one per day from {FIRST_DAY.year} to {LAST_DAY.year}), got {total}"
        )
    rng = random.Random(seed)
    pairs: dict[str, list[tuple[str, str]]] = {}
    used_days: set[int] = set()
    for split in ("test", "dev", "train"):
        pairs[split], days = _sample(rng, counts[split], used_days)
        used_days |= days

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        paths = {}
        for split in ("train", "dev", "test"):
            paths[split] = out / f"{split}.tsv"
            _write_atomically(paths[split], "".join(f"{en}\t{ko}\n" for en, ko in pairs[split]))
    except OSError as exc:
        raise NmtError(f"cannot write the dates corpus to {out}: {exc.strerror}") from None
    return paths


def _sample(
    rng: random.Random, n: int, banned_days: set[int]
) -> tuple[list[tuple[str, str]], set[int]]:
    """Draws ``n`` pairs with distinct English on days outside ``banned_days``.

    Returns:
        The pairs and the set of day ordinals they use.
    """
    if not 0 <= n <= N_DAYS:
        raise NmtError(f"can generate 0 to {N_DAYS} date pairs, got {n}")
    # Rejection sampling stays fast: callers keep n + len(banned_days) <= N_DAYS while
    # each day has over ten distinct English forms.
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    days: set[int] = set()
    first = FIRST_DAY.toordinal()
    while len(pairs) < n:
        day = rng.randrange(first, first + N_DAYS)
        if day in banned_days:
            continue
        english, korean = render(datetime.date.fromordinal(day), rng.choice(FORMS))
        if english in seen:
            continue
        seen.add(english)
        days.add(day)
        pairs.append((english, korean))
    return pairs, days


def _write_atomically(path: Path, text: str) -> None:
    # A plain open, unlike tempfile.mkstemp, gives the file the usual umask permissions.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
