"""Process-level tuning for CPU analysis: keep large freed tensors' memory for reuse.

glibc's malloc serves every request above its mmap threshold (128 KiB at first,
raised on the fly by whatever was freed last) with fresh pages from the kernel,
and hands them back on free. An exact 200-word analysis allocates and frees
buffers of 1-32 MB hundreds of times, so every one of them page-faults in again:
measured here, the occlusion of the shipped LSTM took 265 ms or 340 ms on
alternate runs with the defaults, 500 ms with a 1 MiB threshold, and a steady
265 ms with the settings below. PyTorch's CPU tuning guides reach the same end
by swapping in jemalloc or tcmalloc; glibc's own knobs need no extra package.

    M_MMAP_THRESHOLD = 32 MiB   (glibc's upper limit) requests below it come from the heap
    M_TRIM_THRESHOLD = 64 MiB   free memory at the heap top is returned only beyond this

Called once by the entry points (app.py, ``python -m model.analyze``, the benches),
never on import: it changes the whole process's allocator. Elsewhere than glibc
(macOS, musl, Windows) it does nothing and says so.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import threading

MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers (malloc.h)

_LOCK = threading.Lock()
_APPLIED: list[bool] = []


def tune_allocator() -> bool:
    """Set glibc's malloc thresholds for this process (idempotent, thread-safe).

    Returns:
        True when the thresholds are in force (set now or earlier), False where the
        C library is not glibc or refused them.

    Example:
        >>> tune_allocator()   # at the start of an entry point, before the first analysis
        True
    """
    with _LOCK:
        if not _APPLIED:
            _APPLIED.append(_set_thresholds())
        return _APPLIED[0]


def allocator_tuned() -> bool:
    """Whether :func:`tune_allocator` has put the thresholds in force in this process."""
    return bool(_APPLIED and _APPLIED[0])


def _set_thresholds() -> bool:
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        library = ctypes.CDLL(name)
        library.gnu_get_libc_version  # only glibc has it (and mallopt's parameter numbers above)
        mallopt = library.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # mallopt returns 1 on success, 0 on a refused value.
    return mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
