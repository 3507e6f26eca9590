"""glitchzap.io: decoding hostile and unusual files, encoding without metadata."""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import textwrap
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from glitchzap.errors import ImageTooLarge, InvalidParameters, UnreadableImage, UnsupportedFormat
from glitchzap.io import encode_image, format_for_path, image_size, load_image, save_image
from glitchzap.settings import LimitsSettings
from imagebytes import pil_bytes, png_chunk


def png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG whose IHDR claims width x height RGB but carries one tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + png_chunk(b"IEND", b"")
    )


def gif_frames(count: int, size: tuple[int, int] = (24, 16)) -> bytes:
    frames = [
        Image.fromarray(np.full((size[1], size[0], 3), (40 * i) % 256, np.uint8))
        for i in range(count)
    ]
    return pil_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50)


# --- EXIF orientation -----------------------------------------------------------------------

# What a viewer must do to the stored pixels for each EXIF orientation (EXIF 2.32, tag 0x0112).
ORIENTATION_TRANSFORMS = {
    1: lambda a: a,
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.transpose(1, 0, 2),
    6: lambda a: np.rot90(a, k=-1),
    7: lambda a: a[::-1, ::-1].transpose(1, 0, 2),
    8: lambda a: np.rot90(a, k=1),
}


@pytest.mark.parametrize("orientation", sorted(ORIENTATION_TRANSFORMS))
def test_exif_orientation_is_applied(orientation: int, small_rgb: np.ndarray) -> None:
    img = Image.fromarray(small_rgb)  # 64 x 96: not square, so a missing rotation changes shape
    upright = load_image(pil_bytes(img, "JPEG", quality=95))
    exif = Image.Exif()
    exif[0x0112] = orientation
    tagged = pil_bytes(img, "JPEG", quality=95, exif=exif.tobytes())

    decoded = load_image(tagged)

    # Same encoder, same pixels: the decoded JPEG data is identical, only the tag differs.
    expected = ORIENTATION_TRANSFORMS[orientation](upright)
    assert decoded.shape == expected.shape
    np.testing.assert_array_equal(decoded, expected)


# --- modes and bit depths -------------------------------------------------------------------


def test_cmyk_jpeg_becomes_rgb() -> None:
    # Pure cyan, magenta, yellow and black side by side, stored as CMYK.
    cmyk = np.zeros((32, 128, 4), np.uint8)
    for i in range(4):
        cmyk[:, 32 * i : 32 * (i + 1), i] = 255
    data = pil_bytes(Image.fromarray(cmyk, "CMYK"), "JPEG", quality=95)
    assert Image.open(io.BytesIO(data)).mode == "CMYK"

    decoded = load_image(data)

    assert decoded.shape == (32, 128, 3) and decoded.dtype == np.uint8
    centres = [decoded[16, 32 * i + 16].astype(int) for i in range(4)]
    expected = [(0, 255, 255), (255, 0, 255), (255, 255, 0), (0, 0, 0)]
    for got, want in zip(centres, expected, strict=True):
        assert np.abs(got - want).max() <= 12, (got, want)


def test_16_bit_grayscale_png_is_scaled_to_8_bits() -> None:
    ramp = np.linspace(0, 65535, 64 * 64).round().astype(np.uint16).reshape(64, 64)
    data = pil_bytes(Image.fromarray(ramp), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I;16")

    decoded = load_image(data)

    assert decoded.shape == (64, 64, 3) and decoded.dtype == np.uint8
    expected = np.round(ramp / 257.0)
    assert np.abs(decoded[..., 0].astype(int) - expected).max() <= 1
    assert (decoded[..., 0] == decoded[..., 2]).all()


def test_16_bit_rgb_png_keeps_the_high_byte() -> None:
    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 65536, size=(20, 30, 3), dtype=np.uint16)
    ok, encoded = cv2.imencode(".png", pixels[..., ::-1])  # Pillow cannot write 16-bit RGB
    assert ok

    decoded = load_image(encoded.tobytes())

    assert decoded.shape == (20, 30, 3) and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - pixels / 257.0).max() <= 1.0


def test_palette_png_with_transparency_gains_alpha() -> None:
    palette_img = Image.new("P", (10, 6))
    palette_img.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette_img.paste(1, (0, 0, 4, 6))  # left 4 columns blue, the rest red (index 0)
    data = pil_bytes(palette_img, "PNG", transparency=0)  # index 0 (red) is transparent

    decoded = load_image(data)

    assert decoded.shape == (6, 10, 4)
    assert (decoded[:, :4] == (0, 0, 255, 255)).all()
    assert (decoded[:, 4:, 3] == 0).all()


