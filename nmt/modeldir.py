"""The model directory: what is in it, and loading it back for translation.

Layout::

    MODEL_DIR/config.json      the full Config snapshot
    MODEL_DIR/source.spm       SentencePiece model of the source language
    MODEL_DIR/target.spm       SentencePiece model of the target language
    MODEL_DIR/checkpoints/     latest training state (model, optimizer, position)
    MODEL_DIR/best/            weights with the best dev loss (or dev BLEU/chrF)
    MODEL_DIR/export/          SavedModel written by ``nmt export`` (optional)

Everything translation needs is here; the corpus is not.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import tensorflow as tf

from nmt.config import CONFIG_FILE, FORMAT_VERSION, Config, read_object
from nmt.data.tokenizer import Tokenizer
from nmt.errors import NmtError
from nmt.model.seq2seq import Seq2Seq, build_model, model_checkpoint

SRC_TOKENIZER = "source.spm"
TGT_TOKENIZER = "target.spm"
CHECKPOINT_DIR = "checkpoints"
BEST_DIR = "best"
EXPORT_DIR = "export"
# What TensorFlow raises for a truncated, corrupt or mismatched checkpoint.
CHECKPOINT_ERRORS = (tf.errors.OpError, AssertionError, ValueError, IndexError, KeyError)
_OWNED = (CONFIG_FILE, SRC_TOKENIZER, TGT_TOKENIZER, CHECKPOINT_DIR, BEST_DIR, "logs", EXPORT_DIR)


def prepare(model_dir: str | Path, config: Config, *, overwrite: bool = False) -> Config | None:
    """Make ``model_dir`` ready for training ``config``.

    Returns the saved config when the directory already holds a run of the same
    model and data settings (training resumes), None when it starts fresh. A
    directory holding a different model is refused unless ``overwrite``, which
    deletes only the files nmt itself writes there.
    """
    model_dir = Path(model_dir)
    if model_dir.exists() and not model_dir.is_dir():
        raise NmtError(f"--out {model_dir} exists and is not a directory")
    existing = model_dir / CONFIG_FILE
    if existing.is_file() and overwrite:
        for name in _OWNED:
            path = model_dir / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    elif existing.is_file():
        if (model_dir / BEST_DIR).is_dir() and not (model_dir / CHECKPOINT_DIR).is_dir():
            # Training would find no checkpoint to resume and start from random weights.
            raise NmtError(
                f"{model_dir} holds decode-only weights (best/ without checkpoints/, as nmt "
                "average writes them); train into another --out, or pass --overwrite to "
                "start afresh there"
            )
        saved = load_model_config(model_dir)
        differences = _differences(saved, config)
        if differences:
            shown = "; ".join(differences[:3])
            raise NmtError(
                f"{model_dir} holds a model trained with different settings ({shown}); "
                "pass --overwrite to replace it, or choose another --out"
            )
        return saved
    model_dir.mkdir(parents=True, exist_ok=True)
    return None


def _differences(saved: Config, new: Config) -> list[str]:
    """Settings that make a saved run incompatible; training-loop settings may change."""
    out = []
    for section in ("model", "data"):
        old_values = getattr(saved, section).__dict__
        for name, value in getattr(new, section).__dict__.items():
            if name.endswith("vocab_size") or name in ("skip_bad_lines", "tokenizer_sample"):
                continue  # set from the tokenizers / only affects reading / only them
            if old_values.get(name) != value:
                out.append(f"{section}.{name}: {old_values.get(name)!r} there, {value!r} now")
    return out


def save_tokenizers(model_dir: str | Path, src: Tokenizer, tgt: Tokenizer) -> None:
    src.save(Path(model_dir) / SRC_TOKENIZER)
    tgt.save(Path(model_dir) / TGT_TOKENIZER)


def load_tokenizers(model_dir: str | Path) -> tuple[Tokenizer, Tokenizer]:
    model_dir = Path(model_dir)
    return Tokenizer.load(model_dir / SRC_TOKENIZER), Tokenizer.load(model_dir / TGT_TOKENIZER)


def load_model(model_dir: str | Path, config: Config) -> Seq2Seq:
    """The model with its best weights (or the latest, before any dev evaluation)."""
    model_dir = Path(model_dir)
    model = build_model(config.model)
    for sub in (BEST_DIR, CHECKPOINT_DIR):
        path = tf.train.latest_checkpoint(str(model_dir / sub))
        if path is None:
            continue
        try:
            model_checkpoint(model).restore(path).expect_partial().assert_existing_objects_matched()
        except CHECKPOINT_ERRORS as exc:
            raise NmtError(
                f"checkpoint {path} cannot be read ({type(exc).__name__}): it is truncated, "
                "corrupt, or from another model; retrain or restore the file"
            ) from None
        return model
    raise NmtError(
        f"{model_dir} has no trained weights: "
        f"neither {BEST_DIR}/ nor {CHECKPOINT_DIR}/ holds a checkpoint"
    )


def load(model_dir: str | Path) -> tuple[Config, Seq2Seq, Tokenizer, Tokenizer]:
    """Everything translation needs, with a clear error naming what is missing."""
    config = load_model_config(model_dir)
    src, tgt = load_tokenizers(model_dir)
    if (src.vocab_size, tgt.vocab_size) != (
        config.model.src_vocab_size,
        config.model.tgt_vocab_size,
    ):
        raise NmtError(
            f"{model_dir}: the tokenizers do not match {CONFIG_FILE} "
            f"(vocabularies {src.vocab_size}/{tgt.vocab_size}, config says "
            f"{config.model.src_vocab_size}/{config.model.tgt_vocab_size})"
        )
    return config, load_model(model_dir, config), src, tgt


# Model settings added after FORMAT_VERSION 1 and the value that reproduces the model
# a snapshot without them describes: a model directory written before them loads as it
# was trained, whatever today's defaults are.
LEGACY_MODEL_FIELDS = {"word_dropout": 0.0, "tie_embeddings": False, "layer_norm": False}
LEGACY_DATA_FIELDS = {"batch_tokens": 0, "split_digits": False, "subword_alpha": 0.0}
LEGACY_TRAIN_FIELDS = {"patience_on": "metric", "ema_decay": 0.0}


def load_model_config(model_dir: str | Path) -> Config:
    """Read the snapshot a trained model directory holds, with a clear error if it cannot."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise NmtError(f"no such model directory: {model_dir}")
    path = model_dir / CONFIG_FILE
    if not path.is_file():
        raise NmtError(f"{model_dir} is not an nmt model directory: {CONFIG_FILE} is missing")
    data = read_object(path)
    # Fields a snapshot lacks take the value it was written under, not today's default.
    legacies = (
        ("model", LEGACY_MODEL_FIELDS),
        ("data", LEGACY_DATA_FIELDS),
        ("train", LEGACY_TRAIN_FIELDS),
    )
    for section, legacy in legacies:
        if isinstance(data.get(section), dict):
            data[section] = {**legacy, **data[section]}
    config = Config.from_dict(data, source=str(path))
    if config.version != FORMAT_VERSION:
        raise NmtError(
            f"{path}: model format version {config.version} is not supported by this nmt "
            f"(expects {FORMAT_VERSION}); retrain or use a matching nmt release"
        )
    return config
