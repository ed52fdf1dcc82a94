"""Process-level tuning for CPU analysis: reuse freed memory, keep oneDNN's compiled kernels.

Two settings, both measured on the exact 200-word analysis of the shipped models.

1. The allocator.

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

2. oneDNN's primitive cache. oneDNN compiles a kernel per matrix shape and keeps
the last 1024 (its default). The staircase occlusion and the recorded gradient
sweep use a new row count at every step, so one 200-word analysis of the LSTM
needs about 600 shapes and the RNN's another 400-odd: analysing the two models in
turn evicted every kernel before its reuse, and each call recompiled its kernels
(LSTM 240 + 310 ms for gradients + occlusion instead of 180 + 265). The capacity
is raised to 4096 through ``ONEDNN_PRIMITIVE_CACHE_CAPACITY`` - unless the user set
it - which oneDNN reads when it builds its first kernel, so this must run before any.

Both are done once by the entry points (app.py, ``python -m model.analyze``, the
benches) through :func:`tune_process`, never on import: they change the whole
process. Elsewhere than glibc (macOS, musl, Windows) the allocator part does
nothing and says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import threading
from dataclasses import dataclass

MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024
TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameter numbers (malloc.h)

ONEDNN_CACHE_CAPACITY = 4096
_ONEDNN_CACHE_VARIABLES = ("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "DNNL_PRIMITIVE_CACHE_CAPACITY")

_LOCK = threading.Lock()
_APPLIED: list[bool] = []


@dataclass(frozen=True)
class ProcessTuning:
    """What :func:`tune_process` put in force.

    Attributes:
        allocator: glibc's malloc thresholds are set (False: not glibc, or refused).
        onednn_cache_capacity: oneDNN's primitive cache capacity from the environment (ours or the user's),
            or None when none is set (oneDNN's default, 1024).
    """

    allocator: bool
    onednn_cache_capacity: int | None

    def describe(self) -> str:
        allocator = "glibc thresholds tuned" if self.allocator else "allocator defaults"
        cache = (
            "oneDNN default kernel cache"
            if self.onednn_cache_capacity is None
            else f"oneDNN kernel cache {self.onednn_cache_capacity}"
        )
        return f"{allocator}, {cache}"


def tune_process() -> ProcessTuning:
    """Tune this process for the exact analyses: allocator thresholds and oneDNN's kernel cache (idempotent).

    Returns:
        A :class:`ProcessTuning` saying what is in force.

    Example:
        >>> tune_process().describe()   # first thing in an entry point
        'glibc thresholds tuned, oneDNN kernel cache 4096'
    """
    if not any(os.environ.get(name) for name in _ONEDNN_CACHE_VARIABLES):
        os.environ["ONEDNN_PRIMITIVE_CACHE_CAPACITY"] = str(ONEDNN_CACHE_CAPACITY)
    return ProcessTuning(allocator=tune_allocator(), onednn_cache_capacity=onednn_cache_capacity())


def onednn_cache_capacity() -> int | None:
    """The primitive-cache capacity the environment gives oneDNN, or None for its default."""
    for name in _ONEDNN_CACHE_VARIABLES:
        value = os.environ.get(name, "").strip()
        if value.isdigit():
            return int(value)
    return None


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
    return (
        mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    )
