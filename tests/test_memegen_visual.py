"""glitchzap's memegen URL pictures against memegen's own expected images: same output size,
and each caption's bounding box within a few pixels of memegen's.

memegen's boxes come from tests/data/memegen_reference.json (scripts/memegen_reference.py
measured memegen's checked-in renders); ours are measured by the same tests/memegen_boxes.py.
Every case writes tests/artifacts/memegen-visual/<case>.png (our render, memegen's boxes in
red, ours in cyan) and, when memegen's repository is here ($MEMEGEN_REPO or the default
mirror), <case>-side.png: glitchzap | memegen.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

import memegen_boxes as mb
from api_fixtures import REAL_FONTS_DIR
from glitchzap.meme.memegen_render import MemegenRequest, render_memegen
from glitchzap.runtime import Runtime, configure
from meme_cases import SHARED_MEMEGEN

pytest_plugins = ["api_fixtures"]

REFERENCE = json.loads(
    (Path(__file__).parent / "data" / "memegen_reference.json").read_text(encoding="utf-8")
)
CASES = {case["name"]: case for case in REFERENCE["cases"]}
ARTIFACTS = Path(__file__).parent / "artifacts" / "memegen-visual"
# Per box edge, at 600 px wide; scaled with the picture's width. memegen's own drawing code,
# run under our Pillow with memegen's fonts, redraws 9 of these pictures pixel for pixel (gru
# and spongebob need pilmoji and spongemock), so this is room for rounding, not for a rule.
TOLERANCE_PX = 4.0
BACKGROUND_LEVELS = 3.0  # mean difference from memegen's LANCZOS-resized template picture
STRAY_PIXELS = 50  # drawn pixels allowed outside every text box (memegen's renders have 0)
MEMEGEN_RED, OURS_CYAN = (255, 0, 0), (0, 255, 255)
# Fonts glitchzap draws with a free stand-in of another shape (Anton for Impact: narrower and
# taller, so a caption wraps and sizes differently): there the caption must sit in the same
# text box, centred within STAND_IN_CENTRE of the picture's size of memegen's centre.
STAND_IN_FONTS = {"impact"}
STAND_IN_CENTRE = 0.15

needs_templates = pytest.mark.skipif(
    not SHARED_MEMEGEN.is_dir(), reason=f"memegen's templates not here: {SHARED_MEMEGEN}"
)


@pytest.fixture
def memegen_runtime(tmp_path: Path, memegen_library: Path) -> Runtime:
    """A runtime whose template library holds memegen's templates (the shared sample)."""
    return configure(
        None,
        data_dir=tmp_path / "data",
        templates={"dir": memegen_library},
        fonts={"dir": REAL_FONTS_DIR},
    )


def render_case(case: dict[str, Any], runtime: Runtime, *, blank: bool = False) -> np.ndarray:
    """Our picture for the case, as its memegen URL would make it (`blank`: every line empty)."""
    options = case["options"]
    lines = [""] * len(case["lines"]) if blank else case["lines"]
    request = MemegenRequest(
        lines=tuple(lines),
        extension="png",
        template_id=case["template"],
        width=options.get("width", 0),
        height=options.get("height", 0),
        font=options.get("font", ""),
        watermark=options.get("watermark", ""),
    )
    return mb.decode_png(render_memegen(request, runtime=runtime))


def measure(case: dict[str, Any], image: np.ndarray, blank: np.ndarray) -> tuple[list[Any], int]:
    """Caption boxes of `image` (and stray pixels), measured as the reference script measured
    memegen's: against the same picture without captions, here our own blank render."""
    config = SHARED_MEMEGEN / case["template"] / "config.yml"
    watermark = bool(case["options"].get("watermark"))
    return mb.measure_captions(image, blank, config, watermark=watermark)


def background_error(case: dict[str, Any], blank: np.ndarray) -> float:
    """Mean difference (levels) between our blank render and memegen's resized template."""
    size = (blank.shape[1], blank.shape[0])
    expected = mb.template_background(mb.template_picture(SHARED_MEMEGEN / case["template"]), size)
    return float(np.abs(blank.astype(np.int16) - expected.astype(np.int16)).mean())


def edge_deviations(ours: list[mb.Rect | None], theirs: list[Any]) -> list[float]:
    """Per box, the largest edge distance in px (inf where only one side drew a caption)."""
    deviations = []
    for mine, reference in zip(ours, theirs, strict=True):
        if mine is None or reference is None:
            deviations.append(0.0 if mine is reference else float("inf"))
        else:
            deviations.append(float(max(abs(a - b) for a, b in zip(mine, reference, strict=True))))
    return deviations


def draw_boxes(image: np.ndarray, red: list[Any], cyan: list[Any]) -> Image.Image:
    picture = Image.fromarray(np.ascontiguousarray(image[..., :3]))
    draw = ImageDraw.Draw(picture)
    for boxes, colour in ((cyan, OURS_CYAN), (red, MEMEGEN_RED)):
        for box in boxes:
            if box is not None:
                draw.rectangle((box[0], box[1], box[2] - 1, box[3] - 1), outline=colour)
    return picture


def memegen_picture(case: dict[str, Any]) -> np.ndarray | None:
    """memegen's own expected image for the case, when its repository is on this machine."""
    repo = Path(os.environ.get("MEMEGEN_REPO") or mb.DEFAULT_MIRROR)
    if not repo.exists():
        return None
    try:
        return mb.decode_png(mb.read_memegen_file(repo, case["source"]))
    except (OSError, subprocess.CalledProcessError):
        return None


