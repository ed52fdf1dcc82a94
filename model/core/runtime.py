"""Process-level tuning for CPU analysis: reuse freed memory, keep oneDNN's compiled kernels.

The one place that changes the whole process; entry points (app.py, ``python -m model.analyze``,
the benches) call :func:`tune_process` once, never an import. Two settings:

1. The allocator. glibc's malloc serves every request above its mmap threshold (128 KiB at
   first, raised on the fly by whatever was freed last) with fresh pages from the kernel and
   hands them back on free. An exact long-text analysis allocates and frees buffers of 1-32 MB
   hundreds of times, so with the defaults each of them page-faults in again, and the time of
   the same analysis swings from run to run with whatever was freed last. PyTorch's CPU tuning
   guides reach the same end by swapping in jemalloc or tcmalloc; glibc's own knobs need no
   extra package:

       M_MMAP_THRESHOLD = 32 MiB   (glibc's upper limit) requests below it come from the heap
       M_TRIM_THRESHOLD = 64 MiB   free memory at the heap top is returned only beyond this

   Elsewhere than glibc (macOS, musl, Windows) this part does nothing and says so.

2. oneDNN's primitive cache. oneDNN compiles a kernel per matrix shape and keeps the last
   1024 (its default). The staircase occlusion and the recorded gradient sweep use a new row
   count at every step, so a long analysis of two models in turn needs more shapes than that
   and would evict every kernel before its reuse. The capacity is raised to 4096 through
   ``ONEDNN_PRIMITIVE_CACHE_CAPACITY`` (unless the user set it), which oneDNN reads when it
   builds its first kernel, so this must run before any. Whether oneDNN is used at all is
   decided by a speed probe on the machine itself (model/analysis/recurrence/onednn.py).

What they are worth on a given machine: bench/analysis_latency.py, run with and without
--no-process-tuning; no number from one machine is kept here.
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
