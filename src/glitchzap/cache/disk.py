"""SQLite-backed cache that survives restarts.

Each value is stored with its digest; an entry whose bytes no longer match (a torn write, a
disk error, someone editing the file) is deleted and reported as a miss. A database file that
is damaged or is not a database is moved aside (`<name>.sqlite3.corrupt`) and the cache starts
empty. A busy database (another process writing) makes that one call a miss. A cache directory
that cannot be written disables the cache with one warning instead of failing the operation that
wanted to cache.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from pathlib import Path

from blake3 import blake3

from glitchzap.cache.base import Cache

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    value BLOB NOT NULL,
    digest TEXT NOT NULL,
    size INTEGER NOT NULL,
    created REAL NOT NULL,
    accessed REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS entries_accessed ON entries(accessed);
CREATE TABLE IF NOT EXISTS totals (id INTEGER PRIMARY KEY CHECK (id = 0), bytes INTEGER NOT NULL);
INSERT OR IGNORE INTO totals SELECT 0, COALESCE(SUM(size), 0) FROM entries;
CREATE TRIGGER IF NOT EXISTS entries_added AFTER INSERT ON entries
    BEGIN UPDATE totals SET bytes = bytes + NEW.size WHERE id = 0; END;
CREATE TRIGGER IF NOT EXISTS entries_removed AFTER DELETE ON entries
    BEGIN UPDATE totals SET bytes = bytes - OLD.size WHERE id = 0; END;
"""

CORRUPT_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
OPEN_ATTEMPTS = 8  # ~1.4 s of back-off in all
# The bytes stored are kept in the `totals` row by triggers, in the transaction of every insert
# and delete, whichever process makes it: the eviction check reads one row. Summing the sizes
# walked every entry (18 ms at 20,000 entries): on every write it took a quarter of the API
# server's time under all-miss load, and re-read every 256 writes it stalled the API's p99.
EVICT_BATCH = 32  # least recently read entries read per query while evicting
TOUCH_BATCH = 64  # reads noted before their times are written without a write to carry them
# Durability traded for latency, as suits a cache: with synchronous=NORMAL the write that
# crossed SQLite's 1000-page auto-checkpoint copied and fsynced 4 MB itself (~7 ms every ~66th
# 45 kB render result: the API's p99). Without fsync and with a checkpoint every 250 pages,
# the slowest write of 1500 took 1.4 ms and the mean halved. A power cut can then damage the
# file: it is moved aside like any damaged database and the cache starts empty.
SYNCHRONOUS = "OFF"
AUTOCHECKPOINT_PAGES = 250
# Without fsync the written pages stayed dirty until the kernel's flusher took every page older
# than 30 s (vm.dirty_expire_centisecs) in one burst: ~400 MB under all-miss API load. Each
# burst stalled the API's event loops for 20-60 ms (IO pressure "full" in /proc/pressure/io),
# every ~30 s, which set the open-loop p99 of a run that met one. The writer thread flushes the
# database file itself after every SYNC_EVERY_BYTES of values instead (outside the write lock,
# so nothing on a request path waits for it): the same bytes reach the disk, a few MB at a time.
SYNC_EVERY_BYTES = 4 * 1024 * 1024
_datasync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync


def _digest(value: bytes) -> str:
    """The integrity check kept beside each value (BLAKE3: ~4x cheaper than BLAKE2b on a
    45 kB render, and computed on every write and every hit)."""
    return blake3(value).hexdigest(length=16)


def _primary_code(exc: sqlite3.Error) -> int:
    """SQLite's primary result code (the low byte of the extended code), or -1."""
    return int(getattr(exc, "sqlite_errorcode", -1) or -1) & 0xFF


