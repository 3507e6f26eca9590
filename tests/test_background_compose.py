"""remove.bg-style finishing (crop, channels=alpha, shadow, bg_blur) on real photos.

The pure functions in background/compose.py, then `remove_background` with the real u2netp
on scikit-image's astronaut, chelsea and coffee photos, and a recipe through render_recipe.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from glitchzap.background import Shadow, remove_background
from glitchzap.background.compose import (
    SUBJECT_THRESHOLD,
    crop_box,
    decontaminate,
    parse_margin,
    shadow_alpha,
    subject_box,
)
from glitchzap.errors import InvalidParameters
from glitchzap.recipes import parse_recipe
from glitchzap.rendering import render_recipe
from glitchzap.runtime import current

PHOTOS = {"astronaut": data.astronaut, "chelsea": data.chelsea, "coffee": data.coffee}


def gradient_energy(rgb: np.ndarray, where: np.ndarray) -> float:
    """Mean squared Sobel gradient of the grey image over `where`."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx = cv2.Sobel(grey, cv2.CV_32F, 1, 0)
    gy = cv2.Sobel(grey, cv2.CV_32F, 0, 1)
    return float((gx**2 + gy**2)[where].mean())


# --- pure functions -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["astronaut", "coffee"])
@pytest.mark.parametrize("backdrop", [(0, 255, 0), (250, 250, 250)])
def test_decontamination_lowers_the_edge_colour_error(name, backdrop):
    """A real photo composited over a known backdrop through a soft alpha: on the soft edge the
    composite carries the backdrop's colour; decontaminated, it is much closer to the photo."""
    photo = PHOTOS[name]().astype(np.float32)
    height, width = photo.shape[:2]
    yy, xx = np.mgrid[:height, :width]
    shape = ((yy - height * 0.5) / (height * 0.35)) ** 2 + ((xx - width * 0.5) / (width * 0.3)) ** 2
    alpha = cv2.GaussianBlur((shape < 1).astype(np.float32), (0, 0), 6)
    composite = alpha[..., None] * photo + (1 - alpha[..., None]) * np.float32(backdrop)
    composite_u8 = (composite + 0.5).astype(np.uint8)
    alpha_u8 = (alpha * 255 + 0.5).astype(np.uint8)
    cleaned = decontaminate(composite_u8, alpha_u8)
    edge = (alpha_u8 > 12) & (alpha_u8 < 243)
    before = np.abs(composite_u8[edge].astype(np.float32) - photo[edge]).mean()
    after = np.abs(cleaned[edge].astype(np.float32) - photo[edge]).mean()
    assert after < 0.6 * before, (before, after)
    untouched = (alpha_u8 == 0) | (alpha_u8 == 255)
    np.testing.assert_array_equal(cleaned[untouched], composite_u8[untouched])


def test_decontamination_without_a_soft_edge_changes_nothing():
    photo = data.coffee()
    hard = np.zeros(photo.shape[:2], np.uint8)
    hard[100:200, 100:300] = 255
    assert decontaminate(photo, hard) is photo


@pytest.mark.parametrize(
    ("margin", "expected"),
    [(0, (0.0, False)), (12, (12.0, False)), ("12", (12.0, False)), ("12px", (12.0, False)),
     ("10%", (10.0, True)), (" 2.5 % ", (2.5, True))],
)  # fmt: skip
def test_parse_margin(margin, expected):
    assert parse_margin(margin) == expected


@pytest.mark.parametrize("margin", ["x", "-3", "10%%", "5em", -1, True, "2000%", 10**6])
def test_parse_margin_refuses(margin):
    with pytest.raises(InvalidParameters, match="crop_margin"):
        parse_margin(margin)


