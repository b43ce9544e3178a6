"""Ensembles through the one inference path: ``Translator``, the commands, the export."""

import json
import shutil

import numpy as np
import pytest
import tensorflow as tf

from nmt import modeldir
from nmt.cli import main
from nmt.data.tokenizer import Tokenizer, train_sentencepiece
from nmt.decoding.export import ExportedTranslator, export_model
from nmt.decoding.translator import Translator
from nmt.model.seq2seq import model_checkpoint

SENTENCES = ["Artificial Intelligence", "Thank you.", "Where is the station?"]


@pytest.fixture(scope="module")
def second_model(tiny_model_dir, tmp_path_factory):
    """The tiny model's config and tokenizers with other random weights."""
    path = tmp_path_factory.mktemp("second") / "model"
    shutil.copytree(tiny_model_dir, path)
    shutil.rmtree(path / modeldir.BEST_DIR)
    config, model, _, _ = modeldir.load(tiny_model_dir)
    rng = np.random.default_rng(7)
    model.set_weights([rng.normal(0.0, 0.5, w.shape) for w in model.get_weights()])
    tf.train.CheckpointManager(model_checkpoint(model), path / modeldir.BEST_DIR, 1).save()
    return path


def as_arrays(results):
    return [(r.text, r.hypotheses[0].score, r.hypotheses[0].attention) for r in results]


def assert_same(got, want):
    for (text, score, attention), (text2, score2, attention2) in zip(got, want, strict=True):
        assert text == text2
        np.testing.assert_allclose(score, score2, rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(attention, attention2, atol=1e-6)


@pytest.mark.parametrize("beam", [1, 3])
def test_ensemble_of_one_and_of_two_copies_translate_as_the_model(tiny_model_dir, beam):
    alone = as_arrays(Translator.load(tiny_model_dir).translate(SENTENCES, beam))
    for dirs in ([tiny_model_dir], [tiny_model_dir, tiny_model_dir]):
        assert_same(as_arrays(Translator.load(dirs).translate(SENTENCES, beam)), alone)


def test_ensemble_differs_from_its_members(tiny_model_dir, second_model):
    ensemble = Translator.load([tiny_model_dir, second_model])
    assert len(ensemble.members) == 2
    scores = [h.score for r in ensemble.translate(SENTENCES) for h in r.hypotheses]
    for member in (tiny_model_dir, second_model):
        alone = [
            h.score for r in Translator.load(member).translate(SENTENCES) for h in r.hypotheses
        ]
        assert not np.allclose(scores, alone)


def test_exported_ensemble_translates_as_the_ensemble(tiny_model_dir, second_model, tmp_path):
    dirs = [tiny_model_dir, second_model]
    with pytest.raises(Exception, match="needs --out"):
        export_model(dirs)
    out = export_model(dirs, tmp_path / "export")
    config = modeldir.load_model_config(tiny_model_dir)
    exported = ExportedTranslator(out, config)
    in_process = Translator.load(dirs)
    for beam in (1, 3):
        assert_same(
            as_arrays(exported.translate(SENTENCES, beam)),
            as_arrays(in_process.translate(SENTENCES, beam)),
        )


def test_commands_take_several_models(tiny_model_dir, second_model, tmp_path, capsys):
    models = ["--model", str(tiny_model_dir), "--model", str(second_model)]
    assert main(["translate", "--json", *models, *SENTENCES]) == 0
    got = [json.loads(line)["translation"] for line in capsys.readouterr().out.splitlines()]
    want = [r.text for r in Translator.load([tiny_model_dir, second_model]).translate(SENTENCES)]
    assert got == want
    corpus = tmp_path / "test.tsv"
    corpus.write_text("Thank you.\t감사합니다.\n", encoding="utf-8")
    assert main(["evaluate", *models, "--corpus", str(corpus), "--json"]) == 0
    assert '"sentences": 1' in capsys.readouterr().out
    assert main(["plot", *models, "-o", str(tmp_path / "a.png"), "Thank you."]) == 0
    assert (tmp_path / "a.png").stat().st_size > 0


def test_members_with_other_tokenizers_are_refused(tiny_model_dir, tmp_path, capsys):
    other = tmp_path / "other"
    shutil.copytree(tiny_model_dir, other)
    Tokenizer(train_sentencepiece(["완전히 다른 문장들입니다"] * 20, 300)).save(
        other / modeldir.TGT_TOKENIZER
    )
    for command in (["translate"], ["plot", "-o", str(tmp_path / "a.png")], ["export"]):
        args = [*command, "--model", str(tiny_model_dir), "--model", str(other)]
        if command == ["export"]:
            args += ["--out", str(tmp_path / "export")]
        else:
            args.append("Thank you.")
        assert main(args) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0
        assert f"--model {other}: its target.spm differs" in err


@pytest.mark.parametrize("beam", [1, 3])
def test_translator_ensemble_scores_are_the_members_mean_under_teacher_forcing(
    tiny_model_dir, second_model, beam
):
    """On the default (fast) loops the Translator runs: every hypothesis's log-probability
    is the sum, over its tokens, of the renormalised mean of the members' log-softmaxes
    in one teacher-forced pass of each member (test_ensemble.teacher_forced)."""
    from test_ensemble import teacher_forced

    translator = Translator.load([tiny_model_dir, second_model])
    src_tok, tgt_tok = modeldir.load_tokenizers(tiny_model_dir)

    def ids(tokenizer, pieces):
        return np.array([[tokenizer._processor.piece_to_id(p) for p in pieces]], np.int32)

    for result in translator.translate(SENTENCES, beam, beam):
        assert len(result.hypotheses) == beam
        # The source as the members saw it (cut to data.max_src_len, EOS kept).
        src = ids(src_tok, result.src_tokens)
        for h in result.hypotheses:
            out = ids(tgt_tok, h.tgt_tokens)
            assert out[0, -1] == 3  # EOS ends every hypothesis
            log_probs, weights = teacher_forced(translator.members, src, out)
            gained = np.take_along_axis(log_probs[0], out[0][:, None], axis=-1)[:, 0]
            np.testing.assert_allclose(h.log_prob, gained.sum(), rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(h.attention, weights[0], atol=1e-5)