class DiskCache(Cache):
    def __init__(self, name: str, directory: Path, max_bytes: int, expiry_seconds: float) -> None:
        super().__init__(name)
        self.path = Path(directory) / f"{name}.sqlite3"
        self.max_bytes = max_bytes
        self.expiry_seconds = expiry_seconds
        self._lock = threading.Lock()  # the writing connection; taken before _read_lock
        self._db: sqlite3.Connection | None = None
        self._read_lock = threading.Lock()
        self._reader: sqlite3.Connection | None = None
        self._touch_lock = threading.Lock()
        self._touched: dict[str, float] = {}
        self._touches = 0  # reads noted since the times were last written
        self._disabled = False
        self.errors = 0
        self._unsynced = 0  # bytes written since the file was last flushed (writer only)

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is not None or self._disabled:
            return self._db
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._open_db()
        except sqlite3.DatabaseError as exc:
            if _primary_code(exc) not in CORRUPT_CODES:
                self._fail("open", exc)
                return None
            self._quarantine(exc)
            try:
                self._db = self._open_db()
            except (OSError, sqlite3.Error) as retry_exc:
                self._fail("recreate", retry_exc)
        except (OSError, sqlite3.Error) as exc:
            self._fail("open", exc)
        return self._db

    def _open_db(self) -> sqlite3.Connection:
        # Processes opening a new database together (batch workers) can find it busy while
        # another switches it to WAL, where SQLite does not wait: retry before giving up.
        for attempt in range(OPEN_ATTEMPTS - 1):
            try:
                return self._open_db_once()
            except sqlite3.Error as exc:
                if _primary_code(exc) not in BUSY_CODES:
                    raise
                time.sleep(0.05 * (attempt + 1))
        return self._open_db_once()

    def _open_db_once(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, check_same_thread=False, timeout=5)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={SYNCHRONOUS}")
            db.execute(f"PRAGMA wal_autocheckpoint={AUTOCHECKPOINT_PAGES}")
            db.execute("PRAGMA recursive_triggers=ON")  # INSERT OR REPLACE's delete counts too
            db.executescript(_SCHEMA)
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _quarantine(self, exc: sqlite3.Error) -> None:
        """Move a damaged database aside so the next call starts an empty one."""
        self.errors += 1
        self._close_connections()
        corrupt = self.path.with_name(self.path.name + ".corrupt")
        log.warning("disk cache %s: %s is damaged (%s); moved to %s, starting empty",
                    self.name, self.path, exc, corrupt)  # fmt: skip
        try:
            if self.path.exists():
                self.path.replace(corrupt)
            for suffix in ("-wal", "-shm"):  # journal files of the old database
                self.path.with_name(self.path.name + suffix).unlink(missing_ok=True)
        except OSError as move_exc:
            self._fail("move aside", move_exc)

    def _fail(self, action: str, exc: Exception) -> None:
        self.errors += 1
        if not self._disabled:
            log.warning(
                "disk cache %s disabled: cannot %s %s (%s)", self.name, action, self.path, exc
            )
        self._disabled = True
        self._close_connections()

    def _close_connections(self) -> None:
        """Close both connections (the caller holds the write lock)."""
        if self._db is not None:
            self._db.close()
            self._db = None
        self._close_reader()

    def _close_reader(self) -> None:
        with self._read_lock:
            if self._reader is not None:
                self._reader.close()
                self._reader = None

    def _failed_call(self, action: str, exc: sqlite3.Error) -> None:
        """Busy: this call is a miss. Damaged: start afresh. Anything else: disable."""
        code = _primary_code(exc)
        if code in BUSY_CODES:
            self.errors += 1
            log.debug("disk cache %s busy during %s: %s", self.name, action, exc)
            try:  # leave no half-done write open on the shared connection
                if self._db is not None and self._db.in_transaction:
                    self._db.rollback()
            except sqlite3.Error as rollback_exc:
                self._fail("roll back", rollback_exc)
        elif code in CORRUPT_CODES:
            self._quarantine(exc)
        else:
            self._fail(action, exc)

    def _get(self, key: str) -> bytes | None:
        db = self._reader_db()
        if db is None:
            return None
        error: sqlite3.Error | None = None
        with self._read_lock:
            if self._reader is not db:  # closed meanwhile (damaged, disabled, closed)
                return None
            try:
                # fetchall: the statement ends here, so no read snapshot stays open to hold
                # the WAL's checkpoints back.
                rows = db.execute(
                    "SELECT value, digest, created FROM entries WHERE key = ?", (key,)
                ).fetchall()
            except sqlite3.Error as exc:
                error = exc
        if error is not None:
            self._failed_read(error)
            return None
        if not rows:
            return None
        value, digest, created = rows[0]
        now = time.time()
        if (
            not isinstance(value, bytes)  # a column rewritten as text or a number
            or not isinstance(created, int | float)
            or now - created > self.expiry_seconds
            or _digest(value) != digest
        ):
            self.delete(key)
            return None
        self._touch(key, now)
        return value

    def _reader_db(self) -> sqlite3.Connection | None:
        """The connection reads go through: their own, so that a read never waits for the
        write transaction in progress (WAL readers see the last commit). The writer's
        connection is opened first: it creates, repairs or disables the file."""
        with self._read_lock:
            if self._reader is not None or self._disabled:
                return self._reader
            if self._db is not None:
                return self._open_reader()
        with self._lock:
            if self._connect() is None:
                return None
            with self._read_lock:
                return self._reader or self._open_reader()

    def _open_reader(self) -> sqlite3.Connection | None:
        """Open the reading connection (the caller holds the read lock): on the file as it
        is, never creating one (mode=rw), so a file moved aside meanwhile is a miss."""
        try:
            self._reader = sqlite3.connect(
                f"{self.path.resolve().as_uri()}?mode=rw", uri=True, check_same_thread=False
            )
        except sqlite3.Error as exc:
            self.errors += 1
            log.debug("disk cache %s: cannot open for reading: %s", self.name, exc)
        return self._reader

    def _failed_read(self, exc: sqlite3.Error) -> None:
        """A damaged file is moved aside (as for a write); any other failure of a read is
        that read's miss, with the reading connection reopened next time (the file may have
        been replaced under it). Only the writer disables the cache."""
        if _primary_code(exc) in CORRUPT_CODES:
            with self._lock:
                self._quarantine(exc)
            return
        self.errors += 1
        log.debug("disk cache %s: read failed: %s", self.name, exc)
        self._close_reader()

    def _touch(self, key: str, now: float) -> None:
        """Note that `key` was read at `now`. The `accessed` times are written with the next
        write (before it evicts, so eviction sees them) or once TOUCH_BATCH have gathered:
        a hit writes nothing and waits for no writer."""
        with self._touch_lock:
            self._touched[key] = now
            self._touches += 1
            due = self._touches >= TOUCH_BATCH
        if due:
            with self._lock:
                self._store([])  # the noted read times alone

    def _write_touches(self, db: sqlite3.Connection) -> None:
        with self._touch_lock:
            touched, self._touched, self._touches = self._touched, {}, 0
        if touched:
            db.executemany(
                "UPDATE entries SET accessed = ? WHERE key = ?",
                [(when, key) for key, when in touched.items()],
            )

    def _set(self, key: str, value: bytes) -> None:
        self.set_many([(key, value)])

    def set_many(self, items: list[tuple[str, bytes]]) -> None:
        """Store the values in one transaction (a batch of deferred writes commits once);
        flush the file once SYNC_EVERY_BYTES have been written since the last flush."""
        with self._lock:
            if not self._store(items):
                return
            self._unsynced += sum(len(value) for _, value in items)
            if self._unsynced < SYNC_EVERY_BYTES:
                return
            self._unsynced = 0
        self._flush_file()

    def _store(self, items: list[tuple[str, bytes]]) -> bool:
        """One transaction with the noted read times (the caller holds the write lock); False
        when nothing was written."""
        db = self._connect()
        if db is None:
            return False
        now = time.time()
        try:
            for key, value in items:
                if len(value) > self.max_bytes:
                    # Not kept, but an older value under this key must not be served.
                    db.execute("DELETE FROM entries WHERE key = ?", (key,))
                else:
                    db.execute(
                        "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?)",
                        (key, bytes(value), _digest(value), len(value), now, now),
                    )
            self._write_touches(db)
            self._evict(db)
            db.commit()
        except sqlite3.Error as exc:
            self._failed_call("write", exc)
            return False
        return True

    def _flush_file(self) -> None:
        """Write the database file's dirty pages to the disk now (the WAL's are rewritten in
        place and stay few). A failure only leaves them to the kernel."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError as exc:  # moved aside meanwhile, or not readable
            log.debug("disk cache %s: cannot open %s to flush it: %s", self.name, self.path, exc)
            return
        try:
            _datasync(fd)
        except OSError as exc:
            log.debug("disk cache %s: flushing %s failed: %s", self.name, self.path, exc)
        finally:
            os.close(fd)

    def _evict(self, db: sqlite3.Connection) -> None:
        """Delete the least recently read entries until the total fits the budget (reading
        them from the `accessed` index a few at a time: usually one or two go)."""
        (total,) = db.execute("SELECT bytes FROM totals WHERE id = 0").fetchone()
        while total > self.max_bytes:
            # length() of a blob is read from the record header: no overflow pages.
            oldest = db.execute(
                "SELECT key, length(value) FROM entries ORDER BY accessed LIMIT ?",
                (EVICT_BATCH,),
            ).fetchall()
            if not oldest:
                return
            for key, size in oldest:
                if total <= self.max_bytes:
                    return
                db.execute("DELETE FROM entries WHERE key = ?", (key,))
                total -= size

    def delete(self, key: str) -> None:
        with self._lock:
            db = self._connect()
            if db is not None:
                try:
                    db.execute("DELETE FROM entries WHERE key = ?", (key,))
                    db.commit()
                except sqlite3.Error as exc:
                    self._failed_call("delete from", exc)

    def clear(self) -> None:
        with self._lock:
            db = self._connect()
            if db is not None:
                try:
                    db.execute("DELETE FROM entries")
                    db.commit()
                except sqlite3.Error as exc:
                    self._failed_call("clear", exc)

    def close(self) -> None:
        with self._lock:
            if self._db is not None and self._touched:
                self._store([])  # the noted read times alone
            self._close_connections()

    def stats(self) -> dict[str, float | int | str]:
        return {
            **super().stats(),
            "path": str(self.path),
            "errors": self.errors,
            "disabled": int(self._disabled),
        }
