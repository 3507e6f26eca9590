"""Per-process worker threads for work that splits into parts which release the GIL (NumPy,
OpenCV, Pillow, numba): effects that process an image in bands, template matching's query
orientations and candidates. One small pool per user, made on first use and made again in a
forked child (threads do not survive a fork)."""

from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor

_pools: dict[str, tuple[int, ThreadPoolExecutor]] = {}
_lock = threading.Lock()


def executor(name: str, workers: int) -> ThreadPoolExecutor:
    """The process's pool called `name`, with at most `workers` threads (and no more than
    the machine's cores)."""
    with _lock:
        found = _pools.get(name)
        if found is None or found[0] != os.getpid():
            size = max(1, min(workers, os.cpu_count() or 1))
            found = (os.getpid(), ThreadPoolExecutor(size, thread_name_prefix=name))
            _pools[name] = found
        return found[1]
