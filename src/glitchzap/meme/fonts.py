"""Finding caption fonts: memegen's fonts first, then configured files, the system's meme
fonts, and Pillow's.

No font ships with glitchzap. memegen's eight fonts (`MEMEGEN_FONTS`, in memegen's order) are
fetched by `make fonts` (scripts/fetch_fonts.py) from npm @fontsource packages, each merged
into one TrueType file in `fonts.dir` (default <data_dir>/fonts). `resolve_font` finds a
memegen id or alias there, else looks in `fonts.paths` (files or directories), then in the
fontconfig directories for the usual meme faces, and finally falls back to Pillow's built-in
scalable font, so a caption can always be drawn. Loaded font objects live in a small LRU keyed
by (file, size) because building a FreeType face costs more than drawing.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import ImageFont
from platformdirs import user_data_dir

from glitchzap.errors import InvalidParameters

FontOrigin = Literal["memegen", "config", "system", "builtin"]
BUILTIN = "builtin"  # the name of Pillow's built-in font


@dataclass(frozen=True)
class MemegenFont:
    """One of memegen's fonts: its id and alias, and the TTF glitchzap builds for it."""

    id: str
    alias: str  # "" when memegen gives it none
    filename: str  # the merged TrueType file in the fonts dir
    family: str
    package: str  # the npm package (pinned) whose .woff subsets make the file
    weight: int  # the one weight taken from the package


# memegen's fonts (app/models/font.py), in its order. Impact and Segoe UI are not free: Anton
# and Open Sans Bold stand in for them; Noto Serif JP stands in for HG Mincho B.
MEMEGEN_FONTS: list[MemegenFont] = [
    MemegenFont(
        "titilliumweb", "thick", "TitilliumWeb-Black.ttf", "Titillium Web Black",
        "@fontsource/titillium-web@5.3.0", 900,
    ),
    MemegenFont(
        "notosans", "", "NotoSans-Bold.ttf", "Noto Sans Bold",
        "@fontsource/noto-sans@5.3.0", 700,
    ),
    MemegenFont(
        "kalam", "comic", "Kalam-Regular.ttf", "Kalam",
        "@fontsource/kalam@5.3.0", 400,
    ),
    MemegenFont(
        "impact", "", "Anton-Regular.ttf", "Anton",
        "@fontsource/anton@5.3.0", 400,
    ),
    MemegenFont(
        "titilliumweb-thin", "thin", "TitilliumWeb-SemiBold.ttf", "Titillium Web SemiBold",
        "@fontsource/titillium-web@5.3.0", 600,
    ),
    MemegenFont(
        "segoe", "tiny", "OpenSans-Bold.ttf", "Open Sans Bold",
        "@fontsource/open-sans@5.3.0", 700,
    ),
    MemegenFont(
        "hgminchob", "jp", "NotoSerifJP-Bold.ttf", "Noto Serif JP Bold",
        "@fontsource/noto-serif-jp@5.3.0", 700,
    ),
    MemegenFont(
        "notosanshebrew", "he", "NotoSansHebrew-Bold.ttf", "Noto Sans Hebrew Bold",
        "@fontsource/noto-sans-hebrew@5.3.0", 700,
    ),
]  # fmt: skip
DEFAULT_MEMEGEN_FONT = "titilliumweb"  # memegen's settings.DEFAULT_FONT
# Every name memegen's Font.objects.get accepts (ids and aliases).
MEMEGEN_FONT_NAMES = frozenset(
    name for font in MEMEGEN_FONTS for name in (font.id, font.alias) if name
)
# Where `make fonts` puts them by default: Settings.fonts_dir with the default data_dir.
DEFAULT_FONTS_DIR = Path(user_data_dir("glitchzap")) / "fonts"

# Meme faces in order of preference, each with the file names it ships under.
MEME_FONTS: dict[str, tuple[str, ...]] = {
    "Impact": ("impact.ttf", "Impact.ttf"),
    "Anton": ("Anton-Regular.ttf", "Anton.ttf"),
    "Oswald": ("Oswald-Bold.ttf", "Oswald[wght].ttf", "Oswald-VariableFont_wght.ttf"),
    "Bebas Neue": ("BebasNeue-Regular.ttf", "BebasNeue.ttf", "BebasNeue.otf"),
    "Liberation Sans Bold": ("LiberationSans-Bold.ttf",),
    "DejaVu Sans Bold": ("DejaVuSans-Bold.ttf",),
}
SYSTEM_FONT_DIRS = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path("~/.fonts").expanduser(),
    Path("~/.local/share/fonts").expanduser(),
)
FONT_SUFFIXES = (".ttf", ".otf", ".ttc")

log = logging.getLogger(__name__)
_warned: set[tuple[str, str]] = set()  # (font id, fonts dir) already logged as missing


@dataclass(frozen=True)
class FontSource:
    """A font that resolves: its display name, file (None for Pillow's) and where it came from."""

    name: str
    path: Path | None
    origin: FontOrigin


BUILTIN_FONT = FontSource(BUILTIN, None, "builtin")


def memegen_font(name: str) -> MemegenFont | None:
    """memegen's font with this id or alias ("" = the default), as Font.objects.get; else None."""
    name = name or DEFAULT_MEMEGEN_FONT
    return next((f for f in MEMEGEN_FONTS if name in (f.id, f.alias)), None)


