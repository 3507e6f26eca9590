"""POST /api/meme, /api/ocr and /api/erase-text with the real OCR model on meme templates
(the generated sample, plus memegen's real templates when ../shared is present)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from api_fixtures import upload
from glitchzap.io import encode_animation, load_animation, load_image
from meme_animations import panning, photo, region_changes
from meme_cases import GENERATED, MemeSample, case_ids

pytest_plugins = ["api_fixtures"]


@pytest.mark.slow
@pytest.mark.parametrize("name", case_ids(("gen-coffee", "gen-gradient"), ("ants",)))
def test_meme_then_ocr_reads_it_then_erase_removes_it(
    api_client: Any, meme_sample: MemeSample, name: str
) -> None:
    template = meme_sample.picture_bytes(name)
    image_id = upload(api_client, template)["image_id"]
    meme = api_client.post(
        "/api/meme",
        json={"image_id": image_id, "captions": ["hello world", "glitch zap"], "erase": "never"},
    )
    assert meme.status_code == 200, meme.text
    assert meme.headers["content-type"] == "image/png"
    meme_id = upload(api_client, meme.content)["image_id"]

    found = api_client.post("/api/ocr", json={"image_id": meme_id})
    assert found.status_code == 200, found.text
    text = " ".join(r["text"] for r in found.json()["regions"]).upper()
    assert "HELLO" in text and "GLITCH" in text
    assert all(len(r["box"]) == 4 for r in found.json()["regions"])

    erased = api_client.post("/api/erase-text", json={"image_id": meme_id, "mode": "always"})
    assert erased.status_code == 200
    erased_id = upload(api_client, erased.content)["image_id"]
    again = api_client.post("/api/ocr", json={"image_id": erased_id}).json()["regions"]
    assert not any("HELLO" in r["text"].upper() for r in again)
    # Erasing brings the picture back near the blank template where the captions were.
    blank = load_image(template).astype(int)
    restored = np.asarray(Image.open(io.BytesIO(erased.content)).convert("RGB")).astype(int)
    drawn = np.asarray(Image.open(io.BytesIO(meme.content)).convert("RGB")).astype(int)
    assert np.abs(restored - blank).mean() < np.abs(drawn - blank).mean() / 2


@pytest.mark.slow
@pytest.mark.parametrize("name", case_ids(list(GENERATED), ("ants", "kermit", "mordor")))
def test_erase_never_and_auto_on_a_blank_template(
    api_client: Any, meme_sample: MemeSample, name: str
) -> None:
    data = meme_sample.picture_bytes(name)
    image_id = upload(api_client, data)["image_id"]
    never = api_client.post("/api/erase-text", json={"image_id": image_id, "mode": "never"})
    original = load_image(data)
    np.testing.assert_array_equal(np.asarray(Image.open(io.BytesIO(never.content))), original)
    auto = api_client.post("/api/erase-text", json={"image_id": image_id})
    assert auto.status_code == 200, auto.text
    assert auto.headers["content-type"] == "image/png"
    # The template has no text, so `auto` must skip inpainting: the PNG decodes to the upload.
    np.testing.assert_array_equal(
        np.asarray(Image.open(io.BytesIO(auto.content)).convert("RGB")), original
    )


@pytest.mark.parametrize(
    ("route", "body", "code"),
    [
        ("/api/meme", {"captions": ["a"] * 11}, "invalid_parameters"),
        ("/api/meme", {"layout": "sideways"}, "invalid_parameters"),
        ("/api/meme", {"captions": ["a", "b", "c"]}, "invalid_parameters"),  # 2 boxes
        ("/api/meme", {"captions": ["x" * 10_000]}, "invalid_parameters"),
        ("/api/erase-text", {"mode": "sometimes"}, "invalid_parameters"),
        ("/api/ocr", {"extra": True}, "invalid_parameters"),
    ],
)
def test_parameter_errors(
    api_client: Any, api_astronaut_png: bytes, route: str, body: dict[str, Any], code: str
) -> None:
    image_id = upload(api_client, api_astronaut_png)["image_id"]
    response = api_client.post(route, json={"image_id": image_id, **body})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == code


def test_unknown_image(api_client: Any) -> None:
    for route in ("/api/meme", "/api/ocr", "/api/erase-text"):
        response = api_client.post(route, json={"image_id": "f" * 40})
        assert response.status_code == 404


def test_an_animated_upload_stays_animated(api_client: Any) -> None:
    source = panning(photo("chelsea", 240), 6)
    image_id = upload(api_client, encode_animation(source, "gif", quality=100), "pan.gif")
    body = {"image_id": image_id["image_id"], "captions": ["top", "bottom"], "erase": "never"}
    formats = {"gif": "image/gif", "webp": "image/webp", "apng": "image/png", "png": "image/png"}
    for fmt, media in formats.items():
        response = api_client.post("/api/meme", json={**body, "format": fmt})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == media
        meme = load_animation(response.content)
        assert (len(meme), meme.durations) == (len(source), source.durations), fmt
        top = region_changes(meme.frames, source.frames, slice(0, meme.shape[0] // 5))
        # The caption is on every frame (Titillium Web Black, memegen's default font, inks
        # ~9 of this band's 0-255 mean; Liberation Sans Bold inked ~12).
        assert min(top) > 5
    jpeg = api_client.post("/api/meme", json={**body, "format": "jpeg"})
    assert jpeg.status_code == 422 and "JPEG cannot hold an animation" in jpeg.json()["message"]
