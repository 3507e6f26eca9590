"""Cut-out quality modes: which models see the photo, how often, and how their masks combine.

`models.quality` (or a recipe's `background.quality`, the CLI's `--quality`, the API's
`quality` field) picks one; an explicit model (`background.model`, `--model`) runs that model
alone instead. Every mode's combined low-resolution mask then goes through the same guided-filter
refinement (refine.py), so the mask's edges follow the photo at any size.

The members and weights were chosen on the tuning half of gt-davis345 (bench/cutout.py splits it
by blocks of frames) and are reported on the judging half; see the README's cut-out section for
the figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import cv2
import numpy as np

from glitchzap.errors import InvalidParameters

if TYPE_CHECKING:
    from glitchzap.background.manager import ModelManager

Quality = Literal["fast", "balanced", "best"]
QUALITIES: tuple[Quality, ...] = ("fast", "balanced", "best")


@dataclass(frozen=True)
class Member:
    """One model's part in a mode: `model` (None: `models.default`), its weight in the
    weighted mean of the masks, and whether it also sees the photo mirrored (averaged in)."""

    model: str | None
    weight: float
    flip: bool = False


@dataclass(frozen=True)
class QualityMode:
    name: str
    members: tuple[Member, ...]
    summary: str
    # Estimate the subject's own colours on soft edges (compose.decontaminate) unless the
    # caller says otherwise.
    decontaminate: bool = False

    def models(self, default: str) -> list[str]:
        return [member.model or default for member in self.members]


MODES: dict[str, QualityMode] = {
    mode.name: mode
    for mode in (
        QualityMode(
            "fast",
            (Member(None, 1.0),),
            "models.default (u2netp) once: live previews, ~0.1 s",
        ),
        QualityMode(
            "balanced",
            (Member("isnet-imgly", 1.0),),
            "isnet-imgly once: hair and fine structure, ~0.5-0.9 s",
        ),
        QualityMode(
            "best",
            (Member("isnet-imgly", 0.6, flip=True), Member("u2netp", 0.4, flip=True)),
            "isnet-imgly and u2netp, each also mirrored, weighted 0.6/0.4, edge colours "
            "decontaminated: ~1.2-2 s",
            decontaminate=True,
        ),
    )
}


def get_mode(name: str) -> QualityMode:
    try:
        return MODES[name]
    except KeyError:
        raise InvalidParameters(
            f"Unknown cut-out quality {name!r}; choose one of {', '.join(MODES)}"
        ) from None


def single_model(model: str) -> QualityMode:
    """The mode of an explicitly chosen model: that model alone, once."""
    return QualityMode(model, (Member(model, 1.0),), f"{model} alone")


def low_res_mask(
    image: np.ndarray, mode: QualityMode, default: str, manager: ModelManager
) -> np.ndarray:
    """The mode's combined mask of `image` at its largest member's input size: float32 [0, 1]."""
    masks: list[tuple[float, np.ndarray]] = []
    for member in mode.members:
        name = member.model or default
        mask = manager.predict(name, image)
        if member.flip:
            mask = (mask + manager.predict(name, image, flip=True)) * np.float32(0.5)
        masks.append((member.weight, mask))
    if len(masks) == 1:
        return masks[0][1]
    side = max(mask.shape[0] for _, mask in masks)
    total = np.zeros((side, side), np.float32)
    for weight, mask in masks:
        if mask.shape != total.shape:
            mask = cv2.resize(mask, (side, side), interpolation=cv2.INTER_LINEAR)
        total += np.float32(weight) * mask
    return np.clip(total / np.float32(sum(w for w, _ in masks)), 0.0, 1.0)
