"""Seq2Seq: the decoder recurrence against NumPy, h_{t-1} as the query, padding, saving."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from nmt.config import ModelConfig
from nmt.model.decoder import Decoder, Memory, State
from nmt.model.encoder import Encoder
from nmt.model.seq2seq import Seq2Seq, build_model, model_checkpoint, weight_map

BOS = 2
SRC_LENGTHS = [7, 5, 2]  # different source lengths: rows 1 and 2 are padded
TGT_LENGTHS = [4, 6, 1]  # and different target lengths, independently
ENCODERS = {
    "uni-1": dict(),
    "bi-2": dict(bidirectional=True, encoder_layers=2),
    "layer-norm-bi-2": dict(bidirectional=True, encoder_layers=2, layer_norm=True),
}
# The decoder's options that change its math; each against the NumPy recurrence.
DECODERS = {
    "plain": dict(),
    "tied": dict(tie_embeddings=True, readout_dim=8),  # readout_dim == embedding_dim
    "layer-norm": dict(layer_norm=True),
    "both": dict(tie_embeddings=True, readout_dim=8, layer_norm=True),
}


VOCAB = 25  # ids below both vocabulary sizes of the tiny model


@pytest.fixture
def batch(make_ids):
    src = make_ids(SRC_LENGTHS, VOCAB, seed=1)
    tgt_in = make_ids(TGT_LENGTHS, VOCAB, seed=2, first=BOS)
    return src, tgt_in


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def decoder_reference(decoder, memory, state, tgt_in, query="previous", carry_state=True):
    """The decoder recurrence of the spec in float64, from the decoder's weights.

    ``query="current"`` and ``carry_state=False`` are the two bugs the model must not
    have: attention queried by the updated state h_t (with the previous context as
    LSTM input), and every step restarting from the initial state.

    Returns:
        ``(logits (b, t, v), weights (b, t, s))``.
    """
    f64 = {}
    for v in decoder.weights:
        f64[v.path.split("/decoder/", 1)[1]] = v.numpy().astype(np.float64)
    embeddings = f64["embedding/embeddings"]
    tied = "projection/kernel" not in f64  # the output projection is the embedding table
    layer_norm = "norm_input/gamma" in f64
    scale = np.sqrt(embeddings.shape[1]) if tied else 1.0
    w_c, w_y, v = (f64[f"attention/{n}/kernel"] for n in ("query", "key", "score"))
    values = memory.values.numpy().astype(np.float64)
    mask = memory.mask.numpy()
    keys = values @ w_y  # W_y·y_i, (b, s, a)

    def attend(c):
        scores = np.tanh((c @ w_c)[:, None, :] + keys) @ v[:, 0]
        scores = np.where(mask, scores, -np.inf)
        exp = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights = exp / exp.sum(axis=-1, keepdims=True)
        return np.einsum("bs,bsu->bu", weights, values), weights

    def norm(x, name):
        """Ba et al.'s layer normalisation, Keras's epsilon."""
        if not layer_norm:
            return x
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + 1e-3) * f64[f"{name}/gamma"] + f64[f"{name}/beta"]

    def lstm(x, context, h, c):
        z = (
            norm(x @ f64["input_kernel"] + context @ f64["context_kernel"], "norm_input")
            + norm(h @ f64["recurrent_kernel"], "norm_recurrent")
            + f64["bias"]
        )
        i, f, g, o = np.split(z, 4, axis=-1)
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        return sigmoid(o) * np.tanh(norm(c, "norm_cell")), c

    h0, c0 = (x.numpy().astype(np.float64) for x in state)
    h, c = h0, c0
    context = np.zeros_like(values[:, 0])
    all_logits, all_weights = [], []
    for t in range(tgt_in.shape[1]):
        if not carry_state:
            h, c = h0, c0
        x = embeddings[tgt_in[:, t]] * scale
        if query == "previous":
            context, weights = attend(h)  # query c = h_{t-1}
            h, c = lstm(x, context, h, c)
        else:
            h, c = lstm(x, context, h, c)
            context, weights = attend(h)  # query c = h_t: the bug
        readout = np.tanh(
            np.concatenate([h, context], -1) @ f64["readout/kernel"] + f64["readout/bias"]
        )
        if tied:
            all_logits.append(readout @ embeddings.T + f64["output_bias"])
        else:
            all_logits.append(readout @ f64["projection/kernel"] + f64["projection/bias"])
        all_weights.append(weights)
    return np.stack(all_logits, 1), np.stack(all_weights, 1)


def test_output_shapes_and_attention_rows(make_model, batch):
    src, tgt_in = batch
    model = make_model()
    logits, weights = model((src, tgt_in))
    b, s = src.shape
    t = tgt_in.shape[1]
    assert logits.shape == (b, t, model.tgt_vocab_size)
    assert weights.shape == (b, t, s)
    weights = weights.numpy()
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-6)
    source_padding = np.broadcast_to((src == 0)[:, None, :], weights.shape)
    assert np.all(weights[source_padding] == 0.0)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_encoder_state_and_bridge(make_model, batch, encoder):
    """The decoder starts from tanh(Dense(h)), Dense(c) of the encoder's state at the real end."""
    src, _ = batch
    model = make_model(**ENCODERS[encoder])
    values, mask, (h, c) = model.encoder(src)
    memory, state = model.encode(src)
    np.testing.assert_array_equal(mask.numpy(), src != 0)
    np.testing.assert_array_equal(memory.values.numpy(), values.numpy())
    np.testing.assert_array_equal(memory.mask.numpy(), mask.numpy())
    np.testing.assert_allclose(
        memory.keys.numpy(),
        values.numpy() @ model.decoder.attention.key_dense.kernel.numpy(),
        atol=1e-5,
    )
    w_h, b_h = (x.numpy() for x in model.bridge_h.weights)
    w_c, b_c = (x.numpy() for x in model.bridge_c.weights)
    np.testing.assert_allclose(state.h.numpy(), np.tanh(h.numpy() @ w_h + b_h), atol=1e-5)
    np.testing.assert_allclose(state.cell.numpy(), c.numpy() @ w_c + b_c, atol=1e-5)
    # The final state is read at each row's last real token, not at the padding.
    rows = np.arange(len(SRC_LENGTHS))
    last = values.numpy()[rows, np.array(SRC_LENGTHS) - 1]
    half = model.units // 2
    if model.bidirectional:
        np.testing.assert_allclose(h.numpy()[:, :half], last[:, :half], atol=1e-6)
        np.testing.assert_allclose(h.numpy()[:, half:], values.numpy()[:, 0, half:], atol=1e-6)
    else:
        np.testing.assert_allclose(h.numpy(), last, atol=1e-6)


