"""chromatic (aberration): red magnified by 1 + strength, blue shrunk by 1 - strength about a
centre, green and alpha untouched."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from skimage import data

from api_fixtures import render_raw_effects, small_image_id
from glitchzap.pipeline import apply_effects

pytest_plugins = ["api_fixtures"]

PHOTOS = {"astronaut": data.astronaut, "chelsea": data.chelsea, "coffee": data.coffee}


@pytest.fixture(scope="module", params=list(PHOTOS))
def photo(request: pytest.FixtureRequest) -> np.ndarray:
    return np.ascontiguousarray(PHOTOS[request.param]())


def dot(side: int, x: int, y: int) -> np.ndarray:
    """A black square image with a white 3 x 3 dot centred on (x, y)."""
    image = np.zeros((side, side, 3), np.uint8)
    image[y - 1 : y + 2, x - 1 : x + 2] = 255
    return image


def centroid(channel: np.ndarray) -> tuple[float, float]:
    """(x, y) of a channel's brightness, in pixel-index coordinates."""
    weights = channel.astype(float)
    ys, xs = np.indices(channel.shape)
    return float((xs * weights).sum() / weights.sum()), float((ys * weights).sum() / weights.sum())


def test_aberration_changes_the_photo_and_keeps_green(photo: np.ndarray) -> None:
    out = apply_effects(photo, {"chromatic": 0.02})
    assert np.abs(out.astype(int) - photo).mean() > 1
    assert np.array_equal(out[..., 1], photo[..., 1])


def test_zero_strength_is_identity(photo: np.ndarray) -> None:
    assert np.array_equal(apply_effects(photo, {"chromatic": 0}), photo)
    off_centre = {"strength": 0, "center_x": 0.1, "center_y": 0.9}
    assert np.array_equal(apply_effects(photo, {"chromatic": off_centre}), photo)


def test_red_and_blue_scale_radially_about_the_centre() -> None:
    side, x, y = 201, 160, 70  # the centre pixel is (100, 100)
    out = apply_effects(dot(side, x, y), {"chromatic": 0.1})
    red, green, blue = (centroid(out[..., c]) for c in range(3))
    assert red == pytest.approx((100 + 60 * 1.1, 100 - 30 * 1.1), abs=0.1)
    assert blue == pytest.approx((100 + 60 * 0.9, 100 - 30 * 0.9), abs=0.1)
    assert green == pytest.approx((x, y), abs=1e-9)


def test_a_dot_on_the_centre_stays_put() -> None:
    side, x, y = 201, 40, 150
    centre = {"strength": 0.2, "center_x": (x + 0.5) / side, "center_y": (y + 0.5) / side}
    out = apply_effects(dot(side, x, y), {"chromatic": centre})
    for channel in range(3):
        assert centroid(out[..., channel]) == pytest.approx((x, y), abs=0.05)


def test_the_same_fraction_of_the_image_at_any_size() -> None:
    """Nothing is in pixels: on a half-size copy the colours sit at half the positions."""
    import cv2

    source = dot(400, 340, 60)
    small = cv2.resize(source, (200, 200), interpolation=cv2.INTER_AREA)
    full = apply_effects(source, {"chromatic": 0.15})
    half = apply_effects(small, {"chromatic": 0.15}, scale=0.5)
    for channel in range(3):
        fx, fy = centroid(full[..., channel])
        hx, hy = centroid(half[..., channel])
        # Pixel i of the half-size copy covers full-size pixels 2i and 2i + 1.
        assert (2 * hx + 0.5, 2 * hy + 0.5) == pytest.approx((fx, fy), abs=0.3)


def test_alpha_stays_put(photo: np.ndarray) -> None:
    alpha = np.tile(np.linspace(0, 255, photo.shape[1]).astype(np.uint8), (photo.shape[0], 1))
    image = np.dstack([photo, alpha])
    out = apply_effects(image, {"chromatic": 0.1})
    assert np.array_equal(out[..., 3], alpha)


def test_hostile_strength_and_corner_centres_finish() -> None:
    photo = np.ascontiguousarray(data.astronaut())
    for centre in ((0.0, 0.0), (1.0, 1.0), (0.0, 1.0)):
        params = {"strength": 0.2, "center_x": centre[0], "center_y": centre[1]}
        out = apply_effects(photo, {"chromatic": params})
        assert out.shape == photo.shape
        assert np.array_equal(out[..., 1], photo[..., 1])


@pytest.mark.parametrize(
    "params", ['{"strength": NaN}', '{"strength": 0.1, "center_x": Infinity}', '{"strength": 1}']
)
def test_api_refuses_hostile_strength(api_client: Any, params: str) -> None:
    response = render_raw_effects(
        api_client, small_image_id(api_client), f'{{"chromatic": {params}}}'
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_parameters"


@pytest.mark.parametrize("channels", [3, 4])
@pytest.mark.parametrize("contiguous", [True, False])
def test_same_values_as_warping_each_plane_alone(
    photo: np.ndarray, channels: int, contiguous: bool
) -> None:
    """Red and blue are the separate warps of their planes, green and alpha left as they were,
    whether the buffer is contiguous or a strided view. Each band of rows is warped from a
    copy of the rows it reads, and OpenCV rounds each band's source coordinates (float32) its
    own way: a few thousandths of a level off the whole-plane warp (under 0.05 at 2000 px)."""
    import cv2

    from glitchzap.effects.chromatic import ChromaticParams, chromatic_aberration

    height, width = photo.shape[:2]
    alpha = np.full((height, width, 1), 77, np.uint8)
    image = np.dstack([photo, alpha])[..., :channels].astype(np.float32)
    params = ChromaticParams(strength=0.07, center_x=0.3, center_y=0.6)
    cx, cy = 0.3 * width - 0.5, 0.6 * height - 0.5
    expected = image.copy()
    for channel, factor in ((0, 1.07), (2, 0.93)):
        matrix = np.array([[factor, 0, (1 - factor) * cx], [0, factor, (1 - factor) * cy]])
        expected[..., channel] = cv2.warpAffine(
            np.ascontiguousarray(image[..., channel]),
            matrix,
            (width, height),
            flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_REPLICATE,
        )
    if contiguous:
        buf = image.copy()
    else:
        buf = np.zeros((height, width * 2, channels), np.float32)[:, ::2]
        buf[...] = image
    out = chromatic_aberration(buf, params, np.random.default_rng(0), 1.0)
    assert np.abs(out - expected).max() < 0.05  # measured 0.012 on these photos
    for kept in (1, 3)[: channels - 2]:
        assert np.array_equal(out[..., kept], image[..., kept])
    assert np.abs(out - image).max() > 50
