"""``nmt serve``'s API against the real app and the tiny model, through Starlette's client."""

import json
import math
import re

import numpy as np
import pytest
from fastapi.testclient import TestClient

from nmt import __version__
from nmt.decoding.export import load_translator
from nmt.serve.app import create_app
from nmt.serve.settings import Settings
from nmt.viz.pieces import merge_pieces

LIMITS = dict(max_chars=50, max_texts=4, max_body=2000, max_beam=4, timeout=20.0)


@pytest.fixture(scope="module")
def translator(tiny_model_dir):
    return load_translator(tiny_model_dir)


@pytest.fixture(scope="module")
def client(translator, tiny_model_dir):
    app = create_app(translator, [str(tiny_model_dir)], Settings(**LIMITS))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def post(client, body, path="/translate"):
    return client.post(path, json=body)


def test_one_text_gives_what_the_translator_gives(client, translator):
    response = post(client, {"text": "Thank you."})
    assert response.status_code == 200
    body = response.json()
    assert (body["beam"], body["n_best"], body["words"]) == (1, 1, False)
    [out] = body["translations"]
    [expected] = translator.translate(["Thank you."], 1, 1)
    assert out["text"] == expected.text and out["source"] == "Thank you."
    assert out["src_tokens"] == expected.src_tokens and out["truncated"] is False
    [h] = out["hypotheses"]
    assert h["tgt_tokens"] == expected.tgt_tokens
    assert h["score"] == pytest.approx(expected.score, abs=1e-5)
    assert "attention" not in h  # only when asked


def test_attention_has_a_row_per_target_and_a_column_per_source_token(client):
    body = post(client, {"texts": ["Machine Learning", "Good morning."], "attention": True}).json()
    for out in body["translations"]:
        for h in out["hypotheses"]:
            weights = np.asarray(h["attention"])
            assert weights.shape == (len(h["tgt_tokens"]), len(out["src_tokens"]))
            np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-3)


def test_words_merge_the_pieces_as_nmt_plot_does(client, translator):
    text = "Where is the station?"
    body = post(client, {"text": text, "attention": True, "words": True}).json()
    [out] = body["translations"]
    [expected] = translator.translate([text], 1, 1)
    merged, src_words, tgt_words = merge_pieces(
        expected.attention, expected.src_tokens, expected.tgt_tokens
    )
    assert out["src_tokens"] == src_words and out["hypotheses"][0]["tgt_tokens"] == tgt_words
    np.testing.assert_allclose(out["hypotheses"][0]["attention"], merged, atol=1e-4)
    assert body["words"] is True


def test_n_best_gives_the_translators_n_best_list(client, translator):
    body = post(client, {"text": "Artificial Intelligence", "beam": 4, "n_best": 3}).json()
    assert (body["beam"], body["n_best"]) == (4, 3)
    hypotheses = body["translations"][0]["hypotheses"]
    [expected] = translator.translate(["Artificial Intelligence"], 4, 3)
    assert len(hypotheses) == len(expected.hypotheses) == 3
    assert len({tuple(h["tgt_tokens"]) for h in hypotheses}) == 3
    for got, want in zip(hypotheses, expected.hypotheses, strict=True):
        assert got["text"] == want.text and got["tgt_tokens"] == want.tgt_tokens
        assert got["score"] == pytest.approx(want.score, abs=1e-5)
    scores = [h["score"] for h in hypotheses]
    assert scores == sorted(scores, reverse=True)


def test_blank_text_gives_a_blank_translation(client):
    body = post(client, {"texts": ["  ", "Thank you."], "attention": True, "words": True}).json()
    blank = body["translations"][0]
    assert blank["text"] == "" and blank["hypotheses"][0]["tgt_tokens"] == []


