"""The local engine: a pool of spawned worker processes, one warm model in each.

Workers are spawned, not forked (onnxruntime's threads do not survive a fork), and set up once
by `set_up_worker`: settings copied from the parent, the model session's and OpenCV's threads
set (one each by default: a worker is one core), the background model loaded. At most
`2 * workers` images are in flight, so memory does not grow with the size of the batch.
Memory per worker stays bounded: a pool serves at most `MAX_TASKS_PER_CHILD` images per
worker, and is replaced sooner when a worker reports more than `MAX_WORKER_RSS_BYTES`
resident (the replacement starts clean). We recycle whole pools rather than use the
executor's own `max_tasks_per_child`, which can deadlock on Python 3.11-3.13 (CPython
gh-115634). Workers ignore Ctrl-C and SIGTERM: the parent stops handing out work and lets the
images in progress finish, so nothing is left half-written. A worker that dies (killed, out
of memory) breaks the pool: its images are retried once in a fresh pool, then recorded as
failed.
"""

from __future__ import annotations

import os
import signal
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from typing import Any

from glitchzap.batch.report import BatchRecord
from glitchzap.batch.worker import exit_with_parent, run_item, set_up_worker
from glitchzap.recipes import Recipe

MAX_TASKS_PER_CHILD = 200  # images per worker before its pool is replaced
MAX_WORKER_RSS_BYTES = 2 * 1024**3  # a worker above this gets its pool replaced
IN_FLIGHT_PER_WORKER = 2  # one running, one queued: workers never wait on the parent

Job = tuple[str, str]  # (source, output)

_recipe: Recipe | None = None  # the worker's recipe, set once by the initializer


def _init_worker(
    settings_data: dict[str, Any], recipe_data: dict[str, Any], threads: int, parent_pid: int
) -> None:
    global _recipe
    # The parent handles Ctrl-C and SIGTERM (even when sent to the whole process group): it
    # stops handing out work and waits for these workers to finish their current image.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    exit_with_parent(parent_pid)
    _recipe = Recipe.model_validate(recipe_data)
    set_up_worker(settings_data, _recipe, threads)


def _work(source: str, output: str) -> tuple[BatchRecord, int]:
    """One image's record and this worker's resident memory in bytes afterwards."""
    assert _recipe is not None, "worker used before its initializer ran"
    return run_item(source, output, _recipe), resident_bytes()


def resident_bytes() -> int:
    """This process's resident set size (0 where /proc is not available)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def threads_per_worker(requested: int | None, pool: int, cores: int) -> int:
    """Threads for each worker's model and OpenCV: a worker is one core, as a Ray actor is
    (num_cpus=1), so `--workers N` uses N cores. Only a default pool cut down to fewer images
    than cores shares the spare cores out."""
    return 1 if requested else max(1, cores // max(pool, 1))


def run_local(
    jobs: Iterable[Job],
    recipe: Recipe,
    settings_data: dict[str, Any],
    on_record: Callable[[BatchRecord], None],
    *,
    workers: int,
    threads: int = 1,
    max_tasks_per_child: int = MAX_TASKS_PER_CHILD,
    max_worker_rss_bytes: int = MAX_WORKER_RSS_BYTES,
) -> None:
    """Process `jobs` in `workers` processes, calling `on_record` in this process for each.

    Each worker's model session and OpenCV run `threads` threads (1: a worker is one core).
    """
    pending: deque[Job] = deque(jobs)
    retried: set[Job] = set()
    initargs = (settings_data, recipe.model_dump(mode="json"), threads, os.getpid())
    while pending:
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=get_context("spawn"),
            initializer=_init_worker,
            initargs=initargs,
        )
        limits = _Limits(
            workers * IN_FLIGHT_PER_WORKER, workers * max_tasks_per_child, max_worker_rss_bytes
        )
        lost = _drain(pool, pending, on_record, limits)
        pool.shutdown(wait=True)
        for job in lost:  # their worker died: one more try each in a fresh pool
            if job in retried:
                reason = "the worker process died on this image (out of memory or killed)"
                on_record(BatchRecord(job[0], job[1], "failed", reason))
            else:
                retried.add(job)
                pending.appendleft(job)


@dataclass(frozen=True)
class _Limits:
    in_flight: int  # images submitted and not yet back
    per_pool: int  # images one pool serves before it is replaced
    rss_bytes: int  # a worker reporting more than this ends its pool early


def _drain(
    pool: ProcessPoolExecutor,
    pending: deque[Job],
    on_record: Callable[[BatchRecord], None],
    limits: _Limits,
) -> list[Job]:
    """Feed `pool` from `pending` within `limits`; the jobs lost if the pool breaks."""
    in_flight: dict[Future[tuple[BatchRecord, int]], Job] = {}
    try:
        return _feed(pool, pending, on_record, limits, in_flight)
    except BaseException:
        # Ctrl-C or SIGTERM: start nothing new, let the images in progress finish and record
        # them, so the report matches the files on disk.
        pool.shutdown(wait=True, cancel_futures=True)
        _salvage(in_flight, on_record)
        raise


def _feed(
    pool: ProcessPoolExecutor,
    pending: deque[Job],
    on_record: Callable[[BatchRecord], None],
    limits: _Limits,
    in_flight: dict[Future[tuple[BatchRecord, int]], Job],
) -> list[Job]:
    submitted, recycle = 0, False
    while in_flight or (pending and not recycle):
        while pending and not recycle and len(in_flight) < limits.in_flight:
            job = pending.popleft()
            try:
                in_flight[pool.submit(_work, *job)] = job
            except BrokenProcessPool:
                pending.appendleft(job)
                return list(in_flight.values())
            submitted += 1
            recycle = submitted >= limits.per_pool
        finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
        for future in finished:
            job = in_flight.pop(future)
            try:
                record, rss = future.result()
            except BrokenProcessPool:
                return [job, *_salvage(in_flight, on_record)]
            recycle = recycle or rss > limits.rss_bytes
            on_record(record)
    return []


def _salvage(
    in_flight: dict[Future[tuple[BatchRecord, int]], Job], on_record: Callable[[BatchRecord], None]
) -> list[Job]:
    """Record the results that made it out of a broken pool; the jobs that did not."""
    lost = []
    for future, job in in_flight.items():
        if future.done() and not future.cancelled() and future.exception() is None:
            on_record(future.result()[0])
        else:
            lost.append(job)
    return lost
