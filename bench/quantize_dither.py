"""Quantize's ordered dither on photos nobody tuned it on: which spread factor keeps the
local tone best.

`ordered_spread` scales the Bayer offsets by a share of the palette's spacing (the median
distance from an entry to its nearest neighbour). This measures, for shares 1/2, 3/4, 1, 3/2,
how much less the local tone (an 8 px box average, as the eye sees it from a distance) errs
than with no dither at all: 1 - MSE(dithered) / MSE(undithered), at 4..64 colours. Held
out: 20 photos spread over the DAVIS frames in ../shared/gt-davis345 (benchmark data: read
from there, never copied); beside them, the three photos the factor was first tuned on.

Run: .venv/bin/python bench/quantize_dither.py   (~20 s; not part of `make bench`)
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from skimage import data

from glitchzap.effects import quantize
from glitchzap.pipeline import apply_effects

FACTORS = {"1/2": 0.5, "3/4": 0.75, "1": 1.0, "3/2": 1.5}
COLOURS = (4, 8, 16, 32, 64)
DAVIS = Path(__file__).resolve().parents[2] / "shared" / "gt-davis345" / "images"
HELD_OUT = 20


def tuned_photos() -> dict[str, np.ndarray]:
    return {name: getattr(data, name)() for name in ("astronaut", "chelsea", "coffee")}


def held_out_photos() -> dict[str, np.ndarray]:
    paths = sorted(DAVIS.glob("davis_*.jpg"))
    if not paths:
        return {}
    chosen = [paths[i] for i in np.linspace(0, len(paths) - 1, HELD_OUT).astype(int)]
    return {p.stem: np.asarray(Image.open(p).convert("RGB")) for p in chosen}


def local_error(image: np.ndarray, photo: np.ndarray) -> float:
    """MSE of the 8 px box averages: the tone error the eye sees from a distance."""
    blur = [cv2.blur(a.astype(np.float32), (8, 8)) for a in (image, photo)]
    return float(((blur[0] - blur[1]) ** 2).mean())


def gains(photos: dict[str, np.ndarray], factor: float) -> np.ndarray:
    """1 - error(ordered) / error(no dither) for every photo and palette size."""
    quantize.SPREAD_FACTOR = factor
    out = []
    for photo in photos.values():
        for colours in COLOURS:
            plain = apply_effects(photo, {"quantize": {"colors": colours, "dither": "none"}})
            ordered = apply_effects(photo, {"quantize": {"colors": colours, "dither": "ordered"}})
            out.append(1 - local_error(ordered, photo) / local_error(plain, photo))
    return np.array(out)


def report(label: str, photos: dict[str, np.ndarray]) -> None:
    print(f"\n{label}: {len(photos)} photos x {len(COLOURS)} palette sizes {COLOURS}")
    print("factor   mean gain   median gain   range             worse than none")
    for name, factor in FACTORS.items():
        g = gains(photos, factor)
        print(
            f"{name:6s}   {g.mean():+7.1%}     {np.median(g):+7.1%}      "
            f"{g.min():+6.1%} .. {g.max():+6.1%}   {(g < 0).sum()} of {len(g)}"
        )


def main() -> None:
    default = quantize.SPREAD_FACTOR
    try:
        held_out = held_out_photos()
        if held_out:
            report(f"held out (DAVIS frames {', '.join(held_out)})", held_out)
        else:
            print(f"no held-out photos: {DAVIS} is missing")
        report("tuned on (scikit-image)", tuned_photos())
    finally:
        quantize.SPREAD_FACTOR = default


if __name__ == "__main__":
    main()
