"""Importing memegen's template folders (`<id>/config.yml` + `<id>/default.*`) into the store.

The still picture (`default.jpg`, `.png`...) is the template's picture: matching, search and
still memes read it. memegen's animated picture, `default.gif`, is the picture itself when it
is the only one (a GIF-only template: its first frame is matched), or is kept beside the still
one, as memegen does, for animated memes (`/images/<id>/<lines>.gif`).

Each folder is parsed (config.yml with name, keywords, example captions, text boxes, source),
checked (a safe id that no user or starter template already uses) and written only when its
picture or fields changed, so importing the same checkout again updates and never duplicates.
Folders memegen itself does not treat as templates (`_error`, `_test`, `_custom`, hidden ones)
are skipped, not failed; a template folder that cannot be read is reported as an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from glitchzap.errors import ImageTooLarge, InvalidParameters, UnreadableImage
from glitchzap.io import load_image, probe_image
from glitchzap.settings import LimitsSettings
from glitchzap.templates.records import (
    STARTER_PREFIX,
    ImportReport,
    default_boxes,
    memegen_boxes,
    string_list,
)
from glitchzap.templates.store import (
    ANIMATION_SUFFIX,
    FEATURES_VERSION,
    Store,
    check_id,
    digest,
    loads,
)

IMAGE_SUFFIXES = ("jpg", "png", "jpeg", "webp", "gif")  # first found is the template picture
NOT_TEMPLATE_PREFIXES = ("_", ".")  # memegen's own folders (`_error`, `_test`), hidden ones
# name, keywords, example captions, text boxes, source: what config.yml says about a template
Fields = tuple[str, list[str], list[str], list[dict[str, Any]], str | None]

__all__ = ["import_memegen"]


def import_memegen(store: Store, directory: Path | str, *, limits: LimitsSettings) -> ImportReport:
    """Import memegen folders (`<id>/config.yml` + `default.*`, or under `templates/`).
    Idempotent: unchanged templates are skipped, changed ones updated, none duplicated."""
    directory = Path(directory)
    if (directory / "templates").is_dir():
        directory = directory / "templates"
    if not directory.is_dir():
        raise InvalidParameters(f"{directory} is not a directory of memegen templates")
    report = ImportReport()
    for folder in sorted(p for p in directory.iterdir() if p.is_dir()):
        if folder.name.startswith(NOT_TEMPLATE_PREFIXES):
            report.skipped.append(f"{folder.name}: not a template folder")
        else:
            _import_folder(store, folder, report, limits)
    return report


def _import_folder(
    store: Store, folder: Path, report: ImportReport, limits: LimitsSettings
) -> None:
    template_id = folder.name
    if not _is_safe_id(template_id):
        report.errors.append(f"{folder.name}: not a safe template id")
        return
    image_path = next((folder / f"default.{e}" for e in IMAGE_SUFFIXES
                       if (folder / f"default.{e}").is_file()), None)  # fmt: skip
    config_path = folder / "config.yml"
    if image_path is None or not config_path.is_file():
        report.errors.append(f"{folder.name}: needs config.yml and default.jpg|png|gif")
        return
    gif_path = folder / f"default{ANIMATION_SUFFIX}"
    try:
        config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
        data = image_path.read_bytes()
        animation = gif_path.read_bytes() if gif_path != image_path and gif_path.is_file() else None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        report.errors.append(f"{folder.name}: {exc}")
        return
    if not isinstance(config, dict):
        report.errors.append(f"{folder.name}: config.yml is not a mapping")
        return
    conflict = _conflict(store, template_id)
    if conflict:
        report.conflicts.append(f"{template_id}: {conflict}")
        return
    fields = _fields(config, template_id)
    if _unchanged(store, template_id, fields, data, animation):
        report.unchanged.append(template_id)
        return
    existed = store.exists(template_id)
    try:
        pixels = load_image(data, limits=limits)
        if animation is not None:
            probe_image(animation, limits)  # decodable and inside the frame budgets
    except (UnreadableImage, InvalidParameters, ImageTooLarge) as exc:
        report.errors.append(f"{folder.name}: {exc}")
        return
    name, keywords, example, boxes, source = fields
    store.write(template_id, name=name, keywords=keywords, example=example,
                boxes=boxes or default_boxes(), source=source, origin="memegen", data=data,
                pixels=pixels, animation=animation)  # fmt: skip
    (report.updated if existed else report.added).append(template_id)


def _fields(config: dict[str, Any], template_id: str) -> Fields:
    """A config.yml mapping as the fields the store keeps (the id names an unnamed one)."""
    return (
        str(config.get("name") or template_id), string_list(config.get("keywords")),
        string_list(config.get("example")), memegen_boxes(config.get("text")),
        str(config["source"]) if config.get("source") else None,
    )  # fmt: skip


def _conflict(store: Store, template_id: str) -> str | None:
    """Why memegen may not own `template_id` (a starter id, or another origin's), else None."""
    if template_id.startswith(STARTER_PREFIX):
        return f"ids starting with {STARTER_PREFIX!r} are reserved for the starter set"
    rows = store.query("SELECT origin FROM templates WHERE id = ?", (template_id,))
    if rows and rows[0]["origin"] != "memegen":
        return f"already used by a {rows[0]['origin']} template (remove it first)"
    return None


def _unchanged(
    store: Store, template_id: str, fields: Fields, data: bytes, animation: bytes | None
) -> bool:
    """Whether the stored template already has these fields, these pictures and current
    features."""
    rows = store.query(
        "SELECT t.*, f.version FROM templates t JOIN features f USING (id) WHERE t.id = ?",
        (template_id,),
    )
    if not rows:
        return False
    row = rows[0]
    stored = (row["name"], loads(row["keywords"]), loads(row["example"]),
              loads(row["text_boxes"]) or None, row["source"])  # fmt: skip
    name, keywords, example, boxes, source = fields
    return (
        row["digest"] == digest(data) and row["version"] == FEATURES_VERSION
        and stored == (name, keywords, example, boxes or stored[3], source)
        and (store.folder(template_id) / row["image_file"]).is_file()
        and _same_animation(store.folder(template_id), row["image_file"], animation)
    )  # fmt: skip


def _same_animation(folder: Path, image_file: str, animation: bytes | None) -> bool:
    """Whether the GIF kept beside the still picture is `animation` (None: there is none)."""
    if image_file.endswith(ANIMATION_SUFFIX):
        return animation is None
    kept = folder / f"default{ANIMATION_SUFFIX}"
    if animation is None:
        return not kept.is_file()
    return kept.is_file() and digest(kept.read_bytes()) == digest(animation)


def _is_safe_id(template_id: str) -> bool:
    try:
        check_id(template_id)
    except InvalidParameters:
        return False
    return True
