"""Hostile uploads through POST /api/images: every malformed or foreign file gets its exact 4xx.

glitchzap.io's own tests (test_io.py) check the decoder; these check what a client sees over
HTTP (status code + error code), that odd-but-valid files are accepted with the right size,
and that re-encoded output never carries what was appended or embedded in the upload.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from api_fixtures import upload
from glitchzap.io import encode_image
from imagebytes import pil_bytes, png_with

pytest_plugins = ["api_fixtures"]

PAYLOAD = b"<?php system($_GET['c']); ?>GLITCHZAP-PAYLOAD"


def photo(size: int = 48) -> np.ndarray:
    return np.ascontiguousarray(skdata.astronaut()[:size, :size])


def small_png() -> bytes:
    return encode_image(photo(), "png")


def small_jpeg() -> bytes:
    return encode_image(np.ascontiguousarray(skdata.chelsea()), "jpeg")


# (name, bytes factory, status, error code): what the upload route must answer.
REFUSED: list[tuple[str, Callable[[], bytes], int, str]] = [
    ("empty", lambda: b"", 400, "unreadable_image"),
    ("random", lambda: np.random.default_rng(8).bytes(4096), 400, "unreadable_image"),
    ("text", lambda: b"just some text, labelled image/png", 400, "unreadable_image"),
    ("html", lambda: b"<!doctype html><html><body>404 Not Found</body></html>", 400,
     "unreadable_image"),
    ("json", lambda: b'{"error": "not found"}', 400, "unreadable_image"),
    ("truncated-png", lambda: small_png()[: len(small_png()) // 2], 400, "unreadable_image"),
    ("truncated-jpeg", lambda: small_jpeg()[: len(small_jpeg()) // 2], 400, "unreadable_image"),
    ("jpeg-header-only", lambda: small_jpeg()[:200], 400, "unreadable_image"),
    ("png-signature-only", lambda: b"\x89PNG\r\n\x1a\n", 400, "unreadable_image"),
    ("png-bad-crc", lambda: small_png()[:29] + b"\x00\x00\x00\x00" + small_png()[33:], 400,
     "unreadable_image"),
    ("zero-width", lambda: png_with(0, 16), 400, "unreadable_image"),
    ("zero-height", lambda: png_with(16, 0), 400, "unreadable_image"),
    ("pdf", lambda: b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n", 415,
     "unsupported_format"),
    ("psd", lambda: b"8BPS\x00\x01" + b"\x00" * 6 + b"\x00\x03" + b"\x00" * 20, 415,
     "unsupported_format"),
    ("svg", lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><script>x</script></svg>', 415,
     "unsupported_format"),
    ("svg-with-xml-prolog", lambda: b'<?xml version="1.0"?>\n<svg width="1" height="1"/>', 415,
     "unsupported_format"),
    ("eps", lambda: b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n", 415,
     "unsupported_format"),
    ("ico", lambda: pil_bytes(Image.fromarray(photo(16)), "ICO"), 415, "unsupported_format"),
    ("jpeg2000", lambda: b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\x00" * 32, 415,
     "unsupported_format"),
    ("heic", lambda: b"\x00\x00\x00\x18ftypheic" + b"\x00" * 32, 415, "unsupported_format"),
    ("tga", lambda: pil_bytes(Image.fromarray(photo(16)), "TGA"), 415, "unsupported_format"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("factory", "status", "code"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
def test_refused_uploads(
    api_client: Any, factory: Callable[[], bytes], status: int, code: str
) -> None:
    response = api_client.post("/api/images", files={"file": ("x.png", factory(), "image/png")})
    assert (response.status_code, response.json()["error"]) == (status, code), response.text
    assert response.json()["message"]


def test_the_server_still_serves_after_every_refusal(api_client: Any) -> None:
    for _name, factory, _status, _code in REFUSED:
        api_client.post("/api/images", files={"file": ("x", factory(), "image/png")})
    assert api_client.get("/api/health").status_code == 200
    assert upload(api_client, small_png())["width"] == 48


def _mode_image(mode: str) -> tuple[bytes, str]:
    rgb = Image.fromarray(photo())
    if mode == "CMYK":
        return pil_bytes(rgb.convert("CMYK"), "JPEG"), "RGB"
    if mode == "I;16":
        gray16 = (np.asarray(rgb.convert("L"), np.uint16) * 257).astype(np.uint16)
        return pil_bytes(Image.fromarray(gray16), "PNG"), "RGB"
    if mode == "P+alpha":
        palette = rgb.convert("P")
        return pil_bytes(palette, "PNG", transparency=0), "RGBA"
    if mode == "1":
        return pil_bytes(rgb.convert("1"), "PNG"), "RGB"
    if mode == "LA":
        return pil_bytes(rgb.convert("LA"), "PNG"), "RGBA"
    if mode == "F-tiff":
        return pil_bytes(rgb.convert("F"), "TIFF"), "RGB"
    if mode == "progressive-jpeg":
        return pil_bytes(rgb, "JPEG", progressive=True, quality=85), "RGB"
    if mode == "bmp":
        return pil_bytes(rgb, "BMP"), "RGB"
    if mode == "webp":
        return pil_bytes(rgb, "WEBP"), "RGB"
    raise AssertionError(mode)


@pytest.mark.parametrize(
    "mode", ["CMYK", "I;16", "P+alpha", "1", "LA", "F-tiff", "progressive-jpeg", "bmp", "webp"]
)
def test_unusual_modes_are_accepted_and_render(api_client: Any, mode: str) -> None:
    data, expected_mode = _mode_image(mode)
    stored = upload(api_client, data)
    assert (stored["width"], stored["height"]) == (48, 48)
    out = api_client.post(
        "/api/render",
        json={"image_id": stored["image_id"], "quality": "full", "format": "png"},
    )
    assert out.status_code == 200, out.text
    rendered = Image.open(io.BytesIO(out.content))
    assert (rendered.size, rendered.mode) == ((48, 48), expected_mode)


@pytest.mark.parametrize("fmt", ["PNG", "JPEG"])
def test_bad_icc_profile_is_ignored_not_fatal(api_client: Any, fmt: str) -> None:
    data = pil_bytes(Image.fromarray(photo()), fmt, icc_profile=b"not an ICC profile" * 40)
    assert Image.open(io.BytesIO(data)).info["icc_profile"].startswith(b"not an ICC")
    stored = upload(api_client, data)
    out = api_client.post("/api/render", json={"image_id": stored["image_id"], "quality": "full"})
    assert out.status_code == 200
    assert b"not an ICC profile" not in out.content
    assert "icc_profile" not in Image.open(io.BytesIO(out.content)).info


@pytest.mark.parametrize("output", ["png", "jpeg", "webp"])
def test_appended_payload_never_reaches_the_output(api_client: Any, output: str) -> None:
    source = pil_bytes(
        Image.fromarray(photo()), "PNG", pnginfo=_text_info({"Comment": PAYLOAD.decode()})
    )
    stored = upload(api_client, source + PAYLOAD * 50)
    assert (stored["width"], stored["height"]) == (48, 48)
    for quality in ("full", "fast"):
        out = api_client.post(
            "/api/render",
            json={"image_id": stored["image_id"], "quality": quality, "format": output},
        )
        assert out.status_code == 200
        assert PAYLOAD not in out.content
        assert b"GLITCHZAP" not in out.content


def _text_info(items: dict[str, str]) -> Any:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    for key, value in items.items():
        info.add_text(key, value)
    return info


def test_same_pixels_in_another_container_are_another_image(api_client: Any) -> None:
    """The store keys by bytes: a payload-appended copy never aliases the clean original."""
    clean = upload(api_client, small_png())
    dirty = upload(api_client, small_png() + PAYLOAD)
    assert clean["image_id"] != dirty["image_id"]
    assert (clean["width"], clean["height"]) == (dirty["width"], dirty["height"])
