"""Finding caption fonts: configured files first, then the system's meme fonts, then Pillow's.

No font ships with glitchzap. `resolve_font` looks in `fonts.paths` (files or directories),
then in the fontconfig directories for the usual meme faces, and finally falls back to
Pillow's built-in scalable font, so a caption can always be drawn. Loaded font objects live
in a small LRU keyed by (file, size) because building a FreeType face costs more than drawing.
"""

from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from PIL import ImageFont

from glitchzap.errors import InvalidParameters

FontOrigin = Literal["config", "system", "builtin"]
BUILTIN = "builtin"  # the name of Pillow's built-in font

# Meme faces in order of preference, each with the file names it ships under.
MEME_FONTS: dict[str, tuple[str, ...]] = {
    "Impact": ("impact.ttf", "Impact.ttf"),
    "Anton": ("Anton-Regular.ttf", "Anton.ttf"),
    "Oswald": ("Oswald-Bold.ttf", "Oswald[wght].ttf", "Oswald-VariableFont_wght.ttf"),
    "Bebas Neue": ("BebasNeue-Regular.ttf", "BebasNeue.ttf", "BebasNeue.otf"),
    "Liberation Sans Bold": ("LiberationSans-Bold.ttf",),
    "DejaVu Sans Bold": ("DejaVuSans-Bold.ttf",),
}
# memegen's box font names, mapped onto our default so memegen configs render as-is.
MEMEGEN_ALIASES = frozenset({"thick", "thin", "impact", "titilliumweb", "comic", "default"})
SYSTEM_FONT_DIRS = (
    Path("/usr/share/fonts"),
    Path("/usr/local/share/fonts"),
    Path("~/.fonts").expanduser(),
    Path("~/.local/share/fonts").expanduser(),
)
FONT_SUFFIXES = (".ttf", ".otf", ".ttc")


@dataclass(frozen=True)
class FontSource:
    """A font that resolves: its display name, file (None for Pillow's) and where it came from."""

    name: str
    path: Path | None
    origin: FontOrigin


BUILTIN_FONT = FontSource(BUILTIN, None, "builtin")


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
    paths: Sequence[Path] = (), system_dirs: Sequence[Path] = SYSTEM_FONT_DIRS
) -> list[FontSource]:
    """Every font that resolves, best first: configured, system meme fonts, then the built-in."""
    # Walking the font directories costs milliseconds; captions resolve fonts on every render.
    return list(_list_fonts(tuple(Path(p) for p in paths), tuple(system_dirs)))


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
) -> FontSource:
    """The font called `name` (a file, a listed name or a memegen alias), else the best one."""
    if name and Path(name).expanduser().is_file():
        path = Path(name).expanduser()
        return FontSource(path.stem, path, "config")
    sources = list_fonts(paths, system_dirs)
    if not name or _normalise(name) in MEMEGEN_ALIASES:
        return sources[0]
    wanted = _normalise(name)
    for source in sources:
        if _normalise(source.name) == wanted:
            return source
    names = ", ".join(s.name for s in sources)
    raise InvalidParameters(f"Unknown font {name!r}: use a font file or one of {names}")


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
