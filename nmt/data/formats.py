"""The two on-disk forms of a parallel corpus, TSV and Moses, read as streams of pairs.

A TSV file (Tatoeba/Anki) holds ``english<TAB>korean`` lines; a Moses pair is two files
whose line i translate each other. Either may be gzip-compressed (a name ending in
``.gz``). Lines are split on ``\\n`` before decoding, so an error names the file and line
a person has to fix. Every sentence is stripped of surrounding whitespace and normalized
to Unicode NFC, so that the same Hangul typed as precomposed syllables or as separate
jamo maps to the same tokens.

`PairReader` streams the pairs from any byte position, which is what lets a corpus far
larger than memory be read a chunk at a time (``nmt.data.scan``); `tsv_pairs` and
`moses_pairs` read whole files into lists, which ``nmt.data.corpus`` wraps in a ``Corpus``.
"""

from __future__ import annotations

import gzip
import io
import itertools
import os
import unicodedata
import zlib
from collections.abc import Iterator
from pathlib import Path

from nmt.errors import NmtError

Pairs = tuple[list[str], list[str], int]
"""``(sources, targets, skipped)``: aligned sentences and the malformed lines skipped."""

Position = tuple[tuple[int, ...], int]
"""Where a line starts: its uncompressed byte offset in each file, and its line number."""

START: Position = ((0,), 1)

_BOM = b"\xef\xbb\xbf"
_EXPECTED = 'expected "english<TAB>korean"'
_FIX = "fix the line or pass --skip-bad-lines"
_GZIP_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error)


class PairReader:
    """The sentence pairs of a TSV file or a Moses pair of files, in file order.

    Iterating yields ``(position, source, target)`` for every well-formed line, where
    ``position`` is where the line starts; blank lines are passed over silently and
    malformed ones raise or, with ``skip_bad_lines``, are counted in ``skipped``.

    Args:
        paths: One TSV file, or a Moses source file and its target file.
        skip_bad_lines: Skip and count malformed lines instead of raising.
        start: The position to read from, one that an earlier reader yielded.
    """

    def __init__(
        self,
        paths: tuple[str | os.PathLike, ...],
        *,
        skip_bad_lines: bool = False,
        start: Position | None = None,
    ):
        if len(paths) not in (1, 2):
            raise ValueError(f"a corpus is one TSV file or two Moses files, got {paths}")
        self.paths = tuple(paths)
        self.skip_bad_lines = skip_bad_lines
        self.start = start or ((0,) * len(paths), 1)
        self.skipped = 0

    def __iter__(self) -> Iterator[tuple[Position, str, str]]:
        (offsets, lineno) = self.start
        files = [_lines(p, o, lineno) for p, o in zip(self.paths, offsets, strict=True)]
        if len(files) == 1:
            for lineno, offset, text, problem in files[0]:
                if problem is None and not text.strip():
                    continue
                if problem is None:
                    s, t, problem = _split_tsv_line(text)
                if problem is None:
                    yield ((offset,), lineno), s, t
                else:
                    self._bad(f"{self.paths[0]}:{lineno}: {problem}")
            return
        yield from self._moses(*files)

    def _moses(self, src_lines, tgt_lines):
        src_path, tgt_path = self.paths
        for s_line, t_line in itertools.zip_longest(src_lines, tgt_lines):
            if s_line is None or t_line is None:
                # One file ended first: count what is left of the other for the message.
                lineno = (s_line or t_line)[0]
                longer = lineno + sum(1 for _ in src_lines) + sum(1 for _ in tgt_lines)
                s_count, t_count = (lineno - 1, longer) if s_line is None else (longer, lineno - 1)
                raise NmtError(
                    f"{src_path} has {s_count} lines but {tgt_path} has {t_count}; "
                    "Moses files must be aligned line by line"
                )
            (lineno, s_offset, s, s_problem), (_, t_offset, t, t_problem) = s_line, t_line
            s, t = _clean(s), _clean(t)
            if s_problem is not None:
                self._bad(f"{src_path}:{lineno}: {s_problem}")
            elif t_problem is not None:
                self._bad(f"{tgt_path}:{lineno}: {t_problem}")
            elif s and t:
                yield ((s_offset, t_offset), lineno), s, t
            elif s or t:
                empty, other = (src_path, tgt_path) if not s else (tgt_path, src_path)
                self._bad(f"{empty}:{lineno}: empty line but {other}:{lineno} is not; {_FIX}")

    def _bad(self, error: str) -> None:
        if not self.skip_bad_lines:
            raise NmtError(error)
        self.skipped += 1


