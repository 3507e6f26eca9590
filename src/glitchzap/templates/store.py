"""The template store: one SQLite file (metadata, features, FTS5 text index) beside the images,
and the reads and writes of one template (get, list, write, delete) that keep the two in step.

Layout under `<templates_dir>`: `index.sqlite3` plus one memegen-style folder per template,
`<id>/config.yml` and `<id>/default.<ext>` (and, as in memegen, a `default.gif` beside a still
picture for an animated template), so memegen-compatible readers (the API's `/templates`) see
the same templates. Arrays are stored as NPY bytes (never pickle). Writing a
template also computes its matching features (`match.describe`), so a stored template is always
ready to match, and, when the store has a CLIP backend, its CLIP image embedding (kept per
model; `embeddings.py` fills in those a template lacks).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import yaml

from glitchzap.cache.codec import encode_array
from glitchzap.errors import ConfigError, InvalidParameters, NotFound
from glitchzap.templates import match as m
from glitchzap.templates.records import Template, memegen_boxes, string_list

if TYPE_CHECKING:
    from glitchzap.templates.clip import ClipBackend

FEATURES_VERSION = 5  # bump when match.py changes what is stored: old rows are recomputed
ANIMATION_SUFFIX = ".gif"  # memegen's animated picture is always `default.gif`
ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
log = logging.getLogger(__name__)

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
    orb BLOB NOT NULL,           -- NPY uint8 (N, 32)
    dense BLOB                   -- NPY float16 dense thumbnail (NULL in rows before version 4)
);
CREATE TABLE IF NOT EXISTS clip_embeddings (
    id TEXT NOT NULL REFERENCES templates(id) ON DELETE CASCADE,
    model TEXT NOT NULL,         -- ClipBackend.model_digest
    digest TEXT NOT NULL,        -- templates.digest it was computed from (else stale)
    vector BLOB NOT NULL,        -- NPY float32 (D,), L2-normalised
    PRIMARY KEY (id, model)
);
CREATE TABLE IF NOT EXISTS template_uses (  -- how often each was opened: "popular first"
    id TEXT PRIMARY KEY REFERENCES templates(id) ON DELETE CASCADE,
    uses INTEGER NOT NULL
);
CREATE VIRTUAL TABLE IF NOT EXISTS templates_fts USING fts5(
    id UNINDEXED, name, keywords, example, tokenize = 'porter unicode61'
);
"""


