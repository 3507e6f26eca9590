"""Hostile uploads through POST /api/images: every malformed or foreign file gets its exact 4xx.

glitchzap.io's own tests (test_io.py) check the decoder; these check what a client sees over
HTTP (status code + error code), that odd-but-valid files are accepted with the right size,
and that re-encoded output never carries what was appended or embedded in the upload.
"""

from __future__ import annotations

import functools
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from api_fixtures import upload
from glitchzap.errors import UnreadableImage
from glitchzap.io import encode_image, load_image
from imagebytes import pil_bytes, png_with

pytest_plugins = ["api_fixtures"]

PAYLOAD = b"<?php system($_GET['c']); ?>GLITCHZAP-PAYLOAD"


def photo(size: int = 48) -> np.ndarray:
    return np.ascontiguousarray(skdata.astronaut()[:size, :size])


def small_png() -> bytes:
    return encode_image(photo(), "png")


def small_jpeg() -> bytes:
    return encode_image(np.ascontiguousarray(skdata.chelsea()), "jpeg")


EOI = b"\xff\xd9"
# How the 512 x 512 astronaut is written: Pillow's defaults, and the layouts that change how
# libjpeg reaches the end of a scan (several scans; restart markers inside them).
JPEG_VARIANTS: dict[str, dict[str, Any]] = {
    "baseline": {},
    "baseline-restarts": {"restart_marker_rows": 1},
    "progressive": {"progressive": True},
    "progressive-restarts": {"progressive": True, "restart_marker_rows": 1},
}


@functools.cache
def astronaut_jpeg(
    variant: str = "baseline", mode: str = "RGB", grey_corner: bool = False
) -> bytes:
    """The astronaut as a real JPEG; `grey_corner` paints its bottom-right 64 x 64 the colour
    libjpeg gives blocks it has no data for: 128 (127 in CMYK, which JPEG stores inverted)."""
    img = Image.fromarray(np.ascontiguousarray(skdata.astronaut())).convert(mode)
    if grey_corner:
        grey = 127 if mode == "CMYK" else 128
        img.paste((grey,) * len(img.getbands()) if mode != "L" else grey, (448, 448, 512, 512))
    return pil_bytes(img, "JPEG", **JPEG_VARIANTS[variant])


def first_scan_data(data: bytes) -> tuple[int, int]:
    """Where the entropy-coded data of the first scan in `data` starts and ends."""
    sos = data.index(b"\xff\xda")
    start = sos + 2 + int.from_bytes(data[sos + 2 : sos + 4], "big")
    end = re.compile(rb"\xff[^\x00\xd0-\xd7]").search(data, start)
    assert end is not None
    return start, end.start()


def declare_height(data: bytes, height: int) -> bytes:
    """`data` with the height in its start-of-frame header set to `height`, data unchanged."""
    pos = 2
    while data[pos + 1] not in (0xC0, 0xC1, 0xC2):  # SOF0/1/2: baseline, extended, progressive
        pos += 2 + int.from_bytes(data[pos + 2 : pos + 4], "big")
    return data[: pos + 5] + height.to_bytes(2, "big") + data[pos + 7 :]


def cut_in_scan(data: bytes, keep: float = 0.5) -> bytes:
    """`data` cut inside its first scan's data (never just after an 0xFF), `keep` of it kept."""
    start, end = first_scan_data(data)
    cut = start + int((end - start) * keep)
    return data[: cut - 1] if data[cut - 1] == 0xFF else data[:cut]


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
    ("jpeg-declares-double-height", lambda: declare_height(astronaut_jpeg(), 1024), 400,
     "unreadable_image"),
    ("jpeg-cut-mid-scan", lambda: cut_in_scan(astronaut_jpeg()), 400, "unreadable_image"),
    ("jpeg-cut-mid-scan-eoi-restored", lambda: cut_in_scan(astronaut_jpeg()) + EOI, 400,
     "unreadable_image"),
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


