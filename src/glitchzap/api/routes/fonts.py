"""GET /api/fonts: memegen's caption fonts for the studio's font selector."""

from __future__ import annotations

from fastapi import APIRouter

from glitchzap.api.deps import State
from glitchzap.api.schemas import FontResponse

router = APIRouter(prefix="/api", tags=["fonts"])


@router.get("/fonts", response_model=list[FontResponse])
def list_fonts(state: State) -> list[FontResponse]:
    """memegen's fonts in its order; `default` marks the one a caption without a font gets."""
    from glitchzap.meme.fonts import MEMEGEN_FONTS, memegen_font_path, resolve_font

    settings = state.settings
    fonts_dir = settings.fonts_dir
    default = resolve_font(settings.fonts.default, settings.fonts.paths, fonts_dir=fonts_dir)
    return [
        FontResponse(
            id=font.id,
            alias=font.alias or None,
            family=font.family,
            present=memegen_font_path(font, fonts_dir) is not None,
            default=default.origin == "memegen" and default.name == font.id,
        )
        for font in MEMEGEN_FONTS
    ]
