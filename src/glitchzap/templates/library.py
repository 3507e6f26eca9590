"""The template library: add, import (memegen layout), list, show, remove, match and search.

Templates live under one directory (see `store.py`). Matching features are computed once,
when a template is added, and kept in SQLite; the global descriptors and the vote index are
loaded into memory on first match and rebuilt when the library changes (also when another
process changed it: a generation counter in the database says so).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from glitchzap.cache.codec import decode_array, encode_array
from glitchzap.errors import InvalidParameters, NotFound, UnreadableImage
from glitchzap.io import encode_image, load_image
from glitchzap.settings import LimitsSettings
from glitchzap.templates import match as m
from glitchzap.templates.store import Store, check_id, dumps, slugify

STARTER_PREFIX = "starter-"
ORIGINS = ("memegen", "user", "starter")
FEATURES_VERSION = 3  # bump when match.py changes what is stored: old rows are recomputed
GLOBAL_CANDIDATES = 16  # shortlisted by the global descriptor
VOTE_CANDIDATES = 10  # shortlisted by descriptor-chunk votes
ORIENTATION_RETRIES = 8  # candidates verified in both orientations when the first fails
# When nothing matched, the best-ranked candidates are verified again with keypoints taken
# without the caption mask (line drawings: the mask also covers their own black strokes).
UNMASKED_RETRIES = 8
# ... as are the best-ranked by votes of those keypoints, and candidates ranked just below the
# shortlists (measured: "made" in a border is 12th by the masked shortlists, 1st by unmasked
# votes; "pooh" after JPEG or padding is 13th by votes, 27th by the global descriptor).
RETRY_VOTE_CANDIDATES = 16
RESAMPLED_RETRIES = 4  # then the best-ranked, with the query resampled (see match.py)
CONFIDENT_SCORE = 0.75  # stop verifying once a candidate scores this (60 inliers)
MEMEGEN_BOX_KEYS = (
    "style", "color", "font", "anchor_x", "anchor_y", "angle", "scale_x", "scale_y", "align",
    "start", "stop",
)  # fmt: skip


@dataclass(frozen=True)
class Template:
    id: str
    name: str
    keywords: list[str]
    example: list[str]
    text_boxes: list[dict[str, Any]]
    source: str | None
    origin: str
    image_path: Path
    width: int
    height: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "keywords": self.keywords, "example": self.example,
            "text_boxes": self.text_boxes, "source": self.source, "origin": self.origin,
            "image": str(self.image_path), "width": self.width, "height": self.height,
        }  # fmt: skip


@dataclass(frozen=True)
class TemplateMatch:
    """A ranked candidate: `score` in [0, 1]; `matched` when it reaches the threshold."""

    id: str
    score: float
    matched: bool
    mirrored: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "score": round(self.score, 4)}


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # "id: why"
    errors: list[str] = field(default_factory=list)  # "folder: why"

    def to_dict(self) -> dict[str, list[str]]:
        return {
            "added": self.added, "updated": self.updated, "unchanged": self.unchanged,
            "conflicts": self.conflicts, "errors": self.errors,
        }  # fmt: skip


@dataclass(frozen=True)
class _Index:
    generation: int
    ids: list[str]
    descriptors: np.ndarray  # float32 (N * trims, D)
    trims: int
    votes: m.VoteIndex


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=16).hexdigest()


def _string_list(value: Any) -> list[str]:
    if not isinstance(value, list):
        return []
    return [str(item) for item in value if item is not None and str(item).strip()]


def memegen_boxes(value: Any) -> list[dict[str, Any]]:
    """memegen text boxes with only the keys memegen defines (others are dropped)."""
    boxes = value if isinstance(value, list) else []
    return [{k: b[k] for k in MEMEGEN_BOX_KEYS if k in b} for b in boxes if isinstance(b, dict)]


class TemplateLibrary:
    """Templates under `root`: `match(image, k)`, `search(text)`, add/import/list/remove."""

    def __init__(
        self,
        root: Path | str,
        *,
        match_threshold: float = 0.5,
        limits: LimitsSettings | None = None,
        feature_cache_size: int = 256,
    ) -> None:
        self.root = Path(root)
        self.store = Store(self.root)
        self.match_threshold = match_threshold
        self.limits = limits or LimitsSettings()
        self._index: _Index | None = None
        self._index_lock = threading.Lock()
        self._orb_cache: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._orb_cache_size = feature_cache_size

    # ---- reading -------------------------------------------------------------------------

    def __len__(self) -> int:
        return int(self.store.query("SELECT COUNT(*) FROM templates")[0][0])

    def list_templates(self, origin: str | None = None) -> list[Template]:
        """Every template (or those of one origin), sorted by id."""
        if origin is not None:
            rows = self.store.query(
                "SELECT * FROM templates WHERE origin = ? ORDER BY id", (origin,)
            )
        else:
            rows = self.store.query("SELECT * FROM templates ORDER BY id")
        return [self._template(row) for row in rows]

    def get(self, template_id: str) -> Template:
        """The template called `template_id`, else NotFound."""
        rows = self.store.query("SELECT * FROM templates WHERE id = ?", (check_id(template_id),))
        if not rows:
            raise NotFound(f"No template {template_id!r}: see `glitchzap templates list`")
        return self._template(rows[0])

    def image(self, template_id: str) -> np.ndarray:
        """The clean template picture (H x W x 3|4 uint8)."""
        return load_image(self.get(template_id).image_path, limits=self.limits)

    def _template(self, row: Any) -> Template:
        return Template(
            id=row["id"], name=row["name"], keywords=_string_list(_loads(row["keywords"])),
            example=_string_list(_loads(row["example"])),
            text_boxes=memegen_boxes(_loads(row["text_boxes"])), source=row["source"],
            origin=row["origin"], image_path=self.store.folder(row["id"]) / row["image_file"],
            width=row["width"], height=row["height"],
        )  # fmt: skip

    # ---- writing -------------------------------------------------------------------------

    def add(
        self,
        image: bytes | Path | str | np.ndarray,
        *,
        name: str,
        template_id: str | None = None,
        keywords: Sequence[str] = (),
        example: Sequence[str] = (),
        text_boxes: Sequence[dict[str, Any]] | None = None,
        source: str | None = None,
        origin: str = "user",
    ) -> Template:
        """Store a template (replacing one with the same id) and index it; returns it."""
        if origin not in ORIGINS:
            raise InvalidParameters(f"Unknown origin {origin!r}: use {', '.join(ORIGINS)}")
        if not name.strip():
            raise InvalidParameters("A template needs a name")
        template_id = check_id(slugify(name) if template_id is None else template_id)
        if origin != "starter" and template_id.startswith(STARTER_PREFIX):
            raise InvalidParameters(
                f"Ids starting with {STARTER_PREFIX!r} are reserved for the starter set"
            )
        data, pixels = self._image_bytes(image)
        boxes = memegen_boxes(list(text_boxes)) if text_boxes else _default_boxes()
        self._write(template_id, name.strip(), list(keywords), list(example), boxes, source,
                    origin, data, pixels)  # fmt: skip
        return self.get(template_id)

    def _image_bytes(self, image: bytes | Path | str | np.ndarray) -> tuple[bytes, np.ndarray]:
        """(bytes to store, decoded pixels): files keep their bytes once they decode."""
        if isinstance(image, np.ndarray):
            return encode_image(image, "png"), image
        data = Path(image).read_bytes() if isinstance(image, Path | str) else bytes(image)
        return data, load_image(data, limits=self.limits)

    def _write(
        self, template_id: str, name: str, keywords: list[str], example: list[str],
        boxes: list[dict[str, Any]], source: str | None, origin: str, data: bytes,
        pixels: np.ndarray,
    ) -> None:  # fmt: skip
        features = m.describe(pixels)
        suffix = _suffix(data)
        folder = self.store.folder(template_id)
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("default.*"):
            if old.suffix != f".{suffix}":
                old.unlink()
        _write_atomic(folder / f"default.{suffix}", data)
        config = {"name": name, "source": source, "keywords": keywords, "text": boxes,
                  "example": example}  # fmt: skip
        _write_atomic(folder / "config.yml", yaml.safe_dump(config, sort_keys=False).encode())
        height, width = pixels.shape[:2]
        with self.store.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO templates VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (template_id, name, dumps(keywords), dumps(example), dumps(boxes), source, origin,
                 f"default.{suffix}", width, height, _digest(data), time.time()),
            )  # fmt: skip
            db.execute(
                "INSERT OR REPLACE INTO features VALUES (?,?,?,?,?,?)",
                (template_id, FEATURES_VERSION, encode_array(features.descriptors),
                 encode_array(m.descriptor_keys(features.orb[: m.INDEX_FEATURES])),
                 encode_array(features.points), encode_array(features.orb)),
            )  # fmt: skip
            db.execute("DELETE FROM templates_fts WHERE id = ?", (template_id,))
            db.execute(
                "INSERT INTO templates_fts VALUES (?,?,?,?)",
                (template_id, name, " ".join(keywords), " ".join(example)),
            )
        self._orb_cache.pop(template_id, None)

    def remove(self, template_id: str) -> None:
        """Delete a template, its features and its folder (NotFound when absent)."""
        template = self.get(template_id)
        with self.store.transaction() as db:
            db.execute("DELETE FROM features WHERE id = ?", (template.id,))
            db.execute("DELETE FROM templates WHERE id = ?", (template.id,))
            db.execute("DELETE FROM templates_fts WHERE id = ?", (template.id,))
        folder = self.store.folder(template.id)
        for name in ("config.yml", template.image_path.name):
            (folder / name).unlink(missing_ok=True)
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
        self._orb_cache.pop(template.id, None)

    def import_memegen(self, directory: Path | str) -> ImportReport:
        """Import memegen folders (`<id>/config.yml` + `default.*`, or under `templates/`).
        Idempotent: unchanged templates are skipped, changed ones updated, none duplicated."""
        directory = Path(directory)
        if (directory / "templates").is_dir():
            directory = directory / "templates"
        if not directory.is_dir():
            raise InvalidParameters(f"{directory} is not a directory of memegen templates")
        report = ImportReport()
        for folder in sorted(p for p in directory.iterdir() if p.is_dir()):
            self._import_folder(folder, report)
        return report

    def _import_folder(self, folder: Path, report: ImportReport) -> None:
        template_id = folder.name
        if not _is_safe_id(template_id):
            report.errors.append(f"{folder.name}: not a safe template id")
            return
        image_path = next((folder / f"default.{e}" for e in ("jpg", "png", "jpeg", "webp", "gif")
                           if (folder / f"default.{e}").is_file()), None)  # fmt: skip
        config_path = folder / "config.yml"
        if image_path is None or not config_path.is_file():
            report.errors.append(f"{folder.name}: needs config.yml and default.jpg|png")
            return
        try:
            config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
            data = image_path.read_bytes()
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            report.errors.append(f"{folder.name}: {exc}")
            return
        if not isinstance(config, dict):
            report.errors.append(f"{folder.name}: config.yml is not a mapping")
            return
        conflict = self._conflict(template_id)
        if conflict:
            report.conflicts.append(f"{template_id}: {conflict}")
            return
        fields = (
            str(config.get("name") or template_id), _string_list(config.get("keywords")),
            _string_list(config.get("example")), memegen_boxes(config.get("text")),
            str(config["source"]) if config.get("source") else None,
        )  # fmt: skip
        if self._unchanged(template_id, fields, data):
            report.unchanged.append(template_id)
            return
        existed = self._exists(template_id)
        try:
            pixels = load_image(data, limits=self.limits)
        except (UnreadableImage, InvalidParameters) as exc:
            report.errors.append(f"{folder.name}: {exc}")
            return
        name, keywords, example, boxes, source = fields
        self._write(template_id, name, keywords, example, boxes or _default_boxes(), source,
                    "memegen", data, pixels)  # fmt: skip
        (report.updated if existed else report.added).append(template_id)

    def _exists(self, template_id: str) -> bool:
        return bool(self.store.query("SELECT 1 FROM templates WHERE id = ?", (template_id,)))

    def _conflict(self, template_id: str) -> str | None:
        if template_id.startswith(STARTER_PREFIX):
            return f"ids starting with {STARTER_PREFIX!r} are reserved for the starter set"
        rows = self.store.query("SELECT origin FROM templates WHERE id = ?", (template_id,))
        if rows and rows[0]["origin"] != "memegen":
            return f"already used by a {rows[0]['origin']} template (remove it first)"
        return None

    def _unchanged(self, template_id: str, fields: tuple[Any, ...], data: bytes) -> bool:
        rows = self.store.query(
            "SELECT t.*, f.version FROM templates t JOIN features f USING (id) WHERE t.id = ?",
            (template_id,),
        )
        if not rows:
            return False
        row = rows[0]
        stored = (row["name"], _loads(row["keywords"]), _loads(row["example"]),
                  _loads(row["text_boxes"]) or None, row["source"])  # fmt: skip
        name, keywords, example, boxes, source = fields
        return (
            row["digest"] == _digest(data) and row["version"] == FEATURES_VERSION
            and stored == (name, keywords, example, boxes or stored[3], source)
            and (self.store.folder(template_id) / row["image_file"]).is_file()
        )  # fmt: skip

    # ---- matching ------------------------------------------------------------------------

    def _load_index(self) -> _Index:
        generation = self.store.generation()
        with self._index_lock:
            if self._index is not None and self._index.generation == generation:
                return self._index
            rows = self.store.query(
                "SELECT id, version, descriptors, keys FROM features ORDER BY id"
            )
            ids, descriptors, keys = [], [], []
            for row in rows:
                desc, key = decode_array(row["descriptors"]), decode_array(row["keys"])
                if row["version"] != FEATURES_VERSION or desc is None or key is None:
                    continue  # stale or damaged: `glitchzap templates reindex` recomputes
                ids.append(row["id"])
                descriptors.append(desc)
                keys.append(key)
            trims = descriptors[0].shape[0] if descriptors else 1
            matrix = (np.concatenate(descriptors) if descriptors
                      else np.zeros((0, m.descriptor_size()), np.float32))  # fmt: skip
            self._index = _Index(generation, ids, matrix, trims, m.VoteIndex(keys))
            return self._index

    def _local(self, template_id: str) -> tuple[np.ndarray, np.ndarray]:
        cached = self._orb_cache.get(template_id)
        if cached is not None:
            self._orb_cache.move_to_end(template_id)
            return cached
        rows = self.store.query("SELECT points, orb FROM features WHERE id = ?", (template_id,))
        points = decode_array(rows[0]["points"]) if rows else None
        orb = decode_array(rows[0]["orb"]) if rows else None
        if points is None or orb is None:
            points, orb = np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
        self._orb_cache[template_id] = (points, orb)
        while len(self._orb_cache) > self._orb_cache_size:
            self._orb_cache.popitem(last=False)
        return points, orb

    def candidates(self, query: m.Query) -> list[tuple[int, bool]]:
        """Shortlisted (row, mirrored) pairs, most likely first."""
        return self._shortlist(query.plain, query.mirrored, GLOBAL_CANDIDATES, VOTE_CANDIDATES)

    def _shortlist(
        self, plain: m.Features, mirrored: m.Features, global_count: int, vote_count: int
    ) -> list[tuple[int, bool]]:
        index = self._load_index()
        n = len(index.ids)
        if n == 0:
            return []
        similarity = [
            (index.descriptors @ f.descriptors.T).reshape(n, -1).max(axis=1)
            for f in (plain, mirrored)
        ]
        votes = [index.votes.votes(m.descriptor_keys(f.orb)) for f in (plain, mirrored)]
        by_global = _top(np.maximum(*similarity), global_count)
        by_votes = _top(np.maximum(*votes), vote_count)
        order: list[int] = []
        for row in _interleave(by_global, by_votes):
            if row not in order:
                order.append(row)
        # Verify the orientation that agrees better (global similarity, then votes).
        return [
            (row, bool((similarity[1][row], votes[1][row]) > (similarity[0][row], votes[0][row])))
            for row in order
        ]

    def match(self, image: np.ndarray, k: int = 3) -> list[TemplateMatch]:
        """Up to `k` verified templates for `image`, best first, with scores in [0, 1]."""
        if k < 1:
            raise InvalidParameters(f"k must be at least 1, got {k}")
        _check_image(image)
        query = m.describe_query(image)
        index = self._load_index()
        candidates = self.candidates(query)
        results = self._verify(index, candidates, query.plain, query.mirrored, k)
        if candidates and not any(r.matched for r in results):
            results = self._retry(index, query, candidates, results, k)
        results.sort(key=lambda r: -r.score)
        return results[:k]

    def _retry(
        self, index: _Index, query: m.Query, candidates: list[tuple[int, bool]],
        results: list[TemplateMatch], k: int,
    ) -> list[TemplateMatch]:  # fmt: skip
        """Verify again after no match, until one matches (costs only no-match queries):
        keypoints taken everywhere (a line drawing loses its own strokes to the caption mask),
        wider shortlists, then the best-ranked with the query resampled (zoomed in, denser)."""
        tried = {row for row, _ in candidates}
        wider = self._shortlist(
            query.plain, query.mirrored, GLOBAL_CANDIDATES, RETRY_VOTE_CANDIDATES
        )
        best = candidates[:RESAMPLED_RETRIES]
        passes: list[tuple[Callable[[], tuple[m.Features, m.Features]], list[tuple[int, bool]]]]
        passes = [
            (query.unmasked, self._unmasked_candidates(query, candidates)),
            (lambda: (query.plain, query.mirrored), [p for p in wider if p[0] not in tried]),
            (lambda: query.resampled(m.RETRY_ZOOM, m.QUERY_FEATURES), best),
            (lambda: query.resampled(1, m.RETRY_FEATURES), best),
        ]
        found = {r.id: r for r in results}
        for features, rows in passes:
            for r in self._verify(index, rows, *features(), k):
                if r.id not in found or r.score > found[r.id].score:
                    found[r.id] = r
            if any(r.matched for r in found.values()):
                break
        return list(found.values())

    def _unmasked_candidates(
        self, query: m.Query, candidates: list[tuple[int, bool]]
    ) -> list[tuple[int, bool]]:
        """The best-ranked candidates, then the best-ranked by votes of unmasked keypoints."""
        plain, mirrored = query.unmasked()
        by_votes = self._shortlist(plain, mirrored, 0, VOTE_CANDIDATES)
        return _merge(candidates[:UNMASKED_RETRIES], by_votes)

    def _verify(
        self, index: _Index, candidates: list[tuple[int, bool]], plain: m.Features,
        mirrored_side: m.Features, k: int,
    ) -> list[TemplateMatch]:  # fmt: skip
        results: list[TemplateMatch] = []
        best = 0.0
        for position, (row, mirrored) in enumerate(candidates):
            points, orb = self._local(index.ids[row])
            first, second = (mirrored_side, plain) if mirrored else (plain, mirrored_side)
            score = m.verify(first, points, orb).score
            # The shortlists can guess the orientation wrong; retry the best-ranked ones.
            if score < self.match_threshold and position < ORIENTATION_RETRIES:
                other = m.verify(second, points, orb).score
                if other > score:
                    score, mirrored = other, not mirrored
            results.append(
                TemplateMatch(index.ids[row], score, score >= self.match_threshold, mirrored)
            )
            best = max(best, score)
            if best >= CONFIDENT_SCORE and len(results) >= k:
                break  # the rest are ranked lower by both shortlists and cannot matter
        return results

    def best_match(self, image: np.ndarray) -> TemplateMatch | None:
        """The best template when it scores at least the threshold, else None."""
        found = self.match(image, 1)
        return found[0] if found and found[0].matched else None

    def template_for_meme(self, template_id: str) -> tuple[np.ndarray, list[Any]]:
        """(clean template picture, its text boxes as captions.TextBox) for make_meme."""
        template = self.get(template_id)
        return self.image(template.id), text_boxes(template)

    # ---- text search ---------------------------------------------------------------------

    def search(self, text: str, k: int = 10) -> list[tuple[Template, float]]:
        """Templates whose name, keywords or example captions match `text`, best first, with
        a relevance in (0, 1] (BM25, name weighted most)."""
        terms = [t for t in _words(text) if t]
        if not terms:
            raise InvalidParameters("Give some words to search for")
        expression = " OR ".join(f'"{t}"*' for t in terms)
        rows = self.store.query(
            "SELECT id, bm25(templates_fts, 0.0, 4.0, 2.0, 1.0) AS rank FROM templates_fts "
            "WHERE templates_fts MATCH ? ORDER BY rank LIMIT ?",
            (expression, max(1, k)),
        )
        found = []
        for row in rows:
            relevance = -float(row["rank"])  # bm25() is lower-is-better and negative
            found.append((self.get(row["id"]), relevance / (relevance + 1.0)))
        return found

    # ---- maintenance ---------------------------------------------------------------------

    def reindex(self, ids: Iterable[str] | None = None) -> int:
        """Recompute matching features (after an upgrade); returns how many were done."""
        done = 0
        for template in self.list_templates() if ids is None else [self.get(i) for i in ids]:
            data = template.image_path.read_bytes()
            self._write(template.id, template.name, template.keywords, template.example,
                        template.text_boxes, template.source, template.origin, data,
                        load_image(data, limits=self.limits))  # fmt: skip
            done += 1
        return done


def text_boxes(template: Template) -> list[Any]:
    """The template's memegen boxes as captions.TextBox, values clamped into range."""
    from glitchzap.captions import TextBox

    boxes = []
    for box in template.text_boxes or _default_boxes():
        values = dict(box)
        for key in ("anchor_x", "anchor_y"):
            values[key] = min(1.0, max(0.0, float(values.get(key, 0.0))))
        for key in ("scale_x", "scale_y"):
            values[key] = min(1.0, max(0.01, float(values.get(key, 0.2))))
        if values.get("align") not in ("center", "left", "right"):
            values.pop("align", None)
        values = {k: v for k, v in values.items() if v is not None}
        boxes.append(TextBox(**values))
    return boxes


