"""Removing text: a mask from OCR regions, then inpainting.

Masks come in two kinds: `boxes` fills each region's polygon (dilated in proportion to the
text height), `strokes` keeps only the letters and their outline inside each box, found as
structures narrower than the letters are tall (white top-hat + black top-hat), so the
background between and around the letters is never touched. Methods: `ns` and `telea`
(OpenCV); `pyramid`, a multi-scale push-pull fill that interpolates large holes from
their whole border instead of smearing the nearest pixels inward; `harmonic` and `spline`,
exact smooth interpolations solved as one sparse linear system per hole (a membrane, and a
membrane averaged with a thin plate); `edges` (`edge_fill`), a membrane that stretches along
the border's edges and barely across them, stiffened by a thin plate, so an edge that the
caption hides is carried across it sharp instead of blurred; and `auto`, which picks by the
hole's size (`choose_method`).

On bench/meme.py --erase-quality's held-out pictures `edges` erases 2.3 dB above
Navier-Stokes on the same masks (`spline` 1.6 dB, `harmonic` 1.0 dB) in 189 ms median at 800 px
(`harmonic` 163 ms, `spline` 485 ms): its systems are solved by a few preconditioned
conjugate-gradient iterations instead of a sparse factorisation.

Texture synthesis (PatchMatch, the `pypatchmatch` wheel, patch radius 3) was measured and not
adopted: on 21 of bench/meme.py --erase-quality's pictures it erased 0.5 dB above Navier-Stokes
at 2-8 s per 800 px meme on 2 cores, below `harmonic` (+1.1 dB at 0.2 s) in PSNR, SSIM and
gradient error alike. PSNR rewards the expected value, and the captions' holes are thin strokes
that a smooth surface through their border predicts better than copied texture."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import cv2
import numpy as np
from scipy import sparse
from scipy.sparse import linalg as sparse_linalg

from glitchzap.errors import InvalidParameters
from glitchzap.types import TextRegion

MaskMode = Literal["strokes", "boxes"]
BOX_DILATION = 0.15  # polygon growth per px of text height (outlines overshoot the OCR box)
STROKE_LIGHT = 200  # a fill pixel's darkest channel is at least this
STROKE_DARK = 70  # an outline pixel's brightest channel is at most this
STROKE_CHROMA = 40  # max - min channel of a colourless pixel
STROKE_REACH = 0.2  # how far (per px of text height) a fill pixel may be from its outline
MIN_STROKE_SHARE = 0.05  # below this share of its box, a region's strokes were not found
CROP_MARGIN = 6  # context around each hole, in inpainting radii (the pyramid blends at 5)
STROKE_DILATION = 0.0  # extra growth per px of text height (measured: any more lowers PSNR)
# `spline`'s share of the thin plate; the rest is the membrane. Tuned on the even half of
# bench/meme.py --erase-quality's pictures (0.3-0.6 within 0.06 dB), reported on the odd half.
THIN_PLATE_WEIGHT = 0.4
# `auto`'s limit in hole pixels, set by time, not quality: on 2 busy cores `edges` takes about
# 2.5 ms per 1,000 hole pixels, so at the limit the erase stays under ~400 ms and the
# first-time meme (OCR and captions take ~150 ms) under 600 ms. Up to it, `edges`; beyond,
# `pyramid`. Two captions at 800 px mask 40-130k pixels.
AUTO_EDGES_PIXELS = 150_000


def _polygon(region: TextRegion, grow: float) -> np.ndarray:
    """The region's corners pushed out by `grow` px from their centre, as int32 points."""
    pts = np.asarray(region.box, dtype=np.float64)
    center = pts.mean(axis=0)
    direction = pts - center
    norms = np.linalg.norm(direction, axis=1, keepdims=True)
    grown = pts + direction / np.maximum(norms, 1e-6) * grow * np.sqrt(2)
    return np.round(grown).astype(np.int32)


def _disk(radius: int) -> np.ndarray:
    size = 2 * max(radius, 0) + 1
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))


def box_mask(shape: tuple[int, ...], regions: Sequence[TextRegion]) -> np.ndarray:
    """uint8 mask (255 = erase) of each region's polygon, grown by BOX_DILATION x height."""
    mask = np.zeros(shape[:2], np.uint8)
    for region in regions:
        cv2.fillPoly(mask, [_polygon(region, BOX_DILATION * region.height)], 255)
    return mask