@pytest.mark.parametrize("decoder", DECODERS)
@pytest.mark.parametrize("encoder", ENCODERS)
def test_decoder_matches_numpy_recurrence(make_model, batch, encoder, decoder):
    src, tgt_in = batch
    model = make_model(**{**ENCODERS[encoder], **DECODERS[decoder]})
    memory, state = model.encode(src)
    logits, weights = model((src, tgt_in))
    expected_logits, expected_weights = decoder_reference(model.decoder, memory, state, tgt_in)
    np.testing.assert_allclose(weights.numpy(), expected_weights, atol=1e-5)
    np.testing.assert_allclose(logits.numpy(), expected_logits, atol=1e-5)


def test_wrong_recurrences_differ_from_the_model(make_model, batch):
    """The NumPy comparison above would catch querying with h_t or dropping the state."""
    src, tgt_in = batch
    model = make_model()
    memory, state = model.encode(src)
    logits, weights = (x.numpy() for x in model((src, tgt_in)))
    args = (model.decoder, memory, state, tgt_in)
    current_logits, current_weights = decoder_reference(*args, query="current")
    assert np.abs(current_weights - weights).max() > 0.05
    assert np.abs(current_logits - logits).max() > 0.1
    # Without the state every step attends from h_0 (like step 0) and forgets its prefix.
    reset_logits, reset_weights = decoder_reference(*args, carry_state=False)
    np.testing.assert_allclose(reset_weights[:, 0], weights[:, 0], atol=1e-5)
    assert np.abs(reset_weights[:, 1:] - weights[:, 1:]).max() > 0.05
    assert np.abs(reset_logits[:, 1:] - logits[:, 1:]).max() > 0.1


def test_attention_at_step_t_depends_only_on_earlier_tokens(make_model, make_ids):
    model = make_model()
    src = make_ids([6, 6], VOCAB, seed=1)
    tgt_in = make_ids([5, 5], VOCAB, seed=2, first=BOS)
    _, weights = model((src, tgt_in))
    t = 3
    changed_now = tgt_in.copy()
    changed_now[:, t] = np.where(tgt_in[:, t] == 4, 5, 4)
    _, weights_now = model((src, changed_now))
    # Step t queries with h_{t-1}, which has not seen input t yet...
    np.testing.assert_array_equal(weights_now.numpy()[:, : t + 1], weights.numpy()[:, : t + 1])
    # ...but h_t has, so step t + 1 moves.
    assert np.abs(weights_now.numpy()[:, t + 1] - weights.numpy()[:, t + 1]).max() > 1e-3
    changed_before = tgt_in.copy()
    changed_before[:, t - 1] = np.where(tgt_in[:, t - 1] == 4, 5, 4)
    _, weights_before = model((src, changed_before))
    np.testing.assert_array_equal(weights_before.numpy()[:, :t], weights.numpy()[:, :t])
    assert np.abs(weights_before.numpy()[:, t] - weights.numpy()[:, t]).max() > 1e-3


