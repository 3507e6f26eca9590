"""Effects engine speed and memory, beside albumentations 2.0.8 and the seed's preview times.

Run: .venv/bin/python bench/effects.py   (part of `make bench`)
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
from skimage import data

from _report import header, median_ms, row
from glitchzap.pipeline import apply_effects, resize_for_preview

# A typical look, in full-resolution pixels.
EFFECTS = {
    "noise": {"amount": 0.2},
    "blur": {"radius": 2.0},
    "shake": {"offset": 6, "copies": 2},
    "motion": {"length": 15, "angle": 30},
}
SEED_PREVIEW_MS = {"fast": 45, "balanced": 85, "high": 150}  # the seed's published figures
TARGET_MS = {"fast": 3, "balanced": 8, "high": 20}


def photo(width: int, height: int) -> np.ndarray:
    """A real photo (scikit-image's astronaut) tiled and cropped to width x height."""
    tile = data.astronaut()
    reps = (-(-height // tile.shape[0]), -(-width // tile.shape[1]), 1)
    return np.ascontiguousarray(np.tile(tile, reps)[:height, :width])


def albumentations_chain():  # type: ignore[no-untyped-def]
    import albumentations as A

    std = EFFECTS["noise"]["amount"] * 100 / 255  # ours: amount 1 = std of 100 levels
    return A.Compose(
        [
            A.GaussNoise(std_range=(std, std), p=1),
            A.GaussianBlur(sigma_limit=(2.0, 2.0), blur_limit=0, p=1),
            A.Affine(translate_px={"x": 6, "y": 6}, border_mode=1, p=1),  # one shifted copy
            A.MotionBlur(
                blur_limit=(15, 15),
                angle_range=(30, 30),
                direction_range=(0, 0),
                allow_shifted=False,
                p=1,
            ),
        ]
    )


def peak_extra_mb(width: int, height: int) -> float:
    """Peak RSS added by one full-size render, measured in a fresh subprocess."""
    code = f"""
import json, numpy as np, sys
sys.path.insert(0, 'bench')
from effects import photo, EFFECTS
from glitchzap.pipeline import apply_effects
image = photo({width}, {height})
apply_effects(photo(64, 64), EFFECTS, seed=1)  # import-time and first-call allocations
def peak_kb():
    # VmHWM: this process's own peak (ru_maxrss would start at the parent's after exec).
    with open("/proc/self/status") as status:
        return int(next(l for l in status if l.startswith("VmHWM:")).split()[1])
before = peak_kb()
out = apply_effects(image, EFFECTS, seed=1)
after = peak_kb()
print(json.dumps((after - before) / 1024))
"""
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return float(json.loads(result.stdout.strip().splitlines()[-1]))


def main() -> None:
    header("effects: noise + blur + shake + motion, one float32 buffer")
    big = photo(4000, 4000)
    for quality, longest in (("fast", 300), ("balanced", 500), ("high", 800)):
        image = photo(longest, longest)
        ms = median_ms(lambda image=image: apply_effects(image, EFFECTS, seed=1), repeat=30)
        row(
            f"{quality}: effects on a {longest}x{longest} image",
            ms,
            SEED_PREVIEW_MS[quality],
            "seed preview, published (not measured)",
            target=f"<= {TARGET_MS[quality]} ms",
            ok=ms <= TARGET_MS[quality],
        )
        small = resize_for_preview(big, quality)
        scale = small.shape[1] / big.shape[1]
        ms = median_ms(
            lambda s=small, sc=scale: apply_effects(s, EFFECTS, seed=1, scale=sc), repeat=30
        )
        row(
            f"{quality}: effects on a 16 MP photo's preview (resize not timed; scaled params)",
            ms,
            SEED_PREVIEW_MS[quality],
            "seed preview, published (not measured)",
        )
        resize_ms = median_ms(lambda q=quality: resize_for_preview(big, q), repeat=10)
        row(
            f"{quality}: the resize of a 16 MP photo to that preview (Lanczos)",
            resize_ms,
            ms,
            "the effects on the preview, same run",
        )
    chain = albumentations_chain()
    for width, height, label in ((2000, 2000, "2000x2000"), (4000, 4000, "16 MP")):
        image = photo(width, height)
        ours = median_ms(
            lambda image=image: apply_effects(image, EFFECTS, seed=1), repeat=5, warmup=1
        )
        theirs = median_ms(lambda image=image: chain(image=image)["image"], repeat=5, warmup=1)
        if label == "16 MP":
            row(
                f"full {label}: effects",
                ours,
                theirs,
                "albumentations chain",
                target="<= 600 ms",
                ok=ours <= 600,
            )
        else:
            row(
                f"full {label}: effects",
                ours,
                theirs,
                "albumentations chain",
                target=">= 2x faster",
                ok=theirs / ours >= 2,
            )
    image_mb = 4000 * 4000 * 3 * 4 / 2**20
    extra = peak_extra_mb(4000, 4000)
    row(
        "16 MP render: peak extra RSS",
        extra,
        image_mb,
        "one float32 copy",
        unit="MB",
        target=f"<= 4 copies ({4 * image_mb:.0f} MB), i.e. {extra / image_mb:.2f} copies",
        ok=extra <= 4 * image_mb,
    )


if __name__ == "__main__":
    main()