def stroke_mask(image: np.ndarray, regions: Sequence[TextRegion]) -> np.ndarray:
    """uint8 mask (255 = erase) of the letters and outlines inside each region's grown box.

    Meme letters are a near-white (or near-black) fill inside an outline of the opposite
    extreme. A pixel is taken when it is one extreme and lies within an outline's width of
    the other, so a dark or bright background around the caption is left alone. A region
    where almost none is found (coloured lettering) falls back to its whole box.
    """
    mask = np.zeros(image.shape[:2], np.uint8)
    for region in regions:
        found = _region_ink(image, region)
        if found is None:
            continue
        (x, y, w, h), ink, area = found
        if np.count_nonzero(ink & area) < MIN_STROKE_SHARE * np.count_nonzero(area):
            ink = area  # not white-on-black lettering (coloured text): erase the whole box
        mask[y : y + h, x : x + w] |= ink & area
    return mask


def stroke_share(image: np.ndarray, region: TextRegion) -> float:
    """The share (0-1) of `region`'s grown box that meme lettering covers in `image` (what
    `stroke_mask` would take there): about 0 where the caption is not shown."""
    found = _region_ink(image, region)
    if found is None:
        return 0.0
    _, ink, area = found
    return float(np.count_nonzero(ink & area)) / max(1, int(np.count_nonzero(area)))


def _region_ink(
    image: np.ndarray, region: TextRegion
) -> tuple[tuple[int, int, int, int], np.ndarray, np.ndarray] | None:
    """((x, y, w, h) of the region's grown box in the image, the lettering pixels there, the
    box's polygon there), both uint8 0/255; None when the box lies outside the image."""
    height = max(region.height, 4.0)
    polygon = _polygon(region, BOX_DILATION * height)
    x, y, w, h = _clip_rect(cv2.boundingRect(polygon), image.shape)
    if w == 0 or h == 0:
        return None
    area = np.zeros((h, w), np.uint8)
    cv2.fillPoly(area, [polygon - np.array([x, y], np.int32)], 255)
    rgb = image[y : y + h, x : x + w, :3]
    low, high = rgb.min(axis=2), rgb.max(axis=2)
    light = ((low >= STROKE_LIGHT) & (high - low <= STROKE_CHROMA)).astype(np.uint8)
    dark = (high <= STROKE_DARK).astype(np.uint8)
    reach = 2 * round(STROKE_REACH * height) + 1  # a square: dilating by it is separable
    near = cv2.getStructuringElement(cv2.MORPH_RECT, (reach, reach))
    ink = (light & cv2.dilate(dark, near)) | (dark & cv2.dilate(light, near))
    # One pixel more covers the anti-aliased rim between outline and background.
    ink = cv2.dilate(ink * 255, _disk(round(STROKE_DILATION * height) + 1))
    return (x, y, w, h), ink, area


def _clip_rect(
    rect: Sequence[int], shape: tuple[int, ...], margin: int = 0
) -> tuple[int, int, int, int]:
    """(x, y, w, h) grown by `margin` and clipped to the image."""
    x0, y0 = max(rect[0] - margin, 0), max(rect[1] - margin, 0)
    x1 = min(rect[0] + rect[2] + margin, shape[1])
    y1 = min(rect[1] + rect[3] + margin, shape[0])
    return x0, y0, max(x1 - x0, 0), max(y1 - y0, 0)


def text_mask(
    image: np.ndarray, regions: Sequence[TextRegion], mode: MaskMode = "strokes"
) -> np.ndarray:
    """The mask of pixels to erase for `regions` (uint8, 255 = erase)."""
    if mode == "boxes":
        return box_mask(image.shape, regions)
    if mode == "strokes":
        return stroke_mask(image, regions)
    raise InvalidParameters(f"Unknown mask mode {mode!r}: use strokes or boxes")


def _opencv(flag: int) -> Callable[[np.ndarray, np.ndarray, int], np.ndarray]:
    def run(image: np.ndarray, mask: np.ndarray, radius: int) -> np.ndarray:
        return cv2.inpaint(image, mask, radius, flag)

    return run


