"""The other image doors of the API on animations: POST /api/remove-background and
/api/erase-text work on every frame and answer animated; POST /api/ocr reads the sampled
frames and says which of them each text was read on.

Inputs are scikit-image photos panned into animations (a caption burnt into some frames),
written as GIFs; answers are read back frame by frame.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from animated_photos import animation_bytes, panned_frames, read_frames
from api_fixtures import make_client, upload
from glitchzap.animation import Animation
from glitchzap.io import encode_animation, encode_image, load_animation
from glitchzap.meme.frames import sample_indices
from glitchzap.runtime import configure, current, restart
from glitchzap.settings import load_settings
from meme_animations import captioned_on, panning, photo, region_changes

pytest_plugins = ["api_fixtures"]

BURNT = range(5)  # the frames of the 10 that show the old caption
TOP = slice(0, 60)  # rows the top caption covers on a 320 px wide photo


def burnt_animation() -> tuple[Animation, bytes]:
    """(the clean 10-frame chelsea pan, a GIF of it with a caption on the first 5 frames)."""
    clean = panning(photo("chelsea", 320), 10)
    burnt = captioned_on(clean, BURNT, "burnt caption", current())
    return clean, encode_animation(burnt, "gif", quality=100)


def astronaut_gif() -> bytes:
    """A 3-frame astronaut pan, 160 px, as a GIF written by Pillow (no text in it)."""
    frames = panned_frames(3, (160, 160), name="astronaut")
    return animation_bytes(frames, "GIF", [60, 80, 100], loop=0)


# --- remove-background ---------------------------------------------------------------------------


@pytest.fixture
def model_client(tmp_path: Path) -> Iterator[Any]:
    models_dir = current().settings.models_dir
    if not (models_dir / "u2netp.onnx").is_file():
        pytest.skip(f"u2netp.onnx not in {models_dir}: run make install")
    with make_client(load_settings(None, data_dir=tmp_path, models={"dir": models_dir})) as api:
        yield api


def cut_out(client: Any, **body: Any) -> Any:
    response = client.post("/api/remove-background", json=body)
    assert response.status_code == 200, response.text
    return response


@pytest.mark.slow
def test_remove_background_cuts_out_every_frame_and_stays_animated(model_client: Any) -> None:
    data = astronaut_gif()
    shown = load_animation(data)
    image_id = upload(model_client, data, "pan.gif")["image_id"]

    apng = cut_out(model_client, image_id=image_id)  # png: APNG for an animation
    assert apng.headers["content-type"] == "image/png"
    frames, durations, loop = read_frames(apng.content)
    assert (len(frames), durations, loop) == (3, [60, 80, 100], 0)
    for index, (frame, source) in enumerate(zip(frames, shown.frames, strict=True)):
        alpha = frame[..., 3]
        assert (alpha == 0).mean() > 0.1 and (alpha == 255).mean() > 0.1, index
        # Each frame is exactly the cut-out of that frame sent alone as a still.
        still = model_client.post(
            "/api/remove-background", files={"file": ("f.png", encode_image(source, "png"))}
        )
        np.testing.assert_array_equal(frame, np.asarray(Image.open(io.BytesIO(still.content))))
    assert cut_out(model_client, image_id=image_id).headers["x-cache"] == "hit"

    masks = read_frames(cut_out(model_client, image_id=image_id, only_mask=True).content)[0]
    for mask, frame in zip(masks, frames, strict=True):
        np.testing.assert_array_equal(mask[..., 0], frame[..., 3])  # grey: the alpha

    for fmt, media_type in (("gif", "image/gif"), ("webp", "image/webp")):
        response = cut_out(model_client, image_id=image_id, format=fmt)
        assert response.headers["content-type"] == media_type
        frames, durations, _ = read_frames(response.content)
        assert (len(frames), durations) == (3, [60, 80, 100]), fmt
        for index, frame in enumerate(frames):
            alpha = frame[..., 3]
            assert (alpha == 0).mean() > 0.1 and (alpha == 255).mean() > 0.1, (fmt, index)


@pytest.mark.parametrize("route", ["/api/remove-background", "/api/erase-text"])
def test_an_animation_asked_as_jpeg_is_422(api_client: Any, route: str) -> None:
    image_id = upload(api_client, astronaut_gif(), "pan.gif")["image_id"]
    response = api_client.post(route, json={"image_id": image_id, "format": "jpeg"})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_parameters"
    assert "JPEG cannot hold an animation" in response.json()["message"]


def test_erase_text_never_answers_every_frame_and_a_still_as_before(api_client: Any) -> None:
    data = astronaut_gif()
    shown = load_animation(data)  # the frames as uploaded
    image_id = upload(api_client, data, "pan.gif")["image_id"]
    for fmt, media_type in (("png", "image/png"), ("apng", "image/png"), ("gif", "image/gif")):
        response = api_client.post(
            "/api/erase-text", json={"image_id": image_id, "mode": "never", "format": fmt}
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == media_type
        out = load_animation(response.content)
        assert (len(out), out.durations) == (3, (60, 80, 100)), fmt
        if fmt != "gif":  # APNG is lossless: the frames come back as uploaded
            for frame, source in zip(out.frames, shown.frames, strict=True):
                np.testing.assert_array_equal(frame, source)
    still_id = upload(api_client, encode_image(shown.frames[0], "png"))["image_id"]
    still = api_client.post(
        "/api/erase-text", json={"image_id": still_id, "mode": "never", "format": "jpeg"}
    )
    assert still.status_code == 200 and still.headers["content-type"] == "image/jpeg"


@pytest.fixture
def small_memory_client(tmp_path: Path) -> Iterator[Any]:
    settings = configure(None, data_dir=tmp_path, limits={"max_request_memory_bytes": 4_000_000})
    restart()
    with make_client(settings.settings) as client:
        yield client
    restart()


def test_animated_work_is_admitted_by_all_its_frames(small_memory_client: Any) -> None:
    client = small_memory_client
    clean = panning(photo("chelsea", 320), 10)  # 10 x 320 x 213 x 3: 2 MB a copy
    image_id = upload(client, encode_animation(clean, "gif", quality=100))["image_id"]
    bodies = {"/api/remove-background": {}, "/api/erase-text": {"mode": "never"}}
    for route, body in bodies.items():
        response = client.post(route, json={"image_id": image_id, **body})
        assert response.status_code == 413, response.text
        assert "10-frame" in response.json()["message"]
        assert "limits.max_request_memory_bytes" in response.json()["message"]
    still_id = upload(client, encode_image(clean.frames[0], "png"))["image_id"]
    still = client.post("/api/erase-text", json={"image_id": still_id, "mode": "never"})
    assert still.status_code == 200, still.text


# --- erase-text and ocr with the real OCR model --------------------------------------------------


@pytest.mark.slow
def test_erase_text_erases_only_the_frames_that_show_text(api_client: Any) -> None:
    clean, data = burnt_animation()
    shown = load_animation(data)  # the frames as uploaded
    image_id = upload(api_client, data, "burnt.gif")["image_id"]
    response = api_client.post("/api/erase-text", json={"image_id": image_id})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    erased = load_animation(response.content)
    assert (len(erased), erased.durations, erased.loop) == (10, clean.durations, clean.loop)
    before = region_changes(shown.frames, clean.frames, TOP)
    after = region_changes(erased.frames, clean.frames, TOP)
    for index in range(10):
        if index in BURNT:  # the caption is gone: the band is back near the clean photo
            assert after[index] < before[index] / 2, (index, before, after)
        else:  # no caption there: the frame is untouched
            np.testing.assert_array_equal(erased.frames[index], shown.frames[index])
    gif = api_client.post("/api/erase-text", json={"image_id": image_id, "format": "gif"})
    assert gif.headers["content-type"] == "image/gif"
    assert load_animation(gif.content).durations == clean.durations


@pytest.mark.slow
def test_ocr_of_an_animation_names_the_frames_each_text_was_read_on(api_client: Any) -> None:
    _clean, data = burnt_animation()
    image_id = upload(api_client, data, "burnt.gif")["image_id"]
    response = api_client.post("/api/ocr", json={"image_id": image_id})
    assert response.status_code == 200, response.text
    found = response.json()
    sampled = sample_indices(10)
    assert found["frame_count"] == 10 and found["sampled_frames"] == sampled
    (region,) = found["regions"]
    assert region["text"].replace(" ", "").upper() == "BURNTCAPTION"
    assert region["frames"] == [i for i in sampled if i in BURNT]
    assert len(region["box"]) == 4 and 0 < region["score"] <= 1

    # A still keeps its answer as it was: no frame fields.
    still_id = upload(api_client, encode_image(load_animation(data).frames[0], "png"))["image_id"]
    still = api_client.post("/api/ocr", json={"image_id": still_id}).json()
    assert set(still) == {"regions", "elapsed_ms", "cached"}
    assert [set(r) for r in still["regions"]] == [{"box", "text", "score"}]
    assert still["regions"][0]["text"] == region["text"]
