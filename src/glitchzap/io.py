"""Bytes and paths <-> arrays: the only place that decodes or encodes images.

Decoding is defensive: an allowlist of formats, the pixel and frame caps checked from the
header before any pixel is decoded (frames are counted from the container, never decoded),
EXIF orientation applied, and every mode normalised to RGB or RGBA uint8 (H x W x 3|4).
Encoding strips all metadata: the output is built from the pixels alone.
"""

from __future__ import annotations

import io
import re
import struct
import uuid
import warnings
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from glitchzap.animation import Animation, Frame
from glitchzap.errors import ImageTooLarge, InvalidParameters, UnreadableImage, UnsupportedFormat
from glitchzap.settings import LimitsSettings

ALLOWED_FORMATS = ("JPEG", "PNG", "WEBP", "GIF", "BMP", "TIFF")
OutputFormat = Literal["png", "jpeg", "webp", "gif"]
ANIMATED_FORMATS = ("gif", "webp", "png")  # "apng" is PNG's name when animated
DEFAULT_FRAME_MS = 100  # a frame that gives no duration (or 0 ms) shows this long, as in browsers
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

# JPEG scans whose data ends too soon. libjpeg does not fail on them: when a scan's data stops
# at a marker before its last block it warns ("premature end of data segment", which Pillow
# drops) and decodes every missing block as zero, so a header declaring more rows than the
# file holds, or a cut file with an EOI put back, decodes to the real rows plus flat grey.
# Zero blocks decode to 128 in every channel (127 in Adobe-inverted CMYK); a JPEG whose
# bottom-right pixel is not that colour had data for its last block. The rare one that is
# gets probed: see _jpeg_rows_missing.
_JPEG_FORMATS = ("JPEG", "MPO")
_JPEG_ZERO_BLOCK_VALUES = (127, 128)
_JPEG_PROGRESSIVE_SOF = (0xC2, 0xC6, 0xCA, 0xCE)
# The marker that ends a scan's entropy-coded data: an 0xFF run (fill bytes) followed by
# anything but 0x00 (a stuffed 0xFF data byte) or RST0-7 (restart markers inside the scan).
_JPEG_SCAN_END = re.compile(rb"\xff+[^\x00\xd0-\xd7\xff]")
_JPEG_RESTART = re.compile(rb"\xff[\xd0-\xd7]")
# Put where a scan's data ends. It starts with 0x00 (a 0xFF just before it reads as stuffed
# data, never as a marker), holds no 0xFF, has varied bits, and outlasts libjpeg's lookahead
# (8 bytes): a complete scan never reads it as data; a short one must.
_JPEG_PAD = b"\x00" + bytes((i * 151 + 89) % 255 for i in range(63))

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


def _check_size(img: Image.Image, data: bytes, limits: LimitsSettings) -> ImageInfo:
    """The image's size, frames and loop from its header and container (nothing decoded),
    refused with ImageTooLarge past the pixel, frame or animation budgets."""
    width, height = img.size
    if width <= 0 or height <= 0:
        raise UnreadableImage(f"The image has an invalid size {width}x{height}")
    if width * height > limits.max_pixels:
        raise ImageTooLarge(
            f"The image is {width}x{height} ({width * height / 1e6:.1f} MP); "
            f"the limit is {limits.max_pixels / 1e6:.1f} MP"
        )
    frames, extent, transparent = _frame_count(img, data, limits.max_frames)
    if frames > limits.max_frames:
        raise ImageTooLarge(
            f"The image has over {limits.max_frames} frames (the limit, limits.max_frames)"
        )
    if img.format not in ("GIF", "PNG", "WEBP"):
        # TIFF pages and MPO pictures (a phone photo's preview or depth map) are no
        # animation: the image is its first picture, as before.
        frames = 1
    if extent[0] * extent[1] > limits.max_pixels:
        # Pillow grows a GIF's canvas to hold any frame: one far outside it is a bomb.
        raise ImageTooLarge(
            f"A frame of the animation lies outside its {width}x{height} canvas, reaching "
            f"{extent[0]}x{extent[1]}; the limit is {limits.max_pixels / 1e6:.1f} MP"
        )
    check_animation_pixels(frames, width, height, limits)
    loop = img.info.get("loop")
    has_alpha = transparent or _has_alpha_mode(img)
    return ImageInfo(
        width, height, 4 if has_alpha else 3, frames, None if loop is None else int(loop)
    )


