"""How the process allocates the generator's large buffers.

A synthesis, a training step or an inversion step allocates and frees buffers of several megabytes per layer,
on every call. With the C library's defaults those buffers go back to the kernel when freed (glibc unmaps the
ones above its mmap threshold and trims the heap above its trim threshold), so the next call faults them in
again one 4 KiB page at a time. On the 2-core machine of bench/allocator.py those page faults could take more
time than the arithmetic of a filtered_lrelu layer, and a training step ran 1.2-1.35x faster without them.

`tune_allocator()` keeps freed memory in the process and backs large tensors with transparent huge pages
(PyTorch's THP_MEM_ALLOC_ENABLE). The command line and the visualizer call it first thing; a library user can
call it before importing torch. STYLEGAN_ALLOCATOR=default leaves the process's defaults alone. The price is a
resident size that stays near its peak instead of shrinking between calls.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

ENV_VARIABLE = "STYLEGAN_ALLOCATOR"

# glibc's mallopt parameters (malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3

# Below this size an allocation comes from the heap, which is reused, instead of its own mapping. 32 MiB is the
# largest value glibc accepts; it covers every buffer of a 64x64 synthesis at batch 1.
MMAP_THRESHOLD = 32 * 2**20
# Free heap memory up to this much stays with the process.
TRIM_THRESHOLD = 2**30

_applied: tuple[str, ...] | None = None


def tune_allocator() -> tuple[str, ...]:
    """Apply the settings once per process; returns the names of those that took effect.

    'huge pages' needs torch not imported yet: PyTorch reads THP_MEM_ALLOC_ENABLE once, at its first allocation.
    A THP_MEM_ALLOC_ENABLE already in the environment is the user's choice and is kept. 'malloc' needs glibc.
    """
    global _applied
    if _applied is not None:
        return _applied
    applied = []
    if os.environ.get(ENV_VARIABLE, "").strip().lower() != "default":
        if "torch" not in sys.modules and "THP_MEM_ALLOC_ENABLE" not in os.environ:
            os.environ["THP_MEM_ALLOC_ENABLE"] = "1"
            applied.append("huge pages")
        if _set_malloc_thresholds():
            applied.append("malloc")
    _applied = tuple(applied)
    return _applied


def _set_malloc_thresholds() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