def test_crop_box_grows_and_clips():
    alpha = np.zeros((100, 200), np.uint8)
    alpha[20:60, 50:150] = 255
    assert subject_box(alpha) == (50, 20, 150, 60)
    assert crop_box(alpha, 10) == (40, 10, 160, 70)
    assert crop_box(alpha, "10%") == (40, 16, 160, 64)  # 10% of 100 wide, of 40 high
    assert crop_box(alpha, 1000) == (0, 0, 200, 100)
    assert crop_box(np.zeros((5, 7), np.uint8), 3) == (0, 0, 7, 5)  # no subject: the whole


def test_shadow_moves_blurs_and_scales():
    alpha = np.zeros((60, 60), np.uint8)
    alpha[10:30, 10:30] = 255
    hard = shadow_alpha(alpha, Shadow(offset=(15, -5), blur=0, opacity=0.4))
    assert np.allclose(hard[5:25, 25:45], 0.4) and hard.sum() == pytest.approx(0.4 * 400)
    soft = shadow_alpha(alpha, Shadow(offset=(15, -5), blur=4, opacity=0.4))
    assert (
        soft.max() <= 0.4 + 1e-6
        and soft[4, 24] > 0
        and soft[15, 35] == pytest.approx(0.4, rel=0.05)
    )


@pytest.mark.parametrize(
    "kwargs",
    [{"offset": (1,), "blur": 1, "opacity": 0.5}, {"offset": (1, 1), "blur": -1, "opacity": 0.5},
     {"offset": (1, 1), "blur": 1, "opacity": 1.5}, {"offset": (1.5, 1), "blur": 1, "opacity": 1}],
)  # fmt: skip
def test_shadow_refuses_bad_settings(kwargs):
    with pytest.raises(InvalidParameters, match="shadow"):
        Shadow(**kwargs)


# --- the library, real photos, the real model -----------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PHOTOS))
@pytest.mark.parametrize("margin", [0, 20, "10%"])
def test_crop_holds_the_subject_box_grown_by_the_margin(copied_models, name, margin):
    photo = PHOTOS[name]()
    alpha = remove_background(photo, runtime=current())[..., 3]
    cropped = remove_background(photo, crop=True, crop_margin=margin, runtime=current())
    x0, y0, x1, y1 = subject_box(alpha)
    assert (x1 - x0) * (y1 - y0) < alpha.size  # the model found a subject smaller than all
    value, percent = parse_margin(margin)
    mx = round(value * (x1 - x0) / 100) if percent else round(value)
    my = round(value * (y1 - y0) / 100) if percent else round(value)
    height, width = alpha.shape
    box = (max(0, x0 - mx), max(0, y0 - my), min(width, x1 + mx), min(height, y1 + my))
    assert cropped.shape == (box[3] - box[1], box[2] - box[0], 4)
    # The crop is exactly the uncropped cut-out there, so it holds all of the subject...
    full = remove_background(photo, runtime=current())
    np.testing.assert_array_equal(cropped, full[box[1] : box[3], box[0] : box[2]])
    outside = alpha.copy()
    outside[box[1] : box[3], box[0] : box[2]] = 0
    assert outside.max() < SUBJECT_THRESHOLD
    # ...and no more: the subject touches each side of the box the margin did not clip.
    inner = alpha[y0:y1, x0:x1] >= SUBJECT_THRESHOLD
    assert inner[0].any() and inner[-1].any() and inner[:, 0].any() and inner[:, -1].any()
    assert current().models.model_runs == 1  # crop never reruns the model


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PHOTOS))
def test_alpha_only_is_the_rgba_outputs_alpha(copied_models, name):
    photo = PHOTOS[name]()
    for options in ({}, {"crop": True, "crop_margin": "5%"}, {"shadow": True},
                    {"alpha_matting": True}):  # fmt: skip
        rgba = remove_background(photo, **options, runtime=current())
        alpha = remove_background(photo, channels="alpha", **options, runtime=current())
        assert alpha.ndim == 2 and alpha.dtype == np.uint8
        np.testing.assert_array_equal(alpha, rgba[..., 3])


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PHOTOS))
def test_shadow_darkens_beside_the_subject_on_white(copied_models, name):
    photo = PHOTOS[name]()
    alpha = remove_background(photo, runtime=current())[..., 3]
    plain = remove_background(photo, background=(255, 255, 255), runtime=current())
    shadow = Shadow(offset=(15, 15), blur=4, opacity=0.6)
    shaded = remove_background(photo, background=(255, 255, 255), shadow=shadow, runtime=current())
    assert shaded.shape == plain.shape == photo.shape
    # Subject pixels are unchanged, to the bit.
    solid = alpha == 255
    np.testing.assert_array_equal(shaded[solid], plain[solid])
    # Backdrop pixels that the offset subject covers turn darker than white.
    moved = np.zeros_like(alpha)
    moved[15:, 15:] = alpha[:-15, :-15]
    cast = (alpha == 0) & (moved == 255)
    assert cast.sum() > 100
    darkening = 255 - shaded[cast].astype(int).mean(axis=1)
    assert np.median(darkening) > 0.4 * 255  # ~0.6 x 255 where the blur has not thinned it
    # Backdrop far from the shadow stays white.
    far = (alpha == 0) & (cv2.dilate(moved, np.ones((31, 31), np.uint8)) == 0)
    if far.any():
        assert (shaded[far] == 255).all()


