"""How smic's compiled CPU kernels run: blocks of work handed to threads as the threads become free,
and the line a kernel's first compile prints.

Scheduling. A kernel's work is cut into blocks, and each of torch's threads (Python threads; the
kernels release the GIL) takes the next block when it has finished one. A core shared with another
program then takes fewer blocks instead of holding the others up (as with the even split of
numba's prange). numba's parallel loops are not used at all: they took 40 of the 57 s of the MIC
kernel's compile, and their thread settings are numba's, global.

First compile. numba compiles a kernel on its first call and caches it (once per machine, numba
version and source); that takes seconds, and without a word a first run looks hung. The line is
printed only when numba compiles, not when it loads its cached copy.
"""

from __future__ import annotations

import itertools
import os
import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from numba.core import event

__all__ = ["compile_notice", "run_blocks"]


class _Notice(event.Listener):
    """Prints its line when numba starts compiling ``kernel`` (numba signals a compile only when
    its cache has no copy)."""

    def __init__(self, kernel: Any, line: str) -> None:
        self.kernel, self.line, self.printed = kernel, line, False

    def on_start(self, ev: Any) -> None:
        if not self.printed and ev.data.get("dispatcher") is self.kernel:
            self.printed = True
            print(self.line, file=sys.stderr, flush=True)

    def on_end(self, ev: Any) -> None:
        pass


@contextmanager
def compile_notice(kernel: Any, what: str, seconds: int) -> Iterator[None]:
    """Within the block, a compile of the numba dispatcher ``kernel`` first prints "compiling
    <what>, once per machine (about <seconds> s)..." to stderr."""
    line = f"compiling {what}, once per machine (about {seconds} s)..."
    with event.install_listener("numba:compile", _Notice(kernel, line)):
        yield


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="smic-kernel")


if hasattr(os, "register_at_fork"):  # a forked child has none of its parent's threads: a pool of its own
    os.register_at_fork(after_in_child=_pool.cache_clear)


def run_blocks(
    blocks: int, threads: int, worker: Callable[[], Callable[[int], None]], kernel: Any, what: str, seconds: int
) -> None:
    """Run blocks 0 .. blocks - 1 once each on up to ``threads`` threads, this one included.
    ``worker()`` gives a thread its function of a block index (with the thread's own scratch
    arrays). The first block runs alone, under compile_notice(kernel, what, seconds): a compile
    happens there, once."""
    lock = threading.Lock()
    taken = itertools.count()

    def drain(limit: int) -> None:
        run = worker()
        for _ in range(limit):
            with lock:
                block = next(taken)
            if block >= blocks:
                return
            run(block)

    if blocks <= 0:
        return
    with compile_notice(kernel, what, seconds):
        drain(1)
    helpers = [_pool().submit(drain, blocks) for _ in range(min(threads, blocks - 1) - 1)]
    try:
        drain(blocks)
    finally:
        for helper in helpers:
            helper.result()