def memegen_font_path(font: MemegenFont, fonts_dir: Path | None = DEFAULT_FONTS_DIR) -> Path | None:
    """The font's fetched TTF in `fonts_dir`, or None when it is not there."""
    if fonts_dir is None:
        return None
    path = Path(fonts_dir).expanduser() / font.filename
    return path if path.is_file() else None


def _font_files(paths: Iterable[Path]) -> list[Path]:
    """Font files named by `paths`, expanding directories (sorted, recursive)."""
    found: list[Path] = []
    for path in paths:
        path = Path(path).expanduser()
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix.lower() in FONT_SUFFIXES))
        elif path.is_file():
            found.append(path)
    return found


def _index_system_fonts(dirs: Sequence[Path]) -> dict[str, Path]:
    """Lower-cased file name -> path for every font file under `dirs`."""
    index: dict[str, Path] = {}
    for directory in dirs:
        if directory.is_dir():
            for path in sorted(directory.rglob("*")):
                if path.suffix.lower() in FONT_SUFFIXES:
                    index.setdefault(path.name.lower(), path)
    return index


def list_fonts(
    paths: Sequence[Path] = (),
    system_dirs: Sequence[Path] = SYSTEM_FONT_DIRS,
    fonts_dir: Path | None = DEFAULT_FONTS_DIR,
) -> list[FontSource]:
    """Every font that resolves, best first: memegen's (fetched), configured, system meme fonts,
    then the built-in."""
    memegen = [
        FontSource(font.id, path, "memegen")
        for font in MEMEGEN_FONTS
        if (path := memegen_font_path(font, fonts_dir)) is not None
    ]
    # Walking the font directories costs milliseconds; captions resolve fonts on every render.
    return memegen + list(_list_fonts(tuple(Path(p) for p in paths), tuple(system_dirs)))


@functools.lru_cache(maxsize=16)
def _list_fonts(paths: tuple[Path, ...], system_dirs: tuple[Path, ...]) -> tuple[FontSource, ...]:
    sources = [FontSource(p.stem, p, "config") for p in _font_files(paths)]
    index = _index_system_fonts(system_dirs)
    for name, files in MEME_FONTS.items():
        path = next((index[f.lower()] for f in files if f.lower() in index), None)
        if path is not None:
            sources.append(FontSource(name, path, "system"))
    sources.append(BUILTIN_FONT)
    return tuple(sources)


def _normalise(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch.isalnum())


def resolve_font(
    name: str | None = None,
    paths: Sequence[Path] = (),
    system_dirs: Sequence[Path] = SYSTEM_FONT_DIRS,
    fonts_dir: Path | None = DEFAULT_FONTS_DIR,
) -> FontSource:
    """The font called `name` (a file, a memegen id or alias, or a listed name), else the best
    one: memegen's default (titilliumweb) when fetched."""
    if name and Path(name).expanduser().is_file():
        path = Path(name).expanduser()
        return FontSource(path.stem, path, "config")
    if not name or _normalise(name) == "default":
        name = DEFAULT_MEMEGEN_FONT
    font = memegen_font(name) or memegen_font(name.lower())
    if font is not None:
        return _memegen_source(font, paths, system_dirs, fonts_dir)
    sources = list_fonts(paths, system_dirs, fonts_dir)
    wanted = _normalise(name)
    for source in sources:
        if _normalise(source.name) == wanted:
            return source
    names = ", ".join(s.name for s in sources)
    raise InvalidParameters(f"Unknown font {name!r}: use a font file or one of {names}")


def _memegen_source(
    font: MemegenFont,
    paths: Sequence[Path],
    system_dirs: Sequence[Path],
    fonts_dir: Path | None,
) -> FontSource:
    """The fetched file of `font`, else the best other font (logged once per font and dir)."""
    path = memegen_font_path(font, fonts_dir)
    if path is not None:
        return FontSource(font.id, path, "memegen")
    fallback = list_fonts(paths, system_dirs, fonts_dir=None)[0]
    if (font.id, str(fonts_dir)) not in _warned:
        _warned.add((font.id, str(fonts_dir)))
        log.warning(
            "Font %r (%s) is not in %s: drawing with %s instead (run `make fonts`)",
            font.id, font.filename, fonts_dir, fallback.name,
        )  # fmt: skip
    return fallback


class FontCache:
    """LRU of loaded font objects keyed by (file, size)."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._fonts: OrderedDict[tuple[str, int], ImageFont.FreeTypeFont] = OrderedDict()
        self._lock = threading.Lock()
        self.loads = 0

    def get(self, source: FontSource, size: int) -> ImageFont.FreeTypeFont:
        """The font at `size` px, loaded on first use (Pillow's built-in if the file fails)."""
        key = (str(source.path or BUILTIN), size)
        with self._lock:
            font = self._fonts.get(key)
            if font is not None:
                self._fonts.move_to_end(key)
                return font
        font = _load(source, size)
        with self._lock:
            self.loads += 1
            self._fonts[key] = font
            while len(self._fonts) > self.max_size:
                self._fonts.popitem(last=False)
        return font

    def __len__(self) -> int:
        return len(self._fonts)


def _load(source: FontSource, size: int) -> ImageFont.FreeTypeFont:
    if source.path is not None:
        try:
            return ImageFont.truetype(str(source.path), size)
        except OSError as exc:
            raise InvalidParameters(f"Cannot load font {source.path}: {exc}") from exc
    font = ImageFont.load_default(size=size)
    if not isinstance(font, ImageFont.FreeTypeFont):  # Pillow built without FreeType
        raise InvalidParameters("Pillow has no FreeType support: configure fonts.paths")
    return font
