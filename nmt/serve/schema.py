"""What the server accepts and returns: request models, their limits, and JSON builders.

Types are strict (``"beam": "4"`` is an error, not a 4) and unknown fields are refused,
so a client's typo gets a message instead of a silently ignored option. The limits are
checked here, in plain code, because they come from the command line.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

from nmt.decoding.translation import Hypothesis, Translation
from nmt.serve.settings import Settings
from nmt.viz.links import format_pharaoh, hypothesis_fields, word_links
from nmt.viz.pieces import merge_pieces, piece_words


class RequestError(Exception):
    """A request the server refuses; ``status`` is the HTTP status (4xx) to answer with."""

    def __init__(self, message: str, status: int = 422, headers: dict | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers


class TranslateRequest(BaseModel):
    """``POST /translate``: one ``text`` or a list of ``texts``, and search options."""

    model_config = ConfigDict(extra="forbid")

    text: StrictStr | None = Field(None, description="one sentence (or use texts)")
    texts: list[StrictStr] | None = Field(None, description="several sentences")
    beam: StrictInt | None = Field(None, description="beam size; 1 is greedy search")
    n_best: StrictInt | None = Field(None, description="hypotheses per sentence, <= beam")
    prefix: StrictStr | list[StrictStr] | None = Field(
        None,
        description="the start every translation must have, which the model continues: "
        'a string with text, a list of one per text ("" for none) with texts',
    )
    attention: StrictBool = Field(False, description="include each hypothesis's attention")
    words: StrictBool = Field(False, description="merge subword pieces into words")
    alignments: StrictBool = Field(
        False, description='include Pharaoh word alignments ("src-tgt" word indices)'
    )


class OnmtItem(BaseModel):
    """One element of an OpenNMT-py ``/translator/translate`` request."""

    model_config = ConfigDict(extra="allow")  # OpenNMT-py clients may send more fields

    src: StrictStr
    id: StrictInt | None = None


class HypothesisOut(BaseModel):
    text: str
    score: float
    log_prob: float
    tgt_tokens: list[str]
    attention: list[list[float]] | None = Field(
        None, description="(target tokens) x (source tokens); each row sums to 1"
    )
    coverage: list[float] = Field(
        description="attention each source word (src_words) received over the translation"
    )
    uncovered: list[int] = Field(
        description="src_words far below the others in coverage: possibly left untranslated"
    )
    alignment: str | None = Field(
        None, description='with alignments: Pharaoh "src-tgt" links of src_words to tgt_words'
    )
    tgt_words: list[str] | None = Field(None, description="with alignments: the target words")


class TranslationOut(BaseModel):
    source: str
    text: str = Field(description="the best hypothesis's text")
    src_tokens: list[str]
    src_words: list[str] = Field(description="the source words, without </s>")
    prefix: str = Field(description="the start every hypothesis was given")
    prefix_tokens: int = Field(
        description="how many of each hypothesis's first tgt_tokens the prefix forced"
    )
    truncated: bool
    hypotheses: list[HypothesisOut]


class TranslateResponse(BaseModel):
    translations: list[TranslationOut]
    beam: int
    n_best: int
    words: bool


class OnmtResult(BaseModel):
    src: str
    tgt: str
    n_best: int
    pred_score: float
    align: list[str] | None = Field(
        None, description='word alignment as Pharaoh "src-tgt" pairs, one string per segment'
    )


class ErrorOut(BaseModel):
    error: str
    request_id: str | None = None  # a 500's: the server's log has the detail under it


def request_texts(request: TranslateRequest, settings: Settings) -> list[str]:
    """The request's texts, once they are within the limits; raises ``RequestError``."""
    if (request.text is None) == (request.texts is None):
        raise RequestError('give either "text" (a string) or "texts" (a list of strings)')
    texts = [request.text] if request.texts is None else request.texts
    check_texts(texts, settings)
    return texts


def check_texts(texts: list[str], settings: Settings) -> None:
    """Raises ``RequestError`` for no texts, too many, or one too long."""
    if not texts:
        raise RequestError("the request holds no texts; send at least one")
    if len(texts) > settings.max_texts:
        raise RequestError(
            f"{len(texts)} texts in one request; at most {settings.max_texts} are allowed"
        )
    for i, text in enumerate(texts):
        if len(text) > settings.max_chars:
            raise RequestError(
                f"text {i} has {len(text)} characters; at most {settings.max_chars} are allowed"
            )


def search_options(
    beam: int | None, n_best: int | None, settings: Settings, vocab_size: int
) -> tuple[int, int]:
    """``(beam, n_best)`` of a request, defaults filled in; raises ``RequestError``."""
    beam = settings.beam if beam is None else beam
    # A request that raises only the beam still gets the server's n-best, if it fits.
    n_best = min(settings.n_best, beam) if n_best is None else n_best
    top = min(settings.max_beam, vocab_size)
    if not 1 <= beam <= top:
        raise RequestError(f"beam must be between 1 and {top}, got {beam}")
    if not 1 <= n_best <= beam:
        raise RequestError(f"n_best must be between 1 and the beam ({beam}), got {n_best}")
    return beam, n_best


