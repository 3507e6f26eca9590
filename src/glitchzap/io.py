"""Bytes and paths <-> arrays: the only place that decodes or encodes images.

Decoding is defensive: an allowlist of formats, the pixel and frame caps checked from the
header before any pixel is decoded (frames are counted from the container, never decoded),
EXIF orientation applied, and every mode normalised to RGB or RGBA uint8 (H x W x 3|4).
Encoding strips all metadata: the output is built from the pixels alone.
"""

from __future__ import annotations

import io
import struct
import uuid
import warnings
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from glitchzap.errors import ImageTooLarge, InvalidParameters, UnreadableImage, UnsupportedFormat
from glitchzap.settings import LimitsSettings

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
OutputFormat = Literal["png", "jpeg", "webp"]
ImageSource = bytes | bytearray | memoryview | str | Path

# Third-party failures a decoder may raise on hostile input, caught once at this boundary.
DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    KeyError,
    TypeError,
    ZeroDivisionError,
    struct.error,
    Image.DecompressionBombError,
    UnidentifiedImageError,
)

# Signatures of the allowed formats, to tell a damaged file of ours from a foreign one.
ALLOWED_SIGNATURES = (
    (b"\xff\xd8\xff", "JPEG"),
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)

# Formats people upload that we refuse, named from their first bytes so the message says what
# the file is without handing it to every Pillow plugin: (offset, signature, name).
REFUSED_SIGNATURES = (
    (0, b"%PDF-", "PDF"),
    (0, b"8BPS", "PSD"),
    (0, b"\x00\x00\x01\x00", "ICO"),
    (0, b"\x00\x00\x02\x00", "CUR"),
    (0, b"%!PS", "PostScript"),
    (0, b"\xff\x0a", "JPEG XL"),
    (0, b"\x00\x00\x00\x0cJXL \r\n\x87\n", "JPEG XL"),
    (0, b"\x00\x00\x00\x0cjP  \r\n\x87\n", "JPEG 2000"),
    (0, b"\xff\x4f\xff\x51", "JPEG 2000"),
    (0, b"qoif", "QOI"),
)
HEIF_BRANDS = {b"heic": "HEIC", b"heix": "HEIC", b"mif1": "HEIF", b"msf1": "HEIF",
               b"avif": "AVIF", b"avis": "AVIF"}  # fmt: skip

# We enforce our own pixel cap from the header; Pillow's bomb check would fire on other
# numbers, so it is disabled and ours is the only one.
Image.MAX_IMAGE_PIXELS = None
ImageFile.LOAD_TRUNCATED_IMAGES = False
# Pillow warns about odd but decodable uploads (corrupt EXIF, palette transparency). One filter
# installed here rather than catch_warnings() per call: catch_warnings swaps the process-wide
# filter list, so concurrent decodes in server threads could leave every warning silenced.
warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL(\.|$)")


def _read_source(source: ImageSource, max_bytes: int) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
    elif isinstance(source, str | Path):
        data = _read_file(Path(source), max_bytes)
    else:
        raise InvalidParameters(f"Cannot read an image from a {type(source).__name__}")
    if not data:
        raise UnreadableImage("The image is empty (0 bytes)")
    if len(data) > max_bytes:
        raise ImageTooLarge(
            f"The image is {len(data) / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB"
        )
    return data


def _read_file(path: Path, max_bytes: int) -> bytes:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise ImageTooLarge(
                f"{path.name} is {size / 1e6:.1f} MB; the limit is {max_bytes / 1e6:.1f} MB"
            )
        with path.open("rb") as handle:
            return handle.read(max_bytes + 1)  # a file that grew since stat() is still capped
    except FileNotFoundError as exc:
        raise UnreadableImage(f"No such file: {path}") from exc
    except IsADirectoryError as exc:
        raise UnreadableImage(f"{path} is a directory, not an image") from exc
    except PermissionError as exc:
        raise UnreadableImage(f"Permission denied reading {path}") from exc
    except OSError as exc:
        raise UnreadableImage(f"Cannot read {path}: {exc.strerror or exc}") from exc


