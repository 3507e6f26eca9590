"""Animations: frame floods and frames outside the canvas, through POST /api/images.

Every frame of an accepted animation is decoded and rendered. Before any pixel is decoded,
the frames are counted from the container (GIF blocks, APNG acTL, WebP ANIM) against
`limits.max_frames`, frames x width x height against `limits.max_animation_pixels`, and
every GIF frame's place against the canvas, so a flood or a frame far outside the canvas is
413 at the door. test_io.py covers the GIF block walker itself.
"""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import numpy as np
import pytest
from PIL import Image

from api_fixtures import make_client, upload
from glitchzap.runtime import configure, restart

pytest_plugins = ["api_fixtures"]


def gif(count: int, size: tuple[int, int] = (16, 16)) -> bytes:
    """An animated GIF of `count` frames alternating black and white (never merged)."""
    frames = [Image.new("P", size, i % 2) for i in range(count)]
    for frame in frames:
        frame.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    buffer = io.BytesIO()
    frames[0].save(
        buffer, "GIF", save_all=True, append_images=frames[1:], duration=10, optimize=False
    )
    return buffer.getvalue()


def descriptors(data: bytes, size: tuple[int, int] = (16, 16)) -> list[int]:
    """Offsets of the image descriptors whose frame size is `size`."""
    tail = struct.pack("<HH", *size)
    return [i for i in range(len(data) - 9) if data[i] == 0x2C and data[i + 5 : i + 9] == tail]


def post(client: Any, data: bytes) -> tuple[int, str | None]:
    response = client.post("/api/images", files={"file": ("a.gif", data, "image/gif")})
    return response.status_code, response.json().get("error")


def test_1001_frame_gif_is_413_with_the_default_limit(api_client: Any) -> None:
    assert post(api_client, gif(1001, (2, 2))) == (413, "image_too_large")


def test_1000_frame_gif_is_accepted_and_every_frame_rendered(api_client: Any) -> None:
    # Frame 0 is red, black / white, red; the 999 after it alternate plain white and black.
    frames = [Image.new("P", (2, 2), 1 + (i % 2)) for i in range(1000)]
    frames[0].putdata([0, 1, 2, 0])
    for frame in frames:
        frame.putpalette([255, 0, 0, 0, 0, 0, 255, 255, 255] + [0] * 759)
    buffer = io.BytesIO()
    frames[0].save(
        buffer, "GIF", save_all=True, append_images=frames[1:], duration=10, optimize=False
    )
    data = buffer.getvalue()
    with Image.open(io.BytesIO(data)) as reference:
        assert reference.n_frames == 1000
        decoded_by_pillow = []
        for index in range(1000):
            reference.seek(index)
            decoded_by_pillow.append(np.asarray(reference.convert("RGB")))
    np.testing.assert_array_equal(
        decoded_by_pillow[0], [[[255, 0, 0], [0, 0, 0]], [[255, 255, 255], [255, 0, 0]]]
    )

    stored = upload(api_client, data)
    assert (stored["width"], stored["height"], stored["frames"]) == (2, 2, 1000)
    assert stored["animated"] and stored["duration_ms"] == 10_000
    out = api_client.post(
        "/api/render", json={"image_id": stored["image_id"], "quality": "full", "format": "apng"}
    )
    assert out.status_code == 200, out.text
    assert out.headers["content-type"] == "image/png"
    with Image.open(io.BytesIO(out.content)) as rendered:
        assert rendered.n_frames == 1000
        for index, expected in enumerate(decoded_by_pillow):
            rendered.seek(index)
            np.testing.assert_array_equal(np.asarray(rendered.convert("RGB")), expected)
            assert rendered.info["duration"] == 10


def test_100k_frame_gif_is_refused_after_counting_past_the_cap(api_client: Any) -> None:
    one = gif(2, (2, 2))
    first, second = descriptors(one, (2, 2))[:2]
    block = one[first - 8 : second - 8]  # graphic control extension + frame 1 (27 bytes)
    assert block.startswith(b"\x21\xf9")
    flood = one[: len(one) - 1] + block * 100_000 + b"\x3b"  # ~2.7 MB, 100,002 frames
    assert post(api_client, flood) == (413, "image_too_large")


@pytest.fixture
def few_frames_client(tmp_path: Any) -> Any:
    settings = configure(None, data_dir=tmp_path, limits={"max_frames": 5}).settings
    restart()
    with make_client(settings) as client:
        yield client
    restart()


