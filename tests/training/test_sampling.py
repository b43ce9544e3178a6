"""Subword sampling reaches training batches only."""

from conftest import TINY_PAIRS, write_corpus_dir
from training.test_stopping import config

from nmt.data.tokenizer import Tokenizer
from nmt.decoding.translator import Translator
from nmt.training import summaries
from nmt.training.run import train_translator


def test_training_samples_every_epoch_and_translation_never(tmp_path, monkeypatch):
    monkeypatch.setattr(summaries, "SAMPLE_SENTENCES", 0)
    samplers = []
    original = Tokenizer.sampler

    def spy(self, nbest, alpha):
        samplers.append((nbest, alpha))
        return original(self, nbest, alpha)

    monkeypatch.setattr(Tokenizer, "sampler", spy)
    corpus = write_corpus_dir(tmp_path / "corpus", TINY_PAIRS)
    messages = []
    cfg = config(epochs=3, ema_decay=0.999)
    cfg.data.subword_nbest, cfg.data.subword_alpha = 8, 0.2
    train_translator(cfg, tmp_path / "m", corpus=corpus, log=messages.append)
    assert "subword sampling: nbest 8, alpha 0.2" in messages
    assert samplers == [(8, 0.2)] * 6  # each epoch, both sides
    del samplers[:]
    translator = Translator.load(tmp_path / "m")
    texts = [en for en, _ in TINY_PAIRS] * 4
    first = [t.text for t in translator.translate(texts, beam_size=1)]
    assert [t.text for t in translator.translate(texts, beam_size=1)] == first
    translator.translate(texts, beam_size=3, n_best=2)
    assert samplers == []