def _open(data: bytes) -> Image.Image:
    try:
        return Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
    except UnidentifiedImageError:
        pass
    except DECODE_ERRORS as exc:
        raise UnreadableImage(f"The image header is damaged ({exc})") from exc
    ours = next((name for magic, name in ALLOWED_SIGNATURES if data.startswith(magic)), None)
    if ours:
        raise UnreadableImage(f"The {ours} file is damaged or truncated")
    # Not one of ours: say which format it is when we can tell, so the message helps.
    fmt = _sniff_refused_format(data) or _pillow_format_name(data)
    if fmt:
        raise UnsupportedFormat(
            f"{fmt} files are not supported; use one of {', '.join(ALLOWED_FORMATS)}"
        )
    raise UnreadableImage(
        f"The data is not an image in a supported format ({', '.join(ALLOWED_FORMATS)})"
    )


def _sniff_refused_format(data: bytes) -> str | None:
    for offset, signature, name in REFUSED_SIGNATURES:
        if data[offset : offset + len(signature)] == signature:
            return name
    if data[4:8] == b"ftyp":
        return HEIF_BRANDS.get(data[8:12])
    head = data[:512].lstrip().lower()
    if head.startswith(b"<svg") or (head.startswith(b"<?xml") and b"<svg" in head):
        return "SVG"
    return None


def _pillow_format_name(data: bytes) -> str | None:
    """The format Pillow recognises from the header (never decoded), or None."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.format
    except DECODE_ERRORS:
        return None


def _check_size(img: Image.Image, data: bytes, limits: LimitsSettings) -> None:
    width, height = img.size
    if width <= 0 or height <= 0:
        raise UnreadableImage(f"The image has an invalid size {width}x{height}")
    if width * height > limits.max_pixels:
        raise ImageTooLarge(
            f"The image is {width}x{height} ({width * height / 1e6:.1f} MP); "
            f"the limit is {limits.max_pixels / 1e6:.1f} MP"
        )
    if _frame_count(img, data, limits.max_frames) > limits.max_frames:
        raise ImageTooLarge(f"The image has over {limits.max_frames} frames (the limit)")


def _frame_count(img: Image.Image, data: bytes, cap: int) -> int:
    """Frames in the file, counting no further than cap + 1 and decoding none of them."""
    if img.format == "GIF":
        # Pillow's GIF seek() decodes every frame it passes, at a size any frame header can
        # enlarge: a 150-byte file could make it allocate gigabytes. Walk the blocks instead.
        return _gif_frame_count(data, cap)
    if img.format in ("PNG", "WEBP"):
        return int(getattr(img, "n_frames", 1))  # from the acTL / ANIM header
    if not getattr(img, "is_animated", False):
        return 1
    count = 0  # TIFF pages, MPO pictures: seek() reads directories, not pixels
    try:
        while count <= cap:
            img.seek(count)
            count += 1
    except EOFError:
        pass
    img.seek(0)
    return count


def _gif_frame_count(data: bytes, cap: int) -> int:
    """Image descriptors in a GIF's block structure, up to cap + 1 (a truncated tail ends it)."""
    pos = 13
    if len(data) > 10 and data[10] & 0x80:
        pos += 3 << ((data[10] & 7) + 1)  # global colour table
    count = 0
    while pos < len(data) and count <= cap:
        block = data[pos]
        if block == 0x3B:  # trailer
            break
        if block == 0x21:  # extension: label, then data sub-blocks
            pos = _skip_sub_blocks(data, pos + 2)
        elif block == 0x2C:  # image descriptor
            count += 1
            flags = data[pos + 9] if pos + 9 < len(data) else 0
            pos += 10
            if flags & 0x80:
                pos += 3 << ((flags & 7) + 1)  # local colour table
            pos = _skip_sub_blocks(data, pos + 1)  # after the LZW minimum code size
        else:
            pos += 1  # stray byte between blocks: Pillow skips these too
    return count


def _skip_sub_blocks(data: bytes, pos: int) -> int:
    while pos < len(data):
        length = data[pos]
        pos += 1 + length
        if length == 0:
            break
    return pos


