"""Meme test cases that every checkout has, plus memegen's sample when it sits beside the repo.

The generated sample is built here, once per test session: memegen-style template folders
(`<id>/config.yml` + `<id>/default.png`, ~480 px) made of scikit-image's public-domain photos
and of synthetic low-texture pictures (a flat-colour cartoon, smooth gradients, a blurred
photo, a dark silhouette: the kind ORB finds few keypoints on), each with captions of our own.
`VARIANTS` turns a captioned template into the reposts real memes are (JPEG q70 at 60 %, an
8 % crop, a white banner above, mirrored); captions are drawn by the project's own renderer.

`../shared/memegen-templates` (or `$GLITCHZAP_TEST_SHARED/memegen-templates`) adds its real
templates, captioned by `CAPTIONED`, when present; it never replaces the generated ones, so a
fresh clone without it runs every quality test. `bench/meme.py` reads `CAPTIONED` too.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import yaml

from glitchzap.io import encode_image, load_image
from glitchzap.meme.captions import render_captions
from glitchzap.meme.fonts import resolve_font
from glitchzap.types import TextBox
from meme_variants import FONTS, add_captions, jpeg, scale

# Read once at import: the autouse `settings` fixture clears GLITCHZAP_* during each test.
SHARED_ENV = "GLITCHZAP_TEST_SHARED"  # point it at an empty folder to test as a fresh clone
SHARED_DIR = Path(os.environ.get(SHARED_ENV) or Path(__file__).resolve().parents[2] / "shared")
SHARED_MEMEGEN = SHARED_DIR / "memegen-templates"
SOURCES = ("generated", "shared") if SHARED_MEMEGEN.is_dir() else ("generated",)

GENERATED_SIZE = 480  # longest side of a generated template picture, px
GENERATED_PREFIX = "gen-"  # generated ids never collide with memegen's (which has `astronaut`)

# Real memegen templates (in the shared sample) with captions we write.
CAPTIONED = {
    "ackbar": ("", "it's a trap!"),
    "ants": ("do you want ants?", "because that's how you get ants"),
    "bender": ("i'm going to build my own theme park", "with blackjack and hookers"),
    "fry": ("not sure if trolling", "or just stupid"),
    "gandalf": ("you shall not pass", "the code review"),
    "interesting": ("i don't always test my code", "but when i do i do it in production"),
    "keanu": ("what if meme text", "is just pixels"),
    "kermit": ("but that's none", "of my business"),
    "mordor": ("one does not simply", "walk into mordor"),
    "philosoraptor": ("if a meme has no text", "is it still a meme"),
    "blb": ("buys a new laptop", "compiles hello world"),
    "rollsafe": ("can't lose tests", "if you never write them"),
}


# --- the generated pictures ---------------------------------------------------------------------


def resize_longest(image: np.ndarray, longest: int) -> np.ndarray:
    """`image` scaled so its longest side is `longest` px (area-averaged when shrinking)."""
    scale = longest / max(image.shape[:2])
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=interpolation))


def photo(name: str) -> np.ndarray:
    """A scikit-image sample photo (bundled in its wheel) as RGB, GENERATED_SIZE px long."""
    from skimage import data

    image = np.asarray(getattr(data, name)())
    if image.ndim == 2:
        image = np.repeat(image[:, :, None], 3, axis=2)
    return resize_longest(image[:, :, :3].astype(np.uint8), GENERATED_SIZE)


def _with_grain(image: np.ndarray, seed: int, sigma: float = 1.5) -> np.ndarray:
    """Faint sensor-like noise: a real smooth picture is never perfectly flat."""
    noise = np.random.default_rng(seed).normal(0, sigma, image.shape)
    return np.clip(image + noise, 0, 255).astype(np.uint8)


def gradient(width: int = 480, height: int = 360) -> np.ndarray:
    """A diagonal teal-to-peach gradient with one soft lighter band: almost no texture."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    t = (xx / width * 0.7 + yy / height * 0.3)[..., None]
    image = (1 - t) * np.array([40, 120, 140]) + t * np.array([250, 190, 150])
    image += 25 * np.exp(-(((xx - yy * 0.8 - width * 0.35) / (width * 0.12)) ** 2))[..., None]
    return _with_grain(image, 1)