def _default_boxes() -> list[dict[str, Any]]:
    """memegen's top and bottom boxes."""
    return [
        {"style": "upper", "color": "white", "font": "thick", "anchor_x": 0.0, "anchor_y": 0.0,
         "angle": 0.0, "scale_x": 1.0, "scale_y": 0.2, "align": "center", "start": 0.0,
         "stop": 1.0},
        {"style": "upper", "color": "white", "font": "thick", "anchor_x": 0.0, "anchor_y": 0.8,
         "angle": 0.0, "scale_x": 1.0, "scale_y": 0.2, "align": "center", "start": 0.0,
         "stop": 1.0},
    ]  # fmt: skip


def _check_image(image: np.ndarray) -> None:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim not in (2, 3):
        raise InvalidParameters("Expected an H x W x 3|4 uint8 image")
    if min(image.shape[:2]) < 8:
        raise InvalidParameters(
            f"The image is too small to match ({image.shape[1]}x{image.shape[0]})"
        )


def _top(values: np.ndarray, count: int) -> list[int]:
    count = min(count, len(values))
    if count <= 0:
        return []
    part = np.argpartition(-values, count - 1)[:count]
    return [int(i) for i in part[np.argsort(-values[part], kind="stable")]]


def _merge(first: list[tuple[int, bool]], second: list[tuple[int, bool]]) -> list[tuple[int, bool]]:
    """`first`, then the pairs of `second` whose rows are not in it."""
    seen = {row for row, _ in first}
    return first + [pair for pair in second if pair[0] not in seen]


def _interleave(first: list[int], second: list[int]) -> list[int]:
    out: list[int] = []
    for i in range(max(len(first), len(second))):
        out.extend(lst[i] for lst in (first, second) if i < len(lst))
    return out


def _words(text: str) -> list[str]:
    return ["".join(ch for ch in word if ch.isalnum()) for word in text.lower().split()]


def _loads(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def _is_safe_id(template_id: str) -> bool:
    try:
        check_id(template_id)
    except InvalidParameters:
        return False
    return True


def _suffix(data: bytes) -> str:
    """The file suffix for image bytes that already decoded, from their signature."""
    signatures = ((b"\xff\xd8", "jpg"), (b"\x89PNG", "png"), (b"GIF8", "gif"), (b"BM", "bmp"))
    for signature, suffix in signatures:
        if data.startswith(signature):
            return suffix
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return "tif" if data[:4] in (b"II*\x00", b"MM\x00*") else "img"


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


__all__ = ["ImportReport", "Template", "TemplateLibrary", "TemplateMatch", "text_boxes"]
