"""How smic's compiled CPU kernels run: on torch's number of threads, each taking the next block of
work when it has finished one, and with a line on stderr when numba compiles them.

Scheduling. A kernel's work is cut into blocks. Each thread (a Python thread running the compiled
kernel, which releases the GIL) takes the next block from a counter shared by all (``take_next``,
an atomic increment inside the compiled code), so a core shared with another program takes fewer
blocks instead of holding the others up, and no thread needs the GIL between blocks (one that did
stalled the others whenever the OS paused it). numba's parallel loops are not used: they took 40
of the 57 s of the MIC kernel's compile, split the blocks evenly between the threads, and their
thread settings are numba's, global.

First compile. numba compiles a kernel on its first call and caches it (once per machine, numba
version and source); that takes seconds, and without a word a first run looks hung. The line is
printed only when numba compiles, not when it loads its cached copy.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from numba.core import event, types
from numba.extending import intrinsic

__all__ = ["compile_notice", "run_threads", "take_next"]


def _take_next(typingctx: Any, counter: Any) -> Any:
    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        array = context.make_array(signature.args[0])(context, builder, args[0])
        return builder.atomic_rmw("add", array.data, context.get_constant(types.int64, 1), "monotonic")

    return types.int64(counter), codegen


# In compiled code, take_next(counter): counter[0] += 1 atomically (counter: an int64 array),
# returning the value before, i.e. the next block for this thread (typed Any: called from numba).
take_next: Any = intrinsic(_take_next)


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
    """Within the block, a compile of the numba dispatcher ``kernel`` (in any thread) first prints
    "compiling <what>, once per machine (about <seconds> s)..." to stderr."""
    line = f"compiling {what}, once per machine (about {seconds} s)..."
    with event.install_listener("numba:compile", _Notice(kernel, line)):
        yield


@lru_cache(maxsize=1)
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="smic-kernel")


if hasattr(os, "register_at_fork"):  # a forked child has none of its parent's threads: a pool of its own
    os.register_at_fork(after_in_child=_pool.cache_clear)


def run_threads(threads: int, worker: Callable[[], None], kernel: Any, what: str, seconds: int) -> None:
    """Run ``worker()`` on ``threads`` threads at once, this one included, and wait for all: each
    call runs the compiled ``kernel`` on blocks taken with take_next until none is left. Under
    compile_notice(kernel, what, seconds)."""
    with compile_notice(kernel, what, seconds):
        helpers = [_pool().submit(worker) for _ in range(threads - 1)]
        try:
            worker()
        finally:
            for helper in helpers:
                helper.result()
