"""What every effect promises, on real photos: previews that look like the export shrunk,
no hidden colour bleeding out of transparent pixels, targeting that leaves the other region
untouched, and hostile parameters refused (never a hang).

Each registered effect needs a row in PREVIEW_TABLE (parameters + the largest mean absolute
difference, in 0..255 levels, between the 300 px preview and the full render shrunk to 300
px, both seen through a 1.5 px Gaussian) — the test below fails for an effect without one.
Why a mean difference of softened images: both sides are resized with the same Lanczos
filter, so what is left is what the effect does differently at the two scales; the slight
softening compares what the eye compares at preview size (shapes, bands, colours) rather than
per-pixel random grain or dither dots, which no two renders share. Random effects draw
size-independent values (fractions of the image), so a preview and its export show the same
glitch; the thresholds leave room for resampling
(edges, 1-px lines) and say why when they are larger.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from pydantic import BaseModel

from glitchzap.effects import EFFECTS
from glitchzap.errors import InvalidParameters
from glitchzap.pipeline import apply_effects, resize_for_preview
from test_effects import EFFECT_TABLE

# name -> (parameters at full size, largest mean |preview - shrunk export| in levels)
PREVIEW_TABLE: dict[str, tuple[dict, float]] = {
    # Random per pixel: softening leaves ~1/3 of two independent grains (measured 4.0).
    "noise": ({"amount": 0.3}, 6.0),
    "blur": ({"radius": 12}, 1.5),  # measured 0.2
    "shake": ({"offset": 30, "copies": 3}, 2.0),  # measured 0.5
    "motion": ({"length": 60, "angle": 30}, 2.0),  # measured 0.4
    # Whole pixels at full size, fractional (interpolated) in the preview: measured 0.14.
    "channel_shift": ({"red_x": 20, "blue_y": -12}, 1.0),
    "chromatic": ({"strength": 0.05}, 1.0),  # relative to the size: measured 0.22 (resampling)
    "wave": ({"amplitude": 20, "wavelength": 120}, 1.0),  # measured 0.18 (sub-pixel rows)
    # Measured 1.46 (1.36-1.84 over seeds 1-4): a band's top and bottom land on whole preview
    # rows (half a preview row ~ 0.85 export rows off) and each edge is a hard cut across the
    # photo; offsets are whole export pixels, interpolated in the preview.
    "slices": ({"count": 40, "max_offset": 80, "channel_offset": 6}, 2.5),
    # Measured 1.90 (1.90-2.03 over seeds 1-3): sorting is per line, and a preview row stands
    # for ~1.7 export rows whose runs start and end at other pixels; shrinking averages those
    # differently sorted rows where the preview sorts their average.
    "pixel_sort": ({"amount": 0.7, "angle": 20}, 3.0),
    # Measured 1.22: below 3/4 size the 4 px Bayer dots are drawn as their local mean (the
    # tone they average to once shrunk); the rest is a level edge landing one pixel off.
    "posterize": ({"crush": 6, "dither": True}, 2.0),
    # Measured 1.64: the palette comes from the preview's own pixels (near, not equal) and
    # Floyd-Steinberg places its dots per pixel, at each size differently.
    "quantize": ({"colors": 16}, 2.5),
    # Measured 1.16: 1-px lines every 4 px moiré when the export is shrunk by 0.59, while the
    # preview draws them as an even row-weight profile (same average darkening).
    "scanlines": ({"darkness": 0.6, "jitter": 4}, 2.0),
    "vhs": ({"strength": 1, "tracking": 1, "bleed": 20, "blur": 3}, 1.0),  # measured 0.51
    # Measured 3.3 (seeds 1-5: 3.6-7.8): the preview damages the same bands from about the
    # same place at the export's block size, but what a damaged byte decodes to depends on the
    # exact bits it hits, so the garbage's colours differ. Corrupting the preview at its own
    # size (8 px blocks 1.7x too big) measures 6.9.
    "jpeg": ({"amount": 0.1}, 5.0),
}

MAGENTA = (255, 0, 255)


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())  # 512 x 512, a real photo


def test_every_effect_has_a_preview_row() -> None:
    assert set(PREVIEW_TABLE) == set(EFFECTS)


def soften(image: np.ndarray) -> np.ndarray:
    import cv2

    return cv2.GaussianBlur(image.astype(np.float32), (0, 0), 1.5)


@pytest.mark.parametrize("name", list(EFFECTS))
def test_preview_looks_like_the_shrunk_export(name: str, photo: np.ndarray) -> None:
    params, threshold = PREVIEW_TABLE[name]
    effects = {name: params}
    export = apply_effects(photo, effects, seed=11)
    small = resize_for_preview(photo, "fast")
    preview = apply_effects(small, effects, seed=11, scale=small.shape[1] / photo.shape[1])
    shrunk = resize_for_preview(export, "fast")
    difference = np.abs(soften(preview) - soften(shrunk)).mean()
    changed = np.abs(shrunk.astype(float) - small.astype(float)).mean()
    assert changed > 1.0, f"{name} does not visibly change the preview's source"
    assert difference <= threshold, f"{name}: preview differs by {difference:.2f} levels"


@pytest.mark.parametrize("name", list(EFFECTS))
def test_transparent_pixels_never_bleed_their_colour(name: str, photo: np.ndarray) -> None:
    """RGBA: hidden colour under alpha 0 (magenta here) never shows in visible pixels."""
    image = np.dstack([photo, np.full(photo.shape[:2], 255, np.uint8)])
    image[:, :200, :3] = MAGENTA
    image[:, :200, 3] = 0
    out = apply_effects(image, {name: EFFECT_TABLE[name]}, seed=4)
    visible = out[..., 3] >= 128
    rgb = out[..., :3].astype(int)[visible]
    magenta_ness = np.minimum(rgb[:, 0], rgb[:, 2]) - rgb[:, 1]
    source = photo.astype(int).reshape(-1, 3)
    source_magenta = np.minimum(source[:, 0], source[:, 2]) - source[:, 1]
    assert np.mean(magenta_ness > 150) <= np.mean(source_magenta > 150) + 0.002


@pytest.mark.parametrize("name", list(EFFECTS))
@pytest.mark.parametrize("target", ["foreground", "background"])
def test_targeting_leaves_the_other_region_untouched(
    name: str, target: str, photo: np.ndarray
) -> None:
    mask = np.zeros(photo.shape[:2], np.float32)
    mask[:, 256:] = 1.0  # the right half is "the subject"
    out = apply_effects(photo, {name: EFFECT_TABLE[name]}, seed=2, mask=mask, target=target)
    kept = slice(0, 256) if target == "foreground" else slice(256, None)
    changed = slice(256, None) if target == "foreground" else slice(0, 256)
    assert np.array_equal(out[:, kept], photo[:, kept])
    assert not np.array_equal(out[:, changed], photo[:, changed])


def numeric_fields(params: type[BaseModel]) -> list[str]:
    return [
        name
        for name, field in params.model_fields.items()
        if field.annotation in (int, float) and field.annotation is not bool
    ]


@pytest.mark.parametrize("name", list(EFFECTS))
def test_hostile_numbers_are_refused(name: str) -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    fields = numeric_fields(EFFECTS[name].params)
    assert fields, f"{name} has no numeric parameter"
    for field in fields:
        for value in (math.nan, math.inf, -math.inf, 1e12, -1e12):
            with pytest.raises(InvalidParameters):
                apply_effects(image, {name: {**EFFECT_TABLE[name], field: value}})
