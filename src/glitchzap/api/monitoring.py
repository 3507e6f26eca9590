"""Operation timings, process memory and the performance log.

`Monitor.track("render")` times a block and records its outcome (success, or failure by error
type). The monitor keeps per-operation counts and recent durations (for p50/p95/max), samples
the process RSS to show its trend, appends one JSON line per operation to
`<data_dir>/performance_logs.jsonl` (rotated by size) and exposes the same figures as
Prometheus metrics. With `monitoring.enable_profiling`, `Monitor.profile(name)` writes a
cProfile file per call into `<data_dir>/profiles/`.
"""

from __future__ import annotations

import cProfile
import json
import logging
import os
import re
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from glitchzap.settings import MonitoringSettings

log = logging.getLogger(__name__)

DURATIONS_KEPT = 2048  # recent durations per operation used for the percentiles
LOG_NAME = "performance_logs.jsonl"
# One encoder for every line: json.dumps with options builds a new one per call, and that was
# most of the cost of a log line (two lines per request).
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str)


@dataclass
class Timing:
    """What `Monitor.track` gives its block: `counted = False` leaves a success unrecorded."""

    counted: bool = True


@dataclass
class OperationStats:
    count: int = 0
    successes: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    durations: deque[float] = field(default_factory=lambda: deque(maxlen=DURATIONS_KEPT))
    max_seconds: float = 0.0

    def summary(self) -> dict[str, Any]:
        """Counts plus p50/p95/max duration in milliseconds (recent window for percentiles)."""
        values = np.fromiter(self.durations, dtype=np.float64)
        p50, p95 = np.percentile(values, [50, 95]) if values.size else (0.0, 0.0)
        return {
            "count": self.count,
            "successes": self.successes,
            "failures": dict(self.failures),
            "p50_ms": round(float(p50) * 1000, 3),
            "p95_ms": round(float(p95) * 1000, 3),
            "max_ms": round(self.max_seconds * 1000, 3),
        }


