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
from glitchzap.meme.memegen_render import MemegenRequest, render_memegen
from glitchzap.runtime import Runtime, configure
from meme_cases import SHARED_MEMEGEN

pytest_plugins = ["api_fixtures"]

REFERENCE = json.loads(
    (Path(__file__).parent / "data" / "memegen_reference.json").read_text(encoding="utf-8")
)
CASES = {case["name"]: case for case in REFERENCE["cases"]}
ARTIFACTS = Path(__file__).parent / "artifacts" / "memegen-visual"
TOLERANCE_PX = 4.0  # per box edge, at 600 px wide; scaled with the picture's width
BACKGROUND_LEVELS = 3.0  # mean difference from memegen's LANCZOS-resized template picture
STRAY_PIXELS = 50  # drawn pixels allowed outside every text box (memegen's renders have 0)
MEMEGEN_RED, OURS_CYAN = (255, 0, 0), (0, 255, 255)

pytestmark = pytest.mark.skipif(
    not SHARED_MEMEGEN.is_dir(), reason=f"memegen's templates not here: {SHARED_MEMEGEN}"
)


@pytest.fixture
def memegen_runtime(tmp_path: Path, memegen_library: Path) -> Runtime:
    """A runtime whose template library holds memegen's templates (the shared sample)."""
    return configure(None, data_dir=tmp_path / "data", templates={"dir": memegen_library})


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


def write_artifacts(case: dict[str, Any], ours: np.ndarray, boxes: list[Any]) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    overlay = draw_boxes(ours, case["boxes"], boxes)
    overlay.save(ARTIFACTS / f"{case['name']}.png")
    theirs = memegen_picture(case)
    if theirs is None:
        return
    right = draw_boxes(theirs, case["boxes"], [])
    side = Image.new("RGB", (overlay.width + 8 + right.width, max(overlay.height, right.height)))
    side.paste(overlay, (0, 0))
    side.paste(right, (overlay.width + 8, 0))
    side.save(ARTIFACTS / f"{case['name']}-side.png")


def test_reference_has_a_dozen_templates_cases() -> None:
    assert len(CASES) >= 11, sorted(CASES)
    assert REFERENCE["memegen_commit"], "the reference names memegen's commit"


@pytest.mark.parametrize("name", sorted(CASES))
def test_captions_sit_where_memegen_puts_them(name: str, memegen_runtime: Runtime) -> None:
    case = CASES[name]
    ours = render_case(case, memegen_runtime)
    width, height = case["size"]
    assert (ours.shape[1], ours.shape[0]) == (width, height), "output size differs from memegen's"
    blank = render_case(case, memegen_runtime, blank=True)
    boxes, stray = measure(case, ours, blank)
    write_artifacts(case, ours, boxes)
    assert background_error(case, blank) <= BACKGROUND_LEVELS, "the picture is not memegen's"
    tolerance = max(2.0, TOLERANCE_PX * width / 600)
    deviations = edge_deviations(boxes, case["boxes"])
    assert max(deviations) <= tolerance, (
        f"caption edges off by {deviations} px (tolerance {tolerance:.1f}): "
        f"ours {boxes}, memegen {case['boxes']}"
    )
    assert stray <= STRAY_PIXELS, f"{stray} changed pixels outside the text boxes"