@pytest.mark.slow
def test_shadow_on_transparency_lives_in_the_alpha(copied_models):
    photo = data.astronaut()
    plain = remove_background(photo, runtime=current())
    shaded = remove_background(photo, shadow=True, runtime=current())
    solid, clear = plain[..., 3] == 255, plain[..., 3] == 0
    np.testing.assert_array_equal(shaded[solid], plain[solid])
    gained = shaded[..., 3].astype(int) - plain[..., 3]
    assert (gained >= 0).all() and (gained[clear] > 50).sum() > 500
    shadowed = clear & (shaded[..., 3] > 0)
    assert (shaded[shadowed][:, :3] == 0).all()  # a black shadow


@pytest.mark.slow
@pytest.mark.parametrize("name", list(PHOTOS))
def test_bg_blur_keeps_the_subject_and_blurs_the_background(copied_models, name):
    photo = PHOTOS[name]()
    alpha = remove_background(photo, runtime=current())[..., 3]
    blurred = remove_background(photo, bg_blur=8, runtime=current())
    assert blurred.shape == photo.shape  # an opaque backdrop: RGB
    solid = alpha == 255
    np.testing.assert_array_equal(blurred[solid], photo[solid])
    # The background, away from the subject's edge, has far less gradient energy.
    background = cv2.erode((alpha == 0).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    assert background.sum() > 1000
    before, after = gradient_energy(photo, background), gradient_energy(blurred, background)
    assert after < 0.35 * before, (before, after)
    assert current().models.model_runs == 1


@pytest.mark.slow
def test_all_together_in_the_stated_order(copied_models):
    """mask -> backdrop + shadow -> crop: the crop of the full finished image."""
    photo = data.chelsea()
    alpha = remove_background(photo, runtime=current())[..., 3]
    shadow = Shadow(offset=(10, 6), blur=5, opacity=0.5)
    finished = remove_background(photo, bg_blur=6, shadow=shadow, runtime=current())
    cropped = remove_background(
        photo, bg_blur=6, shadow=shadow, crop=True, crop_margin=8, runtime=current()
    )
    x0, y0, x1, y1 = crop_box(alpha, 8)
    np.testing.assert_array_equal(cropped, finished[y0:y1, x0:x1])


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"bg_blur": -1}, "bg_blur"), ({"crop": True, "crop_margin": "ten"}, "crop_margin"),
     ({"channels": "rgb"}, "channels"), ({"channels": "alpha", "background": (1, 2, 3)}, "alpha"),
     ({"bg_blur": 3, "background": (1, 2, 3)}, "one backdrop"), ({"shadow": 0.5}, "shadow")],
)  # fmt: skip
def test_bad_finishing_is_a_typed_error(copied_models, kwargs, match):
    with pytest.raises(InvalidParameters, match=match):
        remove_background(data.astronaut(), runtime=current(), **kwargs)
    assert current().models.model_runs == 0  # refused before the model runs


