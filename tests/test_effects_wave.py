"""wave: rows (or columns) slid along a sine, amplitude * sin(2 pi y / wavelength + phase) px,
mirrored at the edges, alpha moving with the colour."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from skimage import data

from api_fixtures import render_raw_effects, small_image_id
from glitchzap.effects.wave import WaveParams, wave_offsets
from glitchzap.pipeline import apply_effects

pytest_plugins = ["api_fixtures"]

PHOTOS = {"astronaut": data.astronaut, "chelsea": data.chelsea, "coffee": data.coffee}


@pytest.fixture(scope="module", params=list(PHOTOS))
def photo(request: pytest.FixtureRequest) -> np.ndarray:
    return np.ascontiguousarray(PHOTOS[request.param]())


def test_wave_changes_the_photo(photo: np.ndarray) -> None:
    for direction in ("horizontal", "vertical"):
        out = apply_effects(photo, {"wave": {"amplitude": 8, "direction": direction}})
        assert np.abs(out.astype(int) - photo).mean() > 2, direction


def test_zero_amplitude_is_identity(photo: np.ndarray) -> None:
    assert np.array_equal(apply_effects(photo, {"wave": 0}), photo)
    still = {"amplitude": 0, "wavelength": 7, "direction": "vertical", "phase": 45}
    assert np.array_equal(apply_effects(photo, {"wave": still}), photo)


def test_rows_move_by_the_sine(photo: np.ndarray) -> None:
    """Wavelength 120: row 30 is a crest (+amplitude, right), row 90 a trough, 0 and 60 rest."""
    out = apply_effects(photo, {"wave": {"amplitude": 10, "wavelength": 120}})
    assert np.array_equal(out[30, 10:], photo[30, :-10])
    assert np.array_equal(out[30, :10], photo[30, 9::-1])  # mirrored at the left edge
    assert np.array_equal(out[90, :-10], photo[90, 10:])
    assert np.array_equal(out[[0, 60, 120]], photo[[0, 60, 120]])
    assert not np.array_equal(out[15], photo[15])


def test_phase_shifts_the_sine(photo: np.ndarray) -> None:
    out = apply_effects(photo, {"wave": {"amplitude": 10, "wavelength": 120, "phase": 90}})
    assert np.array_equal(out[0, 10:], photo[0, :-10])  # sin(90 degrees) = 1 at the top
    assert np.array_equal(out[30], photo[30])


def test_vertical_moves_columns_down(photo: np.ndarray) -> None:
    out = apply_effects(
        photo, {"wave": {"amplitude": 12, "wavelength": 200, "direction": "vertical"}}
    )
    assert np.array_equal(out[12:, 50], photo[:-12, 50])  # column 50 is a crest
    assert np.array_equal(out[:-12, 150], photo[12:, 150])
    assert np.array_equal(out[:, 100], photo[:, 100])


def test_alpha_moves_with_the_pixels() -> None:
    photo = np.ascontiguousarray(data.astronaut())
    alpha = np.tile(np.linspace(0, 255, 512).astype(np.uint8), (512, 1))
    image = np.dstack([photo, alpha])
    out = apply_effects(image, {"wave": {"amplitude": 10, "wavelength": 120}})
    assert np.array_equal(out[30, 10:, 3], alpha[30, :-10])
    opaque = out[30, 10:, 3] == 255
    assert np.array_equal(out[30, 10:, :3][opaque], photo[30, :-10][opaque])


def test_offsets_follow_the_formula_and_scale_with_the_preview() -> None:
    params = WaveParams(amplitude=25, wavelength=90, phase=30)
    rows = np.arange(400)
    full = wave_offsets(400, params, 1.0)
    expected = 25 * np.sin(2 * math.pi * rows / 90 + math.radians(30))
    assert np.abs(full - expected).max() < 1e-4
    # Preview row i covers full-size rows 2i and 2i + 1: half their mean offset, in half pixels.
    half = wave_offsets(200, params, 0.5)
    between = 25 * np.sin(2 * math.pi * (2 * rows[:200] + 0.5) / 90 + math.radians(30))
    assert np.abs(half - between / 2).max() < 1e-4


@pytest.mark.parametrize("direction", ["horizontal", "vertical"])
def test_hostile_amplitude_and_wavelength_finish(direction: str) -> None:
    photo = np.ascontiguousarray(data.astronaut())
    for wavelength in (2, 10000):
        params = {"amplitude": 500, "wavelength": wavelength, "direction": direction}
        out = apply_effects(photo, {"wave": {**params, "phase": 77}})
        assert out.shape == photo.shape
    tiny = apply_effects(photo[:3, :5].copy(), {"wave": {"amplitude": 500, "direction": direction}})
    assert tiny.shape == (3, 5, 3)


@pytest.mark.parametrize(
    "params",
    [
        '{"amplitude": NaN}',
        '{"amplitude": 5, "wavelength": Infinity}',
        '{"amplitude": 5, "phase": 1e309}',
        '{"amplitude": 501}',
        '{"amplitude": 5, "wavelength": 1}',
        '{"amplitude": 5, "direction": "diagonal"}',
    ],
)
def test_api_refuses_hostile_waves(api_client: Any, params: str) -> None:
    response = render_raw_effects(api_client, small_image_id(api_client), f'{{"wave": {params}}}')
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_parameters"