def check_id(template_id: str) -> str:
    """`template_id` when it is a safe slug ([a-z0-9][a-z0-9_-]*, 1-64 long); else raises."""
    if not isinstance(template_id, str) or not ID_PATTERN.fullmatch(template_id):
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
    """Thread-safe access to the index database (one connection, one lock). With `clip`,
    writing a template also stores its CLIP image embedding."""

    def __init__(self, root: Path, clip: ClipBackend | None = None) -> None:
        self.root = Path(root)
        self.clip = clip
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
            columns = {row[1] for row in self._db.execute("PRAGMA table_info(features)")}
            if "dense" not in columns:  # a library written before the dense check
                self._db.execute("ALTER TABLE features ADD COLUMN dense BLOB")
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

    def stale_ids(self) -> list[str]:
        """Templates whose matching features are missing or of an older FEATURES_VERSION."""
        rows = self.query(
            "SELECT t.id FROM templates t LEFT JOIN features f ON f.id = t.id "
            "WHERE f.version IS NULL OR f.version != ? ORDER BY t.id",
            (FEATURES_VERSION,),
        )
        return [row["id"] for row in rows]

    def folder(self, template_id: str) -> Path:
        """The folder of a template; the id is validated before it touches a path."""
        return self.root / check_id(template_id)

    # ---- templates -----------------------------------------------------------------------

    def count(self) -> int:
        return int(self.query("SELECT COUNT(*) FROM templates")[0][0])

    def templates(self, origin: str | None = None, popular: bool = False) -> list[Template]:
        """Every template (or those of one origin), sorted by id, or most used first."""
        where, params = ("WHERE t.origin = ?", (origin,)) if origin is not None else ("", ())
        order = "COALESCE(u.uses, 0) DESC, t.id" if popular else "t.id"
        rows = self.query(
            f"SELECT t.* FROM templates t LEFT JOIN template_uses u ON u.id = t.id {where} "
            f"ORDER BY {order}",
            params,
        )
        return [self._template(row) for row in rows]

    def record_use(self, template_id: str) -> None:
        """Count one use of a template (for "popular first"). Not a change of the library: the
        generation stays, so no replica rebuilds its match index. A busy or read-only index
        loses the count, nothing else."""
        with self._lock:
            try:
                self._db.execute(
                    "INSERT INTO template_uses VALUES (?, 1) "
                    "ON CONFLICT(id) DO UPDATE SET uses = uses + 1",
                    (template_id,),
                )
                self._db.commit()
            except sqlite3.Error as exc:  # unknown id (foreign key), busy, read-only
                self._db.rollback()
                log.debug("template use of %r not counted: %s", template_id, exc)

    def get(self, template_id: str) -> Template:
        """The template called `template_id`, else NotFound."""
        rows = self.query("SELECT * FROM templates WHERE id = ?", (check_id(template_id),))
        if not rows:
            raise NotFound(f"No template {template_id!r}: see `glitchzap templates list`")
        return self._template(rows[0])

    def exists(self, template_id: str) -> bool:
        return bool(self.query("SELECT 1 FROM templates WHERE id = ?", (template_id,)))

    def _template(self, row: sqlite3.Row) -> Template:
        image_path = self.folder(row["id"]) / row["image_file"]
        return Template(
            id=row["id"], name=row["name"], keywords=string_list(loads(row["keywords"])),
            example=string_list(loads(row["example"])),
            text_boxes=memegen_boxes(loads(row["text_boxes"])), source=row["source"],
            origin=row["origin"], image_path=image_path, width=row["width"],
            height=row["height"], animation_path=_animation_path(image_path),
        )  # fmt: skip

    def write(
        self, template_id: str, *, name: str, keywords: Sequence[str], example: Sequence[str],
        boxes: list[dict[str, Any]], source: str | None, origin: str, data: bytes,
        pixels: np.ndarray, animation: bytes | None = None,
    ) -> None:  # fmt: skip
        """Store a template (replacing one with the same id): its folder (`default.<ext>` with
        `data` as given, `config.yml`, and `animation`, GIF bytes, as `default.gif` beside a
        still picture), its row, its matching features (of `pixels`), its text entry and,
        with a CLIP backend, its CLIP image embedding (other models' are dropped)."""
        features = m.describe(pixels)
        embedding = None if self.clip is None else self.clip.embed_image(pixels)
        image_file = self._write_files(template_id, name, list(keywords), list(example), boxes,
                                       source, data, animation)  # fmt: skip
        height, width = pixels.shape[:2]
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO templates VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (template_id, name, dumps(list(keywords)), dumps(list(example)), dumps(boxes),
                 source, origin, image_file, width, height, digest(data), time.time()),
            )  # fmt: skip
            db.execute(
                "INSERT OR REPLACE INTO features VALUES (?,?,?,?,?,?,?)",
                feature_row(template_id, features),
            )
            db.execute("DELETE FROM templates_fts WHERE id = ?", (template_id,))
            db.execute(
                "INSERT INTO templates_fts VALUES (?,?,?,?)",
                (template_id, name, " ".join(keywords), " ".join(example)),
            )
            db.execute("DELETE FROM clip_embeddings WHERE id = ?", (template_id,))
            if self.clip is not None and embedding is not None:
                db.execute(
                    "INSERT INTO clip_embeddings VALUES (?,?,?,?)",
                    (template_id, self.clip.model_digest, digest(data), encode_array(embedding)),
                )

    def _write_files(
        self, template_id: str, name: str, keywords: list[str], example: list[str],
        boxes: list[dict[str, Any]], source: str | None, data: bytes,
        animation: bytes | None,
    ) -> str:  # fmt: skip
        """Write `<id>/default.<ext>`, `<id>/default.gif` (the animation beside a still
        picture, when given) and `<id>/config.yml`; returns the image's file name."""
        suffix = _suffix(data)
        if animation is not None and (suffix == "gif" or _suffix(animation) != "gif"):
            raise InvalidParameters("A template's animation is a GIF beside a still picture")
        keep = {f".{suffix}"} | ({ANIMATION_SUFFIX} if animation is not None else set())
        folder = self.folder(template_id)
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("default.*"):
            if old.suffix not in keep:
                old.unlink()
        _write_atomic(folder / f"default.{suffix}", data)
        if animation is not None:
            _write_atomic(folder / f"default{ANIMATION_SUFFIX}", animation)
        config = {"name": name, "source": source, "keywords": keywords, "text": boxes,
                  "example": example}  # fmt: skip
        _write_atomic(folder / "config.yml", yaml.safe_dump(config, sort_keys=False).encode())
        return f"default.{suffix}"

    def delete(self, template: Template) -> None:
        """Delete a template's row, features, text entry and files (and its folder if empty)."""
        with self.transaction() as db:
            db.execute("DELETE FROM clip_embeddings WHERE id = ?", (template.id,))
            db.execute("DELETE FROM features WHERE id = ?", (template.id,))
            db.execute("DELETE FROM templates WHERE id = ?", (template.id,))
            db.execute("DELETE FROM templates_fts WHERE id = ?", (template.id,))
        folder = self.folder(template.id)
        for name in ("config.yml", template.image_path.name, f"default{ANIMATION_SUFFIX}"):
            (folder / name).unlink(missing_ok=True)
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()

    # ---- CLIP embeddings -----------------------------------------------------------------

    def clip_rows(self, model: str) -> list[sqlite3.Row]:
        """(id, image_file, digest, vector) of every template, sorted by id; `vector` is the
        NPY embedding under `model` of the template's current picture, or NULL when none is
        stored (never computed, computed by another model, or of a picture since replaced)."""
        return self.query(
            "SELECT t.id, t.image_file, t.digest, e.vector FROM templates t "
            "LEFT JOIN clip_embeddings e ON e.id = t.id AND e.model = ? AND e.digest = t.digest "
            "ORDER BY t.id",
            (model,),
        )

    def put_clip(self, model: str, rows: Sequence[tuple[str, str, np.ndarray]]) -> None:
        """Store (id, image digest, embedding) rows computed under `model`, for templates that
        still exist. Derived data only: the generation is left alone (nothing to rebuild)."""
        with self._lock:
            try:
                self._db.executemany(
                    "INSERT OR REPLACE INTO clip_embeddings "
                    "SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM templates WHERE id = ?)",
                    [(i, model, d, encode_array(v), i) for i, d, v in rows],
                )
                self._db.commit()
            except BaseException:
                self._db.rollback()
                raise


