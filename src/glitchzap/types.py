"""Value types shared by the core and its adapters: points, text regions, caption boxes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

Point = tuple[float, float]  # (x, y) in image pixels


@dataclass(frozen=True)
class TextRegion:
    """One line of text: its 4 corners (clockwise from top-left, image px), text and score."""

    box: tuple[Point, Point, Point, Point]
    text: str
    score: float

    @property
    def height(self) -> float:
        """Text height in px (mean length of the two short sides)."""
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = self.box
        return float((np.hypot(x3 - x0, y3 - y0) + np.hypot(x2 - x1, y2 - y1)) / 2)

    def to_dict(self) -> dict[str, Any]:
        return {"box": [list(p) for p in self.box], "text": self.text, "score": self.score}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TextRegion:
        p0, p1, p2, p3 = (to_point(p) for p in data["box"])
        return cls((p0, p1, p2, p3), str(data["text"]), float(data["score"]))


def to_point(value: Sequence[float]) -> Point:
    """(x, y) rounded to 1/100 px, as regions are stored."""
    x, y = value
    return round(float(x), 2), round(float(y), 2)


class TextBox(BaseModel):
    """Where and how one caption is drawn; fractions of the image width and height."""

    model_config = ConfigDict(extra="forbid")

    anchor_x: float = Field(0.0, ge=0, le=1)
    anchor_y: float = Field(0.0, ge=0, le=1)
    scale_x: float = Field(1.0, gt=0, le=1)
    scale_y: float = Field(0.2, gt=0, le=1)
    angle: float = Field(0.0, ge=-360, le=360)  # degrees, counter-clockwise
    # upper, lower, mock (aLtErNaTiNg); anything else (memegen's default, none) keeps the case.
    style: str = "upper"
    color: str = "white"
    font: str | None = None  # None or a memegen name (thick, thin...) = the default font
    align: Literal["center", "left", "right"] = "center"
    start: float = 0.0  # memegen timing: frames i of n with start <= i/n < stop (stills: all)
    stop: float = 1.0