def check_animation_pixels(count: int, width: int, height: int, limits: LimitsSettings) -> None:
    """ImageTooLarge when `count` frames of width x height are past
    `limits.max_animation_pixels` (decoded animations and stills made into loops alike)."""
    if count > 1 and count * width * height > limits.max_animation_pixels:
        raise ImageTooLarge(
            f"The animation is {count} frames of {width}x{height} "
            f"({count * width * height / 1e6:.0f} MP in all); the limit is "
            f"{limits.max_animation_pixels / 1e6:.0f} MP (limits.max_animation_pixels)"
        )


def _has_alpha_mode(img: Image.Image) -> bool:
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa"):
        return True
    if "transparency" in img.info:
        return True
    return bool(img.mode == "P" and img.palette and img.palette.mode == "RGBA")


def _frame_count(img: Image.Image, data: bytes, cap: int) -> tuple[int, tuple[int, int], bool]:
    """(frames in the file counting no further than cap + 1, the canvas every frame fits in,
    whether a GIF frame declares transparency), decoding none of them."""
    if img.format == "GIF":
        # Pillow's GIF seek() decodes every frame it passes, at a size any frame header can
        # enlarge: a 150-byte file could make it allocate gigabytes. Walk the blocks instead.
        walk = _gif_blocks(data, cap)
        extent = (max(img.width, walk.extent[0]), max(img.height, walk.extent[1]))
        return walk.frames, extent, walk.transparent
    if img.format in ("PNG", "WEBP"):
        return int(getattr(img, "n_frames", 1)), img.size, False  # from the acTL / ANIM header
    if not getattr(img, "is_animated", False):
        return 1, img.size, False
    count = 0  # TIFF pages, MPO pictures: seek() reads directories, not pixels
    try:
        while count <= cap:
            img.seek(count)
            count += 1
    except EOFError:
        pass
    img.seek(0)
    return count, img.size, False


@dataclass
class _GifWalk:
    frames: int = 0
    extent: tuple[int, int] = (0, 0)  # the right and bottom edges of the frames
    transparent: bool = False  # a graphic control extension sets a transparent index


def _gif_blocks(data: bytes, cap: int) -> _GifWalk:
    """A GIF's image descriptors walked up to cap + 1 (a truncated tail ends the walk)."""
    walk = _GifWalk()
    pos = 13
    if len(data) > 10 and data[10] & 0x80:
        pos += 3 << ((data[10] & 7) + 1)  # global colour table
    right = bottom = 0
    while pos < len(data) and walk.frames <= cap:
        block = data[pos]
        if block == 0x3B:  # trailer
            break
        if block == 0x21:  # extension: label, then data sub-blocks
            if data[pos + 1 : pos + 3] == b"\xf9\x04" and pos + 3 < len(data):
                walk.transparent |= bool(data[pos + 3] & 1)  # graphic control: flags
            pos = _skip_sub_blocks(data, pos + 2)
        elif block == 0x2C:  # image descriptor
            walk.frames += 1
            if pos + 9 <= len(data):
                x, y, w, h = struct.unpack_from("<HHHH", data, pos + 1)
                right, bottom = max(right, x + w), max(bottom, y + h)
            flags = data[pos + 9] if pos + 9 < len(data) else 0
            pos += 10
            if flags & 0x80:
                pos += 3 << ((flags & 7) + 1)  # local colour table
            pos = _skip_sub_blocks(data, pos + 1)  # after the LZW minimum code size
        else:
            pos += 1  # stray byte between blocks: Pillow skips these too
    walk.extent = (right, bottom)
    return walk


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


