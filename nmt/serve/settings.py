"""The server's settings, in a module of their own: ``nmt serve``'s flags take their
defaults from here without loading the server (FastAPI, pydantic, TensorFlow)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace


@dataclass
class Settings:
    """The server's decoding defaults, limits and batching, from ``nmt serve``'s flags.

    ``beam`` and ``n_best`` are what a request that names neither gets, and what every
    OpenNMT-py-format request gets (that format has no per-request search options).
    ``None`` (for them, ``length_penalty`` and ``no_repeat_ngram``) stands for the model's
    ``decode`` config; ``resolved`` fills in the first three.
    """

    beam: int | None = None
    n_best: int | None = None
    length_penalty: float | None = None
    no_repeat_ngram: int | None = None
    max_chars: int = 2000  # characters per text
    max_texts: int = 64  # texts per request
    max_body: int = 1 << 20  # bytes per request body
    max_beam: int = 16
    # Attention weights one response may carry (texts × n-best × target × source tokens,
    # bounded from the characters): 4 M is about 40 MB of JSON.
    max_attention: int = 4_000_000
    timeout: float = 30.0  # seconds a request may wait for its translation
    max_batch: int = 32  # sentences per batch of the search
    batch_window_ms: float = 5.0  # how long the first request of a batch waits for others
    # Sentences queued at once before requests are turned away with 503 (and sooner when
    # the rate of the last batches says they could not be answered within the timeout).
    max_pending: int = 1024
    model_paths: bool = False  # /models gives the models' full paths, not their names

    def resolved(self, decode) -> Settings:
        """A copy with the model's ``DecodeConfig`` in place of each ``None``."""
        beam = decode.beam_size if self.beam is None else self.beam
        n_best = min(decode.n_best, beam) if self.n_best is None else self.n_best
        alpha = decode.length_penalty if self.length_penalty is None else self.length_penalty
        return replace(self, beam=beam, n_best=n_best, length_penalty=alpha)

    def to_json(self) -> dict:
        return asdict(self)
