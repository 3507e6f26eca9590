"""POST /api/remove-background with the real u2netp model (by image_id, url-less, and file)."""

from __future__ import annotations

import io
import json
from typing import Any

import cv2
import numpy as np
import pytest
from PIL import Image

from api_fixtures import make_client, upload
from glitchzap.runtime import current
from glitchzap.settings import load_settings

pytest_plugins = ["api_fixtures"]


@pytest.fixture
def model_client(tmp_path: Any) -> Any:
    models_dir = current().settings.models_dir
    if not (models_dir / "u2netp.onnx").is_file():
        pytest.skip(f"u2netp.onnx not in {models_dir}: run make install")
    with make_client(load_settings(None, data_dir=tmp_path, models={"dir": models_dir})) as api:
        yield api


def rgba(response: Any) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(response.content)))


@pytest.mark.slow
def test_cut_out_by_image_id_and_by_file_agree(model_client: Any, api_astronaut_png: bytes) -> None:
    image_id = upload(model_client, api_astronaut_png)["image_id"]
    by_id = model_client.post("/api/remove-background", json={"image_id": image_id})
    assert by_id.status_code == 200, by_id.text
    assert by_id.headers["content-type"] == "image/png"
    cut = rgba(by_id)
    assert cut.shape == (512, 512, 4)
    alpha = cut[..., 3]
    assert (alpha == 0).mean() > 0.1 and (alpha == 255).mean() > 0.1
    by_file = model_client.post(
        "/api/remove-background", files={"file": ("a.png", api_astronaut_png, "image/png")}
    )
    assert by_file.content == by_id.content
    assert by_file.headers["x-cache"] == "hit"  # same pixels, same parameters


@pytest.mark.slow
def test_mask_and_background_colour(model_client: Any, api_astronaut_png: bytes) -> None:
    image_id = upload(model_client, api_astronaut_png)["image_id"]
    mask = rgba(
        model_client.post("/api/remove-background", json={"image_id": image_id, "only_mask": True})
    )
    cut = rgba(model_client.post("/api/remove-background", json={"image_id": image_id}))
    np.testing.assert_array_equal(mask[..., 0], cut[..., 3])
    params = json.dumps({"background": [255, 0, 0]})
    red = model_client.post(
        "/api/remove-background",
        data={"params": params},
        files={"file": ("a.png", api_astronaut_png, "image/png")},
    )
    pixels = rgba(red)
    assert pixels.shape == (512, 512, 3)
    background = mask[..., 0] == 0
    assert (pixels[background] == [255, 0, 0]).all()