def _jpeg_scans(data: bytes) -> tuple[list[tuple[int, bytes]], bool]:
    """The scans of the first JPEG image in `data`, walking its markers as libjpeg does up to
    EOI: for each scan, where its entropy-coded data ends (the offset of the marker after it,
    or len(data)) and the RSTn marker the decoder expects next (b"" without restart
    intervals); and whether the image is progressive. Never raises: a damaged structure just
    ends the walk."""
    scans: list[tuple[int, bytes]] = []
    progressive = False
    restart_interval = 0
    pos, size = 2, len(data)  # after SOI
    while pos + 1 < size:
        if data[pos] != 0xFF:  # stray bytes between segments: libjpeg skips them
            pos = data.find(b"\xff", pos)
            if pos < 0:
                break
            continue
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte before a marker
            pos += 1
            continue
        if marker == 0xD9:  # EOI
            break
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # markers without a length
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2 : pos + 4], "big")
        if length < 2 or pos + 2 + length > size:
            break
        body = pos + 4
        pos += 2 + length
        if marker in _JPEG_PROGRESSIVE_SOF:
            progressive = True
        elif marker == 0xDD:  # DRI
            restart_interval = int.from_bytes(data[body : body + 2], "big")
        elif marker == 0xDA:  # SOS: entropy-coded data follows the header
            found = _JPEG_SCAN_END.search(data, pos)
            end = found.start() if found else size
            expected = b""
            if restart_interval:
                restarts = len(_JPEG_RESTART.findall(data, pos, end))
                expected = bytes((0xFF, 0xD0 + restarts % 8))
            scans.append((end, expected))
            pos = end
    return scans, progressive


def _open_jpeg(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data), formats=("JPEG",))


def _jpeg_single_scan_probe(
    data: bytes, scans: list[tuple[int, bytes]], progressive: bool
) -> bytes | None:
    """`data` with everything after its only scan's entropy-coded data (the EOI marker, or
    nothing when the file was cut) replaced by _JPEG_PAD; None for progressive and other
    multi-scan JPEGs (`scans` and `progressive` as _jpeg_scans gives them).

    Decoding the probe tells exactly whether the scan holds every row. With no marker after
    the scan, libjpeg suspends for more data instead of inventing blocks: a scan that ends
    short stops the decoder before its last row (Pillow raises "image file is truncated"),
    while a complete one has every row out before the decoder looks past the pad for EOI,
    which Pillow then does not require. Multi-scan JPEGs need EOI before their first row."""
    if len(scans) != 1 or progressive:
        return None
    return data[: scans[0][0]] + _JPEG_PAD


def _jpeg_rows_missing(img: Image.Image, data: bytes) -> bool:
    """Whether the decoded JPEG `img` holds blocks that libjpeg invented because a scan's data
    ended early. Cheap unless its bottom-right pixel has the colour of such blocks."""
    pixel = img.getpixel((img.width - 1, img.height - 1))
    channels = pixel if isinstance(pixel, tuple) else (pixel,)
    if any(value not in _JPEG_ZERO_BLOCK_VALUES for value in channels):
        return False
    scans, progressive = _jpeg_scans(data)
    probe = _jpeg_single_scan_probe(data, scans, progressive)
    try:
        if probe is not None:
            with _open_jpeg(probe) as decoded:
                decoded.draft(None, (1, 1))  # at 1/8 scale: every block is still read
                decoded.load()
            return False
        # Several scans: a pad before the marker that ends each scan (after the RSTn marker
        # the decoder expects next, when the image has restart intervals) is skipped unread
        # after a complete scan but decoded in place of the missing blocks of a short one.
        parts, start = [], 0
        for end, restart in scans:
            parts += [data[start:end], restart, _JPEG_PAD]
            start = end
        parts.append(data[start:])
        with _open_jpeg(b"".join(parts)) as decoded:
            decoded.load()
            return decoded.tobytes() != img.tobytes()
    except DECODE_ERRORS:
        return True