def _to_uint8(img: Image.Image) -> Image.Image:
    """RGB or RGBA 8-bit, whatever the source mode."""
    mode = img.mode
    if mode == "RGBA":
        return img
    if mode == "RGB":
        return img.convert("RGBA") if "transparency" in img.info else img
    if mode.startswith("I;16") or mode == "I":
        array = np.asarray(img, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or array.max(initial=0) > 255 else 255.0
        scaled = np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(scaled).convert("RGB")
    if mode == "F":
        array = np.nan_to_num(np.asarray(img, dtype=np.float64))
        peak = 1.0 if array.max(initial=0) <= 1.0 else 255.0
        scaled = np.clip(array / peak * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return Image.fromarray(scaled).convert("RGB")
    if mode == "P":
        has_alpha = "transparency" in img.info or (img.palette and img.palette.mode == "RGBA")
        return img.convert("RGBA" if has_alpha else "RGB")
    if mode in ("LA", "La", "PA", "RGBa"):
        return img.convert("RGBA")
    if mode == "L" and "transparency" in img.info:
        return img.convert("RGBA")
    return img.convert("RGB")  # 1, L, CMYK, YCbCr, LAB, HSV


def _decode_first_frame(img: Image.Image) -> np.ndarray:
    img.load()
    img = ImageOps.exif_transpose(img)
    return np.ascontiguousarray(np.asarray(_to_uint8(img), dtype=np.uint8))


def decode_image(data: bytes, limits: LimitsSettings) -> np.ndarray:
    """Decoded pixels of `data` as H x W x 3|4 uint8, first frame only."""
    with _open(data) as img:
        try:
            _check_size(img, data, limits)
            return _decode_first_frame(img)
        except DECODE_ERRORS as exc:
            raise UnreadableImage(f"The image data is damaged or truncated ({exc})") from exc
        except MemoryError as exc:
            raise ImageTooLarge("The image needs more memory than is available to decode") from exc


def load_image(source: ImageSource, *, limits: LimitsSettings | None = None) -> np.ndarray:
    """Pixels of an image file or its bytes: H x W x 3 (RGB) or 4 (RGBA), uint8."""
    limits = limits or LimitsSettings()
    return decode_image(_read_source(source, limits.max_bytes), limits)


def image_size(data: bytes) -> tuple[int, int]:
    """(width, height) read from the header only."""
    with _open(data) as img:
        return img.size


def _normalise_format(fmt: str) -> OutputFormat:
    name = fmt.lower().lstrip(".")
    name = "jpeg" if name == "jpg" else name
    if name not in ("png", "jpeg", "webp"):
        raise InvalidParameters(f"Unknown output format {fmt!r}: use png, jpeg or webp")
    return name  # type: ignore[return-value]


def format_for_path(path: str | Path) -> OutputFormat:
    """The output format implied by a file name's suffix (png when there is none)."""
    suffix = Path(path).suffix
    return _normalise_format(suffix) if suffix else "png"


def _to_pil(image: np.ndarray) -> Image.Image:
    """A Pillow image of an H x W (gray) or H x W x 1|2|3|4 uint8 array."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    shape_ok = image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (2, 3, 4))
    if image.dtype != np.uint8 or not shape_ok or image.size == 0:
        raise InvalidParameters(
            f"Cannot encode an array of {image.dtype} with shape {image.shape}: "
            "expected uint8 H x W or H x W x 1|2|3|4"
        )
    return Image.fromarray(np.ascontiguousarray(image))


def encode_image(
    image: np.ndarray,
    fmt: str = "png",
    *,
    quality: int = 90,
    background: tuple[int, int, int] = (255, 255, 255),
) -> bytes:
    """Encoded bytes without metadata. JPEG flattens alpha onto `background`."""
    name = _normalise_format(fmt)
    if not 1 <= quality <= 100:
        raise InvalidParameters(f"quality must be 1..100, got {quality}")
    img = _to_pil(image)
    if name == "jpeg" and img.mode in ("RGBA", "LA"):
        flat = Image.new("RGB", img.size, background)
        flat.paste(img.convert("RGBA"), mask=img.getchannel("A"))
        img = flat
    buffer = io.BytesIO()
    if name == "png":
        img.save(buffer, "PNG", compress_level=6)
    elif name == "jpeg":
        img.save(buffer, "JPEG", quality=quality, optimize=False, subsampling="4:2:0")
    else:
        img.save(buffer, "WEBP", quality=quality, method=4)
    return buffer.getvalue()


def save_image(
    image: np.ndarray, path: str | Path, *, fmt: str | None = None, quality: int = 90
) -> Path:
    """Write `image` to `path` atomically (format from the suffix unless given)."""
    path = Path(path)
    data = encode_image(image, fmt or format_for_path(path), quality=quality)
    # A unique temporary name, so two writers of the same path never share a half-written file.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InvalidParameters(f"Cannot write {path}: {exc.strerror or exc}") from exc
    return path