def cartoon(width: int = 480, height: int = 360) -> np.ndarray:
    """A flat-colour drawing with black outlines (sky, hills, a house, a sun, a tree), the
    way cartoon memes look: large flat areas, edges only at the outlines."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:] = (120, 190, 235)
    ink, line = (20, 20, 20), 3

    def shape(points: list[tuple[float, float]], colour: tuple[int, int, int]) -> None:
        outline = np.array([(x * width, y * height) for x, y in points], np.int32)
        cv2.fillPoly(image, [outline], colour)
        cv2.polylines(image, [outline], True, ink, line)

    shape([(0, 0.7), (0.3, 0.55), (0.6, 0.68), (1, 0.58), (1, 1), (0, 1)], (90, 170, 70))
    shape([(0.55, 0.45), (0.8, 0.45), (0.8, 0.75), (0.55, 0.75)], (200, 60, 50))
    shape([(0.52, 0.46), (0.675, 0.3), (0.83, 0.46)], (120, 70, 40))
    shape([(0.64, 0.58), (0.7, 0.58), (0.7, 0.75), (0.64, 0.75)], (250, 220, 120))
    shape([(0.2, 0.55), (0.23, 0.55), (0.23, 0.8), (0.2, 0.8)], (110, 70, 40))
    for centre, radius, colour in (((0.18, 0.22), 0.08, (250, 210, 60)),
                                   ((0.215, 0.5), 0.07, (40, 130, 50))):  # fmt: skip
        at = (int(centre[0] * width), int(centre[1] * height))
        cv2.circle(image, at, int(radius * width), colour, -1)
        cv2.circle(image, at, int(radius * width), ink, line)
    return _with_grain(image, 5, sigma=1.0)


def sunset(width: int = 360, height: int = 480) -> np.ndarray:
    """A portrait sky: a vertical purple-to-orange gradient with a soft sun low in it."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    t = (yy / height)[..., None]
    image = (1 - t) * np.array([60, 40, 110]) + t * np.array([240, 140, 60])
    glow = np.exp(
        -((xx - width * 0.6) ** 2 + (yy - height * 0.62) ** 2) / (2 * (width * 0.12) ** 2)
    )
    image += glow[..., None] * np.array([15, 80, 120])
    return _with_grain(image, 2)


def blurred_photo(name: str = "coins", sigma: float = 6.0) -> np.ndarray:
    """A scikit-image photo, tinted warm and blurred like an out-of-focus backdrop."""
    image = photo(name).astype(np.float64) * np.array([1.0, 0.85, 0.65])
    blurred = cv2.GaussianBlur(image, (0, 0), sigma)
    return _with_grain(blurred, 3)