@pytest.mark.parametrize(
    "body, status, words",
    [
        ({}, 422, "either"),
        ({"text": "a", "texts": ["b"]}, 422, "either"),
        ({"texts": []}, 422, "no texts"),
        ({"texts": ["a"] * 5}, 422, "at most 4"),
        ({"text": "x" * 51}, 422, "at most 50"),
        ({"text": 3}, 422, "text: Input should be a valid string"),
        ({"texts": ["a", 2]}, 422, "texts[1]"),
        ({"texts": "a"}, 422, "texts"),
        ({"text": "a", "beam": "4"}, 422, "beam"),
        ({"text": "a", "beam": 0}, 422, "beam must be between 1 and 4"),
        ({"text": "a", "beam": 5}, 422, "beam must be between 1 and 4"),
        ({"text": "a", "beam": 2, "n_best": 3}, 422, "n_best must be between 1 and the beam"),
        ({"text": "a", "n_best": 0}, 422, "n_best"),
        ({"text": "a", "attention": "yes"}, 422, "attention"),
        ({"text": "a", "txt": "b"}, 422, "txt: Extra inputs are not permitted"),
        ({"text": "a", "prefix": ["b"]}, 422, 'give "prefix" as a string with "text"'),
        ({"texts": ["a"], "prefix": "b"}, 422, 'give "prefix" as a string with "text"'),
        ({"texts": ["a", "b"], "prefix": ["c"]}, 422, "2 texts but 1 prefixes"),
        ({"text": "a", "prefix": "x" * 51}, 422, "prefix 0 has 51 characters"),
        ({"text": "a", "prefix": 3}, 422, "prefix"),
        ({"text": "a", "alignments": 1}, 422, "alignments"),
        (["a"], 422, 'the body must be a JSON object such as {"text": "..."}'),
        (None, 422, "no JSON body"),
    ],
)
def test_bad_requests_get_a_readable_4xx(client, body, status, words):
    response = post(client, body)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]


@pytest.mark.parametrize(
    "content, status, words",
    [
        (b'{"text": "unclosed', 400, "not valid JSON"),
        (b"", 422, "no JSON body"),
        (b"\xff\xfe", 400, "not valid JSON"),
        (json.dumps({"texts": ["a" * 40] * 60}).encode(), 413, "larger than 2000 bytes"),
    ],
)
def test_malformed_bodies_get_a_readable_4xx(client, content, status, words):
    headers = {"Content-Type": "application/json"}
    response = client.post("/translate", content=content, headers=headers)
    assert response.status_code == status, response.text
    assert words in response.json()["error"]


def test_a_body_that_is_not_json_says_so(client):
    response = client.post("/translate", content=b"text=a", headers={"Content-Type": "text/plain"})
    assert response.status_code == 422
    assert "Content-Type: application/json" in response.json()["error"]


