"""Are the faster arithmetics safe? Each variant's mask against the float32 mask of the same
model, on photos no variant was calibrated or tuned on: the 345 davis345 frames and the memegen
sample's template pictures (../../shared, read in place).

Variants: u2netp's int8 file (calibrated on scikit-image's astronaut, chelsea and coffee), and
bfloat16 arithmetic through OpenVINO for u2netp and isnet-imgly (`models.precision: bf16`, the
default where the CPU has bfloat16; nothing is calibrated). isnet-imgly takes ~1 s a photo in
float32 here, so it is judged on every `--isnet-every`-th photo of each set.

For each photo: IoU of the > 0.5 regions and the mean absolute difference of the soft masks.
The issue's bar: within a stated tolerance (here mean |difference| <= 0.02) on >= 95 % of
held-out photos and never below IoU 0.9 against float32, or the variant is not the default.
Measured: int8 is not (it is opt-in, `models.precision: int8`); bf16 is.

    python precision_heldout.py [--isnet-every N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

from _report import header, row
from glitchzap.background import foreground_mask, openvino
from glitchzap.io import load_image
from glitchzap.runtime import configure, current, restart
from glitchzap.settings import load_settings

SHARED = Path(__file__).resolve().parents[2] / "shared"
SETS = {
    "davis345": sorted((SHARED / "gt-davis345" / "images").glob("*.jpg")),
    "memegen sample": sorted((SHARED / "memegen-templates").glob("*/default.*")),
}
TOLERANCE = 0.02  # mean |variant - fp32| of the soft mask
MODELS_DIR = load_settings().models_dir
VARIANTS = (("u2netp", "int8"), ("u2netp", "bf16"), ("isnet-imgly", "bf16"))


def rgb(path: Path) -> np.ndarray | None:
    image = load_image(path.read_bytes())
    return np.ascontiguousarray(image[:, :, :3]) if image.ndim == 3 else None


def masks(images: list[np.ndarray], model: str, precision: str, root: Path) -> list[np.ndarray]:
    models = {"precision": precision, "dir": MODELS_DIR}  # the installed models (+ int8)
    configure(None, data_dir=root / precision, models=models, cache={"backend": "memory"})
    restart()
    if current().models.precision_for(model) != precision:
        raise SystemExit(f"{model} cannot run {precision} here")
    return [foreground_mask(i, runtime=current(), model=model, use_cache=False) for i in images]


def judge(label: str, reference: list[np.ndarray], variant: list[np.ndarray]) -> None:
    ious, diffs = [], []
    for a, b in zip(reference, variant, strict=True):
        union = ((a > 0.5) | (b > 0.5)).sum()
        ious.append(1.0 if union == 0 else ((a > 0.5) & (b > 0.5)).sum() / union)
        diffs.append(float(np.abs(a - b).mean()))
    iou, diff = np.array(ious), np.array(diffs)
    within = 100 * float((diff <= TOLERANCE).mean())
    row(f"{label}: photos within mean |diff| {TOLERANCE} of float32 ({len(reference)})",
        within, 100.0, "float32 itself", unit="%", target=">= 95",
        ok=within >= 95)  # fmt: skip
    row(f"{label}: lowest IoU against float32", float(iou.min()), 1.0, "float32 itself",
        unit="", target=">= 0.9", ok=float(iou.min()) >= 0.9)  # fmt: skip
    row(f"{label}: photos with IoU >= 0.9 against float32", 100 * float((iou >= 0.9).mean()),
        100.0, "float32 itself", unit="%")  # fmt: skip
    row(f"{label}: mean |diff| of the soft masks, mean over photos", 100 * float(diff.mean()),
        0.0, "float32 itself", unit="%")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--isnet-every", type=int, default=3)
    args = parser.parse_args()
    if not all(paths for paths in SETS.values()):
        print(f"skipped: the shared photos under {SHARED} are absent")
        return 0
    variants = [v for v in VARIANTS if v[1] != "bf16" or openvino.bf16_capable()]
    if len(variants) < len(VARIANTS):
        print("(this CPU has no bfloat16: the bf16 variants are not measured)")
    header("faster arithmetics against float32 on photos nobody calibrated or tuned on")
    with tempfile.TemporaryDirectory() as tmp:
        for name, paths in SETS.items():
            images = [i for i in (rgb(p) for p in paths) if i is not None]
            for model in dict.fromkeys(m for m, _ in variants):
                chosen = images if model == "u2netp" else images[:: args.isnet_every]
                reference = masks(chosen, model, "fp32", Path(tmp))
                for _, precision in (v for v in variants if v[0] == model):
                    judged = masks(chosen, model, precision, Path(tmp))
                    judge(f"{name}, {model} {precision}", reference, judged)
    configure(None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
