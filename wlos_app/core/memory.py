"""Giving freed memory back to the system between the stages of a long analysis.

glibc keeps freed blocks in its heaps (one per thread that allocated: torch's worker threads have
their own) for reuse, and raises its mmap threshold after large frees, so the tens of MB that each
pass of the networks allocates and frees stay resident and add up over an hour's clip. malloc_trim
returns them; it costs a few ms. Elsewhere than glibc it does nothing.
"""
from __future__ import annotations

import ctypes
import ctypes.util

_libc: list = []


def trim() -> None:
    if not _libc:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            _libc.append(lib.malloc_trim)
        except (OSError, AttributeError):
            _libc.append(None)
    if _libc[0] is not None:
        _libc[0](0)