def night_cat(size: int = 400) -> np.ndarray:
    """A dark silhouette: a black cat sitting against a dark blue night sky, a dim moon."""
    yy = np.mgrid[0:size, 0:size][0].astype(np.float64)
    t = (yy / size)[..., None]
    sky = (1 - t) * np.array([20, 30, 70]) + t * np.array([45, 50, 80])
    image = np.ascontiguousarray(sky.astype(np.uint8))
    cv2.circle(image, (int(size * 0.75), int(size * 0.3)), int(size * 0.08), (200, 200, 170), -1)
    ink = (12, 12, 18)
    cx = size // 2
    cv2.ellipse(
        image, (cx, int(size * 0.72)), (int(size * 0.17), int(size * 0.2)), 0, 0, 360, ink, -1
    )
    head = (cx, int(size * 0.45))
    cv2.circle(image, head, int(size * 0.1), ink, -1)
    for side in (-1, 1):
        corners = [(0.03, 0.38), (0.1, 0.28), (0.1, 0.42)]  # fractions of the size
        ear = np.array([(cx + side * size * x, size * y) for x, y in corners], np.int32)
        cv2.fillPoly(image, [ear], ink)
    tail = [(int(cx + size * 0.15), int(size * 0.88)), (int(cx + size * 0.3), int(size * 0.8))]
    cv2.line(image, tail[0], tail[1], ink, max(3, size // 40))
    return _with_grain(cv2.GaussianBlur(image, (0, 0), 1.2), 4, sigma=2.0)


@dataclass(frozen=True)
class GeneratedTemplate:
    """One generated memegen template: its picture's recipe, name, keywords and captions."""

    picture: Callable[[], np.ndarray]
    name: str
    keywords: tuple[str, ...]
    captions: tuple[str, str]  # also the template's example


GENERATED: dict[str, GeneratedTemplate] = {
    "gen-astronaut": GeneratedTemplate(
        lambda: photo("astronaut"), "Astronaut at Work", ("astronaut", "space", "flag"),
        ("wait, it is all legacy code?", "always has been")),
    "gen-chelsea": GeneratedTemplate(
        lambda: photo("chelsea"), "Staring Cat", ("cat", "stare", "tabby"),
        ("not sure if it is a bug", "or a feature")),
    "gen-coffee": GeneratedTemplate(
        lambda: photo("coffee"), "Do You Want Coffee?", ("coffee", "cup", "morning"),
        ("do you want coffee?", "because that's how you get coffee")),
    "gen-rocket": GeneratedTemplate(
        lambda: photo("rocket"), "Launch Day", ("rocket", "launch", "space"),
        ("if it works on my laptop", "it will work in prod")),
    "gen-camera": GeneratedTemplate(
        lambda: photo("camera"), "The Cameraman", ("camera", "photographer", "grey"),
        ("documenting every bug", "for the retro")),
    "gen-cartoon": GeneratedTemplate(
        cartoon, "Little House", ("cartoon", "house", "drawing"),
        ("i am once again asking", "for a code review")),
    "gen-gradient": GeneratedTemplate(
        gradient, "Smooth Gradient", ("gradient", "design", "smooth"),
        ("when the design says", "just a simple gradient")),
    "gen-sunset": GeneratedTemplate(
        sunset, "Calm Sunset", ("sunset", "sky", "calm"),
        ("", "no meetings today")),
    "gen-blurred-coins": GeneratedTemplate(
        blurred_photo, "Blurry Coins", ("coins", "money", "blur"),
        ("me at the end of the month", "is this a budget")),
    "gen-night-cat": GeneratedTemplate(
        night_cat, "Black Cat at Night", ("cat", "night", "silhouette", "dark"),
        ("i was never here", "and i did not touch it")),
}  # fmt: skip
# The scikit-image photos the generated templates are made of: a "no template" photo set used
# beside this sample must leave these out (a crop of a template is rightly matched to it).
TEMPLATE_PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "camera", "coins")
# Pictures ORB finds few keypoints on (the cartoon is flat too, but its outlines have corners).
LOW_TEXTURE = ("gen-gradient", "gen-sunset", "gen-blurred-coins", "gen-night-cat")


def memegen_config(template: GeneratedTemplate) -> dict[str, object]:
    """config.yml for a generated template, in memegen's own shape (top and bottom boxes)."""
    boxes = [{"style": "upper", "color": "white", "font": "thick", "anchor_x": 0.0,
              "anchor_y": anchor_y, "angle": 0.0, "scale_x": 1.0, "scale_y": 0.2,
              "align": "center", "start": 0.0, "stop": 1.0} for anchor_y in (0.0, 0.8)]  # fmt: skip
    return {
        "name": template.name,
        "source": "generated by tests/meme_cases.py (scikit-image public-domain data)",
        "keywords": list(template.keywords),
        "text": boxes,
        "example": list(template.captions),
    }


def write_generated_templates(directory: Path) -> Path:
    """The generated sample as memegen folders under `directory`; returns `directory`."""
    for template_id, template in GENERATED.items():
        folder = directory / template_id
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.yml").write_text(yaml.safe_dump(memegen_config(template)), "utf-8")
        (folder / "default.png").write_bytes(encode_image(template.picture(), "png"))
    return directory


# --- the sample the tests read --------------------------------------------------------------------


@dataclass(frozen=True)
class MemeSample:
    """memegen template folders (generated first, then the shared sample when present) and
    the captions the tests draw on each template."""

    folders: tuple[Path, ...]
    captions: dict[str, tuple[str, str]] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)  # template id -> generated | shared

    def ids(self, source: str | None = None) -> list[str]:
        """Captioned template ids (of one source, or all), generated first."""
        return [i for i in self.captions if source is None or self.sources[i] == source]

    def picture(self, template_id: str, longest: int | None = None) -> np.ndarray:
        """The clean template as RGB, its longest side scaled to `longest` px when given."""
        for folder in self.folders:
            found = sorted((folder / template_id).glob("default.*"))
            if found:
                image = np.ascontiguousarray(load_image(found[0])[..., :3])
                return resize_longest(image, longest) if longest else image
        raise KeyError(f"no template {template_id!r} in {self.folders}")

    def picture_bytes(self, template_id: str) -> bytes:
        """The template's picture file as stored (PNG or JPEG)."""
        for folder in self.folders:
            found = sorted((folder / template_id).glob("default.*"))
            if found:
                return found[0].read_bytes()
        raise KeyError(f"no template {template_id!r} in {self.folders}")

    def configs(self) -> list[Path]:
        """Every template's config.yml, generated first."""
        return [c for folder in self.folders for c in sorted(folder.glob("*/config.yml"))]


