"""remove_background / foreground_mask with the real u2netp on real photos."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from glitchzap.background import foreground_mask, remove_background, resize_mask
from glitchzap.background.refine import refine_mask
from glitchzap.errors import InvalidParameters, ModelNotAvailable
from glitchzap.runtime import configure, current

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()


def test_subject_opaque_background_transparent(copied_models, astronaut):
    cutout = remove_background(astronaut, runtime=current())
    assert cutout.shape == (512, 512, 4) and cutout.dtype == np.uint8
    assert np.array_equal(cutout[..., :3], astronaut)
    alpha = cutout[..., 3] / 255
    assert alpha[150, 220] > 0.9  # her face
    assert alpha[350, 120] > 0.9  # the orange suit
    assert alpha[5, 500] < 0.1  # the far top-right corner of the backdrop
    assert alpha[40, 420] < 0.1


def test_other_options_never_rerun_the_model(copied_models, astronaut):
    manager = current().models
    first = remove_background(astronaut, runtime=current())
    assert manager.model_runs == 1
    on_red = remove_background(astronaut, background=(255, 0, 0), runtime=current())
    mask = foreground_mask(astronaut, runtime=current())
    preview = resize_mask(mask, (128, 128))
    assert manager.model_runs == 1
    assert on_red.shape == (512, 512, 3)
    assert np.array_equal((mask * 255 + 0.5).astype(np.uint8), first[..., 3])
    assert preview.shape == (128, 128) and preview[37, 55] > 0.9  # the face, at preview scale
    assert current().cache("masks").stats()["hits"] >= 2
    # An option that changes the mask is a different cache entry: the model runs again.
    remove_background(astronaut, post_process=True, runtime=current())
    assert manager.model_runs == 2


def test_changed_pixels_run_the_model_again(copied_models, astronaut):
    remove_background(astronaut, runtime=current())
    edited = astronaut.copy()
    edited[0, 0] ^= 1
    remove_background(edited, runtime=current())
    assert current().models.model_runs == 2


def test_mask_is_float_in_unit_range(copied_models):
    mask = foreground_mask(data.chelsea(), runtime=current())
    assert mask.dtype == np.float32 and mask.shape == data.chelsea().shape[:2]
    assert 0 <= mask.min() < 0.1 and 0.9 < mask.max() <= 1


def test_composite_on_colour_and_image(copied_models, astronaut):
    cutout = remove_background(astronaut, runtime=current())
    alpha = cutout[..., 3]
    blue = remove_background(astronaut, background=(0, 0, 255), runtime=current())
    opaque, clear = alpha == 255, alpha == 0
    assert np.array_equal(blue[opaque], astronaut[opaque])
    assert (blue[clear] == (0, 0, 255)).all()
    scenery = remove_background(astronaut, background=data.coffee(), runtime=current())
    coffee = cv2.resize(data.coffee(), (512, 512), interpolation=cv2.INTER_AREA)
    assert np.array_equal(scenery[clear], coffee[clear])
    half = remove_background(astronaut, background=(0, 0, 255, 128), runtime=current())
    assert half.shape == (512, 512, 4)
    assert (half[clear][:, 3] == 128).all() and (half[opaque][:, 3] == 255).all()


def test_existing_transparency_is_kept(copied_models, astronaut):
    rgba = np.dstack([astronaut, np.full(astronaut.shape[:2], 255, np.uint8)])
    rgba[150:160, 215:225, 3] = 0  # a hole punched in her face
    alpha = remove_background(rgba, runtime=current())[..., 3]
    assert (alpha[150:160, 215:225] == 0).all()
    assert alpha[140, 220] > 230


def test_bad_inputs_are_typed_errors(copied_models, astronaut):
    with pytest.raises(InvalidParameters):
        remove_background(astronaut.astype(np.float32), runtime=current())
    with pytest.raises(InvalidParameters):
        remove_background(astronaut[..., 0], runtime=current())
    with pytest.raises(InvalidParameters, match="R,G,B"):
        remove_background(astronaut, background=(300, 0, 0), runtime=current())
    with pytest.raises(InvalidParameters, match="thresholds"):
        remove_background(
            astronaut, alpha_matting=True, alpha_matting_foreground_threshold=5, runtime=current()
        )
    with pytest.raises(InvalidParameters, match="Unknown model"):
        remove_background(astronaut, model="nope", runtime=current())


def test_missing_and_corrupt_models_name_the_fix(copied_models, astronaut):
    settings = current().settings  # an air-gapped deployment: no fetch on first use
    configure(
        None, **{**settings.model_dump(), "models": {"dir": copied_models, "auto_fetch": False}}
    )
    with pytest.raises(ModelNotAvailable, match=r"glitchzap models fetch u2net\b"):
        remove_background(astronaut, model="u2net", runtime=current())
    (copied_models / "u2netp.onnx").write_bytes(np.random.default_rng(1).bytes(50_000))
    with pytest.raises(ModelNotAvailable, match=r"corrupt.*glitchzap models fetch u2netp"):
        remove_background(astronaut, runtime=current())
    assert current().models.model_runs == 0


def test_large_image_mask_has_sharp_edges(copied_models, astronaut):
    """At 4x the model still sees 320 px, yet the edge band is much narrower than an upscale."""
    big = cv2.resize(astronaut, (2048, 2048), interpolation=cv2.INTER_CUBIC)
    mask = foreground_mask(big, runtime=current())
    low = current().models.predict("u2netp", big)
    plain = resize_mask(low, (2048, 2048))
    band = lambda m: ((m > 0.1) & (m < 0.9)).mean()  # noqa: E731
    assert band(mask) < 0.6 * band(plain)  # measured ~0.5: the flag stays genuinely unsure
    # And it is the same mask the pure refinement gives (the cached step adds nothing).
    assert np.abs(mask - refine_mask(big, low)).max() <= 1 / 255 + 1e-6


def test_alpha_matting_changes_only_the_edges(copied_models, astronaut):
    small = cv2.resize(astronaut, (256, 256), interpolation=cv2.INTER_AREA)
    plain = remove_background(small, runtime=current())[..., 3].astype(int)
    matted = remove_background(small, alpha_matting=True, runtime=current())[..., 3].astype(int)
    assert current().models.model_runs == 1
    assert matted[75, 110] > 230 and matted[3, 250] < 25
    assert (matted != plain).any()
    # The edge band is what the trimap leaves unknown: the mask neither above 240 nor below 10
    # after a 10 px erosion (the defaults, built as rembg builds it). Everywhere else the
    # matted alpha is the model's alpha, pixel for pixel.
    from scipy.ndimage import binary_erosion

    erode = np.ones((10, 10), np.uint8)
    sure_fg = binary_erosion(plain > 240, structure=erode)
    sure_bg = binary_erosion(plain < 10, structure=erode, border_value=1)
    band = ~(sure_fg | sure_bg)
    assert 0.02 < band.mean() < 0.5 and sure_fg.any() and sure_bg.any()
    np.testing.assert_array_equal(matted[~band], plain[~band])
    assert (matted[band] != plain[band]).any()


def test_status_reports_the_provider_in_use(copied_models, astronaut):
    assert current().models.status()["model"] is None
    remove_background(astronaut, runtime=current())
    status = current().models.status()
    assert status["model"] == "u2netp"
    assert status["provider"] in status["providers"]
    assert status["provider"] == "CPUExecutionProvider" or status["device"] != "cpu"
    assert status["model_runs"] == 1 and status["loads"] == 1