@pytest.mark.parametrize("decoder", DECODERS)
def test_step_decoding_matches_teacher_forcing(make_model, batch, decoder):
    src, tgt_in = batch
    model = make_model(**DECODERS[decoder])
    logits, weights = model((src, tgt_in))
    memory, state = model.encode(src)
    for t in range(tgt_in.shape[1]):
        step_logits, state, step_weights = model.decode_step(tgt_in[:, t], state, memory)
        np.testing.assert_allclose(step_logits.numpy(), logits.numpy()[:, t], atol=1e-5)
        np.testing.assert_allclose(step_weights.numpy(), weights.numpy()[:, t], atol=1e-6)


def test_target_padding_does_not_change_earlier_logits(make_model, batch):
    src, tgt_in = batch
    model = make_model()
    logits, _ = model((src, tgt_in))
    padded = np.pad(tgt_in, [(0, 0), (0, 3)])
    padded_logits, _ = model((src, padded))
    np.testing.assert_allclose(padded_logits.numpy()[:, : tgt_in.shape[1]], logits, atol=1e-6)
    # Whatever follows position t (padding or not) leaves positions <= t alone.
    t = 2
    rewritten = tgt_in.copy()
    rewritten[:, t + 1 :] = 0
    rewritten_logits, _ = model((src, rewritten))
    np.testing.assert_allclose(
        rewritten_logits.numpy()[:, : t + 1], logits.numpy()[:, : t + 1], atol=1e-6
    )


@pytest.mark.parametrize("encoder", ENCODERS)
def test_source_padding_changes_nothing(make_model, batch, encoder):
    src, tgt_in = batch
    model = make_model(**ENCODERS[encoder])
    logits, weights = model((src, tgt_in))
    padded_logits, padded_weights = model((np.pad(src, [(0, 0), (0, 3)]), tgt_in))
    s = src.shape[1]
    np.testing.assert_allclose(padded_logits.numpy(), logits.numpy(), atol=1e-5)
    np.testing.assert_allclose(padded_weights.numpy()[..., :s], weights.numpy(), atol=1e-6)
    assert np.all(padded_weights.numpy()[..., s:] == 0.0)
    # A row alone, unpadded, decodes as it does inside the padded batch.
    row = 2
    alone_logits, alone_weights = model(
        (src[row : row + 1, : SRC_LENGTHS[row]], tgt_in[row : row + 1])
    )
    np.testing.assert_allclose(alone_logits.numpy()[0], logits.numpy()[row], atol=1e-5)
    np.testing.assert_allclose(
        alone_weights.numpy()[0], weights.numpy()[row, :, : SRC_LENGTHS[row]], atol=1e-6
    )


def assert_same_outputs(got, expected):
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


@pytest.mark.parametrize("encoder", ENCODERS)
def test_seq2seq_config_round_trip(make_model, batch, encoder):
    src, tgt_in = batch
    model = make_model(**ENCODERS[encoder])
    config = model.get_config()
    clone = Seq2Seq.from_config(config)
    assert clone.get_config() == config
    clone.build()
    clone.set_weights(model.get_weights())
    assert_same_outputs(clone((src, tgt_in)), model((src, tgt_in)))


def test_model_config_fields_are_the_constructor_arguments():
    fields = dataclasses.asdict(ModelConfig(src_vocab_size=30, tgt_vocab_size=25, units=12))
    config = build_model(ModelConfig(**fields)).get_config()
    assert {k: config[k] for k in fields} == fields


@pytest.mark.parametrize("encoder", ENCODERS)
def test_encoder_config_round_trip(make_model, batch, encoder):
    src, _ = batch
    encoder = make_model(**ENCODERS[encoder]).encoder
    config = encoder.get_config()
    clone = Encoder.from_config(config)
    assert clone.get_config() == config
    clone.build((None, None))
    clone.set_weights(encoder.get_weights())
    values, mask, (h, c) = encoder(src)
    clone_values, clone_mask, (clone_h, clone_c) = clone(src)
    assert_same_outputs((clone_values, clone_mask, clone_h, clone_c), (values, mask, h, c))


def test_decoder_config_round_trip(make_model, batch):
    src, tgt_in = batch
    model = make_model()
    memory, state = model.encode(src)
    config = model.decoder.get_config()
    clone = Decoder.from_config(config)
    assert clone.get_config() == config
    clone.build()
    clone.set_weights(model.decoder.get_weights())
    clone_memory = clone.memory(memory.values, memory.mask)
    assert_same_outputs(clone(tgt_in, state, clone_memory), model.decoder(tgt_in, state, memory))