def _load_pixels(img: Image.Image, data: bytes, stack: ExitStack) -> Image.Image:
    """`img` with its first frame's pixels loaded, or for a JPEG missing only its EOI marker,
    the same image decoded from a repaired copy of `data`. A JPEG whose data ends before its
    last row is refused, whether it was cut or its header declares more rows than it holds."""
    if img.format not in _JPEG_FORMATS:
        img.load()
        return img
    try:
        img.load()
    except OSError as exc:
        if "image file is truncated" not in str(exc):
            raise
        probe = _jpeg_single_scan_probe(data, *_jpeg_scans(data))
        if probe is None:
            raise
        repaired = stack.enter_context(_open_jpeg(probe))
        try:
            repaired.load()  # decodes every row, or stops where the data does
        except DECODE_ERRORS:
            raise exc from None
        return repaired
    if _jpeg_rows_missing(img, data):
        raise UnreadableImage(
            f"The JPEG image data is damaged or truncated: it ends before the last of the "
            f"{img.height} rows its header declares"
        )
    return img


def _decode_first_frame(img: Image.Image, data: bytes) -> np.ndarray:
    with ExitStack() as stack:
        img = ImageOps.exif_transpose(_load_pixels(img, data, stack))
        return np.ascontiguousarray(np.asarray(_to_uint8(img), dtype=np.uint8))


@dataclass(frozen=True)
class ImageInfo:
    """What the header and container say about an image, before any pixel is decoded."""

    width: int
    height: int
    channels: int  # 4 when some pixel may be transparent
    frames: int = 1
    loop: int | None = 0  # animation repeats: 0 = forever, None = plays once

    @property
    def animated(self) -> bool:
        return self.frames > 1


def probe_image(data: bytes, limits: LimitsSettings) -> ImageInfo:
    """Size, channels and frames of `data`, every budget checked; no pixel decoded."""
    with _open(data) as img:
        try:
            return _check_size(img, data, limits)
        except DECODE_ERRORS as exc:
            raise UnreadableImage(f"The image data is damaged or truncated ({exc})") from exc


def decode_image(data: bytes, limits: LimitsSettings) -> np.ndarray:
    """Decoded pixels of `data` as H x W x 3|4 uint8: a still, or an animation's first frame
    (see `decode_frames` for all of them)."""
    with _open(data) as img:
        try:
            _check_size(img, data, limits)
            return _decode_first_frame(img, data)
        except DECODE_ERRORS as exc:
            raise UnreadableImage(f"The image data is damaged or truncated ({exc})") from exc
        except MemoryError as exc:
            raise ImageTooLarge("The image needs more memory than is available to decode") from exc


def decode_frames(data: bytes, limits: LimitsSettings) -> Iterator[Frame]:
    """The frames of `data` one at a time, as shown (disposal and blending applied by
    Pillow), each H x W x C uint8 at the first frame's canvas size with its duration.

    Budgets are checked from the container before the first frame; only the frame being
    decoded and the canvas it is composed on are held. A still gives one frame."""
    with _open(data) as img:
        try:
            info = _check_size(img, data, limits)
            if not info.animated:
                yield Frame(_decode_first_frame(img, data), DEFAULT_FRAME_MS)
                return
            for index in range(info.frames):
                img.seek(index)
                img.load()
                yield Frame(_frame_pixels(img, info), _duration(img.info.get("duration")))
        except DECODE_ERRORS as exc:
            raise UnreadableImage(f"The animation data is damaged or truncated ({exc})") from exc
        except MemoryError as exc:
            raise ImageTooLarge("The image needs more memory than is available to decode") from exc


