"""Prefixes and forced targets as text, through the Translator (the CLI's and server's path)."""

import numpy as np
import pytest
import tensorflow as tf

from nmt.constants import BOS_ID, EOS_ID
from nmt.decoding.translator import Translator
from nmt.errors import NmtError

TEXTS = ["Artificial Intelligence", "Where is the station?", "Thank you.", "Machine Learning"]


@pytest.fixture(scope="module")
def translator(tiny_model_dir):
    return Translator.load(tiny_model_dir)


def pieces(translator, text):
    ids = translator.tgt_tok.tokenize([text], add_eos=False)
    return [p.decode() for p in translator.tgt_tok.id_to_piece(ids).to_list()[0]]


def test_the_models_own_start_as_prefix_changes_nothing(translator):
    """From a start the model wrote itself, as text that tokenizes into the same pieces."""
    # This random model writes byte pieces after a start it was given; those tokenize back.
    first = translator.translate(TEXTS, 1, prefixes=["인공", "역은", "감사", "좋은"])
    starts = []
    for result in first:
        for cut in range(len(result.text), 0, -1):
            own = pieces(translator, result.text[:cut])
            if len(own) > 1 and own == result.tgt_tokens[: len(own)]:
                starts.append(result.text[:cut])
                break
    assert len(starts) == len(TEXTS)
    again = translator.translate(TEXTS, 1, prefixes=starts)
    assert [t.text for t in again] == [t.text for t in first]
    np.testing.assert_allclose([t.log_prob for t in again], [t.log_prob for t in first], atol=1e-5)
    plain = translator.translate(TEXTS, 4, 2)
    empty = translator.translate(TEXTS, 4, 2, prefixes=[""] * len(TEXTS))
    assert [t.to_json() for t in empty] == [t.to_json() for t in plain]


@pytest.mark.parametrize("beam, n_best", [(1, 1), (4, 3)])
def test_every_hypothesis_starts_with_the_prefix_verbatim(translator, beam, n_best):
    prefixes = ["기계 학습", "역은 어디에", "", "좋은 아침"]
    results = translator.translate(TEXTS, beam, n_best, prefixes=prefixes)
    for result, prefix in zip(results, prefixes, strict=True):
        assert len(result.hypotheses) == n_best
        for hypothesis in result.hypotheses:
            assert hypothesis.text.startswith(prefix), (hypothesis.text, prefix)
            assert hypothesis.attention.shape == (
                len(hypothesis.tgt_tokens),
                len(result.src_tokens),
            )


def test_forcing_scores_and_attends_as_the_model_does_in_training(translator):
    """Against the model's own teacher-forced call on the tokenized pair."""
    targets = ["인공 지능", "역은 어디에 있어요?", "감사합니다.", "학습 기계"]
    forced = translator.force(TEXTS, targets)
    for text, target, result in zip(TEXTS, targets, forced, strict=True):
        src = translator.src_tok.tokenize([text]).to_tensor().numpy()
        if result.truncated:  # the tiny model reads 12 pieces at most
            src = np.concatenate([src[:, :11], [[EOS_ID]]], axis=1)
        tgt = translator.tgt_tok.tokenize([target]).to_tensor().numpy()
        tgt_in = np.concatenate([[[BOS_ID]], tgt[:, :-1]], axis=1)
        logits, weights = translator.model((src, tgt_in))
        log_probs = tf.nn.log_softmax(logits).numpy()[0]
        expected = log_probs[np.arange(tgt.shape[1]), tgt[0]].sum()
        assert result.text == target
        assert result.log_prob == pytest.approx(expected, abs=1e-4)
        np.testing.assert_allclose(result.attention, weights.numpy()[0], atol=1e-5)


def test_a_forced_target_is_kept_even_where_the_model_disagrees(translator):
    forced = translator.force(TEXTS[:2], ["감사합니다.", "인공 지능 기계 학습 역은 어디에 있어요?"])
    assert [t.text for t in forced] == ["감사합니다.", "인공 지능 기계 학습 역은 어디에 있어요?"]
    assert all(t.tgt_tokens[-1] == "</s>" for t in forced)


def test_counts_must_match(translator):
    with pytest.raises(NmtError, match="2 texts but 1 prefixes"):
        translator.translate(TEXTS[:2], prefixes=["인공"])
    with pytest.raises(NmtError, match="2 sources but 3 targets"):
        translator.force(TEXTS[:2], ["a", "b", "c"])


def test_a_prefix_ending_with_a_space_goes_on_with_a_new_word(translator):
    plain = translator.translate(TEXTS, 1, prefixes=["역은"] * len(TEXTS))
    spaced = translator.translate(TEXTS, 3, 2, prefixes=["역은 "] * len(TEXTS))
    forced = len(pieces(translator, "역은"))
    assert any(not t.tgt_tokens[forced].startswith("\u2581") for t in plain)  # may go on
    for result in spaced:
        assert result.prefix_length == forced
        for h in result.hypotheses:
            assert h.text.startswith("역은 ") and h.tgt_tokens[forced].startswith("\u2581")