def write_artifacts(
    case: dict[str, Any], ours: np.ndarray, boxes: list[Any], **figures: Any
) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    overlay = draw_boxes(ours, case["boxes"], boxes)
    overlay.save(ARTIFACTS / f"{case['name']}.png")
    numbers = {"ours": boxes, "memegen": case["boxes"], **figures}
    (ARTIFACTS / f"{case['name']}.json").write_text(json.dumps(numbers) + "\n", encoding="utf-8")
    theirs = memegen_picture(case)
    if theirs is None:
        return
    right = draw_boxes(theirs, case["boxes"], [])
    side = Image.new("RGB", (overlay.width + 8 + right.width, max(overlay.height, right.height)))
    side.paste(overlay, (0, 0))
    side.paste(right, (overlay.width + 8, 0))
    side.save(ARTIFACTS / f"{case['name']}-side.png")


def test_a_caption_box_is_its_components_bbox() -> None:
    background = np.full((100, 200, 3), 90, np.uint8)
    image = background.copy()
    image[5:15, 40:160] = 255  # a caption line in the top box
    image[10, 10] = 0  # a speck: under MIN_AREA
    image[18:24, 60:70] = 255  # a glyph part centred past the top box, within its margin
    rects = mb.box_rectangles([mb.TextBox(), mb.TextBox(anchor_y=0.8)], (200, 100))
    assert rects == [(0, 0, 200, 20), (0, 80, 200, 100)]
    assert mb.caption_bboxes(image, background, rects) == [(40, 5, 160, 24), None]
    assert mb.stray_pixels(image, background, rects) == 0


def test_a_watermark_is_ignored_and_lifts_the_bottom_box() -> None:
    size = (300, 200)
    background = np.zeros((200, 300, 3), np.uint8)
    image = background.copy()
    image[186:196, 3:60] = 255  # the watermark label, bottom left
    image[165:180, 100:200] = 255  # the bottom caption
    rects = mb.box_rectangles([mb.TextBox(anchor_y=0.8)], size, watermark=True)
    assert rects == [(0, 150, 300, 190)]
    found = mb.caption_bboxes(image, background, rects, ignore=[mb.watermark_rect(size)])
    assert found == [(100, 165, 200, 180)]


def test_a_rotated_box_grows_as_memegen_expands_it() -> None:
    ((x0, y0, x1, y1),) = mb.box_rectangles(
        [mb.TextBox(scale_x=0.5, scale_y=0.1, angle=90)], (200, 100)
    )
    assert (x1 - x0, y1 - y0) == (10, 100)


def test_reference_has_a_dozen_templates_cases() -> None:
    assert len(CASES) >= 11, sorted(CASES)
    assert REFERENCE["memegen_commit"], "the reference names memegen's commit"


@needs_templates
def test_reference_is_what_memegen_boxes_measures_now() -> None:
    """The committed numbers still follow from memegen's images (when its repository is here)."""
    if memegen_picture(next(iter(CASES.values()))) is None:
        pytest.skip("memegen's repository is not here: set MEMEGEN_REPO")
    for case in CASES.values():
        theirs = memegen_picture(case)
        assert theirs is not None, case["source"]
        size = (theirs.shape[1], theirs.shape[0])
        folder = SHARED_MEMEGEN / case["template"]
        background = mb.template_background(mb.template_picture(folder), size)
        watermark = bool(case["options"].get("watermark"))
        boxes, stray = mb.measure_captions(
            theirs, background, folder / "config.yml", watermark=watermark
        )
        assert [list(b) if b else None for b in boxes] == case["boxes"], case["name"]
        assert stray == case["stray"] == 0, case["name"]


@needs_templates
@pytest.mark.parametrize("name", sorted(CASES))
def test_captions_sit_where_memegen_puts_them(name: str, memegen_runtime: Runtime) -> None:
    case = CASES[name]
    ours = render_case(case, memegen_runtime)
    blank = render_case(case, memegen_runtime, blank=True)
    boxes, stray = measure(case, ours, blank)
    size = [ours.shape[1], ours.shape[0]]
    same_size = size == case["size"]
    deviations = edge_deviations(boxes, case["boxes"]) if same_size else None
    background = background_error(case, blank)
    write_artifacts(
        case, ours, boxes, size=size, deviations=deviations, stray=stray, background=background
    )
    assert same_size, f"output size {size} differs from memegen's {case['size']}"
    assert background <= BACKGROUND_LEVELS, f"the picture is not memegen's: {background:.1f} levels"
    assert stray <= STRAY_PIXELS, f"{stray} changed pixels outside the text boxes"
    if case["options"].get("font") in STAND_IN_FONTS:
        assert_same_place(boxes, case["boxes"], size)
        return
    tolerance = max(2.0, TOLERANCE_PX * size[0] / 600)
    assert deviations is not None and max(deviations) <= tolerance, (
        f"caption edges off by {deviations} px (tolerance {tolerance:.1f}): "
        f"ours {boxes}, memegen {case['boxes']}"
    )
    assert stray <= STRAY_PIXELS, f"{stray} changed pixels outside the text boxes"


def assert_same_place(ours: list[Any], theirs: list[Any], size: list[int]) -> None:
    """Each caption in the same box as memegen's, its centre within STAND_IN_CENTRE of the
    picture's size of memegen's."""
    assert [b is None for b in ours] == [b is None for b in theirs]
    for mine, reference in zip(ours, theirs, strict=True):
        if mine is None:
            continue
        for axis in (0, 1):
            centre = (mine[axis] + mine[axis + 2]) / 2
            expected = (reference[axis] + reference[axis + 2]) / 2
            assert abs(centre - expected) <= STAND_IN_CENTRE * size[axis], (mine, reference)