def test_a_chunked_body_over_the_limit_is_refused(client):
    def chunks():
        for _ in range(30):
            yield b" " * 100

    response = client.post(
        "/translate", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413 and "larger than" in response.json()["error"]


def test_wrong_method_and_path_are_4xx_json(client):
    assert client.get("/translate").status_code == 405
    response = client.get("/nowhere")
    assert response.status_code == 404 and response.json() == {"error": "Not Found"}


def test_the_server_answers_after_bad_requests(client):
    for body in ({"texts": []}, {"text": 1}, {"text": "a", "beam": 99}):
        assert post(client, body).status_code == 422
    assert post(client, {"text": "Thank you."}).status_code == 200


def test_opennmt_format_field_by_field(client, translator):
    inputs = [{"src": "Thank you.", "id": 100}, {"src": "Good morning.", "id": 100}]
    response = post(client, inputs, "/translator/translate")
    assert response.status_code == 200
    out = response.json()
    # One list per n-best rank (the server's n_best: 1), each with one entry per input.
    assert isinstance(out, list) and len(out) == 1 and len(out[0]) == 2
    expected = translator.translate([i["src"] for i in inputs], 1, 1)
    for entry, item, result in zip(out[0], inputs, expected):
        assert set(entry) == {"src", "tgt", "n_best", "pred_score", "align"}
        assert entry["src"] == item["src"] and entry["tgt"] == result.text
        assert entry["n_best"] == 1
        assert entry["pred_score"] == pytest.approx(result.score, abs=1e-5)
        [align] = entry["align"]  # one Pharaoh string per segment
        pairs = [tuple(map(int, pair.split("-"))) for pair in align.split()]
        _, src_words, tgt_words = merge_pieces(
            result.attention, result.src_tokens, result.tgt_tokens
        )
        # Every target word but </s> once, each to a source word but </s>.
        assert sorted(t for _, t in pairs) == list(range(len(tgt_words) - 1))
        assert all(0 <= s < len(src_words) - 1 for s, _ in pairs)
        assert pairs == sorted(pairs)


def test_opennmt_format_blank_input_and_errors(client):
    out = post(client, [{"src": ""}], "/translator/translate").json()
    assert out == [[{"src": "", "tgt": "", "n_best": 1, "pred_score": 0.0}]]
    cases = [([], "no texts"), ([{"id": 1}], "[0].src: Field required"),
             ({"src": "a"}, "must be a JSON list"), ([{"src": 5}], "[0].src")]  # fmt: skip
    for body, words in cases:
        response = post(client, body, "/translator/translate")
        assert response.status_code == 422 and words in response.json()["error"], response.text


def test_health_and_models(client, tiny_model_dir, translator):
    health = client.get("/health").json()
    assert health["status"] == "ok" and health["batcher_alive"] is True
    assert health["pending"] == 0 and health["max_pending"] == Settings().max_pending
    assert health["version"] == __version__
    models = client.get("/models").json()
    config = translator.config
    # Named by directory: where the model sits on the server is not the client's business.
    assert models["models"] == [tiny_model_dir.name] and models["ensemble_size"] == 1
    assert str(tiny_model_dir.parent) not in json.dumps(models)
    assert models["tgt_vocab_size"] == config.model.tgt_vocab_size
    assert models["src_vocab_size"] == config.model.src_vocab_size
    assert models["decode"]["beam_size"] == config.decode.beam_size
    assert models["server"]["max_texts"] == 4 and models["server"]["beam"] == 1


def test_the_page_and_its_assets_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for asset, kind in (("page.js", "javascript"), ("page.css", "text/css")):
        assert f"/page/{asset}" in page.text
        response = client.get(f"/page/{asset}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
    assert "Noto Sans CJK KR" in client.get("/page/page.css").text
    font = client.get("/page/cjk-font")
    assert font.status_code == 200 and len(font.content) > 100_000


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_openapi_docs_load_nothing_from_the_internet(client, page):
    html = client.get(page)
    assert html.status_code == 200
    sources = re.findall(r'(?:src|href)=["\']([^"\']+)', html.text)
    assert sources and not [s for s in sources if "//" in s], sources  # same origin only
    for source in sources:
        assert client.get(source).status_code == 200, source
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/translate", "/translator/translate", "/health", "/models"} <= set(paths)


def test_serve_refuses_bad_options_in_one_line(tiny_model_dir, capsys):
    from nmt.cli import main

    assert main(["serve", "--model", str(tiny_model_dir), "--beam", "2", "--n-best", "3"]) == 2
    assert "nmt: error: n-best (3) cannot exceed the beam size (2)" in capsys.readouterr().err


def test_models_gives_full_paths_when_the_operator_asks(translator, tiny_model_dir):
    app = create_app(translator, [str(tiny_model_dir)], Settings(model_paths=True))
    with TestClient(app) as client:
        assert client.get("/models").json()["models"] == [str(tiny_model_dir)]


def test_the_favicon_is_served_not_a_404(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("image/svg+xml")
    assert b"<svg" in response.content
    assert '<link rel="icon"' in client.get("/").text


class _Poisoned:
    """The tiny model's translator, failing (as a TensorFlow op would, naming a file on
    the server) on any batch that holds the text ``POISON``."""

    def __init__(self, translator):
        self._translator = translator
        self.config = translator.config

    def translate(self, texts, *args, **kwargs):
        if "POISON" in texts:
            raise RuntimeError("/srv/secret/models/kernel.cc:42: shape mismatch in op")
        return self._translator.translate(texts, *args, **kwargs)


def test_an_internal_error_answers_a_request_id_and_logs_the_detail(translator, capsys):
    app = create_app(_Poisoned(translator), ["m"], Settings(**LIMITS))
    with TestClient(app, raise_server_exceptions=False) as client:
        capsys.readouterr()
        response = post(client, {"text": "POISON"})
        assert response.status_code == 500
        body = response.json()
        assert "/srv/secret" not in response.text and "RuntimeError" not in response.text
        request_id = body["request_id"]
        assert len(request_id) == 12 and request_id in body["error"]
        log = capsys.readouterr().err
        assert f"request {request_id} failed" in log and "/srv/secret/models/kernel.cc" in log
        assert post(client, {"text": "Thank you."}).status_code == 200


def test_health_is_503_once_the_batcher_has_stopped(translator):
    app = create_app(translator, ["m"], Settings(**LIMITS))
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get("/health").status_code == 200
        # The batcher's task ends as a crash would end it.
        client.portal.call(app.state.batcher.stop)
        response = client.get("/health")
        assert response.status_code == 503
        assert response.json()["status"] == "unavailable"
        assert response.json()["batcher_alive"] is False


def test_a_request_for_too_many_attention_weights_is_refused_before_decoding(translator):
    # Within every other limit: 4 texts of 50 characters, n-best 4, attention on; each
    # hypothesis up to a·s + b rows of s weights, s the tokens 50 characters may be.
    config = translator.config
    texts = ["a" * 50] * 4
    s = min(51, config.data.max_src_len)
    asked = 4 * 4 * math.ceil(config.decode.max_len_a * s + config.decode.max_len_b) * s
    app = create_app(translator, ["m"], Settings(**LIMITS, max_attention=asked - 1))
    with TestClient(app, raise_server_exceptions=False) as client:
        body = {"texts": texts, "beam": 4, "n_best": 4, "attention": True}
        response = post(client, body)
        assert response.status_code == 422, response.text
        assert f"up to {asked:,} attention weights" in response.json()["error"]
        assert app.state.batcher.stats.requests == 0  # refused before any decoding
        # Without attention, or with fewer hypotheses, the same texts are served.
        assert post(client, {**body, "attention": False}).status_code == 200
        assert post(client, {**body, "n_best": 1, "texts": texts[:1]}).status_code == 200


def test_a_prefix_counts_in_the_attention_bound(translator):
    """A prefix is forced whatever the source's length: its rows count too, one per UTF-8
    byte at most (byte fallback) plus a word start, then max_len_b more."""
    config, prefix = translator.config, "가" * 40
    s = len(b"a") + 1
    plain = 4 * math.ceil(config.decode.max_len_a * s + config.decode.max_len_b) * s
    forced = 4 * (len(prefix.encode()) + 1 + config.decode.max_len_b) * s
    assert plain < forced
    app = create_app(translator, ["m"], Settings(**LIMITS, max_attention=forced - 1))
    with TestClient(app, raise_server_exceptions=False) as client:
        one = {"text": "a", "beam": 4, "n_best": 4, "attention": True}
        assert post(client, one).status_code == 200
        response = post(client, {**one, "prefix": prefix})
        assert response.status_code == 422, response.text
        assert f"up to {forced:,} attention weights" in response.json()["error"]


@pytest.mark.parametrize("beam, n_best", [(1, 1), (4, 3)])
def test_a_prefix_starts_every_hypothesis_as_the_translator_continues_it(
    client, translator, beam, n_best
):
    texts, prefixes = ["Where is the station?", "Thank you."], ["역은 어디", ""]
    body = {"texts": texts, "prefix": prefixes, "beam": beam, "n_best": n_best}
    response = post(client, {**body, "attention": True})
    assert response.status_code == 200, response.text
    expected = translator.translate(texts, beam, n_best, prefixes=prefixes)
    for out, want, prefix in zip(response.json()["translations"], expected, prefixes, strict=True):
        assert out["prefix"] == prefix
        forced = translator.tgt_tok.tokenize([prefix], add_eos=False).to_list()[0]
        assert out["prefix_tokens"] == want.prefix_length == len(forced)
        assert [h["text"] for h in out["hypotheses"]] == [h.text for h in want.hypotheses]
        for h in out["hypotheses"]:
            assert h["text"].startswith(prefix)
            assert len(h["attention"]) == len(h["tgt_tokens"])
    one = post(client, {"text": texts[0], "prefix": prefixes[0], "beam": beam, "n_best": n_best})
    assert one.json()["translations"][0]["text"] == expected[0].text


def test_prefix_tokens_count_words_when_the_tokens_are_words(client):
    body = post(client, {"text": "Where is the station?", "prefix": "역은 어디", "words": True})
    out = body.json()["translations"][0]
    # "역은 어디" begins two words; the second may go on in the continuation.
    assert out["prefix_tokens"] == 2
    assert "".join(out["hypotheses"][0]["tgt_tokens"][:2]).startswith("역은어디")


def test_alignments_and_coverage_are_read_from_the_attention(client, translator):
    text = "Where is the station?"
    body = post(client, {"text": text, "alignments": True, "beam": 2, "n_best": 2}).json()
    [out] = body["translations"]
    [expected] = translator.translate([text], 2, 2)
    for h, want in zip(out["hypotheses"], expected.hypotheses, strict=True):
        merged, src_words, tgt_words = merge_pieces(
            want.attention, expected.src_tokens, want.tgt_tokens
        )
        # Independent of nmt.viz.links: </s> is the last word on both sides here.
        assert out["src_words"] == src_words[:-1] and h["tgt_words"] == tgt_words[:-1]
        real = merged[:-1, :-1]
        links = [(int(real[j].argmax()), j) for j in range(len(real)) if real[j].max() >= 0.2]
        assert h["alignment"] == " ".join(f"{i}-{j}" for i, j in sorted(links))
        # Coverage: each source word's weight summed over the target pieces but </s>.
        pieces = np.asarray(want.attention)[:-1]
        word_of_piece, word = [], -1
        for piece in expected.src_tokens:
            word += piece.startswith("\u2581") or piece == "</s>" or word < 0
            word_of_piece.append(word)
        coverage = [
            pieces[:, np.asarray(word_of_piece) == k].sum() for k in range(len(src_words) - 1)
        ]
        np.testing.assert_allclose(h["coverage"], coverage, atol=1e-4)
        assert all(0 <= k < len(src_words) - 1 for k in h["uncovered"])
    plain = post(client, {"text": text}).json()["translations"][0]["hypotheses"][0]
    assert "alignment" not in plain and len(plain["coverage"]) == len(out["src_words"])
