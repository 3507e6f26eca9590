"""glitchzap.cache: memory LRU, SQLite disk cache, tiers, codecs and the named caches."""

from __future__ import annotations

import io
import logging
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from glitchzap.cache import build_cache
from glitchzap.cache.codec import decode_array, decode_json, encode_array, encode_json
from glitchzap.cache.disk import DiskCache
from glitchzap.cache.memory import MemoryCache
from glitchzap.cache.tiered import TieredCache
from glitchzap.runtime import configure, current, restart
from glitchzap.settings import Settings

DAY = 86400.0


def disk_cache(directory: Path, max_bytes: int = 10**6, expiry: float = DAY) -> DiskCache:
    return DiskCache("test", directory, max_bytes, expiry)


# --- memory ---------------------------------------------------------------------------------


def test_memory_lru_is_bounded_by_bytes_and_evicts_least_recently_used() -> None:
    cache = MemoryCache("m", max_bytes=300)
    for name in "abc":
        cache.set(name, name.encode() * 100)
    assert cache.get("a") == b"a" * 100  # a is now the most recently used

    cache.set("d", b"d" * 100)

    assert cache.get("b") is None  # least recently used: evicted
    assert [cache.get(k) is not None for k in "acd"] == [True, True, True]
    assert cache.size_bytes == 300


def test_memory_value_larger_than_the_cache_is_not_kept_and_not_stale() -> None:
    cache = MemoryCache("m", max_bytes=100)
    cache.set("k", b"old")
    cache.set("k", b"x" * 101)
    assert cache.get("k") is None  # the old value must not be served for the new one
    assert cache.size_bytes == 0


def test_memory_replacing_a_value_updates_the_size() -> None:
    cache = MemoryCache("m", max_bytes=100)
    cache.set("k", b"x" * 60)
    cache.set("k", b"y" * 30)
    cache.set("j", b"z" * 70)
    assert cache.get("k") == b"y" * 30 and cache.size_bytes == 100
    cache.delete("k")
    assert cache.size_bytes == 70


def test_hit_and_miss_counters() -> None:
    cache = MemoryCache("m", max_bytes=1000)
    cache.get("a")
    cache.set("a", b"1")
    cache.get("a")
    cache.get("a")
    stats = cache.stats()
    assert (stats["hits"], stats["misses"]) == (2, 1)
    assert stats["hit_rate"] == pytest.approx(2 / 3)


# --- disk -----------------------------------------------------------------------------------


def test_disk_cache_survives_a_restart(tmp_path: Path) -> None:
    first = disk_cache(tmp_path)
    first.set("k", b"value")
    first.close()

    second = disk_cache(tmp_path)

    assert second.get("k") == b"value"
    assert second.get("other") is None


def test_disk_entry_with_changed_bytes_is_a_miss(tmp_path: Path) -> None:
    cache = disk_cache(tmp_path)
    cache.set("k", b"value")
    cache.set("j", b"kept")
    with sqlite3.connect(cache.path) as db:
        db.execute("UPDATE entries SET value = ? WHERE key = 'k'", (b"tampered",))

    assert cache.get("k") is None
    assert cache.get("j") == b"kept"
    with sqlite3.connect(cache.path) as db:  # the bad entry was removed, not kept around
        assert db.execute("SELECT COUNT(*) FROM entries WHERE key = 'k'").fetchone() == (0,)


def test_disk_entry_with_wrongly_typed_columns_is_a_miss(tmp_path: Path) -> None:
    cache = disk_cache(tmp_path)
    cache.set("k", b"value")
    cache.set("j", b"value")
    with sqlite3.connect(cache.path) as db:
        db.execute("UPDATE entries SET value = 'text, not a blob' WHERE key = 'k'")
        db.execute("UPDATE entries SET created = 'yesterday' WHERE key = 'j'")
    assert cache.get("k") is None
    assert cache.get("j") is None