def test_apng_and_webp_frame_counts_come_from_the_header(few_frames_client: Any) -> None:
    frames = [Image.new("RGB", (8, 8), (40 * i, 255 - 40 * i, 0)) for i in range(6)]
    for fmt, extra in (("PNG", {}), ("WEBP", {"lossless": True})):
        buffer = io.BytesIO()
        frames[0].save(buffer, fmt, save_all=True, append_images=frames[1:], **extra)
        assert post(few_frames_client, buffer.getvalue()) == (413, "image_too_large"), fmt
        buffer = io.BytesIO()
        frames[0].save(buffer, fmt, save_all=True, append_images=frames[1:5], **extra)
        assert upload(few_frames_client, buffer.getvalue())["width"] == 8, fmt


def test_apng_claiming_two_billion_frames(api_client: Any) -> None:
    buffer = io.BytesIO()
    frames = [Image.new("RGB", (8, 8)), Image.new("RGB", (8, 8), (255, 0, 0))]
    frames[0].save(buffer, "PNG", save_all=True, append_images=frames[1:])
    data = bytearray(buffer.getvalue())
    actl = data.find(b"acTL")
    data[actl + 4 : actl + 8] = struct.pack(">I", 2**31 - 1)
    crc = zlib.crc32(bytes(data[actl : actl + 12])) & 0xFFFFFFFF
    data[actl + 12 : actl + 16] = struct.pack(">I", crc)
    assert post(api_client, bytes(data)) == (413, "image_too_large")


# --- frames outside the canvas ----------------------------------------------------------------


def test_first_frame_far_outside_the_canvas_is_413(api_client: Any) -> None:
    # Pillow grows the canvas to hold frame 0: at (60000, 60000) that is 3.6 GP, over the cap.
    data = bytearray(gif(3))
    first = descriptors(bytes(data))[0]
    data[first + 1 : first + 5] = struct.pack("<HH", 60_000, 60_000)
    assert post(api_client, bytes(data)) == (413, "image_too_large")


def test_first_frame_larger_than_the_canvas_is_413(api_client: Any) -> None:
    data = bytearray(gif(3))
    first = descriptors(bytes(data))[0]
    data[first + 5 : first + 9] = struct.pack("<HH", 30_000, 30_000)
    assert post(api_client, bytes(data)) == (413, "image_too_large")


def test_first_frame_partly_outside_the_canvas_grows_it(api_client: Any) -> None:
    data = bytearray(gif(3))
    first = descriptors(bytes(data))[0]
    data[first + 1 : first + 5] = struct.pack("<HH", 10, 10)
    stored = upload(api_client, bytes(data))
    assert (stored["width"], stored["height"]) == (26, 26)


def test_later_frames_outside_the_canvas_are_413_before_decoding(
    api_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glitchzap import io as glitchzap_io

    decoded: list[int] = []
    real_decode = glitchzap_io.decode_frames

    def counting_decode(*args: Any, **kwargs: Any) -> Any:
        for frame in real_decode(*args, **kwargs):
            decoded.append(1)
            yield frame

    monkeypatch.setattr("glitchzap.api.store.decode_frames", counting_decode)
    for offset, size in (((60_000, 60_000), (16, 16)), ((0, 0), (65_535, 65_535))):
        data = bytearray(gif(3))
        later = descriptors(bytes(data))[1]
        data[later + 1 : later + 5] = struct.pack("<HH", *offset)
        data[later + 5 : later + 9] = struct.pack("<HH", *size)
        response = api_client.post("/api/images", files={"file": ("a.gif", bytes(data))})
        assert (response.status_code, response.json()["error"]) == (413, "image_too_large")
        assert "outside its 16x16 canvas" in response.json()["message"]
    assert decoded == []  # refused from the block walk: not one frame was decoded
    assert upload(api_client, gif(3))["frames"] == 3
    assert len(decoded) == 3  # the same file inside its canvas: every frame decoded


def test_a_frame_partly_outside_the_canvas_is_clipped_and_every_frame_rendered(
    api_client: Any,
) -> None:
    data = bytearray(gif(3))
    later = descriptors(bytes(data))[1]
    data[later + 1 : later + 5] = struct.pack("<HH", 8, 8)  # frame 1 (white) reaches 24x24
    stored = upload(api_client, bytes(data))
    assert (stored["width"], stored["height"], stored["frames"]) == (16, 16, 3)
    out = api_client.post(
        "/api/render", json={"image_id": stored["image_id"], "quality": "full", "format": "apng"}
    )
    assert out.status_code == 200, out.text
    shown = []
    with Image.open(io.BytesIO(out.content)) as rendered:
        assert rendered.n_frames == 3
        for index in range(3):
            rendered.seek(index)
            shown.append(np.asarray(rendered.convert("RGB")))
    assert all(frame.shape == (16, 16, 3) for frame in shown)  # clipped to the canvas, as shown
    assert (shown[0] == 0).all()  # frame 0 is black
    assert (shown[1][8:, 8:] == 255).all() and (shown[1][:8] == 0).all()  # white from (8, 8)
    assert (shown[2] == 0).all()  # frame 2 is black again
