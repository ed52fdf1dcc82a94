"""tune_allocator puts glibc's thresholds in force: a 16 MB block then comes from the heap, not a fresh mmap."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from model.core.runtime import MMAP_THRESHOLD_BYTES


def _glibc() -> bool:
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    try:
        return name is not None and hasattr(ctypes.CDLL(name), "mallinfo2")
    except OSError:
        return False


# Run in a fresh interpreter: the allocator is process-wide, and the check must start from glibc's defaults.
PROBE = textwrap.dedent("""
    import ctypes, ctypes.util, sys
    from model.core.runtime import allocator_tuned, tune_allocator

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in
                    ("arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

    libc = ctypes.CDLL(ctypes.util.find_library("c"))
    libc.mallinfo2.restype = MallInfo2
    libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
    libc.free.argtypes = [ctypes.c_void_p]

    def mapped_blocks_for(size):
        already = libc.mallinfo2().hblks  # chunks served by mmap right now
        pointer = libc.malloc(size)
        blocks = libc.mallinfo2().hblks - already
        libc.free(pointer)
        return blocks

    size = 16 * 1024 * 1024
    before = mapped_blocks_for(size)
    assert not allocator_tuned()
    assert tune_allocator() is True and tune_allocator() is True and allocator_tuned()
    after = mapped_blocks_for(size)
    print(before, after)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux") or not _glibc(), reason="glibc's mallopt and mallinfo2 only")
def test_tuning_moves_large_blocks_from_mmap_to_the_heap():
    # glibc's defaults, whatever this machine's environment sets for malloc
    environment = {
        name: value for name, value in os.environ.items() if not name.startswith(("MALLOC_", "GLIBC_TUNABLES"))
    }
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=environment,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))),
    )
    assert result.returncode == 0, result.stderr
    before, after = (int(value) for value in result.stdout.split())
    assert before == 1  # glibc's default: a 16 MB block is its own mmap
    assert after == 0  # tuned: below the 32 MiB threshold it comes from the heap
    assert MMAP_THRESHOLD_BYTES > 16 * 1024 * 1024


def test_tune_process_raises_the_oneDNN_kernel_cache_unless_the_user_chose(monkeypatch):
    from model.core import runtime

    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", raising=False)
    monkeypatch.delenv("DNNL_PRIMITIVE_CACHE_CAPACITY", raising=False)
    assert runtime.onednn_cache_capacity() is None
    tuning = runtime.tune_process()
    assert tuning.onednn_cache_capacity == runtime.ONEDNN_CACHE_CAPACITY == 4096
    assert "oneDNN kernel cache 4096" in tuning.describe()
    monkeypatch.setenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY", "2048")  # the user's choice stands
    assert runtime.tune_process().onednn_cache_capacity == 2048
    monkeypatch.delenv("ONEDNN_PRIMITIVE_CACHE_CAPACITY")
    monkeypatch.setenv("DNNL_PRIMITIVE_CACHE_CAPACITY", "512")  # the older name too
    assert runtime.tune_process().onednn_cache_capacity == 512
