"""Ensemble decoding, checked against each member's teacher forcing on the output.

The reference never runs the ensemble's code: every member scores the searched ids
in one teacher-forced pass, and the mean of their log-softmaxes, renormalised, must
be what the search maximised (greedy), summed (scores) and attended with (the mean
of the members' weights).
"""

import numpy as np
import pytest
import tensorflow as tf
from conftest import with_eos_bias

from nmt.decoding.beam import beam_search
from nmt.decoding.ensemble import Ensemble
from nmt.decoding.search import greedy_search

PAD, BOS, EOS = 0, 2, 3
SRC_LENGTHS = [6, 3, 5, 2, 7]
LIMITS = np.array([9, 7, 6, 8, 5], np.int32)


def log_softmax(x):
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


@pytest.fixture
def src(make_sources):
    return make_sources(SRC_LENGTHS)


@pytest.fixture
def members(make_model):
    # PAD and BOS never win (as after training), and EOS comes up now and then.
    return [with_eos_bias(make_model(seed=seed), 2.0) for seed in (3, 4, 5)]


def teacher_forced(models, src, ids):
    """The ensemble's renormalised log-probabilities ``(b, t, v)`` and mean weights
    ``(b, t, s)`` for output ``ids``, from one teacher-forced pass per member."""
    tgt_in = np.concatenate([np.full((len(ids), 1), BOS, ids.dtype), ids[:, :-1]], axis=1)
    tgt_in[ids == PAD] = PAD
    log_probs, weights = [], []
    for model in models:
        logits, w = model((src, tgt_in))
        log_probs.append(log_softmax(logits.numpy().astype(np.float64)))
        weights.append(w.numpy())
    return log_softmax(np.mean(log_probs, axis=0)), np.mean(weights, axis=0)


def test_greedy_follows_the_mean_of_the_members_log_probabilities(members, src):
    ids, weights, scores = (x.numpy() for x in greedy_search(Ensemble(members), src, LIMITS))
    log_probs, expected_weights = teacher_forced(members, src, ids)
    real = ids != PAD
    assert real.sum() > len(src) and (ids == EOS).sum() == len(src)
    best = np.where(np.isin(np.arange(log_probs.shape[-1]), [PAD, BOS]), -np.inf, log_probs)
    # EOS is forced at the limit, whatever the ensemble prefers there.
    at_limit = np.arange(ids.shape[1])[None] + 1 >= LIMITS[:, None]
    chosen = real & ~at_limit
    np.testing.assert_array_equal(ids[chosen], best.argmax(-1)[chosen])
    gained = np.take_along_axis(log_probs, ids[..., None], axis=-1)[..., 0]
    np.testing.assert_allclose(scores, np.where(real, gained, 0).sum(1), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(weights[real], expected_weights[real], atol=1e-5)


def test_ensemble_attention_rows_sum_to_one_over_the_source(members, src):
    _, weights, _ = greedy_search(Ensemble(members[:2]), src, LIMITS)
    weights = weights.numpy()
    live = weights.sum(-1) > 0
    np.testing.assert_allclose(weights.sum(-1)[live], 1.0, atol=1e-5)
    for row, length in enumerate(SRC_LENGTHS):
        assert np.all(weights[row, :, length:] == 0)


@pytest.mark.parametrize("alpha", [0.0, 0.8])
def test_beam_scores_are_the_ensembles_teacher_forced_scores(members, src, alpha):
    ids, weights, log_probs = (
        x.numpy() for x in beam_search(Ensemble(members), src, LIMITS, 4, 3, alpha)
    )
    for n in range(ids.shape[1]):
        expected, expected_weights = teacher_forced(members, src, ids[:, n])
        real = ids[:, n] != PAD
        gained = np.take_along_axis(expected, ids[:, n, :, None], axis=-1)[..., 0]
        np.testing.assert_allclose(
            log_probs[:, n], np.where(real, gained, 0).sum(1), rtol=1e-4, atol=1e-4
        )
        np.testing.assert_allclose(weights[:, n][real], expected_weights[real], atol=1e-5)


@pytest.mark.parametrize("copies", [1, 2])
def test_an_ensemble_of_copies_is_the_model(members, src, copies):
    model = members[0]
    ensemble = Ensemble([model] * copies)
    for search in (greedy_search, lambda m, s, lim: beam_search(m, s, lim, 4, 2, 0.6)):
        alone = [x.numpy() for x in search(model, src, LIMITS)]
        together = [x.numpy() for x in search(ensemble, src, LIMITS)]
        np.testing.assert_array_equal(together[0], alone[0])
        np.testing.assert_allclose(together[1], alone[1], atol=1e-6)
        np.testing.assert_allclose(together[2], alone[2], rtol=1e-5, atol=1e-5)


def test_ensemble_of_two_identical_copies_compiles(members, src):
    """The search over a tuple of states and memories traces like the single model's."""
    ensemble = Ensemble([members[0], members[0]])
    search = tf.function(lambda s: greedy_search(ensemble, s, LIMITS))
    compiled = search(tf.constant(src))[0].numpy()
    np.testing.assert_array_equal(compiled, greedy_search(members[0], src, LIMITS)[0].numpy())


def test_members_must_share_vocabularies(make_model):
    with pytest.raises(ValueError, match="different vocabularies"):
        Ensemble([make_model(), make_model(tgt_vocab_size=26)])
    with pytest.raises(ValueError, match="at least one"):
        Ensemble([])
