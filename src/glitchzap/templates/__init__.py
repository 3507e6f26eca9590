"""The template library: store, import, match and search meme templates.

`get_library()` returns the process-wide library at `settings.templates_dir`, filled with the
starter set on first use when empty (`templates.starter_on_empty`).
"""

from __future__ import annotations

import threading
from pathlib import Path

from glitchzap.settings import Settings, get_settings
from glitchzap.templates.library import (
    ImportReport,
    Template,
    TemplateLibrary,
    TemplateMatch,
    text_boxes,
)

__all__ = [
    "ImportReport",
    "Template",
    "TemplateLibrary",
    "TemplateMatch",
    "get_library",
    "reset_library",
    "text_boxes",
]

_lock = threading.Lock()
_libraries: dict[tuple[Path, float], TemplateLibrary] = {}


def _holds_templates(directory: Path) -> bool:
    """Whether `directory` already has memegen-style folders (never seed into someone's data)."""
    return any(directory.glob("*/config.yml"))


def get_library(settings: Settings | None = None) -> TemplateLibrary:
    """The library under `settings.templates_dir` (built once per directory and threshold),
    given the starter set first when it is empty and `templates.starter_on_empty` is on."""
    settings = settings or get_settings()
    key = (settings.templates_dir.resolve(), settings.templates.match_threshold)
    with _lock:
        library = _libraries.get(key)
        if library is None:
            library = _libraries[key] = TemplateLibrary(
                key[0], match_threshold=key[1], limits=settings.limits
            )
        empty = len(library) == 0 and not _holds_templates(key[0])
        if settings.templates.starter_on_empty and empty:
            from glitchzap.templates.starter import add_starter_set

            add_starter_set(library)
        return library


def reset_library() -> None:
    """Close and forget the process-wide libraries (after `configure`, and between tests)."""
    with _lock:
        for library in _libraries.values():
            library.store.close()
        _libraries.clear()