def test_la_image_becomes_rgba() -> None:
    gray = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (8, 1))
    alpha = np.zeros_like(gray)
    alpha[:, ::2] = 200
    data = pil_bytes(Image.fromarray(np.dstack([gray, alpha]), "LA"), "PNG")

    decoded = load_image(data)

    assert decoded.shape == (8, 25, 4)
    np.testing.assert_array_equal(decoded[..., 0], gray)
    np.testing.assert_array_equal(decoded[..., 2], gray)
    np.testing.assert_array_equal(decoded[..., 3], alpha)


def test_1_bit_image_becomes_black_and_white_rgb() -> None:
    bits = np.zeros((12, 16), bool)
    bits[3:9, 4:12] = True
    data = pil_bytes(Image.fromarray(bits), "PNG")
    assert Image.open(io.BytesIO(data)).mode == "1"

    decoded = load_image(data)

    assert decoded.shape == (12, 16, 3)
    np.testing.assert_array_equal(decoded[..., 1], np.where(bits, 255, 0))


def test_rgb_png_with_transparent_colour_gains_alpha() -> None:
    pixels = np.zeros((4, 6, 3), np.uint8)
    pixels[:, 3:] = (10, 20, 30)
    data = pil_bytes(Image.fromarray(pixels), "PNG", transparency=(10, 20, 30))

    decoded = load_image(data)

    assert decoded.shape == (4, 6, 4)
    assert (decoded[:, 3:, 3] == 0).all() and (decoded[:, :3, 3] == 255).all()


# --- damaged, hostile and foreign input -----------------------------------------------------


@pytest.mark.parametrize("fmt", ["JPEG", "PNG"])
@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_file_is_unreadable(fmt: str, keep: float, astronaut: np.ndarray) -> None:
    data = pil_bytes(Image.fromarray(astronaut), fmt)
    with pytest.raises(UnreadableImage):
        load_image(data[: int(len(data) * keep)])


def test_truncated_animated_gif() -> None:
    data = gif_frames(3, size=(64, 64))
    frame_1 = data.index(b"\x2c\x00\x00\x00\x00\x40\x00\x40\x00", 40)  # its image descriptor
    # Cut inside the first frame: nothing to show.
    with pytest.raises(UnreadableImage, match="GIF file is damaged or truncated"):
        load_image(data[:40])
    # Cut inside the second frame: the first frame, the only one decoded, is intact.
    first = load_image(data[: frame_1 + 12])
    np.testing.assert_array_equal(first, load_image(data))


def test_random_bytes_are_unreadable(rng: np.random.Generator) -> None:
    with pytest.raises(UnreadableImage, match="not an image"):
        load_image(rng.bytes(4096))


def test_empty_bytes_are_unreadable() -> None:
    with pytest.raises(UnreadableImage, match="empty"):
        load_image(b"")


