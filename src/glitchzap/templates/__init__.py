"""The template library: store, import, match and search meme templates.

`open_library(settings)` opens the library at `settings.templates_dir`, filled with the
starter set when empty (`templates.starter_on_empty`), with the CLIP backend of
`templates.clip_model_path` when one is set; templates whose matching features an older
version computed are recomputed first (once). A `Runtime` opens it once and keeps it.
"""

from __future__ import annotations

import logging
from pathlib import Path

from glitchzap.settings import Settings
from glitchzap.templates.clip import get_clip
from glitchzap.templates.library import (
    ImportReport,
    Template,
    TemplateLibrary,
    TemplateMatch,
    text_boxes,
)
from glitchzap.templates.records import Suggestion, suggest_template

log = logging.getLogger(__name__)

__all__ = [
    "ImportReport",
    "Suggestion",
    "Template",
    "TemplateLibrary",
    "TemplateMatch",
    "open_library",
    "suggest_template",
    "text_boxes",
]


def _holds_templates(directory: Path) -> bool:
    """Whether `directory` already has memegen-style folders (never seed into someone's data)."""
    return any(directory.glob("*/config.yml"))


def open_library(settings: Settings, *, starter: bool = True) -> TemplateLibrary:
    """The library under `settings.templates_dir`, given the starter set first when it is
    empty, `starter` is true and `templates.starter_on_empty` is on. ModelNotAvailable when
    `templates.clip_model_path` is set but holds no loadable CLIP model."""
    root = settings.templates_dir.resolve()
    library = TemplateLibrary(
        root, match_threshold=settings.templates.match_threshold, limits=settings.limits,
        clip=get_clip(settings.templates),
    )  # fmt: skip
    stale = library.store.stale_ids()
    if stale:  # made by an older version: matching would skip them until recomputed
        log.info("recomputing the matching features of %d templates (once, after an upgrade)",
                 len(stale))  # fmt: skip
        library.reindex(stale)
    if (
        starter
        and settings.templates.starter_on_empty
        and len(library) == 0
        and not _holds_templates(root)
    ):
        from glitchzap.templates.starter import add_starter_set

        add_starter_set(library)
    return library
