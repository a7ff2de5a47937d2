"""`heap.trim` gives the C heap's free pages back to the OS (on glibc, which this project's CI runs on)."""

from __future__ import annotations

import subprocess
import sys

from ximagenet12_builder import heap

# Fragments a heap: frees all but every 64th of many 32 KB blocks (below glibc's mmap threshold, so they
# live in the heap, and no free stretch is at its top), then trims; prints resident MB before and after.
CHILD = """
import sys
from ximagenet12_builder import heap
def rss():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) // 1024 for line in f if line.startswith("VmRSS"))
blocks = [bytearray(32 * 1024) for _ in range(8000)]
kept = blocks[::64]
del blocks
before = rss()
heap.trim()
print(before, rss())
"""


def test_trim_returns_freed_heap_memory_to_the_os() -> None:
    assert heap._malloc_trim() is not None, "no malloc_trim: not glibc"
    out = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, check=True).stdout
    before, after = map(int, out.split())
    assert before - after >= 150, f"resident {before} MB before the trim, {after} MB after"


def test_trim_is_a_no_op_without_glibc(monkeypatch) -> None:
    monkeypatch.setattr(heap, "_malloc_trim", lambda: None)
    heap.trim()