def tsv_pairs(path: str | os.PathLike, *, skip_bad_lines: bool = False) -> Pairs:
    """Reads ``english<TAB>korean`` lines; later columns (Anki attribution) are ignored.

    Blank lines are skipped silently. A leading BOM and CRLF line ends are accepted.

    Args:
        path: The TSV file, UTF-8, possibly gzip-compressed (``.gz``).
        skip_bad_lines: Skip and count malformed lines instead of raising.

    Returns:
        The pairs in file order, possibly none.

    Raises:
        NmtError: The file is missing or unreadable, or has a malformed line (no tab,
            an empty side, bytes that are not UTF-8) and ``skip_bad_lines`` is false.
    """
    return _read_all(PairReader((path,), skip_bad_lines=skip_bad_lines))


def moses_pairs(
    src_path: str | os.PathLike, tgt_path: str | os.PathLike, *, skip_bad_lines: bool = False
) -> Pairs:
    """Reads two line-aligned files: line i of ``src_path`` translates line i of ``tgt_path``.

    Lines blank on both sides are skipped silently; a line blank on one side only
    is malformed, since it usually means the files slipped out of alignment.

    Args:
        src_path: Source sentences, one per line, UTF-8, possibly gzip-compressed.
        tgt_path: Target sentences, one per line, UTF-8, possibly gzip-compressed.
        skip_bad_lines: Skip and count malformed lines instead of raising.

    Returns:
        The pairs in file order, possibly none.

    Raises:
        NmtError: A file is missing or unreadable, the line counts differ, or a line
            is malformed and ``skip_bad_lines`` is false.
    """
    return _read_all(PairReader((src_path, tgt_path), skip_bad_lines=skip_bad_lines))


def _read_all(reader: PairReader) -> Pairs:
    src, tgt = [], []
    for _, s, t in reader:
        src.append(s)
        tgt.append(t)
    return src, tgt, reader.skipped


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


def _open(path: str | os.PathLike, offset: int) -> io.BufferedIOBase:
    """The file, decompressed if its name ends in ``.gz``, positioned at ``offset``."""
    try:
        f = open(path, "rb")  # noqa: SIM115 (the caller closes it)
    except FileNotFoundError:
        raise NmtError(f"no such file or directory: {path}") from None
    except IsADirectoryError:
        raise NmtError(f"{path}: is a directory, expected a file") from None
    except OSError as exc:
        raise NmtError(f"cannot read {path}: {exc.strerror}") from None
    if str(path).endswith(".gz"):
        # Seeking decompresses everything before the offset: seconds per gigabyte.
        f = gzip.GzipFile(fileobj=f)
    if offset:
        f.seek(offset)
    return f


def _lines(
    path: str | os.PathLike, offset: int = 0, lineno: int = 1
) -> Iterator[tuple[int, int, str, str | None]]:
    """Yields ``(lineno, offset, text, problem)`` from ``offset`` on; ``problem`` is set
    when a line is not UTF-8, and ``offset`` is where the line starts.

    The file is split on b"\\n" before decoding so that a bad byte is reported
    with its line, and so that U+2028 and other characters ``str.splitlines``
    treats as line ends stay inside their line and keep line numbers honest.
    """
    try:
        with _open(path, offset) as f:
            for raw in f:
                start, offset = offset, offset + len(raw)
                if start == 0:
                    raw = raw.removeprefix(_BOM)
                raw = raw.removesuffix(b"\n").removesuffix(b"\r")
                try:
                    yield lineno, start, raw.decode("utf-8"), None
                except UnicodeDecodeError as exc:
                    problem = (
                        f"not valid UTF-8 (byte 0x{raw[exc.start]:02x} at column "
                        f"{exc.start + 1}); re-save the file as UTF-8 or pass --skip-bad-lines"
                    )
                    yield lineno, start, "", problem
                lineno += 1
    except _GZIP_ERRORS as exc:
        raise NmtError(f"{path}:{lineno}: not a valid gzip file ({exc})") from None
    except OSError as exc:
        raise NmtError(f"cannot read {path}: {exc.strerror or exc}") from None


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