@pytest.mark.slow
def test_crop_alpha_only_shadow_and_blur(model_client: Any) -> None:
    from skimage import data

    from glitchzap.io import encode_image

    image_id = upload(model_client, encode_image(data.coffee(), "png"))["image_id"]

    def post(**options: Any) -> np.ndarray:
        response = model_client.post(
            "/api/remove-background", json={"image_id": image_id, **options}
        )
        assert response.status_code == 200, response.text
        return rgba(response)

    cut = post()
    crop = post(crop=True, crop_margin="10%")
    alpha = post(crop=True, crop_margin="10%", channels="alpha")
    assert crop.shape[2] == 4 and crop.shape[1] < 600
    assert alpha.ndim == 2  # a single-channel (L) PNG
    np.testing.assert_array_equal(alpha, crop[..., 3])
    solid, clear = cut[..., 3] == 255, cut[..., 3] == 0
    white = {"background": [255, 255, 255]}
    shadow = post(**white, shadow=True, shadow_offset=[15, 15], shadow_blur=4, shadow_opacity=0.6)
    plain = post(**white)
    np.testing.assert_array_equal(shadow[solid], plain[solid])
    moved = np.zeros_like(cut[..., 3])
    moved[15:, 15:] = cut[:-15, :-15, 3]
    cast = clear & (moved == 255)
    assert (plain[cast] == 255).all() and np.median(shadow[cast]) < 200
    scenery = upload(model_client, encode_image(data.astronaut(), "png"))["image_id"]
    on_photo = post(bg_image_id=scenery)
    assert on_photo.shape == (400, 600, 3)
    np.testing.assert_array_equal(on_photo[solid], cut[solid][:, :3])
    stretched = cv2.resize(data.astronaut(), (600, 400), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(on_photo[clear], stretched[clear])
    blur = post(bg_blur=8)
    np.testing.assert_array_equal(blur[solid], cut[solid][:, :3])
    step = lambda a: np.abs(np.diff(a.astype(int), axis=1))[clear[:, 1:]].mean()  # noqa: E731
    assert step(blur) < 0.5 * step(cut[..., :3])


@pytest.mark.parametrize(
    "options",
    [{"crop_margin": "lots"}, {"channels": "rgb"}, {"bg_blur": -2},
     {"bg_blur": 3, "background": [1, 2, 3]}, {"channels": "alpha", "background": [1, 2, 3]},
     {"shadow_offset": [1]}, {"shadow_opacity": 2}, {"bg_image_id": "nope"},
     {"bg_image_id": "0" * 40, "background": [1, 2, 3]}],
)  # fmt: skip
def test_bad_finishing_is_422(api_client: Any, api_astronaut_png: bytes, options: Any) -> None:
    image_id = upload(api_client, api_astronaut_png)["image_id"]
    response = api_client.post("/api/remove-background", json={"image_id": image_id, **options})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_parameters"


def test_unknown_backdrop_image_is_404(api_client: Any, api_astronaut_png: bytes) -> None:
    image_id = upload(api_client, api_astronaut_png)["image_id"]
    body = {"image_id": image_id, "bg_image_id": "0" * 40}
    response = api_client.post("/api/remove-background", json=body)
    assert response.status_code == 404 and response.json()["error"] == "not_found"


@pytest.mark.parametrize(
    ("kwargs", "status", "code"),
    [
        ({"json": {"image_id": "0" * 40}}, 404, "not_found"),
        ({"json": {}}, 422, "invalid_parameters"),
        ({"json": {"image_id": "0" * 40, "background": [1, 2]}}, 422, "invalid_parameters"),
        ({"json": {"image_id": "0" * 40, "nope": 1}}, 422, "invalid_parameters"),
        (
            {"content": b"{", "headers": {"content-type": "application/json"}},
            422,
            "invalid_parameters",
        ),
        ({"content": b"x", "headers": {"content-type": "text/plain"}}, 415, "unsupported_format"),
        ({"files": {"file": ("a.png", b"not an image", "image/png")}}, 400, "unreadable_image"),
        (
            {"files": {"file": ("a.png", b"x", "image/png")}, "data": {"params": "{"}},
            422,
            "invalid_parameters",
        ),
    ],
)
def test_errors(api_client: Any, kwargs: dict[str, Any], status: int, code: str) -> None:
    response = api_client.post("/api/remove-background", **kwargs)
    assert response.status_code == status, response.text
    assert response.json()["error"] == code


@pytest.mark.slow
def test_quality_modes_and_decontamination(model_client: Any, api_astronaut_png: bytes) -> None:
    if not (current().settings.models_dir / "isnet-imgly.onnx").is_file():
        pytest.skip("isnet-imgly missing: run `glitchzap models fetch isnet-imgly` (needs npm)")
    image_id = upload(model_client, api_astronaut_png)["image_id"]

    def post(**options: Any) -> np.ndarray:
        response = model_client.post(
            "/api/remove-background", json={"image_id": image_id, **options}
        )
        assert response.status_code == 200, response.text
        return rgba(response)

    fast, best = post(quality="fast"), post(quality="best")
    assert not np.array_equal(fast[..., 3], best[..., 3])  # other models made it
    assert best[150, 220, 3] > 230 and best[5, 500, 3] < 25
    plain = post(quality="best", decontaminate=False)
    np.testing.assert_array_equal(plain[..., 3], best[..., 3])
    soft = (best[..., 3] > 0) & (best[..., 3] < 255)
    assert (best[..., :3][soft] != plain[..., :3][soft]).any()  # best re-colours soft edges
    np.testing.assert_array_equal(post(quality="fast")[..., 3], fast[..., 3])  # from the cache


def test_unknown_quality_is_422(api_client: Any, api_astronaut_png: bytes) -> None:
    image_id = upload(api_client, api_astronaut_png)["image_id"]
    body = {"image_id": image_id, "quality": "ultra"}
    response = api_client.post("/api/remove-background", json=body)
    assert response.status_code == 422 and response.json()["error"] == "invalid_parameters"
    assert "quality" in response.json()["message"]


def test_unknown_model(api_client: Any, api_astronaut_png: bytes) -> None:
    image_id = upload(api_client, api_astronaut_png)["image_id"]
    response = api_client.post("/api/remove-background", json={"image_id": image_id, "model": "x"})
    assert response.status_code == 422
    assert "Unknown model" in response.json()["message"]