def build_meme_sample(directory: Path, shared: Path | None = SHARED_MEMEGEN) -> MemeSample:
    """The generated templates written under `directory`, plus the shared sample's
    captioned templates when `shared` is a folder."""
    folders = [write_generated_templates(directory)]
    captions = {i: t.captions for i, t in GENERATED.items()}
    sources = dict.fromkeys(GENERATED, "generated")
    if shared is not None and shared.is_dir():
        folders.append(shared)
        present = {i: c for i, c in CAPTIONED.items() if (shared / i).is_dir()}
        captions.update(present)
        sources.update(dict.fromkeys(present, "shared"))
    return MemeSample(tuple(folders), captions, sources)


def case_ids(generated: Sequence[str], shared: Sequence[str] = ()) -> list[str]:
    """Template ids for a parametrised test: `generated` always, `shared` when present."""
    return [*generated, *(shared if "shared" in SOURCES else ())]


# --- memes made of a template: the reposts a real meme goes through ---------------------------

VARIANTS = ("plain", "small", "crop", "banner", "mirror")


def white_banner_above(image: np.ndarray, text: str) -> np.ndarray:
    """`image` under a white band (a quarter of its height) holding `text` in black, as
    typed (lower case stays lower case), drawn by the project's caption renderer."""
    height, width = image.shape[:2]
    band = np.full((max(24, height // 4), width, 3), 255, np.uint8)
    box = TextBox(anchor_y=0.0, scale_y=1.0, color="black", style="none")
    # fonts_dir=None: the system meme face the OCR/erase rules were tuned on, not memegen's.
    band = render_captions(band, [text], [box], font=resolve_font(fonts_dir=None), fonts=FONTS)
    return np.concatenate([band, image[:, :, :3]], axis=0)


def crop_sides(image: np.ndarray, fraction: float) -> np.ndarray:
    """`image` with `fraction` of its height (width) cut off the top and bottom (sides)."""
    dy, dx = round(image.shape[0] * fraction), round(image.shape[1] * fraction)
    return np.ascontiguousarray(image[dy : image.shape[0] - dy, dx : image.shape[1] - dx])


def make_case_variant(picture: np.ndarray, captions: Sequence[str], kind: str) -> np.ndarray:
    """A meme of kind `kind` (see VARIANTS) made of a clean template picture: captioned
    top and bottom, then re-encoded as JPEG q70 at 60 %, cropped 8 % on each side, given a
    white caption banner above instead, or mirrored."""
    if kind == "banner":
        return white_banner_above(picture, " ".join(c for c in captions if c))
    captioned = add_captions(picture[:, :, :3], captions)
    steps: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "plain": lambda im: im,
        "small": lambda im: jpeg(scale(im, 0.6), 70),
        "crop": lambda im: crop_sides(im, 0.08),
        "mirror": lambda im: np.ascontiguousarray(im[:, ::-1]),
    }
    return steps[kind](captioned)
