"""EXIF through the API: orientations 1-8 give upright sizes, pixels, masks and OCR boxes;
GPS and every other tag are gone from what we send back.

Sources are PNGs with an eXIf chunk, so the upright pixels are known exactly: a stored image
whose tag says "rotate me" must decode to the very pixels of the upright original.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from api_fixtures import make_client, upload
from glitchzap.io import encode_image
from glitchzap.runtime import current
from glitchzap.settings import load_settings

pytest_plugins = ["api_fixtures"]

Transform = Callable[[np.ndarray], np.ndarray]

# The stored pixels for each orientation: the inverse of what a viewer does (EXIF 2.32).
TO_STORED: dict[int, Transform] = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, k=1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, k=-1),
}


def upright_photo() -> np.ndarray:
    return np.ascontiguousarray(skdata.astronaut()[:384:3, :288:3])  # 128 x 96: not square


def tagged(upright: np.ndarray, orientation: int, fmt: str = "PNG", gps: bool = False) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "SecretCameraMaker"
    if gps:
        info = exif.get_ifd(0x8825)
        info[1] = "N"
        info[2] = (51.0, 30.0, 12.5)
    stored = np.ascontiguousarray(TO_STORED[orientation](upright))
    buffer = io.BytesIO()
    Image.fromarray(stored).save(buffer, fmt, exif=exif.tobytes())
    return buffer.getvalue()


def render_full(client: Any, image_id: str, fmt: str = "png") -> bytes:
    response = client.post(
        "/api/render", json={"image_id": image_id, "quality": "full", "format": fmt}
    )
    assert response.status_code == 200, response.text
    return bytes(response.content)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orientation_gives_upright_size_and_pixels(api_client: Any, orientation: int) -> None:
    upright = upright_photo()
    stored = upload(api_client, tagged(upright, orientation))
    assert (stored["width"], stored["height"]) == (96, 128)
    out = np.asarray(Image.open(io.BytesIO(render_full(api_client, stored["image_id"]))))
    np.testing.assert_array_equal(out, upright)


@pytest.mark.parametrize("orientation", [1, 6])
@pytest.mark.parametrize("output", ["png", "jpeg", "webp"])
def test_gps_and_tags_are_stripped_from_every_output(
    api_client: Any, orientation: int, output: str
) -> None:
    source = tagged(upright_photo(), orientation, fmt="JPEG", gps=True)
    assert Image.open(io.BytesIO(source)).getexif().get_ifd(0x8825)  # the source has GPS
    image_id = upload(api_client, source)["image_id"]
    for data in (
        render_full(api_client, image_id, output),
        api_client.post(
            "/api/meme",
            json={"image_id": image_id, "captions": ["hi"], "erase": "never", "format": output},
        ).content,
    ):
        assert b"SecretCameraMaker" not in data and b"Exif" not in data
        reopened = Image.open(io.BytesIO(data))
        assert not reopened.getexif()
        assert reopened.size == (96, 128)


# --- masks and OCR boxes line up with the rotated image (real models) -----------------------


@pytest.fixture
def model_client(tmp_path: Any) -> Iterator[Any]:
    """An API whose settings point at the real models dir (`make install` fetched them)."""
    models_dir = current().settings.models_dir  # conftest points it at the real one
    if not (models_dir / "u2netp.onnx").is_file():
        pytest.skip(f"u2netp.onnx not in {models_dir}: run make install")
    settings = load_settings(None, data_dir=tmp_path, models={"dir": models_dir})
    with make_client(settings) as client:
        yield client


def remove_background_mask(client: Any, image_id: str) -> np.ndarray:
    response = client.post("/api/remove-background", json={"image_id": image_id, "only_mask": True})
    assert response.status_code == 200, response.text
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("L"))


@pytest.mark.slow
@pytest.mark.parametrize("orientation", [3, 5, 6, 8])
def test_background_mask_lines_up_with_the_rotated_image(
    model_client: Any, orientation: int
) -> None:
    api_client = model_client
    upright = np.ascontiguousarray(skdata.astronaut()[::2, 64:448:2])  # 256 x 192
    reference = remove_background_mask(
        api_client, upload(api_client, encode_image(upright, "png"))["image_id"]
    )
    assert 0.1 < (reference > 127).mean() < 0.9  # a real subject, not an empty mask
    rotated = remove_background_mask(
        api_client, upload(api_client, tagged(upright, orientation))["image_id"]
    )
    assert rotated.shape == reference.shape == (256, 192)
    # Different bytes, different image ids, the same upright pixels: the same mask.
    assert np.abs(rotated.astype(int) - reference.astype(int)).max() <= 1


def ocr_boxes(client: Any, image_id: str) -> list[tuple[str, np.ndarray]]:
    response = client.post("/api/ocr", json={"image_id": image_id})
    assert response.status_code == 200, response.text
    return [(r["text"], np.array(r["box"])) for r in response.json()["regions"]]


@pytest.mark.slow
@pytest.mark.parametrize("orientation", [6, 3])
def test_ocr_boxes_line_up_with_the_rotated_image(api_client: Any, orientation: int) -> None:
    background = np.ascontiguousarray(skdata.coffee())  # 400 x 600
    source = upload(api_client, encode_image(background, "png"))["image_id"]
    meme = api_client.post(
        "/api/meme",
        json={"image_id": source, "captions": ["SECRET MEETING", "AT NOON"], "erase": "never"},
    )
    upright = np.asarray(Image.open(io.BytesIO(meme.content)).convert("RGB"))
    reference = ocr_boxes(api_client, upload(api_client, meme.content)["image_id"])
    assert any("SECRET" in text for text, _ in reference)
    rotated = ocr_boxes(api_client, upload(api_client, tagged(upright, orientation))["image_id"])
    assert [t for t, _ in rotated] == [t for t, _ in reference]
    for (_, got), (_, want) in zip(rotated, reference, strict=True):
        np.testing.assert_allclose(got, want, atol=1.0)
        assert got[:, 0].max() <= 600 and got[:, 1].max() <= 400  # upright coordinates