def _duration(value: object) -> int:
    try:
        ms = round(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return DEFAULT_FRAME_MS
    return ms if ms > 0 else DEFAULT_FRAME_MS


def _frame_pixels(img: Image.Image, info: ImageInfo) -> np.ndarray:
    """The current frame as H x W x `info.channels` uint8 at the canvas size (browsers clip
    a frame that reaches past the canvas; Pillow grows it)."""
    frame = img.convert("RGBA" if info.channels == 4 else "RGB")
    if frame.size != (info.width, info.height):
        frame = frame.crop((0, 0, info.width, info.height))
    return np.ascontiguousarray(np.asarray(frame, dtype=np.uint8))


def load_animation(source: ImageSource, *, limits: LimitsSettings | None = None) -> Animation:
    """All frames of an image file or its bytes (one for a still), with timing and loop."""
    limits = limits or LimitsSettings()
    data = _read_source(source, limits.max_bytes)
    info = probe_image(data, limits)
    frames = list(decode_frames(data, limits))
    return Animation.from_frames(frames, loop=info.loop)


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
    name = {"jpg": "jpeg", "apng": "png"}.get(name, name)
    if name not in ("png", "jpeg", "webp", "gif"):
        raise InvalidParameters(f"Unknown output format {fmt!r}: use png, jpeg, webp or gif")
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
    elif name == "gif":
        return encode_animation(Animation.still(image), "gif", quality=quality)
    else:
        img.save(buffer, "WEBP", quality=quality, method=4)
    return buffer.getvalue()


def encode_animation(
    animation: Animation, fmt: str, *, quality: int = 90, fast: bool = False
) -> bytes:
    """An animation as GIF, animated WebP or APNG (`png`/`apng`) bytes, without metadata.

    GIF: one palette for the whole animation (quality < 95) or one per frame, no dithering
    (no palette dots, and unchanged areas stay identical from frame to frame), alpha below
    128 as the transparent index; frames are cropped to what changed (Pillow). Durations are
    rounded to GIF's 10 ms steps. WebP: lossy at `quality` (lossless at 100); `fast` (for
    previews) trades a little size for ~2x quicker WebP/APNG encoding."""
    from glitchzap.gif import encode_gif

    name = _normalise_format(fmt)
    if name == "jpeg":
        raise InvalidParameters(
            "JPEG cannot hold an animation: use gif, webp or png (APNG), or a still input"
        )
    if not 1 <= quality <= 100:
        raise InvalidParameters(f"quality must be 1..100, got {quality}")
    if name == "gif":
        if animation.frames[0].ndim == 2:  # grey (a mask): GIF palettes are RGB
            frames = [np.dstack([frame] * 3) for frame in animation.frames]
            animation = Animation(frames, animation.durations, animation.loop)
        return encode_gif(animation, quality=quality)
    images = [_to_pil(frame) for frame in animation.frames]
    buffer = io.BytesIO()
    options: dict[str, object] = {"save_all": True, "append_images": images[1:]}
    options["duration"] = list(animation.durations)
    if animation.loop is not None:
        options["loop"] = animation.loop
    if name == "webp":
        lossless = quality == 100
        method = 0 if fast else 2
        images[0].save(buffer, "WEBP", quality=quality, method=method, lossless=lossless, **options)
    else:
        images[0].save(buffer, "PNG", compress_level=1 if fast else 3, **options)
    return buffer.getvalue()


def save_animation(animation: Animation, path: str | Path, *, fmt: str | None = None,
                   quality: int = 90) -> Path:  # fmt: skip
    """Write `animation` to `path` atomically (format from the suffix unless given); a
    one-frame animation is written as a still, the bytes `save_image` writes."""
    fmt = fmt or format_for_path(path)
    if not animation.animated:
        return save_image(animation.frames[0], path, fmt=fmt, quality=quality)
    data = encode_animation(animation, fmt, quality=quality)
    return _write_atomically(Path(path), data)


def save_image(
    image: np.ndarray, path: str | Path, *, fmt: str | None = None, quality: int = 90
) -> Path:
    """Write `image` to `path` atomically (format from the suffix unless given)."""
    data = encode_image(image, fmt or format_for_path(path), quality=quality)
    return _write_atomically(Path(path), data)


def _write_atomically(path: Path, data: bytes) -> Path:
    # A unique temporary name, so two writers of the same path never share a half-written file.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    try:
        tmp.write_bytes(data)
        tmp.replace(path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise InvalidParameters(f"Cannot write {path}: {exc.strerror or exc}") from exc
    return path
