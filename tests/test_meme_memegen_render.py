"""memegen's picture rules (memegen app/utils/images.py) drawn by `render_memegen`: sizes,
padding, the top layout, overlays, colours, animation, previews, watermarks and errors.

The templates are made in tmp_path from scikit-image photos in memegen's folder layout and
imported like memegen's own (every checkout has them); the pixel-level comparison with
memegen's own checked-in images is tests/test_memegen_visual.py."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml
from PIL import Image
from skimage import data as skdata

from api_fixtures import REAL_FONTS_DIR
from glitchzap.io import encode_image, load_animation, save_image
from glitchzap.meme.memegen_render import (
    MAXIMUM_PIXELS,
    MemegenRequest,
    fit_size,
    render_memegen,
    resized_size,
    validate_color,
)
from glitchzap.runtime import Runtime, configure
from glitchzap.templates import TemplateLibrary
from meme_animations import gif_file, panning, photo

PHOTO_SIZE = (400, 300)  # the still template's picture (w, h): wider than tall


def memegen_folder(root: Path, template_id: str) -> Path:
    folder = root / template_id
    folder.mkdir(parents=True)
    config = {"name": template_id.title(), "source": None, "keywords": ["test"],
              "example": ["top line", "bottom line"]}  # fmt: skip
    (folder / "config.yml").write_text(yaml.safe_dump(config))
    return folder


@pytest.fixture(scope="module")
def library(tmp_path_factory: Any) -> Path:
    source = tmp_path_factory.mktemp("memegen-folders")
    still = cv2.resize(skdata.coffee(), PHOTO_SIZE, interpolation=cv2.INTER_AREA)
    save_image(still, memegen_folder(source, "cup") / "default.png")
    gif_file(
        panning(photo("astronaut", 240), 30, step=2), memegen_folder(source, "pan") / "default.gif"
    )
    folder = tmp_path_factory.mktemp("library")
    report = TemplateLibrary(folder).import_memegen(source)
    assert sorted(report.added) == ["cup", "pan"] and not report.errors
    return folder


@pytest.fixture
def rt(tmp_path: Path, library: Path) -> Runtime:
    return configure(
        None, data_dir=tmp_path, templates={"dir": library}, fonts={"dir": REAL_FONTS_DIR}
    )


def still(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB")).astype(int)


def render(rt: Runtime, *lines: str, **options: Any) -> bytes:
    options.setdefault("template_id", "cup")
    return render_memegen(MemegenRequest(lines=lines, **options), runtime=rt)


def test_size_rules() -> None:
    # memegen resize_image: a still's shorter side becomes 600, an animation's longer side
    assert resized_size((400, 300), 0, 0, pad=False, expand=True) == (800, 600)
    assert resized_size((400, 300), 0, 0, pad=False, expand=False) == (600, 450)
    assert resized_size((300, 400), 0, 0, pad=False, expand=True) == (600, 800)
    assert resized_size((400, 300), 500, 0, pad=False, expand=True) == (500, 375)
    assert resized_size((400, 300), 0, 300, pad=False, expand=True) == (400, 300)
    assert resized_size((400, 300), 600, 600, pad=True, expand=True) == (600, 450)
    # memegen fit_image: 3/4 steps until the requested size holds at most 1920 x 1080 pixels
    w, h = fit_size(4000, 4000)
    assert w * h <= MAXIMUM_PIXELS and w == h and fit_size(1920, 1080) == (1920, 1080)
    assert fit_size(4000, 4000) == (int(4000 * 0.75**4), int(4000 * 0.75**4))


def test_default_size_and_captions(rt: Runtime) -> None:
    blank = still(render(rt))
    meme = still(render(rt, "top text", "bottom text"))
    assert blank.shape[:2] == meme.shape[:2] == (600, 800)
    changed = np.abs(meme - blank).max(axis=2) > 60
    rows = np.flatnonzero(changed.any(axis=1))
    assert rows.min() < 120 and rows.max() > 480  # top and bottom boxes (0.2 of the height)
    assert not changed[130:470].any()


def test_width_and_height_pad_onto_a_dark_blurred_copy(rt: Runtime) -> None:
    padded = still(render(rt, "a", "b", width=600, height=600))
    assert padded.shape[:2] == (600, 600)
    picture = padded[75:525]  # 600 x 450 in the middle, 75 px bands above and below
    assert padded[:70].mean() < 0.6 * picture.mean()  # darkened to 40 %, blurred
    one_side = still(render(rt, "a", "b", width=500))
    assert one_side.shape[:2] == (375, 500)


def test_requested_sizes_are_capped(rt: Runtime) -> None:
    big = still(render(rt, width=4000, height=4000))
    assert big.shape[0] * big.shape[1] <= MAXIMUM_PIXELS


def test_top_layout_writes_black_text_on_a_white_band(rt: Runtime) -> None:
    out = still(render(rt, "first line", "second line", layout="top"))
    # the picture is padded by a quarter of its height, then the shorter side is 600
    assert out.shape[:2] == (600, 640)
    band = out[: int(600 * 0.2)]
    dark = band.max(axis=2) < 60
    assert dark.sum() > 200 and (band.min(axis=2) > 240).mean() > 0.5
    assert dark[:, :20].sum() > 0 or dark[:, :200].sum() > dark[:, -200:].sum()  # left-aligned


def test_colors_and_fonts(rt: Runtime) -> None:
    red = still(render(rt, "hello", colors=("red",)))
    assert ((red[..., 0] > 220) & (red[..., 1] < 40) & (red[..., 2] < 40)).sum() > 100
    assert validate_color("ff0000") == ("#ff0000", True)
    assert validate_color("red") == ("red", True)
    assert validate_color("notacolour") == (None, False)


def test_overlay_is_pasted_into_its_slot(rt: Runtime) -> None:
    chip = encode_image(np.full((50, 50, 3), (0, 255, 0), np.uint8), "png")
    out = still(render(rt, overlays=(chip,)))
    # memegen's default slot: centred, a quarter of the shorter side
    centre = out[300 - 60 : 300 + 60, 400 - 60 : 400 + 60]
    green = (centre[..., 1] > 230) & (centre[..., 0] < 30) & (centre[..., 2] < 30)
    assert green.mean() > 0.8
    moved = still(render(rt, overlays=(chip,), center=(0.2, 0.2), scale=0.1))
    assert ((moved[100:140, 140:180, 1] > 230) & (moved[100:140, 140:180, 0] < 30)).mean() > 0.5


def test_a_still_with_two_captions_becomes_a_reveal(rt: Runtime) -> None:
    gif = load_animation(render(rt, "one", "two", extension="gif"))
    assert len(gif) == 5 and set(gif.durations) == {1200}  # memegen MINIMUM_FRAMES, 1200 ms
    first, last = (f[..., :3].astype(int) for f in (gif.frames[0], gif.frames[-1]))
    assert np.abs(last - first).max(axis=2).mean() > 0.01  # the captions appear over time
    single = load_animation(render(rt, "only one", extension="gif"))
    assert len(single) == 1


def test_an_animated_template_is_sampled_to_about_twenty_frames(rt: Runtime) -> None:
    gif = load_animation(render(rt, "a", "b", template_id="pan", extension="gif"))
    assert 15 <= len(gif) <= 20 and max(gif.frames[0].shape[:2]) == 600
    capped = load_animation(render(rt, "a", template_id="pan", extension="gif", frames=5))
    assert len(capped) <= 6
    png = still(render(rt, "a", template_id="pan"))
    assert min(png.shape[:2]) == 600


def test_preview_and_watermark(rt: Runtime) -> None:
    preview = Image.open(io.BytesIO(render(rt, "a", preview=True)))
    assert preview.format == "JPEG" and preview.width == 300
    plain = still(render(rt, "a"))
    marked = still(render(rt, "a", watermark="glitchzap"))
    diff = np.abs(marked - plain).max(axis=2) > 40
    ys, xs = np.nonzero(diff)
    assert ys.min() >= 600 - 20 - 2 and xs.min() < 20  # bottom-left, 20 px high
    small_plain = still(render(rt, "a", width=300))
    small_marked = still(render(rt, "a", width=300, watermark="glitchzap"))
    np.testing.assert_array_equal(small_plain, small_marked)  # never on 300 px or smaller


def test_error_and_custom_pictures(rt: Runtime) -> None:
    error = still(render(rt, "unknown template", template_id=None, error=True))
    assert error.shape[:2] == (600, 600)
    background = encode_image(photo("rocket", 300), "jpeg")
    custom = still(render(rt, "custom", "meme", template_id=None, background=background))
    assert min(custom.shape[:2]) == 600
