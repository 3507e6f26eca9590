"""What the template library hands out: the `Template` record, a ranked `TemplateMatch`, an
`ImportReport`, and memegen's text-box format that every template carries.

Plain data and pure helpers, no files or SQLite, so the store, the importer, the matcher and the
`TemplateLibrary` facade can all import them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STARTER_PREFIX = "starter-"
ORIGINS = ("memegen", "user", "starter")
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
    image_path: Path  # the still picture: matching, search and still memes read it
    width: int
    height: int
    # memegen's animated picture (its `default.gif`): the picture itself when that is a GIF,
    # or a GIF kept beside a still picture (memegen ships both for most animated templates).
    animation_path: Path | None = None

    @property
    def animated(self) -> bool:
        """Whether the template has memegen's animated picture (its "animated" style)."""
        return self.animation_path is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "keywords": self.keywords, "example": self.example,
            "text_boxes": self.text_boxes, "source": self.source, "origin": self.origin,
            "image": str(self.image_path), "width": self.width, "height": self.height,
            "animated": self.animated,
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


SURE_MARGIN = 0.15  # a score this far above the threshold is a sure match, below it "probably"


@dataclass(frozen=True)
class Suggestion:
    """What to tell a user about a picture's best match: `verdict` is "none" (no known
    template; `template_id` is None), "probable" (just above the threshold) or "sure"."""

    verdict: str
    template_id: str | None
    score: float
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {"verdict": self.verdict, "id": self.template_id,
                "score": round(self.score, 4), "message": self.message}  # fmt: skip


def suggest_template(
    best: TemplateMatch | None, threshold: float, name: str | None = None
) -> Suggestion:
    """The honest suggestion for a best match: below `threshold` no template is named."""
    if best is None or best.score < threshold:
        score = best.score if best is not None else 0.0
        return Suggestion("none", None, score, "No known template")
    label = name or best.id
    if best.score < threshold + SURE_MARGIN:
        message = f"Probably {label} (a weak match: {best.score:.0%}, {threshold:.0%} needed)"
        return Suggestion("probable", best.id, best.score, message)
    return Suggestion("sure", best.id, best.score, f"This is {label} (match {best.score:.0%})")


@dataclass
class ImportReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)  # "id: why"
    errors: list[str] = field(default_factory=list)  # "folder: why"
    skipped: list[str] = field(default_factory=list)  # "folder: why" (not a template folder)

    @property
    def failed(self) -> bool:
        """Whether a template folder could not be imported (skipped folders are not failures)."""
        return bool(self.conflicts or self.errors)

    def to_dict(self) -> dict[str, list[str]]:
        return {
            "added": self.added, "updated": self.updated, "unchanged": self.unchanged,
            "conflicts": self.conflicts, "errors": self.errors, "skipped": self.skipped,
        }  # fmt: skip


def memegen_boxes(value: Any) -> list[dict[str, Any]]:
    """memegen text boxes with only the keys memegen defines (others are dropped)."""
    boxes = value if isinstance(value, list) else []
    return [{k: b[k] for k in MEMEGEN_BOX_KEYS if k in b} for b in boxes if isinstance(b, dict)]


def default_boxes() -> list[dict[str, Any]]:
    """memegen's top and bottom boxes."""
    return [
        {"style": "upper", "color": "white", "font": "thick", "anchor_x": 0.0, "anchor_y": 0.0,
         "angle": 0.0, "scale_x": 1.0, "scale_y": 0.2, "align": "center", "start": 0.0,
         "stop": 1.0},
        {"style": "upper", "color": "white", "font": "thick", "anchor_x": 0.0, "anchor_y": 0.8,
         "angle": 0.0, "scale_x": 1.0, "scale_y": 0.2, "align": "center", "start": 0.0,
         "stop": 1.0},
    ]  # fmt: skip


def text_boxes(template: Template) -> list[Any]:
    """The template's memegen boxes as `TextBox`es, values clamped into range."""
    from glitchzap.types import TextBox

    boxes = []
    for box in template.text_boxes or default_boxes():
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


def string_list(value: Any) -> list[str]:
    """The non-blank items of a list, as strings ([] for anything that is not a list)."""
    if not isinstance(value, list):
        return []
    return [str(item) for item in value if item is not None and str(item).strip()]
