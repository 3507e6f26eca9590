"""GET /api/fonts mirrors memegen's font registry (the studio's font selector reads it)."""

from __future__ import annotations

from typing import Any

from glitchzap.meme.fonts import MEMEGEN_FONTS, memegen_font_path
from glitchzap.runtime import current

pytest_plugins = ["api_fixtures"]


def test_memegen_fonts_in_order_with_the_default_marked(api_client: Any) -> None:
    body = api_client.get("/api/fonts").json()
    assert [f["id"] for f in body] == [f.id for f in MEMEGEN_FONTS]
    assert body[0]["alias"] == "thick" and body[0]["family"] == "Titillium Web Black"
    fonts_dir = current().settings.fonts_dir
    assert [f["present"] for f in body] == [
        memegen_font_path(f, fonts_dir) is not None for f in MEMEGEN_FONTS
    ]
    if body[0]["present"]:  # fetched by `make fonts`: memegen's default is the default
        assert [f["default"] for f in body] == [True] + [False] * (len(body) - 1)
