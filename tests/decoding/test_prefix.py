"""Prefix-constrained and forced decoding, checked against teacher forcing and brute force."""

import itertools

import numpy as np
import pytest
from conftest import with_eos_bias

from nmt.decoding.beam import beam_search
from nmt.decoding.ensemble import Ensemble
from nmt.decoding.search import NEW_WORD, Prefix, greedy_search

PAD, BOS, EOS = 0, 2, 3
SRC_LENGTHS = [6, 3, 5, 2, 7, 4]
LIMITS = np.array([9, 7, 6, 8, 5, 4], np.int32)
# Per row: the forced start (rows 1 and 4 have none). Tokens the model would rarely pick.
PREFIXES = [[7, 7, 9], [], [11], [5, 6, 5, 6], [], [13, 4]]


@pytest.fixture
def src(make_sources):
    return make_sources(SRC_LENGTHS)


@pytest.fixture
def model(make_model):
    return with_eos_bias(make_model(seed=3), 1.5)


def padded(rows, width=None):
    width = max(map(len, rows), default=0) if width is None else width
    out = np.full((len(rows), width), PAD, np.int32)
    for i, row in enumerate(rows):
        out[i, : len(row)] = row
    return out


def numpy(results):
    return tuple(x.numpy() for x in results)


def teacher_forced(model, src, ids):
    """``(b, t)`` outputs -> per-token log-probabilities ``(b, t)`` (float64) and weights."""
    tgt_in = np.concatenate([np.full((len(ids), 1), BOS, ids.dtype), ids[:, :-1]], axis=1)
    tgt_in[ids == PAD] = PAD
    logits, weights = model((src, tgt_in))
    logits = logits.numpy().astype(np.float64)
    log_probs = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
    return np.take_along_axis(log_probs, ids[..., None], axis=-1)[..., 0], weights.numpy()


def test_a_prefix_of_the_models_own_output_changes_nothing(model, src):
    ids, weights, scores = numpy(greedy_search(model, src, LIMITS))
    for cut in (1, 3):
        own = [row[: min(cut, int((row != PAD).sum()) - 1)] for row in ids]  # EOS not forced
        got = numpy(greedy_search(model, src, LIMITS, prefix=Prefix(padded(own))))
        np.testing.assert_array_equal(got[0], ids)
        np.testing.assert_allclose(got[1], weights, atol=1e-6)
        np.testing.assert_allclose(got[2], scores, atol=1e-5)
    empty = numpy(greedy_search(model, src, LIMITS, prefix=Prefix(padded([[]] * len(src)))))
    np.testing.assert_array_equal(empty[0], ids)
    b_ids, _, b_scores = numpy(beam_search(model, src, LIMITS, 3, 3))
    b_empty = numpy(
        beam_search(model, src, LIMITS, 3, 3, prefix=Prefix(padded([[]] * len(src), 2)))
    )
    np.testing.assert_array_equal(b_empty[0], b_ids)
    np.testing.assert_allclose(b_empty[2], b_scores, atol=1e-5)


def test_greedy_keeps_the_prefix_then_continues_as_teacher_forcing_says(model, src):
    ids, weights, scores = numpy(greedy_search(model, src, LIMITS, prefix=Prefix(padded(PREFIXES))))
    token_log_probs, forced_weights = teacher_forced(model, src, ids)
    real = ids != PAD
    np.testing.assert_allclose(scores, np.where(real, token_log_probs, 0).sum(1), atol=1e-4)
    np.testing.assert_allclose(weights[real], forced_weights[real], atol=1e-5)
    tgt_in = np.concatenate([np.full((len(ids), 1), BOS, ids.dtype), ids[:, :-1]], axis=1)
    logits = model((src, tgt_in))[0].numpy()
    logits[..., [PAD, BOS]] = -np.inf
    for row, prefix in enumerate(PREFIXES):
        assert list(ids[row, : len(prefix)]) == prefix
        end = int(real[row].sum())
        for t in range(len(prefix), end):
            expected = EOS if t + 1 >= LIMITS[row] else logits[row, t].argmax()
            assert ids[row, t] == expected, (row, t)


@pytest.mark.parametrize("alpha", [0.0, 0.8])
def test_every_n_best_hypothesis_starts_with_the_prefix_and_scores_as_teacher_forcing(
    model, src, alpha
):
    ids, weights, log_probs = numpy(
        beam_search(model, src, LIMITS, 4, 3, alpha, prefix=Prefix(padded(PREFIXES)))
    )
    b, n, t = ids.shape
    token_log_probs, forced_weights = teacher_forced(
        model, np.repeat(src, n, axis=0), ids.reshape(b * n, t)
    )
    real = ids != PAD
    forced = np.where(real, token_log_probs.reshape(b, n, t), 0).sum(-1)
    alive = np.isfinite(log_probs)
    assert alive.all()
    np.testing.assert_allclose(log_probs, forced, atol=1e-4)
    np.testing.assert_allclose(
        weights[real], forced_weights.reshape(weights.shape)[real], atol=1e-5
    )
    for row, prefix in enumerate(PREFIXES):
        for hypothesis in ids[row]:
            assert list(hypothesis[: len(prefix)]) == prefix
        assert len({tuple(h) for h in ids[row]}) == n