def check_attention_work(
    texts: list[str], n_best: int, config, settings: Settings, prefixes: list[str] | None = None
) -> None:
    """Raises ``RequestError`` (422) when the attention weights a request may get back
    exceed ``settings.max_attention``: each hypothesis of a text carries up to
    ``a·s + b`` rows of ``s`` weights, ``s`` its source tokens (at most one a UTF-8 byte,
    with byte fallback, plus EOS, and at most ``max_src_len``) and ``a``, ``b`` the decode
    length limit; with a prefix of ``p`` tokens (at most its bytes, plus a word start),
    at least ``p + b`` rows."""
    d = config.decode
    cells = 0
    for i, text in enumerate(texts):
        s = min(len(text.encode("utf-8")) + 1, config.data.max_src_len)
        rows = math.ceil(d.max_len_a * s + d.max_len_b)
        if prefixes and prefixes[i]:
            rows = max(rows, len(prefixes[i].encode("utf-8")) + 1 + d.max_len_b)
        cells += n_best * rows * s
    if cells > settings.max_attention:
        raise RequestError(
            f"this request may return up to {cells:,} attention weights ({len(texts)} texts, "
            f"n_best {n_best}); at most {settings.max_attention:,} are allowed: send fewer or "
            "shorter texts, a smaller n_best, or no attention"
        )


def request_prefixes(request: TranslateRequest, texts: list[str], settings: Settings):
    """The request's prefixes, one per text, or ``None``; raises ``RequestError``."""
    prefix = request.prefix
    if prefix is None:
        return None
    if isinstance(prefix, str) != (request.texts is None):
        raise RequestError(
            'give "prefix" as a string with "text", or as a list of strings (one per text, '
            '"" for none) with "texts"'
        )
    prefixes = [prefix] if isinstance(prefix, str) else prefix
    if len(prefixes) != len(texts):
        raise RequestError(f"{len(texts)} texts but {len(prefixes)} prefixes; give one per text")
    for i, one in enumerate(prefixes):
        if len(one) > settings.max_chars:
            raise RequestError(
                f"prefix {i} has {len(one)} characters; at most {settings.max_chars} are allowed"
            )
    return prefixes


def translation_json(
    result: Translation, attention: bool, words: bool, alignments: bool = False, prefix: str = ""
) -> dict:
    """One ``TranslationOut`` as a dict; tokens (and weights) over words when ``words``."""
    hypotheses = []
    src_tokens, src_words = result.src_tokens, []
    prefix_tokens = result.prefix_length
    if words and prefix_tokens and result.tgt_tokens:
        # Counted in words, the unit of tgt_tokens then; a word the prefix began counts.
        prefix_tokens = len(set(piece_words(result.tgt_tokens)[0][:prefix_tokens].tolist()))
    for h in result.hypotheses:
        weights, src, tgt = h.attention, result.src_tokens, h.tgt_tokens
        out = {"text": h.text, "score": h.score, "log_prob": h.log_prob}
        words_of_source, fields = hypothesis_fields(weights, src, tgt, alignments)
        out.update(fields)
        src_words = words_of_source or src_words
        if words and src and tgt:
            weights, src, tgt = merge_pieces(weights, src, tgt)
        src_tokens = src if src else src_tokens
        out["tgt_tokens"] = tgt
        if attention:
            out["attention"] = np.round(np.asarray(weights, float), 5).tolist()
        hypotheses.append(out)
    return {
        "source": result.source,
        "text": result.text,
        "src_tokens": src_tokens,
        "src_words": src_words,
        "prefix": prefix,
        "prefix_tokens": prefix_tokens,
        "truncated": result.truncated,
        "hypotheses": hypotheses,
    }


def onmt_json(items: list[OnmtItem], results: list[Translation], n_best: int) -> list[list]:
    """OpenNMT-py's ``/translate`` response: ``n_best`` lists, the k-th holding every
    input's k-th best hypothesis, in input order.

    A sentence with fewer hypotheses than ``n_best`` (the search found fewer within the
    length limit) is padded with empty ones scored 0, as OpenNMT-py answers blank input.
    """
    out: list[list] = [[] for _ in range(n_best)]
    for item, result in zip(items, results):
        for k in range(n_best):
            h = result.hypotheses[k] if k < len(result.hypotheses) else None
            entry = {
                "src": item.src,
                "tgt": h.text if h else "",
                "n_best": n_best,
                "pred_score": h.score if h else 0.0,
            }
            if h is not None and h.tgt_tokens and result.src_tokens:
                entry["align"] = [pharaoh(h, result.src_tokens)]
            out[k].append(entry)
    return out


def pharaoh(h: Hypothesis, src_tokens: list[str]) -> str:
    """The hypothesis's word alignment as OpenNMT-py writes it: each target word linked
    to the source word it attended to most (no threshold), ``</s>`` left out."""
    return format_pharaoh(word_links(h.attention, src_tokens, h.tgt_tokens, min_weight=0.0))
