"""The two on-disk forms of a parallel corpus, TSV and Moses, read into sentence pairs.

A TSV file (Tatoeba/Anki) holds ``english<TAB>korean`` lines; a Moses pair is two files
whose line i translate each other. Both are read as bytes and split on ``\\n`` before
decoding, so an error names the file and line a person has to fix. Every sentence is
stripped of surrounding whitespace and normalized to Unicode NFC, so that the same
Hangul typed as precomposed syllables or as separate jamo maps to the same tokens.

The readers here return plain lists; ``nmt.data.corpus`` wraps them in a ``Corpus``.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from nmt.errors import NmtError

Pairs = tuple[list[str], list[str], int]
"""``(sources, targets, skipped)``: aligned sentences and the malformed lines skipped."""

_BOM = b"\xef\xbb\xbf"
_EXPECTED = 'expected "english<TAB>korean"'
_FIX = "fix the line or pass --skip-bad-lines"


def tsv_pairs(path: str | os.PathLike, *, skip_bad_lines: bool = False) -> Pairs:
    """Reads ``english<TAB>korean`` lines; later columns (Anki attribution) are ignored.

    Blank lines are skipped silently. A leading BOM and CRLF line ends are accepted.

    Args:
        path: The TSV file, UTF-8.
        skip_bad_lines: Skip and count malformed lines instead of raising.

    Returns:
        The pairs in file order, possibly none.

    Raises:
        NmtError: The file is missing or unreadable, or has a malformed line (no tab,
            an empty side, bytes that are not UTF-8) and ``skip_bad_lines`` is false.
    """
    src, tgt, skipped = [], [], 0
    for lineno, line, problem in _lines(path):
        if problem is None and not line.strip():
            continue
        if problem is None:
            s, t, problem = _split_tsv_line(line)
        if problem is None:
            src.append(s)
            tgt.append(t)
        elif skip_bad_lines:
            skipped += 1
        else:
            raise NmtError(f"{path}:{lineno}: {problem}")
    return src, tgt, skipped


def moses_pairs(
    src_path: str | os.PathLike, tgt_path: str | os.PathLike, *, skip_bad_lines: bool = False
) -> Pairs:
    """Reads two line-aligned files: line i of ``src_path`` translates line i of ``tgt_path``.

    Lines blank on both sides are skipped silently; a line blank on one side only
    is malformed, since it usually means the files slipped out of alignment.

    Args:
        src_path: Source sentences, one per line, UTF-8.
        tgt_path: Target sentences, one per line, UTF-8.
        skip_bad_lines: Skip and count malformed lines instead of raising.

    Returns:
        The pairs in file order, possibly none.

    Raises:
        NmtError: A file is missing or unreadable, the line counts differ, or a line
            is malformed and ``skip_bad_lines`` is false.
    """
    src_lines = list(_lines(src_path))
    tgt_lines = list(_lines(tgt_path))
    if len(src_lines) != len(tgt_lines):
        raise NmtError(
            f"{src_path} has {len(src_lines)} lines but {tgt_path} has {len(tgt_lines)}; "
            "Moses files must be aligned line by line"
        )
    src, tgt, skipped = [], [], 0
    for (lineno, s, s_problem), (_, t, t_problem) in zip(src_lines, tgt_lines, strict=True):
        s, t = _clean(s), _clean(t)
        if s_problem is not None:
            error = f"{src_path}:{lineno}: {s_problem}"
        elif t_problem is not None:
            error = f"{tgt_path}:{lineno}: {t_problem}"
        elif not s and not t:
            continue
        elif not s or not t:
            empty, other = (src_path, tgt_path) if not s else (tgt_path, src_path)
            error = f"{empty}:{lineno}: empty line but {other}:{lineno} is not; {_FIX}"
        else:
            src.append(s)
            tgt.append(t)
            continue
        if not skip_bad_lines:
            raise NmtError(error)
        skipped += 1
    return src, tgt, skipped


def is_moses(
    path: str | os.PathLike | None, src: str | os.PathLike | None, tgt: str | os.PathLike | None
) -> bool:
    """Tells Moses files from a TSV path, raising unless exactly one existing corpus is named.

    Args:
        path: A TSV file or split directory, or None.
        src: A Moses source file, or None.
        tgt: A Moses target file, or None.

    Returns:
        True for a Moses pair (``src`` and ``tgt``), False for an existing ``path``.

    Raises:
        NmtError: Both or neither kind is given, only one Moses file is, or ``path``
            does not exist.
    """
    if path is not None:
        if src is not None or tgt is not None:
            raise NmtError("give either a corpus path or --src/--tgt Moses files, not both")
        if not Path(path).exists():
            raise NmtError(f"no such file or directory: {path}")
        return False
    if src is None and tgt is None:
        raise NmtError("no corpus given: pass a TSV file or directory, or --src and --tgt")
    if src is None or tgt is None:
        raise NmtError("Moses corpora need both --src and --tgt")
    return True


def _lines(path: str | os.PathLike) -> Iterator[tuple[int, str, str | None]]:
    """Yields ``(lineno, text, problem)``; ``problem`` is set when a line is not UTF-8.

    The file is split on b"\\n" before decoding so that a bad byte is reported
    with its line, and so that U+2028 and other characters ``str.splitlines``
    treats as line ends stay inside their line and keep line numbers honest.
    """
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise NmtError(f"no such file or directory: {path}") from None
    except IsADirectoryError:
        raise NmtError(f"{path}: is a directory, expected a file") from None
    except OSError as exc:
        raise NmtError(f"cannot read {path}: {exc.strerror}") from None
    data = data.removeprefix(_BOM)
    raw_lines = data.split(b"\n")
    if raw_lines[-1] == b"":  # the newline ending the last line does not start another
        raw_lines.pop()
    for lineno, raw in enumerate(raw_lines, start=1):
        raw = raw.removesuffix(b"\r")
        try:
            yield lineno, raw.decode("utf-8"), None
        except UnicodeDecodeError as exc:
            problem = (
                f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1}); "
                "re-save the file as UTF-8 or pass --skip-bad-lines"
            )
            yield lineno, "", problem


def _split_tsv_line(line: str) -> tuple[str, str, str | None]:
    """Returns ``(source, target, problem)``; ``problem`` says what is wrong, if anything."""
    fields = line.split("\t")
    if len(fields) < 2:
        return "", "", f"no tab between source and target ({_EXPECTED}); {_FIX}"
    s, t = _clean(fields[0]), _clean(fields[1])
    if not s:
        return s, t, f"empty source sentence before the tab ({_EXPECTED}); {_FIX}"
    if not t:
        return s, t, f"empty target sentence after the tab ({_EXPECTED}); {_FIX}"
    return s, t, None


def _clean(sentence: str) -> str:
    return unicodedata.normalize("NFC", sentence.strip())