def feature_row(template_id: str, features: m.Features) -> tuple[Any, ...]:
    """The `features` table row of a template's features."""
    dense = None if features.dense is None else encode_array(features.dense.astype(np.float16))
    return (template_id, FEATURES_VERSION, encode_array(features.descriptors),
            encode_array(m.descriptor_keys(features.orb[: m.INDEX_FEATURES])),
            encode_array(features.points), encode_array(features.orb), dense)  # fmt: skip


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def loads(text: str) -> Any:
    """The JSON value in `text`, or None when it is not JSON."""
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def digest(data: bytes) -> str:
    """A short content hash of image bytes (tells an unchanged import apart)."""
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _suffix(data: bytes) -> str:
    """The file suffix for image bytes that already decoded, from their signature."""
    signatures = ((b"\xff\xd8", "jpg"), (b"\x89PNG", "png"), (b"GIF8", "gif"), (b"BM", "bmp"))
    for signature, suffix in signatures:
        if data.startswith(signature):
            return suffix
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "tif" if data[:4] in (b"II*\x00", b"MM\x00*") else "img"


def _animation_path(image_path: Path) -> Path | None:
    """memegen's animated picture of a template whose picture is `image_path`: the picture
    itself when it is a GIF, else a `default.gif` beside it, else None."""
    if image_path.suffix == ANIMATION_SUFFIX:
        return image_path
    beside = image_path.with_name(f"default{ANIMATION_SUFFIX}")
    return beside if beside.is_file() else None


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
