"""The template library: one object that adds, imports, lists, shows, removes, matches and
searches templates, by handing each job to the module that does it.

- `store.py`: the SQLite index and the template folders (get, list, write, delete);
- `importer.py`: memegen's folder layout in, idempotently;
- `matcher.py`: which stored template a picture was made from (`match.py` does the array work);
- `search.py`: full-text search (blended with CLIP when configured), and reindexing;
- `embeddings.py`: the templates' CLIP image embeddings, when CLIP is configured;
- `records.py`: the records all of them share (`Template`, `TemplateMatch`, `ImportReport`).

Matching features are computed once, when a template is written, and kept in SQLite; so are
CLIP image embeddings when the library has a CLIP backend (`clip.get_clip`), for which `search`
also ranks by what the pictures show and `match` shortlists by picture similarity.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from glitchzap.animation import Animation
from glitchzap.errors import InvalidParameters
from glitchzap.io import encode_image, load_animation, load_image
from glitchzap.settings import LimitsSettings
from glitchzap.templates import match as m
from glitchzap.templates.clip import ClipBackend
from glitchzap.templates.embeddings import ClipIndex
from glitchzap.templates.importer import import_memegen
from glitchzap.templates.matcher import Matcher
from glitchzap.templates.records import (
    ORIGINS,
    STARTER_PREFIX,
    ImportReport,
    Template,
    TemplateMatch,
    default_boxes,
    memegen_boxes,
    text_boxes,
)
from glitchzap.templates.search import reindex_templates, search_templates
from glitchzap.templates.store import Store, check_id, slugify

__all__ = [
    "STARTER_PREFIX",
    "ImportReport",
    "Template",
    "TemplateLibrary",
    "TemplateMatch",
    "memegen_boxes",
    "text_boxes",
]


class TemplateLibrary:
    """Templates under `root`: `match(image, k)`, `search(text)`, add/import/list/remove.
    With `clip` (a CLIP backend), search and match also use the pictures' CLIP embeddings."""

    def __init__(
        self,
        root: Path | str,
        *,
        match_threshold: float = 0.5,
        limits: LimitsSettings | None = None,
        feature_cache_size: int = 256,
        clip: ClipBackend | None = None,
    ) -> None:
        self.root = Path(root)
        self.store = Store(self.root, clip)
        self.limits = limits or LimitsSettings()
        self.clip = None if clip is None else ClipIndex(self.store, clip, self.limits)
        self.matcher = Matcher(
            self.store, match_threshold=match_threshold, feature_cache_size=feature_cache_size,
            clip=self.clip,
        )  # fmt: skip

    @property
    def match_threshold(self) -> float:
        """The score (0-1) a template needs to count as matched."""
        return self.matcher.match_threshold

    @match_threshold.setter
    def match_threshold(self, value: float) -> None:
        self.matcher.match_threshold = value

    # ---- reading -------------------------------------------------------------------------

    def __len__(self) -> int:
        return self.store.count()

    def list_templates(self, origin: str | None = None, popular: bool = False) -> list[Template]:
        """Every template (or those of one origin), sorted by id, or most used first."""
        return self.store.templates(origin, popular)

    def record_use(self, template_id: str) -> None:
        """Count one use of the template (opened to make a meme): see list_templates."""
        self.store.record_use(template_id)

    def get(self, template_id: str) -> Template:
        """The template called `template_id`, else NotFound."""
        return self.store.get(template_id)

    def image(self, template_id: str) -> np.ndarray:
        """The clean still template picture (H x W x 3|4 uint8; an animated picture's first
        frame): what matching, search and still memes use."""
        return load_image(self.get(template_id).image_path, limits=self.limits)

    def animation(self, template_id: str) -> Animation:
        """Every frame of the template's animated picture (memegen's `default.gif`, or an
        animated picture of another format), with its timing; a one-frame animation of the
        still picture when it has none. What animated memes are drawn on."""
        template = self.get(template_id)
        path = template.animation_path or template.image_path
        return load_animation(path, limits=self.limits)

    def template_for_meme(self, template_id: str) -> tuple[np.ndarray, list[Any]]:
        """(clean template picture, its text boxes as captions.TextBox) for make_meme."""
        template = self.get(template_id)
        return self.image(template.id), text_boxes(template)

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
        boxes = memegen_boxes(list(text_boxes)) if text_boxes else default_boxes()
        self.store.write(template_id, name=name.strip(), keywords=list(keywords),
                         example=list(example), boxes=boxes, source=source, origin=origin,
                         data=data, pixels=pixels)  # fmt: skip
        return self.get(template_id)

    def _image_bytes(self, image: bytes | Path | str | np.ndarray) -> tuple[bytes, np.ndarray]:
        """(bytes to store, decoded pixels): files keep their bytes once they decode."""
        if isinstance(image, np.ndarray):
            return encode_image(image, "png"), image
        data = Path(image).read_bytes() if isinstance(image, Path | str) else bytes(image)
        return data, load_image(data, limits=self.limits)

    def remove(self, template_id: str) -> None:
        """Delete a template, its features and its folder (NotFound when absent)."""
        self.store.delete(self.get(template_id))

    def import_memegen(self, directory: Path | str) -> ImportReport:
        """Import memegen folders (`<id>/config.yml` + `default.*`, or under `templates/`).
        Idempotent: unchanged templates are skipped, changed ones updated, none duplicated;
        folders memegen does not treat as templates (`_error`, `_test`) are reported skipped."""
        return import_memegen(self.store, directory, limits=self.limits)

    def reindex(self, ids: Iterable[str] | None = None) -> int:
        """Recompute matching features (after an upgrade), and CLIP embeddings under the
        configured model; returns how many were done."""
        templates = self.list_templates() if ids is None else [self.get(i) for i in ids]
        return reindex_templates(self.store, templates, limits=self.limits)

    # ---- matching and search -------------------------------------------------------------

    def candidates(self, query: m.Query) -> list[tuple[int, bool]]:
        """Shortlisted (row, mirrored) pairs, most likely first."""
        return self.matcher.candidates(query)

    def match(self, image: np.ndarray, k: int = 3) -> list[TemplateMatch]:
        """Up to `k` verified templates for `image`, best first, with scores in [0, 1]."""
        return self.matcher.match(image, k)

    def best_match(self, image: np.ndarray) -> TemplateMatch | None:
        """The best template when it scores at least the threshold, else None."""
        return self.matcher.best_match(image)

    def search(self, text: str, k: int = 10) -> list[tuple[Template, float]]:
        """Templates whose name, keywords or example captions match `text`, best first, with
        a relevance in (0, 1] (BM25, name weighted most); with CLIP, ranked by the blend of
        that and how close each picture is to `text` (`search.blend_relevance`)."""
        return search_templates(self.store, text, k, self.clip)