@pytest.mark.parametrize(
    ("data", "name"),
    [
        (pil_bytes(Image.new("RGB", (16, 16), "red"), "ICO"), "ICO"),
        (pil_bytes(Image.new("RGB", (16, 16), "red"), "PDF"), "PDF"),
        (b"8BPS\x00\x01" + bytes(20), "PSD"),
        (b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
        (bytes(4) + b"ftypheic" + bytes(16), "HEIC"),
        (pil_bytes(Image.new("RGB", (16, 16), "red"), "TGA"), None),
    ],
)
def test_formats_outside_the_allowlist_are_refused(data: bytes, name: str | None) -> None:
    # TGA has no signature: Pillow still names it, but it is not on our list either way.
    with pytest.raises((UnsupportedFormat, UnreadableImage)) as info:
        load_image(data)
    if name is not None:
        assert info.type is UnsupportedFormat
        assert name in str(info.value)
        assert "PNG" in str(info.value)  # the message lists what to use instead


def test_header_over_the_pixel_cap_is_rejected_before_decoding() -> None:
    with pytest.raises(ImageTooLarge, match="100000x100000"):
        load_image(png_claiming(100_000, 100_000))
    assert image_size(png_claiming(100_000, 100_000)) == (100_000, 100_000)


DECODE_UNDER_RLIMIT = textwrap.dedent(
    """
    import resource, sys
    from glitchzap.errors import ImageTooLarge
    from glitchzap.io import load_image
    from glitchzap.settings import LimitsSettings

    data = open(sys.argv[1], "rb").read()
    with open("/proc/self/status") as status:
        vm = next(int(line.split()[1]) for line in status if line.startswith("VmSize:")) * 1024
    resource.setrlimit(resource.RLIMIT_AS, (vm + 512 * 2**20, resource.RLIM_INFINITY))
    try:
        load_image(data, limits=LimitsSettings(max_pixels=int(sys.argv[2])))
    except ImageTooLarge as exc:
        print(exc)
    else:
        print("decoded")
    """
)


def _decode_in_subprocess(path: Path, max_pixels: int) -> str:
    result = subprocess.run(
        [sys.executable, "-c", DECODE_UNDER_RLIMIT, str(path), str(max_pixels)],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_pixel_cap_holds_with_address_space_limited(tmp_path: Path) -> None:
    path = tmp_path / "claims-10-gigapixels.png"
    path.write_bytes(png_claiming(100_000, 100_000))  # 30 GB of RGB if it were ever allocated
    # With 512 MB of address space to spare, the header check answers with the cap...
    assert "the limit is 50.0 MP" in _decode_in_subprocess(path, 50_000_000)
    # ...while a cap raised past the header's claim reaches the allocation, which fails:
    # proof that the address-space limit is in force and the first run allocated nothing.
    control = _decode_in_subprocess(path, 10**11)
    assert "needs more memory" in control


def test_animated_gif_over_max_frames_is_rejected() -> None:
    with pytest.raises(ImageTooLarge, match="frames"):
        load_image(gif_frames(6), limits=LimitsSettings(max_frames=5))


def test_animated_gif_within_max_frames_gives_the_first_frame() -> None:
    decoded = load_image(gif_frames(5), limits=LimitsSettings(max_frames=5))
    assert decoded.shape[:2] == (16, 24)
    assert (decoded[..., :3] == 0).all()  # frame 0 is black; later frames are lighter


def test_gif_frame_header_claiming_a_huge_size_is_refused_before_decoding() -> None:
    # Frame 1 claims 30000 x 30000: Pillow would grow the canvas to hold it when decoding
    # the frames. The block walk sees the extent first, so nothing that size is allocated.
    data = bytearray(gif_frames(3, size=(8, 8)))
    descriptors = [
        i
        for i in range(len(data) - 9)
        if data[i] == 0x2C and data[i + 5 : i + 9] == b"\x08\x00\x08\x00"
    ]
    second = descriptors[1]
    data[second + 5 : second + 9] = struct.pack("<HH", 30000, 30000)

    with pytest.raises(ImageTooLarge, match="outside its 8x8 canvas"):
        load_image(bytes(data), limits=LimitsSettings(max_pixels=1000))


def test_bytes_over_max_bytes_are_rejected(tmp_path: Path, small_rgb: np.ndarray) -> None:
    data = encode_image(small_rgb, "png")
    limits = LimitsSettings(max_bytes=len(data) - 1)
    with pytest.raises(ImageTooLarge, match="MB"):
        load_image(data, limits=limits)
    path = tmp_path / "big.png"
    path.write_bytes(data)
    with pytest.raises(ImageTooLarge):
        load_image(path, limits=limits)
    assert load_image(data, limits=LimitsSettings(max_bytes=len(data))).shape == (64, 96, 3)


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="needs /dev/zero")
def test_endless_file_is_capped_while_reading() -> None:
    # stat() says 0 bytes; only the bounded read stops it.
    with pytest.raises(ImageTooLarge):
        load_image("/dev/zero", limits=LimitsSettings(max_bytes=1_000_000))


def test_missing_file_and_directory_are_unreadable(tmp_path: Path) -> None:
    with pytest.raises(UnreadableImage, match="No such file"):
        load_image(tmp_path / "nope.png")
    with pytest.raises(UnreadableImage, match="directory"):
        load_image(tmp_path)


# --- encoding -------------------------------------------------------------------------------


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(float) - b.astype(float)) ** 2))
    return 99.0 if mse == 0 else 10 * np.log10(255.0**2 / mse)


@pytest.mark.parametrize(("fmt", "min_psnr"), [("png", 99.0), ("jpeg", 30.0), ("webp", 30.0)])
def test_encode_round_trip(fmt: str, min_psnr: float, astronaut: np.ndarray) -> None:
    decoded = load_image(encode_image(astronaut, fmt, quality=90))
    assert decoded.shape == astronaut.shape
    assert _psnr(decoded, astronaut) >= min_psnr


