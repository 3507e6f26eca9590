"""Finding templates by words, and rebuilding what the store derives from each picture.

`search_templates` ranks templates with SQLite FTS5 (BM25 over name, keywords and example captions,
porter-stemmed, name weighted most). `reindex_templates` writes templates again from their stored
pictures, which recomputes their matching features and text entries (after an upgrade changed
`FEATURES_VERSION`, or to repair a damaged index).
"""

from __future__ import annotations

from collections.abc import Iterable

from glitchzap.errors import InvalidParameters
from glitchzap.io import load_image
from glitchzap.settings import LimitsSettings
from glitchzap.templates.records import Template
from glitchzap.templates.store import Store


def search_templates(store: Store, text: str, k: int = 10) -> list[tuple[Template, float]]:
    """Templates whose name, keywords or example captions match `text`, best first, with
    a relevance in (0, 1] (BM25, name weighted most)."""
    terms = [t for t in _words(text) if t]
    if not terms:
        raise InvalidParameters("Give some words to search for")
    expression = " OR ".join(f'"{t}"*' for t in terms)
    rows = store.query(
        # Column weights: id 0 (unindexed), name 4, keywords 2, example captions 1.
        "SELECT id, bm25(templates_fts, 0.0, 4.0, 2.0, 1.0) AS rank FROM templates_fts "
        "WHERE templates_fts MATCH ? ORDER BY rank LIMIT ?",
        (expression, max(1, k)),
    )
    found = []
    for row in rows:
        relevance = -float(row["rank"])  # bm25() is lower-is-better and negative
        found.append((store.get(row["id"]), relevance / (relevance + 1.0)))
    return found


def reindex_templates(
    store: Store, templates: Iterable[Template], *, limits: LimitsSettings
) -> int:
    """Write each template again from its stored picture; returns how many were done."""
    done = 0
    for template in templates:
        data = template.image_path.read_bytes()
        gif = template.animation_path  # a GIF beside the still picture is kept with it
        animation = gif.read_bytes() if gif is not None and gif != template.image_path else None
        store.write(template.id, name=template.name, keywords=template.keywords,
                    example=template.example, boxes=template.text_boxes,
                    source=template.source, origin=template.origin, data=data,
                    pixels=load_image(data, limits=limits), animation=animation)  # fmt: skip
        done += 1
    return done


def _words(text: str) -> list[str]:
    return ["".join(ch for ch in word if ch.isalnum()) for word in text.lower().split()]
