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
"""

CORRUPT_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
BUSY_CODES = {sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED}
OPEN_ATTEMPTS = 8  # ~1.4 s of back-off in all
# The size total is kept in memory and re-read from the database every RESYNC_SETS writes (other
# processes write to the same file). Summing `size` on every write walked every blob's overflow
# pages (the column sits after the blob): a quarter of the API server's time under all-miss load.
RESYNC_SETS = 256
EVICT_BATCH = 32  # least recently read entries read per query while evicting
# Durability traded for latency, as suits a cache: with synchronous=NORMAL the write that
# crossed SQLite's 1000-page auto-checkpoint copied and fsynced 4 MB itself (~7 ms every ~66th
# 45 kB render result: the API's p99). Without fsync and with a checkpoint every 250 pages,
# the slowest write of 1500 took 1.4 ms and the mean halved. A power cut can then damage the
# file: it is moved aside like any damaged database and the cache starts empty.
SYNCHRONOUS = "OFF"
AUTOCHECKPOINT_PAGES = 250


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
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._disabled = False
        self.errors = 0
        self._total: int | None = None  # bytes stored, None: read it from the database
        self._sets_since_sync = 0

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
            db.executescript(_SCHEMA)
        except sqlite3.Error:
            db.close()
            raise
        return db

    def _quarantine(self, exc: sqlite3.Error) -> None:
        """Move a damaged database aside so the next call starts an empty one."""
        self.errors += 1
        self._total = None
        if self._db is not None:
            self._db.close()
            self._db = None
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
        if self._db is not None:
            self._db.close()
        self._db = None

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
        with self._lock:
            db = self._connect()
            if db is None:
                return None
            try:
                row = db.execute(
                    "SELECT value, digest, created FROM entries WHERE key = ?", (key,)
                ).fetchone()
                if row is None:
                    return None
                value, digest, created = row
                now = time.time()
                if (
                    not isinstance(value, bytes)  # a column rewritten as text or a number
                    or not isinstance(created, int | float)
                    or now - created > self.expiry_seconds
                    or _digest(value) != digest
                ):
                    db.execute("DELETE FROM entries WHERE key = ?", (key,))
                    db.commit()
                    self._total = None
                    return None
                db.execute("UPDATE entries SET accessed = ? WHERE key = ?", (now, key))
                db.commit()
                return value
            except sqlite3.Error as exc:
                self._failed_call("read", exc)
                return None

    def _set(self, key: str, value: bytes) -> None:
        with self._lock:
            db = self._connect()
            if db is None:
                return
            now = time.time()
            try:
                if len(value) > self.max_bytes:
                    # Not kept, but an older value under this key must not be served instead.
                    db.execute("DELETE FROM entries WHERE key = ?", (key,))
                    self._total = None
                else:
                    total = self._size_total(db)
                    # length() of a blob is read from the record header: no overflow pages.
                    old = db.execute(
                        "SELECT length(value) FROM entries WHERE key = ?", (key,)
                    ).fetchone()
                    db.execute(
                        "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?)",
                        (key, bytes(value), _digest(value), len(value), now, now),
                    )
                    self._total = total + len(value) - (old[0] if old else 0)
                    if self._total > self.max_bytes:
                        self._evict(db)
                db.commit()
            except sqlite3.Error as exc:
                self._failed_call("write", exc)

    def _size_total(self, db: sqlite3.Connection) -> int:
        """Bytes stored: the running total, re-read every RESYNC_SETS writes."""
        if self._total is None or self._sets_since_sync >= RESYNC_SETS:
            (total,) = db.execute("SELECT COALESCE(SUM(length(value)), 0) FROM entries").fetchone()
            self._total, self._sets_since_sync = int(total), 0
        self._sets_since_sync += 1
        return self._total

    def _evict(self, db: sqlite3.Connection) -> None:
        """Delete the least recently read entries until the total fits the budget (reading
        them from the `accessed` index a few at a time: usually one or two go)."""
        assert self._total is not None
        while self._total > self.max_bytes:
            oldest = db.execute(
                "SELECT key, length(value) FROM entries ORDER BY accessed LIMIT ?",
                (EVICT_BATCH,),
            ).fetchall()
            if not oldest:
                self._total = 0
                return
            for key, size in oldest:
                if self._total <= self.max_bytes:
                    return
                db.execute("DELETE FROM entries WHERE key = ?", (key,))
                self._total -= size

    def delete(self, key: str) -> None:
        with self._lock:
            db = self._connect()
            if db is not None:
                try:
                    db.execute("DELETE FROM entries WHERE key = ?", (key,))
                    db.commit()
                    self._total = None
                except sqlite3.Error as exc:
                    self._failed_call("delete from", exc)

    def clear(self) -> None:
        with self._lock:
            db = self._connect()
            if db is not None:
                try:
                    db.execute("DELETE FROM entries")
                    db.commit()
                    self._total = None
                except sqlite3.Error as exc:
                    self._failed_call("clear", exc)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    def stats(self) -> dict[str, float | int | str]:
        return {
            **super().stats(),
            "path": str(self.path),
            "errors": self.errors,
            "disabled": int(self._disabled),
        }