class JsonlLog:
    """Append-only JSON lines with size-based rotation (`.1` newest backup ... `.N` oldest)."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        self._failed = False
        self._handle: Any = None  # kept open: reopening per line costs more than the write
        self._size = 0

    def write(self, record: dict[str, Any]) -> None:
        line = (_ENCODER.encode(record) + "\n").encode()
        with self._lock:
            try:
                if self._handle is None:
                    self._open()
                if self._size and self._size + len(line) > self.max_bytes:
                    self._rotate()
                    self._open()
                self._handle.write(line)
                self._handle.flush()
                self._size += len(line)
            except OSError as exc:
                if not self._failed:  # one warning, not one per request
                    log.warning("performance log %s not writable: %s", self.path, exc)
                self._failed = True
                self.close()

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle = self.path.open("ab")
        self._size = self._handle.tell()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def _rotate(self) -> None:
        self.close()
        if self.backups == 0:
            self.path.unlink(missing_ok=True)
            return
        for index in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{index}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{index + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))


class MemorySampler:
    """Process RSS sampled at most once per interval; trend is the least-squares slope."""

    def __init__(self, samples: int, interval_seconds: float) -> None:
        import psutil

        self._process = psutil.Process(os.getpid())
        self._samples: deque[tuple[float, int]] = deque(maxlen=samples)
        self.interval_seconds = interval_seconds
        self._lock = threading.Lock()

    def rss_bytes(self) -> int:
        return int(self._process.memory_info().rss)

    def maybe_sample(self) -> None:
        now = time.monotonic()
        with self._lock:
            if self._samples and now - self._samples[-1][0] < self.interval_seconds:
                return
            self._samples.append((now, self.rss_bytes()))

    def trend_bytes_per_minute(self) -> float | None:
        """RSS growth per minute over the kept samples, or None with fewer than 3 samples."""
        with self._lock:
            points = list(self._samples)
        if len(points) < 3:
            return None
        t = np.array([p[0] for p in points]) / 60.0
        rss = np.array([p[1] for p in points], dtype=np.float64)
        if np.ptp(t) == 0:
            return None
        return float(np.polyfit(t, rss, 1)[0])

    def snapshot(self) -> dict[str, Any]:
        import psutil

        self.maybe_sample()
        vm = psutil.virtual_memory()
        return {
            "process": {
                "rss_bytes": self.rss_bytes(),
                "rss_trend_bytes_per_minute": self.trend_bytes_per_minute(),
                "rss_samples": len(self._samples),
                "cpu_percent": self._process.cpu_percent(interval=None),
                "threads": self._process.num_threads(),
            },
            "system": {
                "cpu_percent": psutil.cpu_percent(interval=None),
                "cpu_count": psutil.cpu_count(),
                "memory_total_bytes": int(vm.total),
                "memory_available_bytes": int(vm.available),
                "memory_percent": float(vm.percent),
            },
        }


class Monitor:
    """Per-operation timings, the JSONL log, Prometheus metrics and optional profiles."""

    def __init__(
        self,
        settings: MonitoringSettings,
        data_dir: Path,
        cache_stats: Callable[[], list[dict[str, Any]]] | None = None,
    ) -> None:
        from prometheus_client import CollectorRegistry, Histogram
        from prometheus_client import Counter as PromCounter

        self.settings = settings
        self.cache_stats = cache_stats or list
        self.data_dir = Path(data_dir)
        self.log = JsonlLog(self.data_dir / LOG_NAME, settings.log_max_bytes, settings.log_backups)
        self.memory = MemorySampler(
            settings.memory_samples, settings.memory_sample_interval_seconds
        )
        self._ops: dict[str, OperationStats] = {}
        self._lock = threading.Lock()
        self.registry = CollectorRegistry()  # one per monitor, so tests can build many
        self._prom_ops = PromCounter(
            "glitchzap_operations",
            "Operations by outcome",
            ["operation", "outcome"],
            registry=self.registry,
        )
        self._prom_seconds = Histogram(
            "glitchzap_operation_duration_seconds",
            "Operation duration",
            ["operation"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
        self.registry.register(_SnapshotCollector(self))
        self._prom_children: dict[tuple[str, str | None], Any] = {}

    def record(
        self, operation: str, seconds: float, error: str | None = None, **extra: Any
    ) -> None:
        """Count one finished operation; `error` is the failure type, None for a success."""
        with self._lock:
            stats = self._ops.setdefault(operation, OperationStats())
            stats.count += 1
            stats.durations.append(seconds)
            stats.max_seconds = max(stats.max_seconds, seconds)
            if error is None:
                stats.successes += 1
            else:
                stats.failures[error] += 1
        outcome = "success" if error is None else error
        counter = self._prom_children.get((operation, outcome))
        if counter is None:  # labels() resolves its arguments on every call: kept instead
            counter = self._prom_children[operation, outcome] = self._prom_ops.labels(
                operation, outcome
            )
        counter.inc()
        histogram = self._prom_children.get((operation, None))
        if histogram is None:
            histogram = self._prom_children[operation, None] = self._prom_seconds.labels(operation)
        histogram.observe(seconds)
        self.memory.maybe_sample()
        if self.settings.log_timing:
            record = {
                "ts": round(time.time(), 3),
                "operation": operation,
                "duration_ms": round(seconds * 1000, 3),
                "ok": error is None,
                **extra,
            }
            if error is not None:
                record["error"] = error
            if self.settings.log_memory_usage:
                record["rss_bytes"] = self.memory.rss_bytes()
            self.log.write(record)

    @contextmanager
    def track(self, operation: str, **extra: Any) -> Iterator[Timing]:
        """Time the block; an exception counts as a failure named by its `code` or class. A
        block that sets `counted = False` on what it is given (its answer came from a cache)
        is not recorded."""
        timing = Timing()
        start = time.perf_counter()
        try:
            yield timing
        except BaseException as exc:
            error = getattr(exc, "code", None) or type(exc).__name__
            self.record(operation, time.perf_counter() - start, str(error), **extra)
            raise
        if timing.counted:
            self.record(operation, time.perf_counter() - start, None, **extra)

    @contextmanager
    def profile(self, name: str) -> Iterator[Path | None]:
        """cProfile the block into `<data_dir>/profiles/` when profiling is on; yields the path."""
        if not self.settings.enable_profiling:
            yield None
            return
        directory = self.data_dir / "profiles"
        directory.mkdir(parents=True, exist_ok=True)
        safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_")[:80] or "request"
        path = (
            directory / f"{time.strftime('%Y%m%d-%H%M%S')}-{time.time_ns() % 10**9:09d}-{safe}.prof"
        )
        profiler = cProfile.Profile()
        profiler.enable()
        try:
            yield path
        finally:
            profiler.disable()
            profiler.dump_stats(path)

    def operations(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            return {name: stats.summary() for name, stats in sorted(self._ops.items())}

    def snapshot(self) -> dict[str, Any]:
        """Everything /api/performance shows except the cache and model sections."""
        return {"operations": self.operations(), **self.memory.snapshot()}

    def metrics_text(self) -> bytes:
        """The Prometheus exposition text."""
        from prometheus_client import generate_latest

        return generate_latest(self.registry)


class _SnapshotCollector:
    """Process memory and cache hit counters, read at scrape time."""

    def __init__(self, monitor: Monitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        yield GaugeMetricFamily(
            "glitchzap_process_rss_bytes",
            "Resident set size",
            value=self.monitor.memory.rss_bytes(),
        )
        hits = CounterMetricFamily("glitchzap_cache_hits", "Cache hits", labels=["cache"])
        misses = CounterMetricFamily("glitchzap_cache_misses", "Cache misses", labels=["cache"])
        for stats in self.monitor.cache_stats():
            hits.add_metric([str(stats["name"])], float(stats["hits"]))
            misses.add_metric([str(stats["name"])], float(stats["misses"]))
        yield hits
        yield misses

    def describe(self) -> list[Any]:
        return []  # collected lazily; nothing to pre-register
