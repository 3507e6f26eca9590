"""The template index: one SQLite file (metadata, features, FTS5 text index) beside the images.

Layout under `<templates_dir>`: `index.sqlite3` plus one memegen-style folder per template,
`<id>/config.yml` and `<id>/default.<ext>`, so memegen-compatible readers (the API's
`/templates`) see the same templates. Arrays are stored as NPY bytes (never pickle).
"""

from __future__ import annotations

import json
import re
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from glitchzap.errors import ConfigError, InvalidParameters

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
SCHEMA_VERSION = 1
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS templates (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    keywords TEXT NOT NULL,      -- JSON list of strings
    example TEXT NOT NULL,       -- JSON list of example captions
    text_boxes TEXT NOT NULL,    -- JSON list of memegen text boxes
    source TEXT,
    origin TEXT NOT NULL,        -- memegen | user | starter
    image_file TEXT NOT NULL,    -- file name inside <id>/
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    digest TEXT NOT NULL,        -- of the stored image bytes
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS features (
    id TEXT PRIMARY KEY REFERENCES templates(id) ON DELETE CASCADE,
    version INTEGER NOT NULL,
    descriptors BLOB NOT NULL,   -- NPY float32 (trims, D)
    keys BLOB NOT NULL,          -- NPY uint16 vote keys of the strongest keypoints
    points BLOB NOT NULL,        -- NPY float32 (N, 2)
    orb BLOB NOT NULL            -- NPY uint8 (N, 32)
);
CREATE VIRTUAL TABLE IF NOT EXISTS templates_fts USING fts5(
    id UNINDEXED, name, keywords, example, tokenize = 'porter unicode61'
);
"""


def check_id(template_id: str) -> str:
    """`template_id` when it is a safe slug ([a-z0-9][a-z0-9_-]*, 1-64 long); else raises."""
    if not isinstance(template_id, str) or not ID_PATTERN.match(template_id):
        raise InvalidParameters(
            f"Invalid template id {template_id!r}: use 1-64 of a-z, 0-9, '-' and '_', "
            "starting with a letter or digit"
        )
    return template_id


def slugify(text: str) -> str:
    """A safe id made from a display name ('Bad Luck Brian' -> 'bad-luck-brian')."""
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:64].strip("-")
    return slug or "template"


class Store:
    """Thread-safe access to the index database (one connection, one lock)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.root / "index.sqlite3", check_same_thread=False)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"Cannot open the template library at {self.root}: {exc}") from exc
        self._db.row_factory = sqlite3.Row
        self._lock = threading.RLock()
        with self._lock:
            self._db.execute("PRAGMA foreign_keys = ON")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.executescript(SCHEMA)
            self._db.execute(
                "INSERT OR IGNORE INTO meta VALUES ('schema', ?), ('generation', '0')",
                (str(SCHEMA_VERSION),),
            )
            self._db.commit()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction that also bumps the generation (other readers rebuild)."""
        with self._lock:
            try:
                yield self._db
                self._db.execute(
                    "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'generation'"
                )
                self._db.commit()
            except BaseException:
                self._db.rollback()
                raise

    def query(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._db.execute(sql, params).fetchall()

    def generation(self) -> int:
        return int(self.query("SELECT value FROM meta WHERE key = 'generation'")[0][0])

    def folder(self, template_id: str) -> Path:
        """The folder of a template; the id is validated before it touches a path."""
        return self.root / check_id(template_id)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)
