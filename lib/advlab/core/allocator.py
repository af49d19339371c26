"""Keep freed CPU memory for reuse: a one-time setting of glibc's malloc, made when advlab is imported.

PyTorch allocates every CPU tensor with ``malloc``. glibc serves a large request (above a threshold that
starts at 128 KiB and adapts up to 32 MiB) with a fresh ``mmap`` and hands it back to the system on
``free``; the next batch's tensors of the same size then page-fault again, and the kernel zeroes every
page. A training step of this project's CNN allocates tens of megabytes per batch (the first
convolution's output alone is 11 MB at 128 images), so a fresh process page-faults on every batch. In a
long notebook process glibc's adaptive threshold often gets there by itself after a while. Attacks gain
more: a batch of 1,000 images needs blocks of 86 MB, above glibc's ceiling, so with glibc's defaults it
is mapped afresh every time (``advlab.core.inference.CPU_BATCH`` depends on this setting). Measurements
(``python bench/run.py --only allocator``): docs/performance.md.

:func:`keep_freed_memory` raises the ``mmap`` threshold to 256 MiB and the trim threshold to 512 MiB, so
blocks up to 256 MiB come from malloc's heap and are reused after ``free``. Results do not change (the
same arithmetic on the same values); the price is that a process keeps up to about its peak memory
instead of returning it. Nothing happens off Linux/glibc. ``ADVLAB_MALLOC=default`` leaves glibc's
settings alone (for comparison, or if memory is tight).
"""

from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters (malloc.h)
MMAP_THRESHOLD = 256 * 2**20
TRIM_THRESHOLD = 512 * 2**20
OPT_OUT = "ADVLAB_MALLOC"

_applied: bool | None = None


def keep_freed_memory() -> bool:
    """Apply the setting once per process; True if it is in effect (glibc, not opted out)."""
    global _applied
    if _applied is None:
        _applied = False
        if os.environ.get(OPT_OUT, "").lower() != "default" and platform.libc_ver()[0] == "glibc":
            try:
                mallopt = ctypes.CDLL(None).mallopt
            except (OSError, AttributeError):
                return False
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            _applied = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
                mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
            )
    return _applied
