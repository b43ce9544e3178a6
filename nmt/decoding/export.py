"""A SavedModel that translates raw strings, and ``nmt translate``'s fast path through it.

The SavedModel holds the ``Translator``'s own two compiled functions, so serving
decodes exactly as the CLI does. Tokenization runs in the graph (tensorflow-text
SentencePiece ops), so using it needs ``tensorflow`` and ``tensorflow_text``
only::

    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the SentencePiece ops)

    model = tf.saved_model.load("MODEL_DIR/export")
    out = model.translate_greedy(tf.constant(["Thank you."]), 0.6)
    out = model.translate_beam(tf.constant(["Thank you."]), 5, 3, 0.6)
    out["translation"]  # (b, n) strings, best first; see Translator._outputs for the rest

``translate_greedy_prefix(text, prefix, alpha)`` and ``translate_beam_prefix(text,
prefix, beam, n_best, alpha)`` continue given starts of the translations, and
``translate_forced(text, target)`` scores given targets (forced decoding). The same
functions are the ``greedy``, ``beam``, ``greedy_prefix``, ``beam_prefix`` and
``forced`` signatures, and
``serving_default`` searches as the model's ``decode`` config says (beam size, n-best,
length penalty, repetition guard).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import tensorflow as tf

from nmt import modeldir
from nmt.config import CONFIG_FILE, Config
from nmt.decoding.texts import TranslatesTexts
from nmt.decoding.translator import TEXT_SPEC, Translator
from nmt.errors import NmtError
from nmt.model.seq2seq import weight_map

ModelDirs = str | Path | Sequence[str | Path]


class _Serving(tf.Module):
    """What the SavedModel tracks: the translator, and every model variable explicitly.

    Keras 3 layers hide some sublayers (lists of layers) from TensorFlow's object
    tracking, so the model's variables are listed here by hand, as for checkpoints.
    """

    def __init__(self, translator: Translator):
        super().__init__(name="nmt_translator")
        self.translator = translator
        self.model_variables = [v for m in translator.members for v in weight_map(m).values()]
        self.translate_greedy = translator.translate_greedy
        self.translate_beam = translator.translate_beam
        self.translate_greedy_prefix = translator.translate_greedy_prefix
        self.translate_beam_prefix = translator.translate_beam_prefix
        self.translate_forced = translator.translate_forced
        decode = translator.config.decode
        alpha = tf.constant(decode.length_penalty, tf.float32)
        if decode.beam_size == 1:
            default = lambda text: translator.translate_greedy(text, alpha)  # noqa: E731
        else:
            beam = tf.constant(decode.beam_size), tf.constant(decode.n_best)
            default = lambda text: translator.translate_beam(text, *beam, alpha)  # noqa: E731
        self.serve = tf.function(default, input_signature=[TEXT_SPEC])


def export_translator(translator: Translator, out: str | Path) -> Path:
    """Write ``translator`` as a SavedModel at ``out``, replacing what is there.

    It is written next to ``out`` first and renamed into place, so a reader finds
    the old export, the new one, or none, never half of one.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    serving = _Serving(translator)
    signatures = {
        "serving_default": serving.serve.get_concrete_function(),
        "greedy": serving.translate_greedy.get_concrete_function(),
        "beam": serving.translate_beam.get_concrete_function(),
        "greedy_prefix": serving.translate_greedy_prefix.get_concrete_function(),
        "beam_prefix": serving.translate_beam_prefix.get_concrete_function(),
        "forced": serving.translate_forced.get_concrete_function(),
    }
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    old = out.parent / f"{tmp.name}.old"
    try:
        tf.saved_model.save(serving, str(tmp), signatures=signatures)
        tmp.chmod(0o777 & ~_umask())  # mkdtemp makes it private; an export is for sharing
        if out.exists():
            out.rename(old)
        tmp.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def export_model(model_dirs: ModelDirs, out: str | Path | None = None) -> Path:
    """Export the model in a directory (default destination: ``MODEL_DIR/export``), or an
    ensemble of several (``out`` required: no one member's directory holds it)."""
    dirs = _as_list(model_dirs)
    if out is None and len(dirs) > 1:
        raise NmtError("an ensemble export needs --out: it belongs to no single model directory")
    out = Path(dirs[0]) / modeldir.EXPORT_DIR if out is None else Path(out)
    return export_translator(Translator.load(dirs), out)


def _as_list(model_dirs: ModelDirs) -> list[str | Path]:
    return [model_dirs] if isinstance(model_dirs, str | Path) else list(model_dirs)


class ExportedTranslator(TranslatesTexts):
    """An exported model with the ``Translator``'s ``translate`` and ``force``."""

    def __init__(self, path: str | Path, config: Config):
        # The loaded object owns the variables: the functions alone would outlive them.
        self._loaded = tf.saved_model.load(str(path))
        self.config = config
        self.translate_greedy = self._loaded.translate_greedy
        self.translate_beam = self._loaded.translate_beam
        # Exports made before prefix and forced decoding lack these; translate and force
        # say so.
        for name in ("translate_greedy_prefix", "translate_beam_prefix", "translate_forced"):
            if hasattr(self._loaded, name):
                setattr(self, name, getattr(self._loaded, name))


def load_translator(
    model_dirs: ModelDirs, no_repeat_ngram: int | None = None
) -> Translator | ExportedTranslator:
    """The model directory's export when it is up to date, else the trained model itself;
    several directories are loaded as an ensemble.

    Loading the export skips building the Keras model and tracing the search. The
    export's repetition guard is fixed, so ``no_repeat_ngram``, when it differs from
    the model's, loads the trained model with it instead.
    """
    dirs = _as_list(model_dirs)
    if len(dirs) == 1:
        config = modeldir.load_model_config(dirs[0])
        same = no_repeat_ngram in (None, config.decode.no_repeat_ngram)
        if same and is_current(dirs[0]):
            return ExportedTranslator(Path(dirs[0]) / modeldir.EXPORT_DIR, config)
    return Translator.load(dirs, no_repeat_ngram)


def is_current(model_dir: str | Path) -> bool:
    """Whether ``MODEL_DIR/export`` is newer than every file translation reads.

    Training rewrites the checkpoints (and the config), so an export older than
    any of them may hold stale weights and is ignored.
    """
    model_dir = Path(model_dir)
    saved = model_dir / modeldir.EXPORT_DIR / "saved_model.pb"
    if not saved.is_file():
        return False
    sources = [model_dir / CONFIG_FILE, model_dir / modeldir.SRC_TOKENIZER]
    sources.append(model_dir / modeldir.TGT_TOKENIZER)
    for sub in (modeldir.BEST_DIR, modeldir.CHECKPOINT_DIR):
        if (model_dir / sub).is_dir():
            sources.extend((model_dir / sub).iterdir())
    return saved.stat().st_mtime_ns > max(map(_mtime, sources), default=0)


def _mtime(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:  # gone, or replaced by a training run under way
        return 0
