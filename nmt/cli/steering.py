"""What steers a translation or reads it: prefixes, forced targets, word alignments.

Shared by ``nmt translate`` and ``nmt plot``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from nmt.errors import NmtError


def add_steering(p: argparse.ArgumentParser) -> None:
    """``--prefix``, ``--prefix-file`` and ``--target``, which exclude one another."""
    group = p.add_mutually_exclusive_group()
    group.add_argument(
        "--prefix", metavar="TEXT",
        help="the start every translation must have; the model continues it (a prefix "
        "that ends mid-word can continue that word)",
    )  # fmt: skip
    group.add_argument(
        "--prefix-file", metavar="FILE",
        help="one prefix per input, line by line (an empty line: none)",
    )  # fmt: skip
    group.add_argument(
        "--target", metavar="TEXT", action="append",
        help="instead of searching, score this translation and show its attention "
        "(forced decoding); once per input",
    )  # fmt: skip


def steering(args: argparse.Namespace, count: int) -> tuple[list[str] | None, list[str] | None]:
    """``(prefixes, targets)`` for ``count`` inputs, each ``None`` when not given."""
    if args.target is not None:
        if len(args.target) != count:
            raise NmtError(
                f"--target given {len(args.target)} times for {count} inputs; give one per input"
            )
        if (args.beam or 1) > 1 or (getattr(args, "n_best", None) or 1) > 1:
            raise NmtError("--target scores the given translation: drop --beam and --n-best")
        return None, list(args.target)
    if args.prefix is not None:
        return [args.prefix] * count, None
    if args.prefix_file is not None:
        prefixes = _lines(Path(args.prefix_file))
        if len(prefixes) != count:
            raise NmtError(
                f"{args.prefix_file}: {len(prefixes)} lines for {count} inputs; give one "
                "prefix per input (an empty line for none)"
            )
        return prefixes, None
    return None, None


def _lines(path: Path) -> list[str]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise NmtError(f"{path}: cannot read the prefix file: {exc.strerror}") from None
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    out = []
    for number, line in enumerate(lines, 1):
        try:
            out.append(line.decode("utf-8").rstrip("\r"))
        except UnicodeDecodeError:
            raise NmtError(f"{path}:{number}: not UTF-8 text") from None
    return out


def decode(translator, texts: list[str], args, prefixes, targets, progress=None):
    """The translations ``args`` ask for: forced targets, or a search (with prefixes)."""
    if targets is not None:
        return translator.force(texts, targets, progress=progress)
    return translator.translate(
        texts, args.beam, args.n_best, args.length_penalty, progress=progress, prefixes=prefixes
    )


def alignment_suffix(result, hypothesis, alignments: bool) -> str:
    """``" ||| 0-0 1-2"`` (the Pharaoh alignment, as OpenNMT-py's -report_align writes it
    after a translation), or "" when not asked for."""
    if not alignments:
        return ""
    from nmt.viz.links import format_pharaoh, word_links

    return " ||| " + format_pharaoh(
        word_links(hypothesis.attention, result.src_tokens, hypothesis.tgt_tokens)
    )


def with_words(result, alignments: bool) -> dict:
    """``result.to_json()`` with ``src_words`` and, for each hypothesis, its ``coverage``
    and ``uncovered`` source words (plus ``alignment`` and ``tgt_words`` if asked for)."""
    from nmt.viz.links import hypothesis_fields

    out = result.to_json()
    # The best hypothesis's fields are at the top, and again in nbest when there are several.
    entries, hypotheses = [out, *out.get("nbest", [])], [result.best]
    hypotheses += result.hypotheses if "nbest" in out else []
    out["src_words"] = []
    for entry, hypothesis in zip(entries, hypotheses, strict=True):
        src_words, fields = hypothesis_fields(
            hypothesis.attention, result.src_tokens, hypothesis.tgt_tokens, alignments
        )
        out["src_words"] = src_words or out["src_words"]
        entry.update(fields)
    return out