@pytest.mark.slow
def test_recipe_through_render(copied_models):
    photo = data.coffee()
    options = {"remove": True, "shadow": True, "shadow_offset": [8, 8], "shadow_blur": 4,
               "bg_blur": 5, "crop": True, "crop_margin": "10%"}  # fmt: skip
    recipe = parse_recipe({"background": options})
    rendered = render_recipe(photo, recipe, runtime=current())
    direct = remove_background(
        photo,
        bg_blur=5,
        shadow=Shadow(offset=(8, 8), blur=4, opacity=0.5),
        crop=True,
        crop_margin="10%",
        runtime=current(),
    )
    np.testing.assert_array_equal(rendered, direct)
    assert rendered.shape[2] == 3 and rendered.shape[:2] != photo.shape[:2]
    alpha = render_recipe(
        photo,
        parse_recipe({"background": {**options, "bg_blur": 0, "channels": "alpha"}}),
        runtime=current(),
    )
    rgba = render_recipe(
        photo, parse_recipe({"background": {**options, "bg_blur": 0}}), runtime=current()
    )
    np.testing.assert_array_equal(alpha, rgba[..., 3])


@pytest.mark.parametrize(
    "options",
    [{"bg_blur": 3, "color": [1, 2, 3, 255]}, {"channels": "alpha", "bg_blur": 2},
     {"crop_margin": "lots"}, {"shadow_offset": [1, 2, 3]}, {"shadow_opacity": 2}],
)  # fmt: skip
def test_recipe_refuses_bad_finishing(options):
    with pytest.raises(InvalidParameters, match="Invalid recipe"):
        parse_recipe({"background": {"remove": True, **options}})


def test_recipe_refuses_crop_with_a_target():
    recipe = {"background": {"remove": True, "crop": True}, "target": "foreground",
              "effects": {"noise": {"amount": 0.3}}}  # fmt: skip
    with pytest.raises(InvalidParameters, match="crop"):
        parse_recipe(recipe)


@pytest.mark.slow
def test_recipe_render_on_a_backdrop_image(copied_models):
    photo, scenery = data.chelsea(), data.coffee()
    recipe = parse_recipe({"background": {"remove": True, "shadow": True, "crop": True}})
    rendered = render_recipe(photo, recipe, runtime=current(), backdrop=scenery)
    direct = remove_background(photo, background=scenery, shadow=True, crop=True, runtime=current())
    np.testing.assert_array_equal(rendered, direct)
    assert rendered.ndim == 3 and rendered.shape[2] == 3
    plain = render_recipe(photo, recipe, runtime=current())
    assert plain.shape[2] == 4  # the backdrop is part of the cut-out's key, not a stale hit
    for options in ({"color": [1, 2, 3, 255]}, {"bg_blur": 3}, {"channels": "alpha"}):
        bad = parse_recipe({"background": {"remove": True, **options}})
        with pytest.raises(InvalidParameters, match=r"backdrop|alpha"):
            render_recipe(photo, bad, runtime=current(), backdrop=scenery)
    with pytest.raises(InvalidParameters, match="remove"):
        render_recipe(photo, parse_recipe({}), runtime=current(), backdrop=scenery)


def test_crop_refuses_an_animation(runtime):
    from glitchzap.animation import Animation
    from glitchzap.rendering import render_animation

    frame = np.ascontiguousarray(data.astronaut()[::4, ::4])
    animation = Animation([frame, frame[:, ::-1].copy()], (100, 100), 0)
    recipe = parse_recipe({"background": {"remove": True, "crop": True}})
    with pytest.raises(InvalidParameters, match="crop takes a still"):
        render_animation(animation, recipe, runtime=runtime)
    assert runtime.models.model_runs == 0
