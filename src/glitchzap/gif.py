"""GIF encoding of an `Animation`: palettes, transparency and frame differencing.

GIF holds 256 palette entries per frame. Below quality 95 the whole animation shares one
palette, chosen by median cut over pixels sampled from every frame (so an area that does not
change maps to the same index in every frame, and Pillow's frame differencing crops it away);
from 95 each frame gets its own. No dithering: Floyd-Steinberg dots crawl from frame to frame
on flat areas and defeat the differencing. Alpha below 128 becomes the transparent index
(255, kept out of the palette), and frames with transparency are disposed to the background
before the next, so nothing from an earlier frame shows through a hole.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from glitchzap.animation import Animation

_SAMPLE_PIXELS = 512 * 512  # pixels, from all frames together, the shared palette is chosen from
_TRANSPARENT = 255  # the palette index of transparent pixels
_ALPHA_CUT = 128  # alpha below this is transparent in a GIF
_PER_FRAME_QUALITY = 95  # from this quality on, each frame gets its own palette
# Unchanged pixels become transparent in runs of at least this many (odd: a centred kernel,
# so the opening stays inside the mask).
_MIN_RUN = 9
_RUN_KERNEL = np.ones((1, _MIN_RUN), np.uint8)


def _sample(frames: list[np.ndarray]) -> np.ndarray:
    """N x 3 opaque colours drawn from all `frames` at fixed pseudo-random places (a regular
    stride would alias with scan lines and other periodic patterns)."""
    height, width, channels = frames[0].shape
    count = min(height * width, max(1, _SAMPLE_PIXELS // len(frames)))
    places = np.random.default_rng(0).choice(height * width, count, replace=False)
    parts = []
    for frame in frames:
        picked = frame.reshape(-1, channels)[places]
        if channels == 4:
            picked = picked[picked[:, 3] >= _ALPHA_CUT]
        parts.append(picked[:, :3])
    return np.concatenate(parts)


def choose_palette(frames: list[np.ndarray], colours: int) -> np.ndarray:
    """k x 3 uint8 palette (k <= colours) of the visible pixels of `frames` (median cut)."""
    sample = _sample(frames)
    if not len(sample):
        return np.zeros((1, 3), np.uint8)
    image = Image.fromarray(np.ascontiguousarray(sample.reshape(1, -1, 3)))
    reduced = image.quantize(colours, method=Image.Quantize.MEDIANCUT)
    entries = np.array(reduced.getpalette() or [0, 0, 0], np.uint8).reshape(-1, 3)
    used = np.unique(np.asarray(reduced))
    return entries[used] if len(used) else entries[:1]


def _palette_image(palette: np.ndarray) -> Image.Image:
    image = Image.new("P", (1, 1))
    image.putpalette(palette.ravel().tolist())
    return image


def map_frame(frame: np.ndarray, palette: np.ndarray) -> Image.Image:
    """`frame` as a P image on `palette` (no dither), transparent pixels at index 255."""
    rgb = Image.fromarray(np.ascontiguousarray(frame[..., :3]))
    mapped = rgb.quantize(palette=_palette_image(palette), dither=Image.Dither.NONE)
    indices = np.array(mapped)
    if len(palette) < _TRANSPARENT:
        # Fewer entries than asked: the palette holds every sampled colour (a posterized
        # frame, a GIF read back), so those must map exactly. A full palette approximates
        # anyway, and this pass would cost ~5 ms a frame.
        indices = _exact_entries(frame, palette, indices)
    if frame.shape[2] == 4:
        indices[frame[..., 3] < _ALPHA_CUT] = _TRANSPARENT
    mapped = Image.fromarray(indices, "P")
    full = np.zeros((256, 3), np.uint8)
    full[: len(palette)] = palette
    mapped.putpalette(full.ravel().tolist())
    return mapped


def _exact_entries(frame: np.ndarray, palette: np.ndarray, indices: np.ndarray) -> np.ndarray:
    """`indices` with every pixel whose colour is in `palette` pointing at that entry: Pillow
    maps through a coarse colour cache that can pick a neighbour, so a palette that holds
    every colour (a GIF read back, a posterized frame) would not round-trip exactly."""
    packed = _packed(frame[..., :3])
    entries = _packed(palette)
    order = np.argsort(entries)
    at = np.minimum(np.searchsorted(entries[order], packed), len(entries) - 1)
    exact = entries[order][at] == packed
    indices[exact] = order[at[exact]]
    return indices


def _packed(rgb: np.ndarray) -> np.ndarray:
    rgb = rgb.astype(np.uint32)
    return (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]


def _unchanged_as_transparent(images: list[Image.Image]) -> list[Image.Image]:
    """Frames after the first with the pixels that equal the frame before as the transparent
    index (shown through: the earlier frame is not disposed): long runs of one index cost
    LZW next to nothing."""
    out = images[:1]
    previous = np.asarray(images[0])
    for image in images[1:]:
        indices = np.array(image)
        current = indices.copy()
        # Only runs of _MIN_RUN unchanged pixels along a row: a lone transparent pixel
        # inside changed ones breaks LZW's strings and costs more than it saves.
        unchanged = (indices == previous).view(np.uint8)
        runs = cv2.morphologyEx(unchanged, cv2.MORPH_OPEN, _RUN_KERNEL, borderValue=0)
        indices[(runs & unchanged).view(bool)] = _TRANSPARENT
        delta = Image.fromarray(indices, "P")
        delta.putpalette(image.getpalette() or [])
        out.append(delta)
        previous = current
    return out


def encode_gif(animation: Animation, *, quality: int = 90) -> bytes:
    """`animation` as GIF bytes (see the module docstring for the choices)."""
    frames = list(animation.frames)
    # RGBA with nothing transparent is opaque: most GIFs declare a transparent index only for
    # the pixels a frame leaves unchanged, so they decode RGBA yet show nothing through, and
    # keep the frame differencing (10x smaller) when exported again.
    has_alpha = frames[0].shape[2] == 4 and any(
        bool((frame[..., 3] < _ALPHA_CUT).any()) for frame in frames
    )
    shared = None if quality >= _PER_FRAME_QUALITY else choose_palette(frames, 255)
    images = [
        map_frame(frame, shared if shared is not None else choose_palette([frame], 255))
        for frame in frames
    ]
    if shared is not None and not has_alpha:
        images = _unchanged_as_transparent(images)
    options: dict[str, object] = {
        "save_all": True,
        "append_images": images[1:],
        "duration": [max(10, round(ms / 10) * 10) for ms in animation.durations],
        "optimize": False,
    }
    if animation.loop is not None:
        options["loop"] = animation.loop
    options["transparency"] = _TRANSPARENT
    # Holes are cleared before the next frame; an opaque animation keeps each frame under
    # the next (its transparent pixels are the unchanged ones).
    options["disposal"] = 2 if has_alpha else 1
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", **options)
    return buffer.getvalue()
