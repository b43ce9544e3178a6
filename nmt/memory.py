"""Handing freed memory back to the operating system after a large, finished piece of work.

Python frees objects into its allocator's pools and glibc keeps freed pages in its heap,
so after the tokenizers' sample and SentencePiece's training are dropped, the process
still holds their memory and a long training run's peak resident size includes it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


def give_back() -> None:
    """Asks glibc (if that is the C library) to return its free pages to the system.

    No garbage collection first: what is dropped here (lists of strings) has no cycles,
    so it is freed the moment it is dropped, and a collection costs a large process a
    fraction of a second.
    """
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@functools.cache
def _malloc_trim():
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