def expected_weights(config):
    """(variables, scalars) of a Seq2Seq, counted from the architecture."""
    v_s, v_t = config["src_vocab_size"], config["tgt_vocab_size"]
    e, u, a, r = (config[k] for k in ("embedding_dim", "units", "attention_units", "readout_dim"))
    directions = 2 if config["bidirectional"] else 1
    size = u // directions
    variables, scalars = 1, v_s * e  # encoder embedding
    for layer in range(config["encoder_layers"]):
        inputs = e if layer == 0 else u
        variables += 3 * directions  # kernel, recurrent kernel, bias
        scalars += directions * 4 * size * (inputs + size + 1)
    variables += 4  # bridge_h, bridge_c: kernel and bias
    scalars += 2 * (u * u + u)
    variables += 4 + 1 + 3 + 2 + 2  # own LSTM, embedding, W_c W_y v, readout, projection
    scalars += 4 * u * (e + u + u + 1) + v_t * e + 2 * u * a + a + (2 * u * r + r)
    scalars += r * v_t + v_t
    return variables, scalars


@pytest.mark.parametrize("layers", [1, 2])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_weight_count(make_model, bidirectional, layers):
    model = make_model(bidirectional=bidirectional, encoder_layers=layers, scale=0)
    variables, scalars = expected_weights(model.get_config())
    assert len(model.trainable_variables) == variables == len(model.weights)
    assert model.count_params() == scalars


@pytest.mark.parametrize("encoder", ENCODERS)
def test_checkpoint_restores_every_weight(make_model, batch, encoder, tmp_path):
    src, tgt_in = batch
    model = make_model(seed=0, **ENCODERS[encoder])
    saved = weight_map(model)
    assert len(saved) == len(model.weights)  # no two variables share a key
    path = model_checkpoint(model).write(str(tmp_path / "ckpt"))
    stored = [name for name, _ in tf.train.list_variables(path) if name.startswith("model/")]
    assert len(stored) == len(model.weights)

    fresh = make_model(seed=1, **ENCODERS[encoder])
    fresh_map = weight_map(fresh)
    assert fresh_map.keys() == saved.keys()
    # Every variable differs before the restore, so the restore must have written each one.
    assert all(np.any(fresh_map[k].numpy() != saved[k].numpy()) for k in saved)
    model_checkpoint(fresh).read(path).assert_consumed()
    for key, variable in saved.items():
        np.testing.assert_array_equal(fresh_map[key].numpy(), variable.numpy(), err_msg=key)
    assert_same_outputs(fresh((src, tgt_in)), model((src, tgt_in)))


# Formatting the error message converts variables with np.array(x, copy=False).
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_checkpoint_of_another_architecture_fails_loudly(make_model, tmp_path):
    """The restore chain of ``nmt.modeldir``: fine for the same model, loud for another."""
    path = model_checkpoint(make_model(seed=0)).save(str(tmp_path / "ckpt"))

    def restore(model):
        model_checkpoint(model).restore(path).expect_partial().assert_existing_objects_matched()

    restore(make_model(seed=1))
    with pytest.raises(AssertionError, match="lstm_1"):
        restore(make_model(encoder_layers=2))


def test_dropout_only_in_training(make_model, batch):
    src, tgt_in = batch
    model = make_model(dropout=0.5)
    inference = [model((src, tgt_in), training=False) for _ in range(2)]
    assert_same_outputs(inference[0], inference[1])
    training = [model((src, tgt_in), training=True)[0].numpy() for _ in range(2)]
    assert np.abs(training[0] - inference[0][0].numpy()).max() > 1e-3
    assert np.abs(training[0] - training[1]).max() > 1e-3


@pytest.mark.parametrize("encoder", ENCODERS)
def test_xla_compiled_call_matches_eager(make_model, batch, encoder):
    src, tgt_in = batch
    model = make_model(**ENCODERS[encoder])
    compiled = tf.function(lambda s, t: model((s, t)), jit_compile=True)
    for got, expected in zip(compiled(src, tgt_in), model((src, tgt_in)), strict=True):
        np.testing.assert_allclose(got.numpy(), expected.numpy(), atol=1e-5)


def test_step_decoding_in_a_graph(make_model, batch):
    """``decode_step`` with Memory/State tuples traces into a tf.function."""
    src, tgt_in = batch
    model = make_model()
    logits, weights = model((src, tgt_in))
    memory, state = model.encode(src)

    @tf.function
    def first_step(ids, h, c, values, keys, mask):
        step_logits, _, step_weights = model.decode_step(
            ids, State(h, c), Memory(values, keys, mask)
        )
        return step_logits, step_weights

    got = first_step(tgt_in[:, 0], *state, *memory)
    np.testing.assert_allclose(got[0].numpy(), logits.numpy()[:, 0], atol=1e-5)
    np.testing.assert_allclose(got[1].numpy(), weights.numpy()[:, 0], atol=1e-6)
