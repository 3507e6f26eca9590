"""Finding templates by words, and rebuilding what the store derives from each picture.

`search_templates` ranks templates with SQLite FTS5 (BM25 over name, keywords and example captions,
porter-stemmed, name weighted most). With a CLIP index it blends that with how close each
template's picture is to the words (`blend_relevance`), so a template can also be found by what
its picture shows. `reindex_templates` writes templates again from their stored pictures, which
recomputes their matching features, text entries and CLIP embeddings (after an upgrade changed
`FEATURES_VERSION`, or to repair a damaged index).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np

from glitchzap.errors import InvalidParameters
from glitchzap.io import load_image
from glitchzap.settings import LimitsSettings
from glitchzap.templates.embeddings import ClipIndex
from glitchzap.templates.records import Template
from glitchzap.templates.store import Store

# With CLIP, relevance = WORDS_WEIGHT x (full-text relevance / the best one's) + CLIP_WEIGHT x
# (CLIP relevance). WORDS_WEIGHT > CLIP_WEIGHT: the best word match always stays above every
# template the words miss; CLIP reorders the rest and adds templates by what they show.
WORDS_WEIGHT = 0.6
CLIP_WEIGHT = 0.4


def search_templates(
    store: Store, text: str, k: int = 10, clip: ClipIndex | None = None
) -> list[tuple[Template, float]]:
    """Templates whose name, keywords or example captions match `text`, best first, with
    a relevance in (0, 1] (BM25, name weighted most); with `clip`, ranked by the blend of
    that and the CLIP text->image similarity (`blend_relevance`)."""
    terms = [t for t in _words(text) if t]
    if not terms:
        raise InvalidParameters("Give some words to search for")
    if clip is None:
        found = _full_text(store, terms, k)
    else:
        ids, cosine = clip.text_similarity(text)
        scores = blend_relevance(dict(_full_text(store, terms, None)), ids, cosine)
        found = sorted(scores.items(), key=lambda pair: (-pair[1], pair[0]))[: max(1, k)]
    # A template's own id (memegen's "fry", "one-does-not-simply") is the best answer to it.
    wanted = text.strip().lower()
    if store.exists(wanted):
        found = [(wanted, 1.0), *[(i, r) for i, r in found if i != wanted]][: max(1, k)]
    return [(store.get(i), relevance) for i, relevance in found]


def blend_relevance(
    words: dict[str, float], ids: list[str], cosine: np.ndarray
) -> dict[str, float]:
    """Relevance in (0, 1] of each template worth returning, by id: WORDS_WEIGHT x its
    full-text relevance over the best one's (`words`, id -> relevance) + CLIP_WEIGHT x its
    CLIP relevance, the text->image `cosine` (of `ids`) rescaled over the library for this
    query: the median template 0, the closest 1 (CLIP models differ in how high cosines go,
    so only the order of the library's cosines counts). Templates at or below the median,
    with no word match, are left out."""
    top = max(words.values(), default=0.0)
    scores = {i: WORDS_WEIGHT * (r / top if top > 0 else 1.0) for i, r in words.items()}
    if len(ids) == 0:
        return scores
    median, best = float(np.median(cosine)), float(np.max(cosine))
    if best - median <= 1e-6:
        return scores  # the words say nothing to CLIP about these pictures
    rescaled = np.clip((cosine - median) / (best - median), 0, 1)
    for template_id, relevance in zip(ids, rescaled, strict=True):
        if relevance > 0:
            scores[template_id] = scores.get(template_id, 0.0) + CLIP_WEIGHT * float(relevance)
    return scores


def _full_text(store: Store, terms: list[str], k: int | None) -> list[tuple[str, float]]:
    """(id, relevance in (0, 1]) of the best `k` full-text matches (all when None)."""
    expression = " OR ".join(f'"{t}"*' for t in terms)
    rows = store.query(
        # Column weights: id 0 (unindexed), name 4, keywords 2, example captions 1.
        "SELECT id, bm25(templates_fts, 0.0, 4.0, 2.0, 1.0) AS rank FROM templates_fts "
        "WHERE templates_fts MATCH ? ORDER BY rank LIMIT ?",
        (expression, -1 if k is None else max(1, k)),
    )
    found = []
    for row in rows:
        relevance = -float(row["rank"])  # bm25() is lower-is-better and negative
        found.append((str(row["id"]), relevance / (relevance + 1.0)))
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
    """Lower-case runs of letters and digits: "one-does-not-simply" is four words."""
    return re.findall(r"[^\W_]+", text.lower())
