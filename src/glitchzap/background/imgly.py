"""The session for `isnet-imgly`: IMG.LY's IS-Net export, run the way IMG.LY run it.

The model is the ONNX file inside the npm package @imgly/background-removal 1.0.6
(GPL-3.0). glitchzap never ships or redistributes it: `glitchzap models fetch isnet-imgly`
downloads the package onto the user's machine and keeps only that file (files.py).

rembg's `DisSession` (isnet-general-use) normalises with mean 0.5 / std 1.0 after dividing by
the image's own maximum, and stretches the output to its min..max. IMG.LY's export wants
(x - 128) / 256 on the raw 0..255 values (the same as rembg's for an image whose brightest
value is 255, without the stretch of dark photos) and its first output is already a
probability, so it is used as is: a photo without a subject keeps a near-empty mask instead of
having its noise stretched to 0..1.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image
from rembg.sessions.base import BaseSession

INPUT_SIZE = 1024
MEAN = 128.0
SCALE = 256.0


def imgly_input(rgb: np.ndarray) -> np.ndarray:
    """The model's input tensor for an H×W×3 uint8 image already at the input size: 1×3×H×W."""
    planar = np.asarray(rgb[..., :3], dtype=np.float32).transpose(2, 0, 1)
    return np.ascontiguousarray(((planar - np.float32(MEAN)) / np.float32(SCALE))[None])


class ImglyIsnetSession(BaseSession):
    """rembg's session interface (so base.ModelSession builds it like the others)."""

    def predict(self, img: Image.Image, *args: Any, **kwargs: Any) -> list[Image.Image]:
        size = (INPUT_SIZE, INPUT_SIZE)
        rgb = img.convert("RGB")
        if rgb.size != size:
            rgb = rgb.resize(size, Image.Resampling.LANCZOS)
        inner = self.inner_session
        # Only the fused mask: the side outputs are upsampled to 1024 px for nothing otherwise.
        (out,) = inner.run(
            [inner.get_outputs()[0].name],
            {inner.get_inputs()[0].name: imgly_input(np.asarray(rgb))},
        )
        probability = np.clip(out[0, 0], 0.0, 1.0)
        mask = Image.fromarray((probability * 255 + 0.5).astype(np.uint8), mode="L")
        if mask.size != img.size:
            mask = mask.resize(img.size, Image.Resampling.LANCZOS)
        return [mask]

    @classmethod
    def name(cls, *args: Any, **kwargs: Any) -> str:
        return "isnet-imgly"