def push_pull(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Known pixels averaged down a pyramid until the hole closes, then pulled back up, each
    level filling only what the finer one lacks (float32, H x W x C)."""
    known = (mask == 0).astype(np.float32)
    levels = [(image.astype(np.float32) * known[..., None], known)]
    while levels[-1][1].min() == 0 and min(levels[-1][1].shape) > 1:
        c, w = levels[-1]
        size = (max(1, c.shape[1] // 2), max(1, c.shape[0] // 2))
        levels.append(
            (
                cv2.resize(c, size, interpolation=cv2.INTER_AREA),
                cv2.resize(w, size, interpolation=cv2.INTER_AREA),
            )
        )
    c, w = levels[-1]
    filled = c / np.maximum(w, 1e-6)[..., None]
    for c, w in reversed(levels[:-1]):
        up = cv2.resize(filled, (c.shape[1], c.shape[0]), interpolation=cv2.INTER_LINEAR)
        weight = np.clip(w, 0, 1)[..., None]
        filled = weight * (c / np.maximum(w, 1e-6)[..., None]) + (1 - weight) * up
    return filled


def inpaint_pyramid(image: np.ndarray, mask: np.ndarray, radius: int = 5) -> np.ndarray:
    """Navier-Stokes near the hole's border, the push-pull pyramid fill deep inside it.

    NS continues edges well over a few pixels but smears streaks across wide holes; the
    pyramid interpolates from the whole border. They are blended by the distance to the
    border, reaching pure pyramid at `radius` x 5 px (measured best on captioned memes).
    """
    ns = cv2.inpaint(image, mask, radius, cv2.INPAINT_NS).astype(np.float32)
    pyramid = push_pull(image, mask)
    depth = cv2.distanceTransform((mask > 0).astype(np.uint8), cv2.DIST_L2, 3)
    weight = np.clip(depth / (5.0 * radius), 0, 1)[..., None]
    out = np.clip(ns * (1 - weight) + pyramid * weight + 0.5, 0, 255).astype(np.uint8)
    out[mask == 0] = image[mask == 0]
    return out


def _laplacian(support: np.ndarray) -> tuple[sparse.csr_matrix, np.ndarray, np.ndarray]:
    """The 4-neighbour graph Laplacian over the `support` pixels (in row-major order) and their
    (ys, xs). Degrees count the neighbours inside the image: the image's edge is a free one."""
    height, width = support.shape
    ys, xs = np.nonzero(support)
    count = len(ys)
    index = np.full(support.shape, -1, np.int64)
    index[ys, xs] = np.arange(count)
    rows, cols = [np.arange(count)], [np.arange(count)]
    degree = np.zeros(count)
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0)):
        ny, nx = ys + dy, xs + dx
        inside = (ny >= 0) & (ny < height) & (nx >= 0) & (nx < width)
        degree += inside
        neighbour = np.full(count, -1, np.int64)
        neighbour[inside] = index[ny[inside], nx[inside]]
        rows.append(np.flatnonzero(neighbour >= 0))
        cols.append(neighbour[neighbour >= 0])
    values = np.concatenate([degree, -np.ones(sum(len(r) for r in rows[1:]))])
    shape = (count, count)
    return sparse.csr_matrix((values, (np.concatenate(rows), np.concatenate(cols))), shape), ys, xs


def smooth_fill(image: np.ndarray, mask: np.ndarray, order: int) -> np.ndarray:
    """`image` (float64) with the masked pixels solved so that, inside the hole, the Laplacian
    (order 1: harmonic, a membrane) or the bi-Laplacian (order 2: biharmonic, a thin plate that
    also continues the border's slope) is zero, the pixels around the hole held fixed."""
    hole = mask > 0
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    support = cv2.dilate(hole.astype(np.uint8), cross, iterations=order) > 0
    laplacian, ys, xs = _laplacian(support)
    unknown = hole[ys, xs]
    rows = laplacian[np.flatnonzero(unknown)]
    if order == 2:
        rows = rows @ laplacian  # its rows reach only pixels whose own rows are complete
    rows = rows.tocsc()
    values = image[ys, xs].astype(np.float64)
    rhs = -(rows[:, ~unknown] @ values[~unknown])
    out = image.astype(np.float64)
    system = rows[:, unknown].tocsc()
    if order == 2:
        # Symmetric positive definite: no pivoting, and a symmetric ordering fills in less
        # (measured 20 % faster; for the sparser membrane COLAMD is faster still).
        factors = sparse_linalg.splu(
            system,
            permc_spec="MMD_AT_PLUS_A",
            diag_pivot_thresh=0.0,
            options={"SymmetricMode": True},
        )
    else:
        factors = sparse_linalg.splu(system)
    out[ys[unknown], xs[unknown]] = factors.solve(rhs)
    return out


