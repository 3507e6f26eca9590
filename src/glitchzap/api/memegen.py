"""memegen.link compatibility: its URL text escapes, URL builders and JSON shapes (pure).

`decode_slug`, `encode_lines` and `normalize_slug` follow memegen's own slug rules
(app/utils/text.py): the image routes decode with them and redirect a non-canonical spelling,
and every URL the API answers (`example`, `POST /images`...) is built with them, so those URLs
never redirect.

Templates come from the one template library (`Runtime.templates`), which imports memegen's
own folders (`glitchzap templates import-memegen`). As in memegen, an animated template (one
with a `default.gif`) has the styles "animated" and "default", and its example is a `.gif`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode, urlsplit

from glitchzap.meme.fonts import MemegenFont
from glitchzap.meme.memegen_render import ALLOWED_EXTENSIONS, ANIMATED_EXTENSIONS

if TYPE_CHECKING:
    from glitchzap.templates import Template

# --- memegen's own slug rules (app/utils/text.py), which its URLs and redirects follow ---------

PLACEHOLDER = "string"  # memegen's Swagger UI placeholder value: accepted and ignored
DEFAULT_EXTENSION = "png"
ANIMATED_EXTENSION = "gif"
MAX_SLUG_PART_BYTES = 200  # a longer path segment is memegen's 414
FLAGS = {"0": False, "1": True, "false": False, "no": False, "true": True, "yes": True}
# Characters a line spells with an escape, in the order memegen applies them when encoding.
_SLUG_ENCODE = (
    ("_", "__"), ("-", "--"), (" ", "_"), ("?", "~q"), ("%", "~p"), ("#", "~h"), ('"', "''"),
    ("/", "~s"), ("\\", "~b"), ("\n", "~n"), ("&", "~a"), ("<", "~l"), (">", "~g"),
    ("‘", "'"), ("’", "'"), ("“", '"'), ("”", '"'), ("–", "-"),
)  # fmt: skip
_SLUG_DECODE = (
    ("~q", "?"), ("~p", "%"), ("~h", "#"), ("~n", "\n"), ("~a", "&"), ("~l", "<"), ("~g", ">"),
    ("~b", "\\"),
)  # fmt: skip
_TRAILING_BLANKS = re.compile(r"(?:/_)+(\.\w+)(?=$|\?)")


def decode_slug(slug: str) -> list[str]:
    """The lines a memegen text path (`line_1/line_2`) spells, as memegen decodes them."""
    has_dash, has_flag = "_----" in slug, "_--" in slug
    has_arrow, has_under = "_--~g" in slug, "___" in slug
    text = slug.replace("_", " ").replace("  ", "_")
    text = text.replace("-", " ").replace("  ", "-").replace("''", '"')
    if has_dash:
        text = text.replace("-- ", " --")
    elif has_flag:
        text = text.replace("- ", " -")
    if has_arrow:
        text = text.replace("- ~g", " -~g")
    if has_under:
        text = text.replace("_ ", " _")
    for code, char in _SLUG_DECODE:
        text = text.replace(code, char)
    return [line.replace("~s", "/") for line in text.split("/")]


def encode_lines(lines: Sequence[str]) -> str:
    """The memegen text path for `lines` (`_` for an empty line, `_` for none at all)."""
    parts = [_encode_line(line) if line and line != "/" else "_" for line in lines]
    return "/".join(parts) or "_"


def _encode_line(line: str) -> str:
    trailing_under = "_ " in line
    text = unquote(line)
    for char, escape in _SLUG_ENCODE:
        text = text.replace(char, escape)
    return text.replace("___", "__-") if trailing_under else text


def normalize_slug(slug: str) -> tuple[str, bool]:
    """(the canonical spelling of a text path, whether it differs from `slug`)."""
    slug = unquote(slug)
    canonical = encode_lines(decode_slug(slug))
    return canonical, canonical != slug


def clean_url(url: str) -> str:
    """A URL tidied as memegen's `urls.clean`: unescaped (but a background URL keeps its own
    query escaped), spaces as `_`, and blank trailing lines dropped (`/a/_/_.png` -> `/a.png`)."""
    keeps_query = "background=" in url
    url = url.replace("%3A", ":").replace("%2F", "/") if keeps_query else unquote(url)
    url = url.replace("\\", "~b").replace("\n", "~n").replace(" ", "_")
    return _TRAILING_BLANKS.sub(r"\1", url).replace("::", ":")


def slugify(value: str) -> str:
    """A template id from user input: only lower-case letters, digits, `-` and `_` kept."""
    return re.sub(r"[^a-z0-9_-]", "", value).strip("-")


def flag(value: str | None) -> bool | None:
    """memegen's boolean query values (`true`, `1`, `yes`...); None when absent or unknown."""
    return FLAGS.get((value or "").lower())


