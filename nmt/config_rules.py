"""The rules a configuration must satisfy, checked before anything is built from it."""

from __future__ import annotations

from typing import Any

from nmt.errors import NmtError

EARLY_STOP_METRICS = ("loss", "chrf", "bleu")
PATIENCE_ON = ("metric", "any")
STRATEGIES = ("default", "mirrored", "multiworker")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


def check(config: Any) -> None:
    """Raise ``NmtError`` naming the first field of ``config`` (a ``nmt.config.Config``)
    whose value is out of range."""
    m, d, t = config.model, config.data, config.train
    names = (
        "model.embedding_dim model.units model.attention_units model.encoder_layers "
        "model.readout_dim data.max_src_len data.max_tgt_len data.batch_size "
        "data.bucket_width data.chunk_pairs data.tokenizer_sample train.epochs "
        "train.learning_rate train.keep_checkpoints train.keep_best"
    )
    positive = {
        n: getattr(getattr(config, n.split(".")[0]), n.split(".")[1]) for n in names.split()
    }
    for name, value in positive.items():
        if value <= 0:
            raise NmtError(f"{name} must be positive, got {value}")
    for name in ("src_vocab_size", "tgt_vocab_size"):
        if getattr(m, name) < 0:
            raise NmtError(
                f"model.{name} must be >= 0 (0: sized from the corpus), got {getattr(m, name)}"
            )
    if not 0.98 <= d.character_coverage <= 1.0:
        raise NmtError(f"data.character_coverage must be in [0.98, 1], got {d.character_coverage}")
    for name in ("dropout", "word_dropout"):
        if not 0.0 <= getattr(m, name) < 1.0:
            raise NmtError(f"model.{name} must be in [0, 1), got {getattr(m, name)}")
    if m.tie_embeddings and m.readout_dim != m.embedding_dim:
        raise NmtError(
            f"model.tie_embeddings needs model.readout_dim == model.embedding_dim, got "
            f"{m.readout_dim} and {m.embedding_dim}: set both, or model.tie_embeddings=false"
        )
    if d.batch_tokens < 0:
        raise NmtError(f"data.batch_tokens must be >= 0 (0: batch_size), got {d.batch_tokens}")
    if m.bidirectional and m.units % 2:
        raise NmtError(f"model.units must be even with model.bidirectional, got {m.units}")
    if d.long_pairs not in ("drop", "truncate"):
        raise NmtError(f"data.long_pairs must be 'drop' or 'truncate', got {d.long_pairs!r}")
    if not 0.0 < d.dev_fraction < 1.0:
        raise NmtError(f"data.dev_fraction must be in (0, 1), got {d.dev_fraction}")
    if not 0.0 <= t.label_smoothing < 1.0:
        raise NmtError(f"train.label_smoothing must be in [0, 1), got {t.label_smoothing}")
    if not d.subword_alpha >= 0.0:
        raise NmtError(f"data.subword_alpha must be >= 0 (0: off), got {d.subword_alpha}")
    if not 0.0 <= t.ema_decay < 1.0:
        raise NmtError(f"train.ema_decay must be in [0, 1) (0: off), got {t.ema_decay}")
    if not 0.0 < t.lr_decay <= 1.0:
        raise NmtError(f"train.lr_decay must be in (0, 1] (1: constant), got {t.lr_decay}")
    names = ("patience", "lr_patience", "checkpoint_every", "clip_norm", "cpu_streams")
    for name in (*names, "max_time"):
        if getattr(t, name) < 0:
            raise NmtError(f"train.{name} must be >= 0, got {getattr(t, name)}")
    if t.early_stop_metric not in EARLY_STOP_METRICS:
        known = ", ".join(repr(m) for m in EARLY_STOP_METRICS)
        raise NmtError(
            f"train.early_stop_metric must be one of {known}, got {t.early_stop_metric!r}"
        )
    choices = (
        ("strategy", STRATEGIES),
        ("precision", PRECISIONS),
        ("patience_on", PATIENCE_ON),
    )
    for name, allowed in choices:
        if getattr(t, name) not in allowed:
            known = ", ".join(repr(a) for a in allowed)
            raise NmtError(f"train.{name} must be one of {known}, got {getattr(t, name)!r}")
    c = config.decode
    if c.max_len_a < 0 or c.max_len_b < 1:
        raise NmtError("decode.max_len_a must be >= 0 and decode.max_len_b >= 1")
    if c.beam_size < 1 or c.n_best < 1:
        raise NmtError(
            f"decode.beam_size and decode.n_best must be positive, got {c.beam_size} and {c.n_best}"
        )
    if c.n_best > c.beam_size:
        raise NmtError(f"decode.n_best ({c.n_best}) cannot exceed decode.beam_size ({c.beam_size})")
    if c.no_repeat_ngram < 0 or c.no_repeat_ngram == 1:
        raise NmtError(f"decode.no_repeat_ngram must be 0 (off) or >= 2, got {c.no_repeat_ngram}")
    if c.length_penalty < 0:
        raise NmtError(f"decode.length_penalty must be >= 0, got {c.length_penalty}")
