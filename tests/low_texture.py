"""Smooth, low-texture template pictures (where ORB finds few corners), made without any data
outside the repository: for the matching tests and bench/templates.py."""

from __future__ import annotations

import cv2
import numpy as np


def skimage_rgb(name: str) -> np.ndarray:
    """A scikit-image sample photo as H x W x 3 uint8."""
    from skimage import data, img_as_ubyte

    photo = img_as_ubyte(np.asarray(getattr(data, name)()))
    return photo[:, :, :3] if photo.ndim == 3 else np.repeat(photo[:, :, None], 3, axis=2)


def smooth_backdrop(name: str) -> np.ndarray:
    """A scikit-image photo blurred until ORB finds almost no corners (a blurred backdrop)."""
    return cv2.GaussianBlur(skimage_rgb(name), (0, 0), 10)


def dark_face(rng: np.random.Generator) -> np.ndarray:
    """A vertical colour gradient with a dark, soft-edged oval on it."""
    height, width = 360, 480
    top, bottom = rng.integers(60, 256, 3), rng.integers(60, 256, 3)
    canvas = np.linspace(top, bottom, height)[:, None, :].repeat(width, axis=1).astype(np.uint8)
    centre = (int(rng.integers(170, 310)), int(rng.integers(150, 210)))
    axes = (int(rng.integers(70, 110)), int(rng.integers(90, 130)))
    colour = [int(c) for c in rng.integers(0, 50, 3)]
    cv2.ellipse(canvas, centre, axes, 0, 0, 360, colour, -1)
    return cv2.GaussianBlur(canvas, (0, 0), 6)