def test_webp_and_png_keep_alpha(small_rgba: np.ndarray) -> None:
    for fmt in ("png", "webp"):
        decoded = load_image(encode_image(small_rgba, fmt))
        assert decoded.shape == small_rgba.shape
        np.testing.assert_array_equal(decoded[..., 3], small_rgba[..., 3])


def _photo_with_metadata(astronaut: np.ndarray) -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SecretCameraMaker"
    exif[0x0131] = "SecretSoftware"
    gps = exif.get_ifd(0x8825)
    gps[1] = "N"
    gps[2] = (51.0, 30.0, 12.5)
    return pil_bytes(Image.fromarray(astronaut), "JPEG", exif=exif.tobytes(), comment=b"SecretNote")


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_encode_strips_exif_and_gps(fmt: str, astronaut: np.ndarray) -> None:
    source = _photo_with_metadata(astronaut)
    assert b"SecretCameraMaker" in source and Image.open(io.BytesIO(source)).getexif()

    out = encode_image(load_image(source), fmt)

    assert b"Secret" not in out and b"Exif" not in out
    reopened = Image.open(io.BytesIO(out))
    assert not reopened.getexif()
    assert "exif" not in reopened.info and "comment" not in reopened.info


@pytest.mark.parametrize("fmt", ["png", "jpeg", "webp"])
def test_encode_drops_png_text_and_trailing_payload(fmt: str, small_rgb: np.ndarray) -> None:
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "SecretText")
    text.add_itxt("Author", "SecretAuthor")
    source = pil_bytes(Image.fromarray(small_rgb), "PNG", pnginfo=text) + b"SecretPayloadAppended"
    assert source.find(b"IEND") < source.find(b"SecretPayload")

    decoded = load_image(source)
    out = encode_image(decoded, fmt)

    np.testing.assert_array_equal(decoded, small_rgb)
    assert b"Secret" not in out
    assert not {"Comment", "Author"} & set(Image.open(io.BytesIO(out)).info)


def test_jpeg_of_rgba_flattens_onto_white(small_rgba: np.ndarray) -> None:
    decoded = load_image(encode_image(small_rgba, "jpeg", quality=95))

    assert decoded.shape == (64, 96, 3)
    assert decoded[:, :18].min() >= 245  # fully transparent columns are the white background
    # The same composite done by hand, through the same JPEG encoder, decodes to nearly the same.
    alpha = small_rgba[..., 3:].astype(float) / 255
    by_hand = np.round(small_rgba[..., :3] * alpha + 255 * (1 - alpha)).astype(np.uint8)
    expected = load_image(encode_image(by_hand, "jpeg", quality=95))
    assert np.abs(decoded.astype(float) - expected).mean() < 1.0


def test_encode_rejects_what_it_cannot_write(small_rgb: np.ndarray) -> None:
    with pytest.raises(InvalidParameters, match="format"):
        encode_image(small_rgb, "tiff")
    with pytest.raises(InvalidParameters, match="uint8"):
        encode_image(small_rgb.astype(np.float32), "png")
    with pytest.raises(InvalidParameters, match="quality"):
        encode_image(small_rgb, "jpeg", quality=0)
    with pytest.raises(InvalidParameters):
        encode_image(np.zeros((4, 4, 5), np.uint8), "png")


def test_encode_accepts_gray_and_single_channel(small_rgb: np.ndarray) -> None:
    gray = small_rgb[..., 0]
    for array in (gray, gray[..., None]):
        decoded = load_image(encode_image(array, "png"))
        np.testing.assert_array_equal(decoded[..., 1], gray)


def test_save_image_picks_format_from_suffix(tmp_path: Path, small_rgb: np.ndarray) -> None:
    for name, magic in (("a.png", b"\x89PNG"), ("b.JPG", b"\xff\xd8"), ("c.webp", b"RIFF")):
        path = save_image(small_rgb, tmp_path / name)
        assert path.read_bytes().startswith(magic)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.JPG", "c.webp"]  # no temp
    assert format_for_path("x") == "png"
    with pytest.raises(InvalidParameters):
        format_for_path("x.tiff")


def test_save_image_into_a_missing_directory_is_a_clear_error(
    tmp_path: Path, small_rgb: np.ndarray
) -> None:
    with pytest.raises(InvalidParameters, match="Cannot write"):
        save_image(small_rgb, tmp_path / "missing" / "out.png")
