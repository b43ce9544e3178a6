import pytest
import tensorflow as tf

from nmt.training.interrupt import TimeBudget, format_duration, parse_duration


@pytest.mark.parametrize(
    "text, seconds",
    [("90s", 90), ("10m", 600), ("2h", 7200), ("1h30m", 5400), ("1.5h", 5400), ("45", 45)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "10x", "-5m", "0s", "1h 30m", "m", "1.2.3s"])
def test_parse_duration_refuses(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_format_duration():
    assert [format_duration(s) for s in (42, 90, 3900)] == ["42s", "1m 30s", "1h 05m"]


def test_budget_counts_over_runs(monkeypatch):
    now = [100.0]
    monkeypatch.setattr(TimeBudget, "clock", staticmethod(lambda: now[0]))
    spent = tf.Variable(0.0, dtype=tf.float64)
    first = TimeBudget(60.0, spent)
    now[0] += 45
    assert not first.exhausted
    first.record()
    # A later run (its own clock reading) starts from the 45 s already spent.
    second = TimeBudget(60.0, spent)
    now[0] += 14
    assert second.seconds() == 59 and not second.exhausted
    now[0] += 1
    assert second.exhausted
    assert not TimeBudget(0.0, spent).exhausted  # 0: no limit