# --- JPEGs whose data ends before their last row ---------------------------------------------
# libjpeg does not fail on these: it warns ("premature end of data segment") and fills every
# block it has no data for with mid-grey, so without a check they decode as the real rows plus
# invented ones.


@pytest.mark.parametrize("variant", list(JPEG_VARIANTS))
@pytest.mark.parametrize("height", [1024, 520])
def test_jpeg_declaring_more_rows_than_it_holds_is_refused(
    variant: str, height: int, tmp_path: Path
) -> None:
    data = declare_height(astronaut_jpeg(variant), height)
    # What libjpeg makes of it on its own: every declared row, those past the data grey.
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        assert img.size == (512, height)
        assert np.all(np.asarray(img)[-1, -64:] == 128)

    for source in (data, tmp_path / "upload.jpg"):
        if isinstance(source, Path):
            source.write_bytes(data)
        with pytest.raises(UnreadableImage, match=f"ends before the last of the {height} rows"):
            load_image(source)


@pytest.mark.parametrize("variant", ["baseline", "baseline-restarts"])
@pytest.mark.parametrize("keep", [0.5, 0.97])
@pytest.mark.parametrize("eoi", [False, True], ids=["cut", "eoi-restored"])
def test_jpeg_cut_inside_its_scan_is_refused(
    variant: str, keep: float, eoi: bool, tmp_path: Path
) -> None:
    data = cut_in_scan(astronaut_jpeg(variant), keep) + (EOI if eoi else b"")
    for source in (data, tmp_path / "upload.jpg"):
        if isinstance(source, Path):
            source.write_bytes(data)
        with pytest.raises(UnreadableImage, match="damaged or truncated"):
            load_image(source)


@pytest.mark.parametrize("variant", ["progressive", "progressive-restarts"])
def test_progressive_jpeg_cut_inside_its_first_scan_is_refused(variant: str) -> None:
    """A cut inside the DC scan leaves rows with no data at all, EOI or not."""
    cut = cut_in_scan(astronaut_jpeg(variant))
    for data in (cut, cut + EOI):
        with pytest.raises(UnreadableImage, match="damaged or truncated"):
            load_image(data)


@pytest.mark.parametrize("variant", ["baseline", "baseline-restarts"])
def test_jpeg_missing_only_its_eoi_marker_still_loads(variant: str, tmp_path: Path) -> None:
    data = astronaut_jpeg(variant)
    assert data.endswith(EOI)
    (tmp_path / "no-eoi.jpg").write_bytes(data[:-2])

    expected = load_image(data)
    np.testing.assert_array_equal(load_image(data[:-2]), expected)
    np.testing.assert_array_equal(load_image(tmp_path / "no-eoi.jpg"), expected)


@pytest.mark.parametrize("variant", list(JPEG_VARIANTS))
@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
def test_complete_jpeg_ending_in_mid_grey_is_accepted(variant: str, mode: str) -> None:
    """The colour of invented blocks is a real colour too: a whole file showing it loads."""
    data = astronaut_jpeg(variant, mode, grey_corner=True)
    with Image.open(io.BytesIO(data)) as img:
        corner = img.getpixel((511, 511))
        assert set(corner if isinstance(corner, tuple) else (corner,)) <= {127, 128}
        expected = np.asarray(img.convert("RGB"))

    np.testing.assert_array_equal(load_image(data), expected)


def test_upload_of_jpeg_with_invented_rows_says_what_is_wrong(api_client: Any) -> None:
    data = declare_height(astronaut_jpeg(), 1024)
    response = api_client.post("/api/images", files={"file": ("astronaut.jpg", data, "image/jpeg")})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "unreadable_image"
    assert "ends before the last of the 1024 rows" in body["message"]


def test_upload_of_jpeg_missing_only_its_eoi_is_accepted(api_client: Any) -> None:
    stored = upload(api_client, astronaut_jpeg()[:-2], "astronaut.jpg")
    assert (stored["width"], stored["height"]) == (512, 512)