def test_a_wide_beam_finds_the_best_continuation_of_the_prefix(make_model, make_ids):
    """Against brute force over every output that starts with the prefix."""
    model = make_model(seed=4, tgt_vocab_size=8)
    src = make_ids([5], 30, seed=2)
    src[0, 4] = EOS
    prefix, limit = [6, 4], 5
    emittable = [t for t in range(8) if t not in (PAD, BOS, EOS)]
    outputs = [
        [*prefix, *body, EOS]
        for n in range(limit - len(prefix))
        for body in itertools.product(emittable, repeat=n)
    ]
    ids = padded(outputs, limit)
    token_log_probs, _ = teacher_forced(model, np.repeat(src, len(ids), axis=0), ids)
    exact = np.where(ids != PAD, token_log_probs, 0).sum(1)
    got_ids, _, got = numpy(
        beam_search(model, src, np.array([limit], np.int32), 64, prefix=Prefix(padded([prefix])))
    )
    assert len(outputs) < 64
    np.testing.assert_allclose(got[0, 0], exact.max(), atol=1e-4)
    np.testing.assert_array_equal(got_ids[0, 0], ids[exact.argmax(), : got_ids.shape[2]])


def test_a_prefix_ending_in_eos_is_forced_decoding(model, src):
    targets = [[*p, 8, EOS] for p in PREFIXES]
    ids, weights, scores = numpy(
        greedy_search(model, src, LIMITS + 9, prefix=Prefix(padded(targets)))
    )
    np.testing.assert_array_equal(ids, padded(targets))
    token_log_probs, forced_weights = teacher_forced(model, src, ids)
    real = ids != PAD
    np.testing.assert_allclose(scores, np.where(real, token_log_probs, 0).sum(1), atol=1e-4)
    np.testing.assert_allclose(weights[real], forced_weights[real], atol=1e-5)


def test_an_ensemble_keeps_the_prefix_and_scores_its_mean(make_model, src):
    members = [with_eos_bias(make_model(seed=s), 1.5) for s in (3, 5)]
    ids, _, log_probs = numpy(
        beam_search(Ensemble(members), src, LIMITS, 3, 2, prefix=Prefix(padded(PREFIXES)))
    )
    b, n, t = ids.shape
    flat = ids.reshape(b * n, t)
    # Each step's distribution is the renormalised mean of the members' log-probabilities.
    per_member = []
    for member in members:
        tgt_in = np.concatenate([np.full((b * n, 1), BOS, flat.dtype), flat[:, :-1]], axis=1)
        tgt_in[flat == PAD] = PAD
        logits = member((np.repeat(src, n, axis=0), tgt_in))[0].numpy().astype(np.float64)
        per_member.append(logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True))
    mean = np.mean(per_member, axis=0)
    mean -= np.logaddexp.reduce(mean, axis=-1, keepdims=True)
    chosen = np.take_along_axis(mean, flat[..., None], axis=-1)[..., 0]
    expected = np.where(flat != PAD, chosen, 0).sum(1).reshape(b, n)
    np.testing.assert_allclose(log_probs, expected, atol=1e-4)
    for row, prefix in enumerate(PREFIXES):
        assert all(list(h[: len(prefix)]) == prefix for h in ids[row])


def test_after_a_new_word_marker_the_search_picks_a_word_start(model, src):
    """A prefix typed with a space at its end continues with a word start, the best one."""
    vocab = model.decoder.projection.units
    word_starts = np.zeros(vocab, bool)
    word_starts[[EOS, 9, 12, 17, vocab - 1]] = True
    rows = [[*p, NEW_WORD] for p in PREFIXES]
    prefix = Prefix(padded(rows), word_starts)
    ids, _, scores = numpy(greedy_search(model, src, LIMITS, prefix=prefix))
    tgt_in = np.concatenate([np.full((len(ids), 1), BOS, ids.dtype), ids[:, :-1]], axis=1)
    logits = model((src, tgt_in))[0].numpy()
    for row, p in enumerate(PREFIXES):
        t = len(p)
        assert list(ids[row, :t]) == p and word_starts[ids[row, t]]
        allowed = np.where(word_starts, logits[row, t], -np.inf)
        assert ids[row, t] == (EOS if t + 1 >= LIMITS[row] else allowed.argmax())
    b_ids, _, _ = numpy(beam_search(model, src, LIMITS, 3, 3, prefix=prefix))
    for row, p in enumerate(PREFIXES):
        assert all(word_starts[h[len(p)]] for h in b_ids[row])
    # Without the word starts the marker restricts nothing.
    free = numpy(greedy_search(model, src, LIMITS, prefix=Prefix(padded(rows))))
    plain = numpy(greedy_search(model, src, LIMITS, prefix=Prefix(padded(PREFIXES))))
    np.testing.assert_array_equal(free[0], plain[0])
