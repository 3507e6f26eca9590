"""Glitch-art effects beside glitch-this 1.0.3, measured in the same run on the same photo.

Anchor: glitch-this's `glitch_image(level 5, color_offset=True, scan_lines=True)` on a
2000x2000 photo (scikit-image's astronaut, tiled), PIL image in and out. Ours: each new effect
alone through the whole engine (uint8 -> float32 -> effect -> uint8) at a typical setting;
the glitch-this look (slices + a channel offset + scan lines) in one chain; and the 300 px
preview of a 6-effect chain (what a slider move costs in the studio, resize excluded: the
preview is cached per image). Times are wall-clock medians; each row also gives the CPU
time (all threads) beside glitch-this's, which runs on one thread.

Run: .venv/bin/python bench/glitch.py   (part of `make bench`)
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
from PIL import Image
from skimage import data

from _report import header, median_ms, row
from glitchzap.pipeline import apply_effects, resize_for_preview

SIDE = 2000
# One typical setting per glitch effect, in full-resolution pixels.
TYPICAL = {
    "channel_shift": {"red_x": 12, "red_y": 4, "blue_x": -12},
    "chromatic": {"strength": 0.01},
    "wave": {"amplitude": 20, "wavelength": 200},
    "slices": {"count": 10, "max_offset": 500, "band_height": 60, "channel_offset": 8},
    "pixel_sort": {"amount": 1.0, "low": 0.25, "high": 0.8},
    "posterize": {"crush": 5},
    "quantize": {"colors": 16},
    "scanlines": {"darkness": 1.0, "period": 2, "thickness": 1},
    "vhs": {"strength": 0.7},
    "jpeg": {"amount": 0.3, "quality": 35},
}
# glitch-this level 5: 10 slices of up to a quarter of the width, one channel offset of up to
# 10 px, every other row black.
GLITCH_THIS_LOOK = {
    "slices": {"count": 10, "max_offset": SIDE // 4, "band_height": SIDE // 8},
    "channel_shift": {"red_x": 10, "red_y": 10},
    "scanlines": {"darkness": 1.0, "period": 2, "thickness": 1},
}
PREVIEW_CHAIN = {
    "noise": {"amount": 0.1},
    "channel_shift": {"red_x": 12, "blue_x": -12},
    "slices": {"count": 12, "max_offset": 300, "band_height": 40},
    "pixel_sort": {"amount": 0.5},
    "posterize": {"crush": 3},
    "scanlines": {"darkness": 0.5, "period": 4},
}
PREVIEW_TARGET_MS = 5.0


def photo(side: int) -> np.ndarray:
    tile = data.astronaut()
    reps = (-(-side // tile.shape[0]), -(-side // tile.shape[1]), 1)
    return np.ascontiguousarray(np.tile(tile, reps)[:side, :side])


def glitch_this_ms(image: np.ndarray) -> float:
    from glitch_this import ImageGlitcher

    glitcher = ImageGlitcher()
    source = Image.fromarray(image)
    return median_ms(
        lambda: glitcher.glitch_image(source, 5, color_offset=True, scan_lines=True, seed=1),
        repeat=5,
        warmup=1,
    )


def cpu_ms(fn: Callable[[], object], repeat: int = 5) -> float:
    """Mean CPU time of `fn` over all threads of the process: the effects that split the
    image into bands (pixel_sort, quantize, jpeg, chromatic, vhs) use both cores, so their
    wall time beside glitch-this's (one thread) is only half the story."""
    fn()
    start = time.process_time()
    for _ in range(repeat):
        fn()
    return (time.process_time() - start) * 1000 / repeat


def main() -> None:
    image = photo(SIDE)
    anchor = glitch_this_ms(image)
    from glitch_this import ImageGlitcher

    glitcher, source = ImageGlitcher(), Image.fromarray(image)
    anchor_cpu = cpu_ms(
        lambda: glitcher.glitch_image(source, 5, color_offset=True, scan_lines=True, seed=1)
    )
    header(f"glitch art: {SIDE}x{SIDE} photo, beside glitch-this 1.0.3 (level 5)")
    anchor_name = f"glitch-this level 5 + color_offset + scan_lines, CPU {anchor_cpu:.0f} ms"
    for name, params in TYPICAL.items():
        ms = median_ms(lambda n=name, p=params: apply_effects(image, {n: p}, seed=1), repeat=5)
        cpu = cpu_ms(lambda n=name, p=params: apply_effects(image, {n: p}, seed=1))
        label = f"{name} alone (CPU {cpu:.0f} ms)"
        row(label, ms, anchor, anchor_name, target="<= anchor", ok=ms <= anchor)
    look = median_ms(lambda: apply_effects(image, GLITCH_THIS_LOOK, seed=1), repeat=5)
    row(
        "glitch-this look: slices + channel shift + scan lines",
        look,
        anchor,
        anchor_name,
        target=">= 2x faster",
        ok=anchor / look >= 2,
    )
    small = resize_for_preview(image, "fast")
    scale = small.shape[1] / image.shape[1]
    preview = median_ms(lambda: apply_effects(small, PREVIEW_CHAIN, seed=1, scale=scale), repeat=30)
    row(
        "fast 300 px preview: 6-effect glitch chain",
        preview,
        anchor,
        "glitch-this level 5 at full size",
        target=f"<= {PREVIEW_TARGET_MS:g} ms (resize cached, excluded)",
        ok=preview <= PREVIEW_TARGET_MS,
    )


if __name__ == "__main__":
    main()