@pytest.mark.parametrize("damage", ["garbage", "truncated"])
def test_damaged_database_file_is_a_miss_then_starts_afresh(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    cache = disk_cache(tmp_path)
    for i in range(50):
        cache.set(f"k{i}", bytes([i]) * 2000)
    cache.close()
    raw = cache.path.read_bytes()
    for suffix in ("-wal", "-shm"):
        cache.path.with_name(cache.path.name + suffix).unlink(missing_ok=True)
    if damage == "garbage":
        cache.path.write_bytes(b"this is not a database" * 500)
    else:
        cache.path.write_bytes(raw[:150])  # cut inside the 100-byte header's first page

    reopened = disk_cache(tmp_path)
    with caplog.at_level(logging.WARNING, logger="glitchzap.cache.disk"):
        assert reopened.get("k1") is None
        reopened.set("new", b"fresh")
        assert reopened.get("new") == b"fresh"

    assert "damaged" in caplog.text
    assert cache.path.with_name("test.sqlite3.corrupt").exists()


def test_truncated_database_pages_are_never_raised(tmp_path: Path) -> None:
    cache = disk_cache(tmp_path)
    for i in range(200):
        cache.set(f"k{i}", bytes([i % 256]) * 3000)
    cache.close()
    for suffix in ("-wal", "-shm"):
        cache.path.with_name(cache.path.name + suffix).unlink(missing_ok=True)
    raw = cache.path.read_bytes()
    cache.path.write_bytes(raw[: len(raw) // 3])  # the header is intact, most pages are gone

    reopened = disk_cache(tmp_path)
    results = [reopened.get(f"k{i}") for i in range(200)]
    reopened.set("after", b"ok")

    # Whatever survived is served intact; nothing is served wrong; nothing raised.
    assert all(v is None or v == bytes([i % 256]) * 3000 for i, v in enumerate(results))
    assert reopened.get("after") == b"ok"  # the damaged file was moved aside, a new one works


def test_busy_database_is_a_miss_not_a_disabled_cache(tmp_path: Path) -> None:
    cache = disk_cache(tmp_path)
    cache.set("k", b"before")
    db = cache._connect()
    assert db is not None
    db.execute("PRAGMA busy_timeout = 20")  # instead of 5 s, to keep the test fast
    other = sqlite3.connect(cache.path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another process in the middle of a write

    cache.set("k", b"during")  # cannot write now: skipped

    other.execute("ROLLBACK")
    other.close()
    assert cache.stats()["disabled"] == 0 and cache.stats()["errors"] >= 1
    assert cache.get("k") == b"before"
    cache.set("k", b"after")
    assert cache.get("k") == b"after"


def test_unwritable_cache_dir_disables_the_disk_tier_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("mkdir below me fails, even for root")
    tiered = TieredCache("t", MemoryCache("t", 10**6), disk_cache(blocker / "cache"))

    with caplog.at_level(logging.WARNING, logger="glitchzap.cache.disk"):
        tiered.set("k", b"value")
        tiered.set("j", b"value")

    assert tiered.get("k") == b"value"  # the memory tier still works
    assert caplog.text.count("disabled") == 1  # one warning, not one per call
    assert tiered.lower.stats()["disabled"] == 1


def test_disk_entries_expire(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache = disk_cache(tmp_path, expiry=DAY)
    cache.set("k", b"value")
    now = time.time()

    monkeypatch.setattr(time, "time", lambda: now + DAY - 60)
    assert cache.get("k") == b"value"
    monkeypatch.setattr(time, "time", lambda: now + DAY + 60)
    assert cache.get("k") is None


def test_disk_cache_is_bounded_and_evicts_least_recently_used(tmp_path: Path) -> None:
    cache = disk_cache(tmp_path, max_bytes=3000)
    for name in "abc":
        cache.set(name, name.encode() * 1000)
        time.sleep(0.01)  # distinct access times
    assert cache.get("a") is not None
    time.sleep(0.01)

    cache.set("d", b"d" * 1000)

    assert cache.get("b") is None
    assert all(cache.get(k) is not None for k in "acd")


def test_a_disk_read_does_not_wait_for_a_write_in_progress(tmp_path: Path) -> None:
    """Reads have their own connection: a writer holding its transaction open (a batch of
    deferred writes being made) keeps no reader waiting, and the reader sees the last commit."""
    cache = disk_cache(tmp_path)
    cache.set("k", b"committed")
    writing, release = threading.Event(), threading.Event()
    seen: list[bytes | None] = []

    def slow_batch() -> None:
        with cache._lock:  # what set_many holds for the length of its transaction
            db = cache._connect()
            assert db is not None
            db.execute("INSERT OR REPLACE INTO entries VALUES ('k', x'00', '', 1, 0, 0)")
            writing.set()
            release.wait(30)
            db.rollback()

    writer = threading.Thread(target=slow_batch)
    writer.start()
    try:
        assert writing.wait(30)
        reader = threading.Thread(target=lambda: seen.append(cache.get("k")))
        reader.start()
        reader.join(30)
        assert not reader.is_alive(), "the read waited for the write"
        assert seen == [b"committed"]
    finally:
        release.set()
        writer.join()


def test_read_times_are_written_with_the_next_write_or_in_batches(tmp_path: Path) -> None:
    """A hit notes its time in memory; the next write (before it evicts) or the TOUCH_BATCH-th
    read writes the times, so eviction still sees what was read."""
    from glitchzap.cache.disk import TOUCH_BATCH

    cache = disk_cache(tmp_path)
    cache.set("k", b"v")

    def accessed() -> float:
        with sqlite3.connect(cache.path) as db:
            return float(db.execute("SELECT accessed FROM entries WHERE key = 'k'").fetchone()[0])

    before = accessed()
    time.sleep(0.01)
    assert cache.get("k") == b"v"
    assert accessed() == before  # noted, not written
    cache.set("other", b"x")
    after_write = accessed()
    assert after_write > before
    time.sleep(0.01)
    for _ in range(TOUCH_BATCH):
        assert cache.get("k") == b"v"
    assert accessed() > after_write  # written without a write to carry it
    time.sleep(0.01)
    cache.get("k")
    cache.close()
    assert accessed() > after_write  # close writes what is left


def test_the_database_file_is_flushed_every_sync_every_bytes_outside_the_write_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Written pages reach the disk a few MB at a time (not in one burst of everything the
    kernel's flusher finds 30 s old), flushed by the writing thread without holding the lock
    that a delete on a request path takes."""
    import os

    from glitchzap.cache import disk
    from glitchzap.cache.disk import SYNC_EVERY_BYTES

    cache = disk_cache(tmp_path, max_bytes=4 * SYNC_EVERY_BYTES)
    flushed: list[tuple[int, bool]] = []
    real = disk._datasync

    def spy(fd: int) -> None:
        flushed.append((os.fstat(fd).st_ino, cache._lock.locked()))
        real(fd)

    monkeypatch.setattr(disk, "_datasync", spy)
    quarter = os.urandom(SYNC_EVERY_BYTES // 4)
    for n in range(3):
        cache.set(f"k{n}", quarter)
    assert flushed == []
    cache.set_many([("k3", quarter), ("k4", b"x")])
    assert flushed == [(cache.path.stat().st_ino, False)]
    for n in range(5, 8):
        cache.set(f"k{n}", quarter)
    assert len(flushed) == 1  # counted afresh from the flush
    assert all(cache.get(f"k{n}") == quarter for n in (0, 1, 2, 3, 5, 6, 7))


def test_a_failed_flush_leaves_the_disk_cache_working(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glitchzap.cache import disk
    from glitchzap.cache.disk import SYNC_EVERY_BYTES

    def fails(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(disk, "_datasync", fails)
    cache = disk_cache(tmp_path, max_bytes=4 * SYNC_EVERY_BYTES)
    big = b"v" * SYNC_EVERY_BYTES
    cache.set("a", big)
    cache.set("b", b"w")
    assert (cache.get("a"), cache.get("b")) == (big, b"w")
    assert cache.stats()["disabled"] == 0


def test_disk_value_larger_than_the_cache_is_not_kept_and_not_stale(tmp_path: Path) -> None:
    cache = disk_cache(tmp_path, max_bytes=100)
    cache.set("k", b"old")
    cache.set("k", b"x" * 101)
    assert cache.get("k") is None


# --- tiers and named caches -----------------------------------------------------------------


def test_tiered_cache_promotes_lower_hits_to_memory(tmp_path: Path) -> None:
    lower = disk_cache(tmp_path)
    lower.set("k", b"value")
    memory = MemoryCache("t", 10**6)
    tiered = TieredCache("t", memory, lower)

    assert tiered.get("k") == b"value"  # from disk
    lower.delete("k")
    assert tiered.get("k") == b"value"  # now from memory
    assert (memory.hits, memory.misses, lower.hits) == (1, 1, 1)
    stats = tiered.stats()
    assert stats["hits"] == 2 and stats["memory_hits"] == 1 and stats["lower_hits"] == 1


def test_get_local_answers_from_memory_only_and_counts_only_hits(tmp_path: Path) -> None:
    lower = disk_cache(tmp_path)
    lower.set("on-disk", b"d")
    tiered = TieredCache("t", MemoryCache("t", 10**6), lower)
    tiered.set("both", b"b")

    assert tiered.get_local("both") == b"b"
    assert tiered.get_local("on-disk") is None  # the disk was not asked
    assert lower.hits == 0 and lower.misses == 0
    assert (tiered.hits, tiered.misses) == (1, 0)  # a local None is not a miss
    assert tiered.get("on-disk") == b"d"  # the full lookup still finds it...
    assert tiered.get_local("on-disk") == b"d"  # ...and promotes it
    assert lower.get_local("on-disk") is None  # a disk cache has no in-process tier
    assert MemoryCache("m", 10).get_local("x") is None


def test_disk_writes_never_pay_for_a_large_checkpoint(tmp_path: Path) -> None:
    """The log is copied back every 250 pages (~1 MB): 300 writes of 45 kB leave a log under
    2 MB, where SQLite's default (1000 pages) lets it reach ~4 MB and the write that crosses
    it pays for copying all of that."""
    cache = disk_cache(tmp_path, max_bytes=10**8)
    value = bytes(range(256)) * 176  # 45 kB
    for i in range(300):
        cache.set(f"k{i}", value)
    wal = cache.path.with_name(cache.path.name + "-wal")
    assert wal.stat().st_size <= 2 * 2**20
    assert cache.get("k7") == value and cache.get("k299") == value


def test_tiered_delete_and_clear_reach_both_tiers(tmp_path: Path) -> None:
    tiered = TieredCache("t", MemoryCache("t", 10**6), disk_cache(tmp_path))
    tiered.set("k", b"1")
    tiered.set("j", b"2")
    tiered.delete("k")
    assert tiered.get("k") is None
    tiered.clear()
    assert tiered.get("j") is None and tiered.lower.get("j") is None


def test_get_cache_follows_the_settings(settings: Settings) -> None:
    cache = current().cache("renders")
    assert current().cache("renders") is cache
    assert isinstance(cache, TieredCache)
    cache.set("k", b"v")
    assert (settings.cache_dir / "renders.sqlite3").exists()

    configure(data_dir=settings.data_dir, cache={"backend": "memory"})
    restart()
    assert isinstance(current().cache("renders"), MemoryCache)
    assert isinstance(build_cache("x", settings), TieredCache)


class HeldDiskCache(DiskCache):
    """A disk tier whose batch writes wait until `release` is set (a slow disk)."""

    def __init__(self, directory: Path) -> None:
        super().__init__("held", directory, 10**6, DAY)
        self.release = threading.Event()
        self.batches: list[int] = []

    def set_many(self, items: list[tuple[str, bytes]]) -> None:
        self.release.wait(10)
        self.batches.append(len(items))
        super().set_many(items)


def deferred(tmp_path: Path) -> tuple[TieredCache, HeldDiskCache]:
    lower = HeldDiskCache(tmp_path)
    cache = TieredCache("held", MemoryCache("held", 10**6), lower)
    cache.defer_writes()
    return cache, lower


def test_deferred_writes_are_read_back_before_they_land_and_land_in_batches(
    tmp_path: Path,
) -> None:
    """With writes deferred, `set` returns at once (the disk is held); a value still queued
    is read from the queue once the memory tier has dropped it; the writer then writes the
    queue in batches, not a transaction per value."""
    cache, lower = deferred(tmp_path)
    for i in range(50):
        cache.set(f"k{i}", b"v%d" % i)  # returns although the disk does not take it yet
    assert lower.get("k0") is None
    cache.memory.clear()
    assert cache.get("k49") == b"v49"  # from the queue
    lower.release.set()
    cache.flush()
    assert [lower.get(f"k{i}") for i in range(50)] == [b"v%d" % i for i in range(50)]
    assert sum(lower.batches) == 50 and len(lower.batches) < 10, lower.batches
    assert cache.stats()["deferred_writes"] == 50


def test_a_deferred_write_deleted_before_it_lands_never_comes_back(tmp_path: Path) -> None:
    cache, lower = deferred(tmp_path)
    cache.set("gone", b"old")
    cache.set("kept", b"yes")
    threading.Timer(0.2, lower.release.set).start()  # delete waits for the batch in flight
    cache.delete("gone")
    cache.flush()
    assert cache.get("gone") is None and lower.get("gone") is None
    assert lower.get("kept") == b"yes"
    cache.set("later", b"x")
    cache.clear()
    cache.flush()
    assert lower.get("later") is None and lower.get("kept") is None


def test_a_full_write_queue_makes_the_caller_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Past MAX_DEFERRED_BYTES waiting (the disk fell behind), `set` writes the value itself:
    the queue, and memory, stay bounded."""
    from glitchzap.cache import tiered

    monkeypatch.setattr(tiered, "MAX_DEFERRED_BYTES", 1000)
    cache, lower = deferred(tmp_path)
    cache.set("queued", bytes(800))
    caller = threading.Thread(target=cache.set, args=("direct", bytes(800)))
    caller.start()
    time.sleep(0.2)
    assert caller.is_alive()  # writing itself, so held by the slow disk too
    lower.release.set()
    caller.join(5)
    cache.flush()
    assert lower.get("queued") == bytes(800) and lower.get("direct") == bytes(800)


def test_a_server_runtime_defers_result_writes_but_not_uploads(tmp_path: Path) -> None:
    runtime = configure(None, data_dir=tmp_path, cache={"backend": "disk"})
    try:
        runtime.cache("images")
        runtime.defer_cache_writes()
        for name in ("renders", "masks", "images"):
            cache = runtime.cache(name)
            assert isinstance(cache, TieredCache)
            assert (cache._writer is not None) == (name != "images"), name
        runtime.cache("renders").set("k", b"v")
    finally:
        runtime.close()  # flushes the queue
    assert DiskCache("renders", tmp_path / "cache", 10**6, DAY).get("k") == b"v"


# --- codecs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.bool_, np.int64])
def test_array_codec_round_trip(dtype: type, rng: np.random.Generator) -> None:
    array = (rng.random((5, 7, 3)) * 100).astype(dtype)
    decoded = decode_array(encode_array(array))
    assert decoded is not None and decoded.dtype == array.dtype
    np.testing.assert_array_equal(decoded, array)
    decoded[0, 0, 0] = 0  # writable, like np.load's result


def test_array_codec_keeps_fortran_ordered_arrays() -> None:
    array = np.asfortranarray(np.arange(12, dtype=np.int16).reshape(3, 4))
    buffer = io.BytesIO()
    np.save(buffer, array)  # a Fortran-ordered NPY, as another writer might store it
    np.testing.assert_array_equal(decode_array(buffer.getvalue()), array)


@pytest.mark.parametrize(
    "array",
    [np.zeros((500, 32), np.uint8), np.ones((40, 40, 3), np.float16), np.arange(5, dtype=">i2"),
     np.zeros((0, 2), np.float32), np.zeros((3, 1, 2), bool),
     np.asfortranarray(np.arange(12).reshape(3, 4))],
)  # fmt: skip
def test_the_fast_header_path_reads_what_numpy_reads(array: np.ndarray) -> None:
    """Headers numpy writes are parsed by one regular expression (the template matcher reads
    thousands per query); the array is the one np.load gives, and a header it does not
    recognise still goes through numpy's own reader."""
    from glitchzap.cache.codec import _simple_header

    buffer = io.BytesIO()
    np.save(buffer, array)
    data = buffer.getvalue()
    assert _simple_header(data) is not None
    decoded, expected = decode_array(data), np.load(io.BytesIO(data))
    assert decoded is not None and decoded.dtype == expected.dtype
    np.testing.assert_array_equal(decoded, expected)
    spaced = data.replace(b"'shape': (", b"'shape':  (", 1)[: len(data)]  # other spacing
    assert _simple_header(spaced) is None


def test_decode_array_refuses_pickled_object_arrays() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    assert decode_array(buffer.getvalue()) is None
    with pytest.raises(ValueError):
        encode_array(np.array([{"a": 1}], dtype=object))
    # An object header followed by exactly as many bytes as its pointers would take.
    crafted = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        crafted, {"descr": "|O", "fortran_order": False, "shape": (2,)}
    )
    assert decode_array(crafted.getvalue() + bytes(2 * np.dtype(object).itemsize)) is None


def test_decode_array_refuses_damaged_and_foreign_bytes() -> None:
    good = encode_array(np.arange(100, dtype=np.uint16))
    npz = io.BytesIO()
    np.savez(npz, a=np.zeros(3))
    huge = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        huge, {"descr": "<u1", "fortran_order": False, "shape": (10**12,)}
    )
    for data in (b"", b"garbage", good[:-1], good + b"x", npz.getvalue(), huge.getvalue()):
        assert decode_array(data) is None


def test_json_codec() -> None:
    value = {"boxes": [[1, 2, 3, 4]], "text": "ÇA VA", "score": 0.5}
    assert decode_json(encode_json(value)) == value
    assert decode_json(b"\xff\xfe not json") is None
    assert decode_json(b"[" * 100_000) is None  # too deep: a miss, not a RecursionError


def _open_together(directory: str, start: Any, index: int) -> bool:
    from glitchzap.cache.disk import DiskCache

    start.wait()
    cache = DiskCache("shared", Path(directory), 1 << 20, 3600)
    cache.set(f"key{index}", b"value")
    return not cache._disabled and cache.get(f"key{index}") == b"value"


def test_processes_opening_a_new_disk_cache_together_all_keep_it(tmp_path: Path) -> None:
    """Batch workers start together on an empty data dir: none may lose its disk tier."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    context = multiprocessing.get_context("spawn")
    processes = 6
    with context.Manager() as manager, ProcessPoolExecutor(processes, context) as pool:
        for round_ in range(4):
            start = manager.Barrier(processes)
            directory = str(tmp_path / f"round{round_}")
            results = list(pool.map(_open_together, [directory] * processes,
                                    [start] * processes, range(processes)))  # fmt: skip
            assert all(results), f"round {round_}: {results}"


def test_disk_cache_total_matches_the_database_whoever_writes(tmp_path: Path) -> None:
    """The bytes stored are counted in the database itself (no SUM over every entry on a
    write): through replaces, deletes, expired entries and evictions, from two connections
    to one file (two worker processes), the count equals what is stored and the budget holds."""
    first = disk_cache(tmp_path, max_bytes=20_000)
    second = disk_cache(tmp_path, max_bytes=20_000)
    rng = np.random.default_rng(5)
    for i in range(300):
        cache = (first, second)[i % 2]
        key = f"k{rng.integers(0, 40)}"
        if i % 17 == 0:
            cache.delete(key)
        else:
            cache.set(key, bytes(int(rng.integers(1, 3000))))
    with sqlite3.connect(first.path) as db:
        (stored,) = db.execute("SELECT COALESCE(SUM(length(value)), 0) FROM entries").fetchone()
        (counted,) = db.execute("SELECT bytes FROM totals").fetchone()
    assert 0 < stored == counted <= 20_000
    second.clear()
    with sqlite3.connect(first.path) as db:
        assert db.execute("SELECT bytes FROM totals").fetchone() == (0,)


def test_a_disk_cache_from_before_the_totals_table_is_counted_once_opened(
    tmp_path: Path,
) -> None:
    """A cache file written by an earlier version (no `totals` table) is summed when opened."""
    with sqlite3.connect(tmp_path / "test.sqlite3") as db:
        db.execute(
            "CREATE TABLE entries (key TEXT PRIMARY KEY, value BLOB NOT NULL, digest TEXT NOT"
            " NULL, size INTEGER NOT NULL, created REAL NOT NULL, accessed REAL NOT NULL)"
        )
        now = time.time()
        db.execute(
            "INSERT INTO entries VALUES ('old', ?, 'x', 1500, ?, ?)", (bytes(1500), now, now)
        )
    cache = disk_cache(tmp_path, max_bytes=2_000)
    cache.set("new", bytes(1000))  # 2,500 bytes > 2,000: the old entry goes
    assert cache.get("new") == bytes(1000)
    with sqlite3.connect(cache.path) as db:
        assert db.execute("SELECT key FROM entries").fetchall() == [("new",)]
        assert db.execute("SELECT bytes FROM totals").fetchone() == (1000,)