def inpaint_harmonic(image: np.ndarray, mask: np.ndarray, radius: int = 5) -> np.ndarray:
    """The hole filled by a membrane stretched over its border (`radius` is not used)."""
    return _to_uint8(smooth_fill(image, mask, 1))


def inpaint_spline(image: np.ndarray, mask: np.ndarray, radius: int = 5) -> np.ndarray:
    """The mean of the membrane and the thin-plate fills, THIN_PLATE_WEIGHT on the latter: the
    two err differently (the plate overshoots where the membrane sags), so the mean is closer
    than either (measured +0.6 dB over each). `radius` is not used."""
    membrane = smooth_fill(image, mask, 1)
    plate = smooth_fill(image, mask, 2)
    return _to_uint8(membrane * (1 - THIN_PLATE_WEIGHT) + plate * THIN_PLATE_WEIGHT)


def inpaint_edges(image: np.ndarray, mask: np.ndarray, radius: int = 5) -> np.ndarray:
    """The hole filled by `edge_fill`: a membrane that follows the border's edges, stiffened
    by a thin plate, from the push-pull fill. `radius` is not used."""
    from glitchzap.meme.edge_fill import fill_edges

    return _to_uint8(fill_edges(image, mask, push_pull(image, mask)))


def _to_uint8(values: np.ndarray) -> np.ndarray:
    return np.clip(values + 0.5, 0, 255).astype(np.uint8)


def choose_method(mask: np.ndarray) -> str:
    """The method `auto` uses for `mask`: the closest fill whose time fits the meme budget,
    `edges` for a meme's captions, `pyramid` beyond."""
    if int(np.count_nonzero(mask)) <= AUTO_EDGES_PIXELS:
        return "edges"
    return "pyramid"


def inpaint_auto(image: np.ndarray, mask: np.ndarray, radius: int = 5) -> np.ndarray:
    """`image` filled by the method `choose_method` picks for `mask`."""
    return INPAINT_METHODS[choose_method(mask)](image, mask, radius)


# The inpainting methods, by the name used in config (ocr.inpaint_method), CLI and API.
INPAINT_METHODS: dict[str, Callable[[np.ndarray, np.ndarray, int], np.ndarray]] = {
    "ns": _opencv(cv2.INPAINT_NS),
    "telea": _opencv(cv2.INPAINT_TELEA),
    "pyramid": inpaint_pyramid,
    "harmonic": inpaint_harmonic,
    "spline": inpaint_spline,
    "edges": inpaint_edges,
    "auto": inpaint_auto,
}


def inpaint(image: np.ndarray, mask: np.ndarray, method: str = "ns", radius: int = 5) -> np.ndarray:
    """`image` with the masked pixels (mask > 0) filled in by `method`; alpha is kept."""
    try:
        fill = INPAINT_METHODS[method]
    except KeyError:
        raise InvalidParameters(
            f"Unknown inpainting method {method!r}: use one of {', '.join(INPAINT_METHODS)}"
        ) from None
    if mask.shape != image.shape[:2]:
        raise InvalidParameters(f"Mask {mask.shape} does not match image {image.shape[:2]}")
    if not mask.any():
        return image.copy()
    if method == "auto":
        fill = INPAINT_METHODS[choose_method(mask)]  # by the whole mask: the time is per image
    out = image.copy()
    binary = (mask > 0).astype(np.uint8) * 255
    # Each hole is filled on a crop around it: the methods cost grows with the image they are
    # given, and a caption covers a small part of it. The margin is the context they read.
    margin = CROP_MARGIN * radius
    grouped = cv2.dilate(binary, _disk(margin))
    count, _, stats, _ = cv2.connectedComponentsWithStats(grouped, connectivity=8)
    for i in range(1, count):
        x, y, w, h = _clip_rect(stats[i, :4], image.shape, margin)
        crop_mask = binary[y : y + h, x : x + w]
        crop = np.ascontiguousarray(out[y : y + h, x : x + w, :3])
        filled = fill(crop, crop_mask, radius)
        hole = crop_mask > 0
        out[y : y + h, x : x + w, :3][hole] = filled[hole]
    return out
