"""The repetition guard, against a plain-Python reading of "no n-gram twice"."""

import numpy as np
import pytest
import tensorflow as tf
from conftest import with_eos_bias
from hypothesis import given, settings
from hypothesis import strategies as st

from nmt.decoding.beam import beam_search
from nmt.decoding.repeats import repeat_mask
from nmt.decoding.search import greedy_search

PAD, BOS, EOS = 0, 2, 3


def banned_by_hand(row, t, n):
    """Tokens x such that row[t-n+1:t] + [x] is an n-gram of row[:t]."""
    if t < n - 1:
        return set()
    tail = list(row[t - n + 1 : t])
    return {row[j + n - 1] for j in range(t - n + 1) if list(row[j : j + n - 1]) == tail}


@settings(max_examples=60, deadline=None)
@given(
    rows=st.lists(st.lists(st.integers(4, 7), min_size=10, max_size=10), min_size=1, max_size=4),
    t=st.integers(0, 10),
    n=st.integers(2, 4),
)
def test_mask_matches_the_definition(rows, t, n):
    history = np.array(rows, np.int32)
    history[:, t:] = 9  # beyond t: must be ignored
    mask = repeat_mask(tf.constant(history), tf.constant(t), n, 10).numpy()
    for row, banned in zip(history, mask):
        assert set(np.flatnonzero(banned)) == banned_by_hand(list(row), t, n)


def ngrams(ids, n):
    ids = [int(i) for i in ids if i not in (PAD, EOS)]
    return [tuple(ids[i : i + n]) for i in range(len(ids) - n + 1)]


@pytest.fixture
def looping(make_model, make_ids):
    """A tiny random model that, unguarded, repeats itself: EOS pushed down, long limits."""
    model = with_eos_bias(make_model(seed=5, scale=1.5), -6.0)
    src = make_ids([5, 4, 6, 3, 5, 6], 30, seed=2)
    return model, src, np.full([6], 24, np.int32)


def test_greedy_without_repeats_and_unchanged_where_none_were(looping):
    model, src, limits = looping
    plain = greedy_search(model, src, limits)[0].numpy()
    guarded, _, scores = (x.numpy() for x in greedy_search(model, src, limits, no_repeat=3))
    repeated = [len(set(ngrams(r, 3))) < len(ngrams(r, 3)) for r in plain]
    assert any(repeated), "the fixture must loop without the guard"
    for before, after, loops in zip(plain, guarded, repeated):
        assert len(set(ngrams(after, 3))) == len(ngrams(after, 3))
        if not loops:
            np.testing.assert_array_equal(before[before != PAD], after[after != PAD])


def test_beam_hypotheses_hold_no_ngram_twice(looping):
    model, src, limits = looping
    ids, _, log_probs = beam_search(model, src, limits, 4, n_best=4, alpha=1.0, no_repeat=2)
    for hypotheses in ids.numpy():
        for row in hypotheses:
            assert len(set(ngrams(row, 2))) == len(ngrams(row, 2))
    assert np.isfinite(log_probs.numpy()).all()
