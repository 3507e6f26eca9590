"""memegen.link compatibility: its URL text escapes and its template folders.

`decode_text("do_you_want_ants~q")` gives "do you want ants?". The escapes, scanned left to
right: `__` -> `_`, `--` -> `-`, `_` or `-` -> space, `''` -> `"`, and `~n` newline, `~q` ?,
`~a` &, `~p` %, `~h` #, `~s` /, `~b` backslash, `~l` <, `~g` >. A lone `_` or `-` line is empty.
`encode_text` is the inverse, used for the example URLs in `GET /templates`.

Templates come from the one template library (`Runtime.templates`), which imports memegen's
own folders (`glitchzap templates import-memegen`). As in memegen, `.gif` and `.webp` draw the
captions on every frame of an animated template (one with a `default.gif`); `.png` and `.jpg`
are stills, and a still template as `.gif` is a one-frame GIF.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from glitchzap.templates import Template

TILDE_ESCAPES = {
    "n": "\n",
    "q": "?",
    "a": "&",
    "p": "%",
    "h": "#",
    "s": "/",
    "b": "\\",
    "l": "<",
    "g": ">",
}
_DOUBLES = {"__": "_", "--": "-", "''": '"'}
IMAGE_EXTENSIONS = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "webp": "webp", "gif": "gif"}
# memegen's ANIMATED_EXTENSIONS: these draw on every frame of an animated template.
ANIMATED_FORMATS = ("gif", "webp")


def decode_text(segment: str) -> str:
    """The caption a memegen URL path segment spells."""
    if segment in ("_", "-", ""):
        return ""
    out: list[str] = []
    i = 0
    while i < len(segment):
        pair = segment[i : i + 2]
        if pair in _DOUBLES:
            out.append(_DOUBLES[pair])
            i += 2
        elif segment[i] in "_-":
            out.append(" ")
            i += 1
        elif segment[i] == "~" and i + 1 < len(segment) and segment[i + 1] in TILDE_ESCAPES:
            out.append(TILDE_ESCAPES[segment[i + 1]])
            i += 2
        else:
            out.append(segment[i])
            i += 1
    return "".join(out)


_ENCODE = {
    "_": "__",
    "-": "--",
    '"': "''",
    " ": "_",
    **{char: f"~{code}" for code, char in TILDE_ESCAPES.items()},
}


def encode_text(text: str) -> str:
    """The URL path segment memegen uses for `text` (`_` for an empty line).

    A space is `_`, or `-` where `_` would merge with a neighbouring `_` into an escape.
    """
    if not text:
        return "_"
    out: list[str] = []
    for i, char in enumerate(text):
        if char == " ":
            following = _ENCODE.get(text[i + 1], text[i + 1]) if i + 1 < len(text) else ""
            clash = (out and out[-1].endswith("_")) or following.startswith("_")
            out.append("-" if clash else "_")
        else:
            out.append(_ENCODE.get(char, char))
    return "".join(out)


def split_extension(last_segment: str) -> tuple[str, str | None]:
    """('text', 'png') for 'text.png'; (segment, None) when it has no image extension."""
    stem, dot, ext = last_segment.rpartition(".")
    if dot and ext.lower() in IMAGE_EXTENSIONS:
        return stem, IMAGE_EXTENSIONS[ext.lower()]
    return last_segment, None


def template_json(template: Template, base_url: str) -> dict[str, Any]:
    """One template in memegen's `GET /templates` shape. As memegen does, an animated template
    lists the styles "animated" and "default" and its example URL ends in `.gif`; `blank`
    stays the still `.png` (memegen's DEFAULT_SUFFIX)."""
    lines = max(len(template.text_boxes), 1)
    example_path = "/".join(encode_text(line) for line in template.example) or "_"
    example_ext = "gif" if template.animated else "png"
    return {
        "id": template.id,
        "name": template.name,
        "lines": lines,
        "overlays": 0,  # overlay images (memegen's style=<url>) are not supported
        "styles": ["animated", "default"] if template.animated else [],
        "blank": f"{base_url}/images/{template.id}.png",
        "example": {
            "text": template.example,
            "url": f"{base_url}/images/{template.id}/{example_path}.{example_ext}",
        },
        "source": template.source,
        "keywords": template.keywords,
        "_self": f"{base_url}/templates/{template.id}",
    }
