"""Font resolution order, memegen aliases, the LRU and glyphs a font lacks."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from glitchzap.errors import InvalidParameters
from glitchzap.meme.fonts import (
    BUILTIN_FONT,
    FontCache,
    FontSource,
    list_fonts,
    resolve_font,
)


@pytest.fixture
def system_font() -> FontSource:
    found = [s for s in list_fonts() if s.origin == "system"]
    if not found:
        pytest.skip("no meme font installed (apt-get install fonts-dejavu-core)")
    return found[0]


def test_builtin_font_is_always_last_and_needs_no_file(tmp_path: Path) -> None:
    sources = list_fonts(system_dirs=[tmp_path])
    assert sources == [BUILTIN_FONT]
    assert resolve_font(None, system_dirs=[tmp_path]) == BUILTIN_FONT


def test_configured_fonts_come_first(tmp_path: Path, system_font: FontSource) -> None:
    assert system_font.path is not None
    folder = tmp_path / "fonts"
    folder.mkdir()
    shutil.copy(system_font.path, folder / "MyMeme.ttf")
    sources = list_fonts([folder])
    assert sources[0] == FontSource("MyMeme", folder / "MyMeme.ttf", "config")
    assert sources[-1] == BUILTIN_FONT
    assert resolve_font(None, [folder]).name == "MyMeme"
    assert resolve_font("mymeme", [folder]).path == folder / "MyMeme.ttf"


def test_names_files_and_memegen_aliases_resolve(system_font: FontSource) -> None:
    assert resolve_font(system_font.name.upper()) == system_font
    assert resolve_font(str(system_font.path)).path == system_font.path
    assert resolve_font("thick") == list_fonts()[0]
    assert resolve_font("builtin") == BUILTIN_FONT


def test_an_unknown_font_names_the_choices() -> None:
    with pytest.raises(InvalidParameters, match="builtin"):
        resolve_font("No Such Font")


def test_lru_reuses_and_evicts() -> None:
    cache = FontCache(max_size=2)
    first = cache.get(BUILTIN_FONT, 20)
    assert cache.get(BUILTIN_FONT, 20) is first and cache.loads == 1
    cache.get(BUILTIN_FONT, 30)
    cache.get(BUILTIN_FONT, 40)
    assert len(cache) == 2 and cache.loads == 3
    assert cache.get(BUILTIN_FONT, 20) is not first and cache.loads == 4


def test_a_broken_font_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.ttf"
    bad.write_bytes(b"not a font")
    with pytest.raises(InvalidParameters, match="Cannot load font"):
        FontCache(4).get(resolve_font(str(bad)), 20)


@pytest.mark.parametrize("source", ["builtin", "system"])
def test_missing_glyphs_draw_without_error(source: str) -> None:
    font_source = BUILTIN_FONT
    if source == "system":
        found = [s for s in list_fonts() if s.origin == "system"]
        if not found:
            pytest.skip("no system font")
        font_source = found[0]
    font = FontCache(4).get(font_source, 32)
    layer = Image.new("RGBA", (400, 60))
    ImageDraw.Draw(layer).text(
        (5, 5),
        "ok \U0001f389 \u4e2d\u6587 \u05e9\u05dc\u05d5\u05dd",
        font=font,
        fill="white",
        stroke_width=2,
        stroke_fill="black",
    )
    assert layer.getbbox() is not None
