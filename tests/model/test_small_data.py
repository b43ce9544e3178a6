"""The small-data options: word dropout, tied target embeddings, layer-normalised LSTMs."""

import numpy as np
import pytest
import tensorflow as tf

from nmt.constants import BOS_ID, EOS_ID, PAD_ID
from nmt.fast.loops import CpuLoops
from nmt.model.lstm_cell import LayerNormLSTMCell
from nmt.model.word_dropout import WordDropout

RATE = 0.4


def ids_with_specials(rows=64, length=30, seed=0):
    """BOS, real tokens, EOS, then padding, with lengths varying by row."""
    rng = np.random.default_rng(seed)
    ids = np.zeros((rows, length), np.int32)
    for row in range(rows):
        n = int(rng.integers(3, length + 1))
        ids[row, :n] = rng.integers(4, 50, n)
        ids[row, 0], ids[row, n - 1] = BOS_ID, EOS_ID
    return ids


def test_word_dropout_drops_whole_tokens_never_the_special_ones():
    ids = ids_with_specials()
    embedded = tf.random.normal((*ids.shape, 6), seed=1) + 3.0  # no zero by chance
    out = WordDropout(RATE, seed=3)(embedded, ids, training=True).numpy()
    embedded = embedded.numpy()
    special = np.isin(ids, [PAD_ID, BOS_ID, EOS_ID])
    np.testing.assert_array_equal(out[special], embedded[special])
    dropped = np.all(out == 0.0, axis=-1)
    assert not dropped[special].any()
    real = ~special
    # Kept tokens are whole vectors scaled by 1 / (1 - rate); dropped ones are zero.
    kept = real & ~dropped
    np.testing.assert_allclose(out[kept], embedded[kept] / (1 - RATE), rtol=1e-6)
    # The share dropped is the rate: 3 standard deviations of a binomial proportion.
    share, n = dropped[real].mean(), real.sum()
    assert abs(share - RATE) < 3 * np.sqrt(RATE * (1 - RATE) / n)


def test_word_dropout_is_off_at_inference_and_at_rate_zero():
    ids = ids_with_specials(rows=4)
    embedded = tf.random.normal((*ids.shape, 6), seed=1)
    np.testing.assert_array_equal(WordDropout(RATE)(embedded, ids, training=False), embedded)
    np.testing.assert_array_equal(WordDropout(0.0)(embedded, ids, training=True), embedded)


@pytest.mark.parametrize("side", ["source", "target"])
def test_a_dropped_token_gets_no_embedding_gradient(make_model, make_ids, side):
    """With every real token dropped, only BOS/EOS (never dropped) reach the loss through
    their embeddings: the dropped tokens' rows get a zero gradient, in the fast loops too."""
    model = make_model(word_dropout=0.999999)
    src = make_ids([6, 4], 25, seed=1)
    src[0, 5] = src[1, 3] = EOS_ID
    tgt_in = make_ids([5, 3], 25, seed=2, first=BOS_ID)
    layer = model.encoder if side == "source" else model.decoder
    table = layer.embedding.embeddings
    loops = CpuLoops()
    with tf.GradientTape() as tape:
        logits, _ = model((src, tgt_in), training=True, loops=loops)
        loss = tf.reduce_sum(logits**2)
    gradient = tf.convert_to_tensor(tape.gradient(loss, table)).numpy()
    assert loops.ran["decoder_unroll:fast"] == 1
    ids = src if side == "source" else tgt_in
    real = set(ids[ids > EOS_ID].tolist())
    special = {BOS_ID, EOS_ID} & set(ids.ravel().tolist())
    assert not np.abs(gradient[sorted(real)]).any()
    assert np.abs(gradient[sorted(special)]).sum() > 0


def test_tied_projection_is_the_target_embedding_table(make_model, make_ids):
    """One table: a token seen only as an output still moves its (input) embedding."""
    model = make_model(tie_embeddings=True, readout_dim=8)
    assert not hasattr(model.decoder, "projection")
    assert not any("projection" in v.path for v in model.weights)
    src = make_ids([5], 25, seed=1)
    tgt_in = np.array([[BOS_ID, 7, 8]], np.int32)
    target = np.array([[7, 8, 20]])  # 20 is never an input
    with tf.GradientTape() as tape:
        logits, _ = model((src, tgt_in))
        loss = tf.reduce_sum(
            tf.nn.sparse_softmax_cross_entropy_with_logits(labels=target, logits=logits)
        )
    table = model.decoder.embedding.embeddings
    gradient = tf.convert_to_tensor(tape.gradient(loss, table)).numpy()
    assert np.abs(gradient[20]).sum() > 0


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def test_layer_norm_cell_is_ba_et_al_lstm():
    """The encoder's cell over a masked sequence, against the formulas in NumPy."""
    units, steps = 5, 6
    rng = np.random.default_rng(0)
    rnn = tf.keras.layers.RNN(
        LayerNormLSTMCell(units, name="cell"), return_sequences=True, return_state=True
    )
    x = rng.normal(size=(2, steps, 3)).astype(np.float32)
    mask = np.array([[True] * steps, [True] * 4 + [False] * 2])
    rnn.build(x.shape)
    rnn.set_weights([rng.normal(0, 0.7, w.shape) for w in rnn.get_weights()])
    outputs, h_last, _ = rnn(x, mask=mask)
    w = {v.path.split("/cell/", 1)[1]: v.numpy().astype(np.float64) for v in rnn.weights}

    def norm(z, name):
        mean, var = z.mean(-1, keepdims=True), z.var(-1, keepdims=True)
        return (z - mean) / np.sqrt(var + 1e-3) * w[f"{name}/gamma"] + w[f"{name}/beta"]

    h, c = np.zeros((2, units)), np.zeros((2, units))
    expected = []
    for t in range(steps):
        z = (
            norm(x[:, t] @ w["kernel"], "norm_input")
            + norm(h @ w["recurrent_kernel"], "norm_recurrent")
            + w["bias"]
        )
        i, f, g, o = np.split(z, 4, axis=-1)
        new_c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        new_h = sigmoid(o) * np.tanh(norm(new_c, "norm_cell"))
        keep = mask[:, t : t + 1]  # padding carries the state on
        h, c = np.where(keep, new_h, h), np.where(keep, new_c, c)
        expected.append(new_h)
    expected = np.stack(expected, 1)
    np.testing.assert_allclose(outputs.numpy()[mask], expected[mask], atol=1e-5)
    np.testing.assert_allclose(h_last.numpy(), h, atol=1e-5)


def test_layer_norm_runs_the_plain_loops(make_model, make_ids):
    """The fast loops compute the LSTM without normalisation: they must step aside."""
    model = make_model(layer_norm=True, bidirectional=True, encoder_layers=2)
    loops = CpuLoops()
    src, tgt_in = make_ids([5, 3], 25, seed=1), make_ids([4, 2], 25, seed=2, first=BOS_ID)
    fast, _ = model((src, tgt_in), loops=loops)
    plain, _ = model((src, tgt_in))
    assert loops.ran == {"encoder_lstm:plain": 2, "decoder_unroll:plain": 1}
    np.testing.assert_array_equal(fast.numpy(), plain.numpy())
    assert loops.decoder_step(model.decoder) == model.decoder.decode_step