def is_url(value: str | None) -> bool:
    """Whether a value names a remote image (memegen's `urls.schema`: it contains `://`)."""
    return bool(value) and "://" in str(value)


def add_query(url: str, **params: str) -> str:
    joiner = "&" if "?" in url else "?"
    return url + joiner + urlencode(params)


# --- templates in memegen's shapes ----------------------------------------------------------


def template_styles(template: Template) -> list[str]:
    """memegen's `styles`: an animated template has "animated" and "default", others none."""
    return ["animated", "default"] if template.animated else []


def default_extension(template: Template | None) -> str:
    """memegen's `Template._extension`: gif for an animated template, else png."""
    return ANIMATED_EXTENSION if template is not None and template.animated else DEFAULT_EXTENSION


def example_path(template: Template, extension: str = "") -> str:
    """The path of the template's example meme (memegen's `build_example_url`)."""
    slug = encode_lines(template.example)
    return clean_url(f"/images/{template.id}/{slug}.{extension or default_extension(template)}")


def normalize_case(boxes: Sequence[dict[str, Any]], lines: list[str]) -> list[str]:
    """Lines lower-cased where their box upper-cases anyway (memegen's `Text.normalize`), so
    one meme has one URL."""
    out = list(lines)
    for index, box in enumerate(boxes[: len(out)]):
        if box.get("style", "upper") not in ("none", "default", "mock"):
            out[index] = out[index].lower()
    return out


def custom_path(
    template: Template | None,
    lines: list[str],
    *,
    template_id: str = "",
    normalize: bool = True,
    extension: str = "",
    background: str = "",
    style: str = "",
    layout: str = "",
    font: str = "",
) -> str:
    """The path and query of a meme (memegen's `build_custom_url`); `template` None is a custom
    background (`/images/custom/...`) or an unknown `template_id`."""
    if normalize:
        lines = normalize_case(template.text_boxes if template else _DEFAULT_BOXES, lines)
    if not extension and background:
        extension = urlsplit(background).path.rsplit("/", 1)[-1].rsplit(".", 1)[-1]
    if extension not in ALLOWED_EXTENSIONS:
        extension = default_extension(template)
    if style == "default":
        style = ""
    elif style == "animated":
        style = ""
        if extension not in ANIMATED_EXTENSIONS:
            extension = ANIMATED_EXTENSION
    if layout == "default":
        layout = ""
    name = template.id if template else (template_id or "custom")
    params = {"background": background, "style": style, "layout": layout, "font": font}
    query = urlencode({k: v for k, v in params.items() if v})
    url = f"/images/{name}/{encode_lines(lines)}.{extension}" + (f"?{query}" if query else "")
    return clean_url(url)


_DEFAULT_BOXES = ({"style": "upper"}, {"style": "upper"})  # memegen's two default text boxes


def template_matches(template: Template, query: str) -> bool:
    """Whether a lower-case `query` is in the id, name, keywords or example (memegen's rule)."""
    keywords = " ".join(k.lower() for k in template.keywords)
    example = " ".join(line.lower() for line in template.example)
    return any(query in text for text in (template.id, template.name.lower(), keywords, example))


def template_json(template: Template, base_url: str) -> dict[str, Any]:
    """One template in memegen's `GET /templates` shape. As memegen does, an animated template
    lists the styles "animated" and "default" and its example URL ends in `.gif`; `blank`
    stays the still `.png` (memegen's DEFAULT_SUFFIX)."""
    styles = template_styles(template)
    return {
        "id": template.id,
        "name": template.name,
        "lines": max(len(template.text_boxes), 1),
        "overlays": 1 if styles else 0,  # memegen: one overlay slot wherever there are styles
        "styles": styles,
        "blank": f"{base_url}/images/{template.id}.{DEFAULT_EXTENSION}",
        "example": {
            "text": template.example if any(template.example) else [],
            "url": base_url + example_path(template),
        },
        "source": template.source,
        "keywords": template.keywords,
        "_self": f"{base_url}/templates/{template.id}",
    }


# --- fonts ----------------------------------------------------------------------------------


def font_json(font: MemegenFont, base_url: str) -> dict[str, Any]:
    return {
        "id": font.id,
        "alias": font.alias or None,
        "filename": font.filename,
        "_self": f"{base_url}/fonts/{font.id}",
    }
