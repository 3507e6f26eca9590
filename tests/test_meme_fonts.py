"""Font resolution order, memegen's fonts and aliases, the LRU and glyphs a font lacks.

The memegen tests read the real files `make fonts` (scripts/fetch_fonts.py) put in the
default fonts dir; they skip, saying so, only when that dir holds none of them.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from fontTools.ttLib import TTFont
from PIL import Image, ImageDraw, ImageFont

from glitchzap.errors import InvalidParameters
from glitchzap.meme.fonts import (
    BUILTIN_FONT,
    DEFAULT_FONTS_DIR,
    MEMEGEN_FONT_NAMES,
    MEMEGEN_FONTS,
    FontCache,
    FontSource,
    MemegenFont,
    list_fonts,
    memegen_font,
    memegen_font_path,
    resolve_font,
)

# The scripts each merged font must cover, where its @fontsource package has those subsets:
# a sample character per subset (latin-ext, cyrillic, greek, vietnamese, hebrew, japanese).
COVERAGE = {
    "titilliumweb": "éŁ",
    "notosans": "éŁЖΩẫ",
    "kalam": "éŁ",
    "impact": "éŁẫ",
    "titilliumweb-thin": "éŁ",
    "segoe": "éŁЖΩẫש",
    "hgminchob": "éЖẫ日本語",
    "notosanshebrew": "éŁש",
}
MEMEGEN_ORDER = [
    "titilliumweb",
    "notosans",
    "kalam",
    "impact",
    "titilliumweb-thin",
    "segoe",
    "hgminchob",
    "notosanshebrew",
]


@pytest.fixture(scope="module")
def fetched() -> Path:
    """The default fonts dir, with memegen's fonts in it (skips when none were fetched)."""
    if not any(memegen_font_path(f) for f in MEMEGEN_FONTS):
        pytest.skip(f"no memegen font in {DEFAULT_FONTS_DIR}: run `make fonts`")
    return DEFAULT_FONTS_DIR


@pytest.fixture
def system_font() -> FontSource:
    found = [s for s in list_fonts() if s.origin == "system"]
    if not found:
        pytest.skip("no meme font installed (apt-get install fonts-dejavu-core)")
    return found[0]


def test_builtin_font_is_always_last_and_needs_no_file(tmp_path: Path) -> None:
    sources = list_fonts(system_dirs=[tmp_path], fonts_dir=tmp_path)
    assert sources == [BUILTIN_FONT]
    assert resolve_font(None, system_dirs=[tmp_path], fonts_dir=tmp_path) == BUILTIN_FONT


def test_configured_fonts_come_first(tmp_path: Path, system_font: FontSource) -> None:
    assert system_font.path is not None
    folder = tmp_path / "fonts"
    folder.mkdir()
    shutil.copy(system_font.path, folder / "MyMeme.ttf")
    sources = list_fonts([folder], fonts_dir=None)
    assert sources[0] == FontSource("MyMeme", folder / "MyMeme.ttf", "config")
    assert sources[-1] == BUILTIN_FONT
    assert resolve_font(None, [folder], fonts_dir=None).name == "MyMeme"
    assert resolve_font("mymeme", [folder]).path == folder / "MyMeme.ttf"


def test_names_and_files_resolve(system_font: FontSource) -> None:
    assert resolve_font(system_font.name.upper()) == system_font
    assert resolve_font(str(system_font.path)).path == system_font.path
    assert resolve_font("builtin") == BUILTIN_FONT


def test_memegen_fonts_in_memegens_order_with_its_lookup() -> None:
    assert [f.id for f in MEMEGEN_FONTS] == MEMEGEN_ORDER
    assert memegen_font("") == memegen_font("titilliumweb") == memegen_font("thick")
    assert memegen_font("comic") == memegen_font("kalam")
    assert memegen_font("he") == memegen_font("notosanshebrew")
    assert memegen_font("jp") == memegen_font("hgminchob")
    assert memegen_font("nope") is None and memegen_font("THICK") is None  # exact, as memegen
    assert {"thick", "thin", "tiny", "titilliumweb", "segoe"} <= MEMEGEN_FONT_NAMES


@pytest.mark.parametrize("font", MEMEGEN_FONTS, ids=lambda f: f.id)
def test_every_memegen_font_resolves_to_its_fetched_ttf(fetched: Path, font: MemegenFont) -> None:
    source = resolve_font(font.id)
    assert source == FontSource(font.id, fetched / font.filename, "memegen")
    if font.alias:
        assert resolve_font(font.alias) == source
    assert TTFont(source.path)["head"] is not None  # plain TrueType (no WOFF flavour)
    assert FontCache(2).get(source, 40).getbbox("Hi")[2] > 0


@pytest.mark.parametrize("font", MEMEGEN_FONTS, ids=lambda f: f.id)
def test_merged_fonts_cover_their_packages_scripts(fetched: Path, font: MemegenFont) -> None:
    path = fetched / font.filename
    cmap = TTFont(path).getBestCmap()
    assert not [ch for ch in COVERAGE[font.id] if ord(ch) not in cmap]
    # ... and Pillow draws them as real glyphs, not the .notdef box.
    loaded = ImageFont.truetype(str(path), 48)
    notdef = loaded.getmask("\U0010fffd").getbbox()
    for ch in COVERAGE[font.id]:
        assert loaded.getmask(ch).getbbox() not in (None, notdef), ch


def test_no_name_is_memegens_default_and_memegen_fonts_list_first(fetched: Path) -> None:
    assert resolve_font() == resolve_font("titilliumweb") == resolve_font("default")
    sources = list_fonts()
    assert [s.name for s in sources[: len(MEMEGEN_FONTS)]] == MEMEGEN_ORDER
    assert sources[-1] == BUILTIN_FONT


def test_a_missing_memegen_font_falls_back_with_one_log_line(
    tmp_path: Path, system_font: FontSource, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="glitchzap.meme.fonts"):
        assert resolve_font("thick", fonts_dir=tmp_path) == system_font
        assert resolve_font("thick", fonts_dir=tmp_path) == system_font
        assert resolve_font(None, fonts_dir=tmp_path) == system_font
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "titilliumweb" in lines[0] and "make fonts" in lines[0]


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
