"""memegen's picture rules on glitchzap's engine: sizes, padding, overlays, styles, errors.

`render_memegen(request, runtime=...)` turns one parsed memegen request (`MemegenRequest`:
template or custom background, decoded lines, extension and the query options) into encoded
image bytes, as memegen's `utils.images.save` does (app/utils/images.py). The HTTP adapter
(`api/routes/memegen.py`) parses URLs, fetches remote images through the SSRF-safe fetcher,
picks status codes and caches; this module only draws.

Captions go through the one caption renderer (`meme.captions`), shared with `/api/meme`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import ImageColor

if TYPE_CHECKING:
    from glitchzap.runtime import Runtime

# memegen's app/settings.py
DEFAULT_SIZE = (600, 600)
PREVIEW_SIZE = (300, 300)
MAXIMUM_PIXELS = 1920 * 1080
MAXIMUM_FRAMES = 20
MINIMUM_FRAMES = 5
MINIMUM_DIMENSION = 10  # 0 < width or height < 10 is memegen's 422
ALLOWED_EXTENSIONS = ("gif", "jpg", "jpeg", "png", "webp")
ANIMATED_EXTENSIONS = ("gif", "webp")


@dataclass(frozen=True)
class MemegenRequest:
    """One memegen image request, parsed and validated by the adapter.

    `template_id` names a library template; `background` (image bytes the adapter fetched)
    makes a custom meme instead; `error` draws on the error picture (memegen's `_error`
    template) for 404/414/415/422 images. `extension` is one of ALLOWED_EXTENSIONS."""

    lines: tuple[str, ...]
    extension: str = "png"
    template_id: str | None = None
    background: bytes | None = None
    error: bool = False
    style: str = "default"  # "default" or "animated" (overlay URLs arrive as `overlays`)
    overlays: tuple[bytes, ...] = ()  # images fetched from style=<url>[,<url>...]
    font: str = ""  # a font id or alias; "" = each box's own font
    layout: str = "default"  # "default" or "top"
    width: int = 0
    height: int = 0
    colors: tuple[str, ...] = ()  # validated colours: box i's text colour is colors[i]
    center: tuple[float, float] | None = None  # overlay centre (fractions)
    scale: float | None = None  # overlay scale
    start: tuple[float, ...] = ()  # text animation timing per box
    stop: tuple[float, ...] = ()
    watermark: str = ""  # "" = none
    frames: int = 0  # most frames in an animated output (0 = memegen's rule)
    preview: bool = False  # /images/preview.jpg: small, "PREVIEW" stamp, JPEG


def validate_color(value: str) -> tuple[str | None, bool]:
    """(normalised colour, valid) as memegen's `validate_color`: a name, `#hex` or bare hex."""
    for candidate in (value, "#" + value):
        try:
            ImageColor.getrgb(candidate)
        except ValueError:
            continue
        return candidate, True
    return None, False


def render_memegen(request: MemegenRequest, *, runtime: Runtime) -> bytes:
    """The encoded image for `request` (png/jpg/gif/webp bytes)."""
    # Interim: the template (or a grey error picture / the custom background) with captions.
    import numpy as np

    from glitchzap.io import decode_image, encode_image
    from glitchzap.meme.captions import layout_boxes, render_captions
    from glitchzap.meme.compose import caption_font, make_template_meme

    if request.template_id and not request.error:
        image = make_template_meme(request.template_id, list(request.lines), runtime=runtime)
    else:
        if request.background is not None and not request.error:
            base = decode_image(request.background, runtime.settings.limits)[..., :3].copy()
        else:
            base = np.full((600, 600, 3), 210, np.uint8)
        image = render_captions(
            base,
            list(request.lines)[:2],
            layout_boxes("default"),
            font=caption_font(None, runtime.settings),
            fonts=runtime.fonts,
        )
    fmt = "jpeg" if request.extension in ("jpg", "jpeg") else request.extension
    return encode_image(image, fmt)
