"""Template matching on arrays: trim borders and banners, mask caption text, describe, verify.

Pure functions, no files or settings. A picture is described three times:

- a compact global descriptor (a blurred 16x16 grey thumbnail plus an 8x8 chroma thumbnail of
  the picture with its borders, caption banners and caption letters removed), L2-normalised so
  a matrix product ranks thousands of templates in a few milliseconds;
- ORB keypoints and binary descriptors, matched (Hamming, ratio test) and verified with a
  RANSAC similarity transform, which is what decides: crops, scaling, padding and banners only
  move and scale the picture, and captions only add outliers;
- a dense thumbnail (DENSE_SIZE px square, Lab colour) of the trimmed picture, compared by
  caption-masked normalised cross-correlation over a few crops, mirrored too: what decides for
  smooth, low-texture pictures (a blurred backdrop, a dark face) where ORB finds few corners.

The score of a candidate is `inliers / (inliers + SCORE_HALF_INLIERS)`: 0.5 at 7 inliers
(measured: non-templates reach at most 3, real memes of a template mostly 20 to 200), or its
dense score (`score_from_correlation`), whichever is higher.
"""

from __future__ import annotations

import threading
from concurrent.futures import Future
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np

from glitchzap.threads import executor

THREADS = 2  # a query's orientations, dense thumbnails and candidates run side by side
WORK_SIZE = 480  # longest side (px) of the trimmed picture that features are computed at
# When nothing matched, a query is described again (keypoints in working px either way):
# - zoomed in: a template picture that fills a small part of the query (a line drawing inside
#   wide padding and white margins) otherwise has its corners several ORB pyramid levels away
#   from the template's;
# - with many more keypoints: on a blurry, low-texture picture the caption letters take most
#   of the QUERY_FEATURES strongest corners.
RETRY_ZOOM = 2
RETRY_FEATURES = 2500
TRIM_SIZE = 192  # longest side (px) that borders and banners are found at
THUMB_SIZE = 16  # grey thumbnail side of the global descriptor
CHROMA_SIZE = 8  # chroma thumbnail side
CHROMA_WEIGHT = 0.5  # weight of colour against the grey structure in the global descriptor
TEMPLATE_FEATURES = 500  # ORB keypoints kept per template
QUERY_FEATURES = 900  # more on a query: captions take some of them
RATIO = 0.8  # Lowe's ratio test on the two nearest Hamming neighbours
RANSAC_PX = 6.0  # reprojection tolerance at WORK_SIZE
RANSAC_SEED = 12345
MAX_SCALE_CHANGE = 4.0  # a verified transform scales by at most this (either way)
MAX_ROTATION_DEGREES = 12.0  # memes are upright: a transform rotating more is a false match
SCORE_HALF_INLIERS = 7.0
INDEX_FEATURES = 300  # strongest keypoints of a template entered in the vote index (150 before:
# at 2,000 templates the true template ranked in the top 10 by votes for 0.91 of held-out memes,
# 0.97 with 300; votes cost ~1 ms more)
VOTE_CHUNKS = (0, 5, 10, 15)
VOTE_WEIGHT_POWER = 1.0  # which 16-bit chunks of a descriptor are vote keys
# Trimming: a row is uniform when its pixels spread less than this (JPEG noise stays below).
UNIFORM_STD = 10.0
# A banner row: a white or black background over this fraction, the rest colourless.
BANNER_COLOURLESS_FRACTION = 0.97
BANNER_MAX_CHROMA = 30
BANNER_BACKGROUND_FRACTION = 0.3
BANNER_BLANK_FRACTION = 0.9  # a blank banner row: background at least this
BANNER_MIN_BLANK = 0.3  # blank rows in a banner (margins, line spacing) at least this
BANNER_LIGHT = 235  # a banner's white: every channel at least this
BANNER_DARK = 30  # a banner's black: every channel at most this
MIN_KEEP_FRACTION = 0.25  # a picture that would trim to less than this is kept whole
# Dense check: the template's thumbnail against the query's at DENSE_SCALES of its width and
# height (the query may be a crop of the template), as-is and mirrored; caption letters are
# left out of the correlation.
DENSE_SIZE = 40
DENSE_SCALES = (1.0, 0.9, 0.8)
DENSE_PRESHRINK = 4
DENSE_CHROMA_WEIGHT = 0.5  # a/b against L (Lab): colour tells smooth pictures apart
DENSE_MIN_VISIBLE = 0.3  # a query thumbnail with less left unmasked says nothing
# The correlation that scores 0.5 (a match at the default threshold), and the score of a
# perfect correlation. Calibrated on non-template photos (bench/templates.py: the tuning half
# of davis345 and scikit-image crops; false matches <= 1 %), not on any template.
DENSE_CORRELATION_AT_HALF = 0.8
DENSE_SCORE_AT_ONE = 0.8


@dataclass(frozen=True)
class Features:
    """What matching needs of one picture (a template, or one orientation of a query)."""

    descriptors: np.ndarray  # float32 (TRIMS, D), L2-normalised rows: one per trim hypothesis
    points: np.ndarray  # float32 (N, 2) keypoints in working px of the trimmed picture
    orb: np.ndarray  # uint8 (N, 32) ORB descriptors
    size: tuple[int, int]  # (width, height) of the trimmed picture at working scale
    dense: np.ndarray | None = None  # float32 (DENSE_SIZE, DENSE_SIZE, 3): templates only


@dataclass
class Query:
    """A query's features as it is and mirrored (memes are often flipped). Keypoints avoid
    likely caption letters; `unmasked()` gives keypoints taken everywhere, for line drawings
    where the caption mask also covers the picture's own black-on-white strokes."""

    plain: Features
    mirrored: Features
    coarse: np.ndarray
    boxes: list[tuple[int, int, int, int]]
    mask: np.ndarray | None = None
    _unmasked: tuple[Features, Features] | None = None
    _resampled: dict[tuple[int, int], tuple[Features, Features]] = field(default_factory=dict)
    _dense_job: Future[list[tuple[np.ndarray, np.ndarray]]] | None = None
    scores: dict[Any, Any] = field(default_factory=dict)  # the matcher's, for this query

    def dense(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """(thumbnail, weight) pairs of the dense check, mirrored ones included."""
        if self._dense_job is None:
            self.prefetch_dense(background=False)
        assert self._dense_job is not None
        return self._dense_job.result()

    def prefetch_dense(self, background: bool = True) -> None:
        """Start making the dense check's thumbnails (on a worker thread with `background`):
        the matcher asks once verification looks like failing, so they are ready by then."""
        if self._dense_job is not None:
            return
        mask = self.mask if self.mask is not None else np.zeros(self.coarse.shape[:2], np.uint8)
        if background:
            pool = executor("templates", THREADS)
            self._dense_job = pool.submit(dense_queries, self.coarse, mask, self.boxes)
        else:
            self._dense_job = Future()
            self._dense_job.set_result(dense_queries(self.coarse, mask, self.boxes))

    def caption_share(self) -> float:
        """The share of the picture the caption mask covers."""
        return 0.0 if self.mask is None else float(np.count_nonzero(self.mask)) / self.mask.size

    def unmasked(self) -> tuple[Features, Features]:
        if self._unmasked is None:
            width = self.coarse.shape[1]
            flipped = np.ascontiguousarray(self.coarse[:, ::-1])
            mirrored_boxes = [_mirror_box(box, width) for box in self.boxes]
            self._unmasked = (
                _describe(self.coarse, None, self.boxes, QUERY_FEATURES),
                _describe(flipped, None, mirrored_boxes, QUERY_FEATURES),
            )
        return self._unmasked

    def resampled(self, zoom: int, nfeatures: int) -> tuple[Features, Features]:
        """Features as `plain` and `mirrored`, with `nfeatures` keypoints taken at `zoom` times
        the working size (keypoints still in working px)."""
        key = (zoom, nfeatures)
        if key not in self._resampled:
            width = self.coarse.shape[1]
            flipped = np.ascontiguousarray(self.coarse[:, ::-1])
            mirrored_boxes = [_mirror_box(box, width) for box in self.boxes]
            mask = self.mask
            flipped_mask = None if mask is None else np.ascontiguousarray(mask[:, ::-1])
            size = WORK_SIZE * zoom
            self._resampled[key] = (
                _describe(self.coarse, mask, self.boxes, nfeatures, self.plain.descriptors, size),
                _describe(flipped, flipped_mask, mirrored_boxes, nfeatures,
                          self.mirrored.descriptors, size),
            )  # fmt: skip
        return self._resampled[key]


@dataclass(frozen=True)
class Verification:
    inliers: int
    scale: float
    rotation_degrees: float

    @property
    def score(self) -> float:
        return score_from_inliers(self.inliers)


def descriptor_size() -> int:
    """Length of a global descriptor."""
    return THUMB_SIZE**2 + 2 * CHROMA_SIZE**2


def score_from_inliers(inliers: int) -> float:
    """A match score in [0, 1): 0.5 at SCORE_HALF_INLIERS RANSAC inliers."""
    return float(inliers / (inliers + SCORE_HALF_INLIERS)) if inliers > 0 else 0.0


def to_rgb(image: np.ndarray) -> np.ndarray:
    """H x W x 3 uint8: grey expanded, alpha flattened onto white."""
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    if image.shape[2] == 4:
        alpha = image[:, :, 3:4].astype(np.float32) / 255.0
        flat = image[:, :, :3].astype(np.float32) * alpha + 255.0 * (1 - alpha)
        return np.clip(flat + 0.5, 0, 255).astype(np.uint8)
    return image[:, :, :3]


def resize_longest(image: np.ndarray, size: int) -> np.ndarray:
    """`image` scaled (down or up) so its longest side is `size` px."""
    height, width = image.shape[:2]
    scale = size / max(height, width)
    if abs(scale - 1) < 1e-3:
        return image
    new = (max(1, round(width * scale)), max(1, round(height * scale)))
    return cv2.resize(image, new, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)


def _channel_range(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel: (darkest channel, brightest channel); OpenCV is far faster than numpy's
    strided min/max over the last axis."""
    red, green, blue = cv2.split(np.ascontiguousarray(image[:, :, :3]))
    return cv2.min(cv2.min(red, green), blue), cv2.max(cv2.max(red, green), blue)


class _PixelClasses:
    """Per-pixel facts the trimming reads, computed once per picture (rows and columns)."""

    def __init__(self, image: np.ndarray) -> None:
        values = image.astype(np.float32)
        self.values, self.squares = values, values * values
        low, high = _channel_range(image)
        colourless = (high - low) <= BANNER_MAX_CHROMA
        self.colourless = colourless.astype(np.float32)
        self.light = ((low >= BANNER_LIGHT) & colourless).astype(np.float32)
        self.dark = (high <= BANNER_DARK).astype(np.float32)

    def line_flags(
        self, rows: slice, cols: slice, axis: int, banners: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """Per line along `axis` (1: rows, 0: columns) of the region: (may belong to a border
        or banner, is blank). A border line is one colour; a banner line is colourless with
        some white (or black) background; a blank line is a border line or a banner line
        that is nearly all background."""
        mean = self.values[rows, cols].mean(axis=axis)
        var = self.squares[rows, cols].mean(axis=axis) - mean * mean
        uniform = np.sqrt(np.maximum(var, 0)).max(axis=1) < UNIFORM_STD
        if not banners:
            return uniform, uniform
        background = np.maximum(
            self.light[rows, cols].mean(axis=axis), self.dark[rows, cols].mean(axis=axis)
        )
        banner = (self.colourless[rows, cols].mean(axis=axis) >= BANNER_COLOURLESS_FRACTION) & (
            background >= BANNER_BACKGROUND_FRACTION
        )
        return uniform | banner, uniform | (banner & (background >= BANNER_BLANK_FRACTION))


def _edge_cut(candidate: np.ndarray, blank: np.ndarray) -> int:
    """Rows to cut from the start: the leading candidate run, ended at its last blank row,
    and only when blank rows make up BANNER_MIN_BLANK of it (a banner is mostly margin)."""
    stop = np.flatnonzero(~candidate)
    run = int(stop[0]) if stop.size else int(candidate.size)
    blanks = np.flatnonzero(blank[:run])
    if not blanks.size:
        return 0
    cut = int(blanks[-1]) + 1
    return cut if blanks.size >= BANNER_MIN_BLANK * cut else 0


def trim_box(
    image: np.ndarray, banners: bool = True, classes: _PixelClasses | None = None
) -> tuple[int, int, int, int]:
    """(top, bottom, left, right) of the picture inside uniform borders and, with `banners`,
    white or black caption banners and side panels."""
    classes = classes or _PixelClasses(image)
    height, width = image.shape[:2]
    top, bottom, left, right = 0, height, 0, width
    for _ in range(3):  # padding around a banner: borders, banner, then borders again
        region = (slice(top, bottom), slice(left, right))
        rows, blank_rows = classes.line_flags(*region, axis=1, banners=banners)
        cols, blank_cols = classes.line_flags(*region, axis=0, banners=banners)
        cut_top, cut_bottom = _edge_cut(rows, blank_rows), _edge_cut(rows[::-1], blank_rows[::-1])
        cut_left, cut_right = _edge_cut(cols, blank_cols), _edge_cut(cols[::-1], blank_cols[::-1])
        if bottom - top - cut_top - cut_bottom < MIN_KEEP_FRACTION * height:
            cut_top = cut_bottom = 0
        if right - left - cut_left - cut_right < MIN_KEEP_FRACTION * width:
            cut_left = cut_right = 0
        if not (cut_top or cut_bottom or cut_left or cut_right):
            break
        top, bottom = top + cut_top, bottom - cut_bottom
        left, right = left + cut_left, right - cut_right
    return top, bottom, left, right


def _scaled_trim_boxes(
    small: np.ndarray, shape: tuple[int, ...]
) -> list[tuple[int, int, int, int]]:
    """trim_box with and without banners, found on a small copy (row statistics are the slow
    part) and returned in `shape` px."""
    height, width = shape[:2]
    fy, fx = height / small.shape[0], width / small.shape[1]
    classes = _PixelClasses(small)
    boxes = []
    for banners in (True, False):
        top, bottom, left, right = trim_box(small, banners, classes)
        # Round inwards: a blended row at the boundary belongs to the border, not the picture.
        boxes.append((
            min(height - 1, int(np.ceil(top * fy))), max(1, int(np.floor(bottom * fy))),
            min(width - 1, int(np.ceil(left * fx))), max(1, int(np.floor(right * fx))),
        ))  # fmt: skip
    return boxes


def caption_mask(image: np.ndarray) -> np.ndarray:
    """uint8 mask (255) of likely caption letters: white fill next to a black outline (or the
    reverse). Empty when such pixels cover so much that the picture itself is black and white."""
    low, high = _channel_range(image)
    light = ((low >= 200) & (high - low <= 40)).astype(np.uint8)
    dark = (high <= 60).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    edge = cv2.dilate(light, kernel) & cv2.dilate(dark, kernel)
    strokes = cv2.dilate(edge, kernel, iterations=2)
    mask = ((strokes > 0) & ((light > 0) | (dark > 0))).astype(np.uint8)
    mask = cv2.dilate(mask, kernel)
    if mask.mean() > 0.3:
        return np.zeros_like(mask)
    return mask * 255


def _masked_thumbnail(image: np.ndarray, mask: np.ndarray | None, size: int) -> np.ndarray:
    """float32 size x size thumbnail; masked pixels filled from their unmasked surroundings."""
    small = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32)
    if mask is None or not mask.any():
        return small
    weight = (
        1 - cv2.resize(mask, (size, size), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    )
    # Normalised convolution: average of the unmasked content around each masked pixel.
    num = cv2.GaussianBlur(small * weight[:, :, None], (0, 0), size / 16)
    den = cv2.GaussianBlur(weight, (0, 0), size / 16)[:, :, None]
    filled = num / np.maximum(den, np.float32(1e-3))
    return small * weight[:, :, None] + filled * (1 - weight[:, :, None])


def global_descriptor(picture: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """L2-normalised float32 vector of a blurred grey thumbnail and a chroma thumbnail."""
    return global_descriptors(picture, mask)[0]


def global_descriptors(
    picture: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """global_descriptor of the picture and of its mirror image (from one thumbnail: resizing
    and blurring commute with flipping)."""
    small = cv2.GaussianBlur(_masked_thumbnail(picture, mask, THUMB_SIZE * 2), (0, 0), 1.0)
    lab = cv2.cvtColor(small * np.float32(1 / 255), cv2.COLOR_RGB2Lab)
    return _thumbnail_descriptor(lab), _thumbnail_descriptor(np.ascontiguousarray(lab[:, ::-1]))


def _thumbnail_descriptor(lab: np.ndarray) -> np.ndarray:
    grey = cv2.resize(lab[:, :, 0], (THUMB_SIZE, THUMB_SIZE), interpolation=cv2.INTER_AREA)
    grey = grey - grey.mean()
    grey /= np.linalg.norm(grey) + 1e-6
    chroma = cv2.resize(lab[:, :, 1:], (CHROMA_SIZE, CHROMA_SIZE), interpolation=cv2.INTER_AREA)
    chroma = chroma.reshape(-1) / 60.0  # a/b span about +-60 for real colours
    vector = np.concatenate([grey.reshape(-1), CHROMA_WEIGHT * chroma / np.sqrt(chroma.size / 2)])
    return (vector / (np.linalg.norm(vector) + 1e-6)).astype(np.float32)


def _dense_lab(picture: np.ndarray) -> np.ndarray:
    lab = cv2.cvtColor(picture.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2Lab)
    return lab * np.array([1.0, DENSE_CHROMA_WEIGHT, DENSE_CHROMA_WEIGHT], np.float32)


def dense_thumbnail(picture: np.ndarray) -> np.ndarray:
    """float32 DENSE_SIZE x DENSE_SIZE x 3 weighted Lab thumbnail (aspect ratio ignored)."""
    size = (DENSE_SIZE, DENSE_SIZE)
    return cv2.resize(_dense_lab(picture), size, interpolation=cv2.INTER_AREA)


def dense_queries(
    coarse: np.ndarray, mask: np.ndarray, boxes: list[tuple[int, int, int, int]]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(thumbnail, weight) of each trim of a query at DENSE_SCALES of the template thumbnail's
    width and height, and mirrored; weight is 0 on caption letters."""
    full = _dense_lab(coarse)
    out = []
    for top, bottom, left, right in dict.fromkeys(boxes):
        part = (slice(top, bottom), slice(left, right))
        # Shrunk once to DENSE_PRESHRINK x the thumbnail side (area averages compose): each
        # scale then resizes a small picture, not the working-size one.
        small = (DENSE_PRESHRINK * DENSE_SIZE,) * 2
        lab = cv2.resize(full[part], small, interpolation=cv2.INTER_AREA)
        covered = cv2.resize(mask[part], small, interpolation=cv2.INTER_AREA)
        for fy in DENSE_SCALES:
            for fx in DENSE_SCALES:
                size = (round(DENSE_SIZE * fx), round(DENSE_SIZE * fy))
                thumb = cv2.resize(lab, size, interpolation=cv2.INTER_AREA)
                hidden = cv2.resize(covered, size, interpolation=cv2.INTER_AREA)
                weight = (hidden < 128).astype(np.float32)
                if weight.mean() < DENSE_MIN_VISIBLE:
                    continue
                weight = np.repeat(weight[:, :, None], 3, axis=2)
                out.append((thumb, weight))
                out.append((np.ascontiguousarray(thumb[:, ::-1]),
                            np.ascontiguousarray(weight[:, ::-1])))  # fmt: skip
    return out


def dense_correlation(
    template: np.ndarray, queries: list[tuple[np.ndarray, np.ndarray]]
) -> tuple[float, bool]:
    """(best caption-masked normalised cross-correlation, -1 to 1, of a template's dense
    thumbnail with a query's over its scales, positions and orientations; whether mirrored)."""
    return dense_correlations([template], queries)[0]


def dense_correlations(
    templates: list[np.ndarray], queries: list[tuple[np.ndarray, np.ndarray]]
) -> list[tuple[float, bool]]:
    """dense_correlation of each template thumbnail, in one matchTemplate call per query
    thumbnail: the templates side by side in one image, each result column kept only for
    the template its window lies in."""
    if not templates:
        return []
    row = np.ascontiguousarray(np.concatenate(templates, axis=1))
    starts = np.arange(len(templates)) * DENSE_SIZE

    def correlate(pair: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Per template: the best correlation with one query thumbnail."""
        thumb, weight = pair
        masked = None if weight.all() else weight
        found = cv2.matchTemplate(row, thumb, cv2.TM_CCOEFF_NORMED, mask=masked)
        columns = np.where(np.isfinite(found), found, -1.0).max(axis=0)
        span = DENSE_SIZE - thumb.shape[1] + 1  # window positions inside one template
        return np.array([columns[start : start + span].max() for start in starts])

    # The query thumbnails on THREADS threads (matchTemplate releases the GIL).
    best = np.full(len(templates), -1.0)
    mirrored = np.zeros(len(templates), bool)
    for position, here in enumerate(executor("templates", THREADS).map(correlate, queries)):
        better = here > best
        best[better], mirrored[better] = here[better], position % 2 == 1
    return [(float(c), bool(f)) for c, f in zip(best, mirrored, strict=True)]


def score_from_correlation(correlation: float) -> float:
    """A match score in [0, DENSE_SCORE_AT_ONE]: 0.5 at DENSE_CORRELATION_AT_HALF, linear
    on either side (0 at no correlation)."""
    c = DENSE_CORRELATION_AT_HALF
    if correlation >= c:
        return 0.5 + (DENSE_SCORE_AT_ONE - 0.5) * (correlation - c) / (1 - c)
    return max(0.0, 0.5 * correlation / c)


# OpenCV's ORB and CLAHE objects keep working buffers: one per thread (a query's two
# orientations, and concurrent requests, describe pictures at the same time).
_per_thread = threading.local()


def _orb(nfeatures: int) -> cv2.ORB:
    detectors: dict[int, cv2.ORB] = _per_thread.__dict__.setdefault("orb", {})
    orb = detectors.get(nfeatures)
    if orb is None:
        orb = detectors[nfeatures] = cv2.ORB_create(
            nfeatures=nfeatures,
            scaleFactor=1.2,
            nlevels=8,
            edgeThreshold=15,
            patchSize=31,
            fastThreshold=10,
        )
    return orb


def _clahe() -> cv2.CLAHE:
    clahe: cv2.CLAHE | None = getattr(_per_thread, "clahe", None)
    if clahe is None:
        clahe = _per_thread.clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8))
    return clahe


def local_features(
    grey: np.ndarray, nfeatures: int, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """ORB keypoints (float32 N x 2, px) and descriptors (uint8 N x 32) of a grey image."""
    # Local contrast equalisation first: dim, blurry or low-contrast pictures otherwise give
    # ORB too few stable corners.
    keypoints, descriptors = _orb(nfeatures).detectAndCompute(
        _clahe().apply(grey), None if mask is None else cv2.bitwise_not(mask)
    )
    if descriptors is None or not keypoints:
        return np.zeros((0, 2), np.float32), np.zeros((0, 32), np.uint8)
    # Strongest first: the vote index keeps only the first INDEX_FEATURES of a template.
    order = np.argsort([-kp.response for kp in keypoints], kind="stable")
    points = np.array([keypoints[i].pt for i in order], dtype=np.float32)
    return points, descriptors[order]


def _mirror_box(box: tuple[int, int, int, int], width: int) -> tuple[int, int, int, int]:
    top, bottom, left, right = box
    return top, bottom, width - right, width - left


def describe(image: np.ndarray) -> Features:
    """Features of a template picture."""
    coarse = resize_longest(to_rgb(image), WORK_SIZE)
    boxes = _scaled_trim_boxes(resize_longest(coarse, TRIM_SIZE), coarse.shape)
    features = _describe(coarse, None, boxes, TEMPLATE_FEATURES)
    top, bottom, left, right = boxes[1]  # borders only: a template has no caption banner
    return replace(features, dense=dense_thumbnail(coarse[top:bottom, left:right]))


def describe_query(image: np.ndarray) -> Query:
    """Features of a query picture (caption letters masked out) and of its mirror image."""
    coarse = resize_longest(to_rgb(image), WORK_SIZE)
    mask = caption_mask(coarse)
    small = _without_captions(resize_longest(coarse, TRIM_SIZE), mask)
    boxes = _scaled_trim_boxes(small, coarse.shape)
    width = coarse.shape[1]
    mirrored_boxes = [_mirror_box(box, width) for box in boxes]
    flipped = np.ascontiguousarray(coarse[:, ::-1])
    pairs = [
        global_descriptors(coarse[top:bottom, left:right], mask[top:bottom, left:right])
        for top, bottom, left, right in boxes
    ]
    plain = np.stack([pair[0] for pair in pairs])
    mirrored = np.stack([pair[1] for pair in pairs])
    flipped_mask = np.ascontiguousarray(mask[:, ::-1])
    # The two orientations side by side (ORB releases the GIL).
    mirror = executor("templates", THREADS).submit(
        _describe, flipped, flipped_mask, mirrored_boxes, QUERY_FEATURES, mirrored
    )
    as_is = _describe(coarse, mask, boxes, QUERY_FEATURES, plain)
    return Query(as_is, mirror.result(), coarse, boxes, mask)


def _without_captions(small: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """`small` with masked caption letters painted in their row's median unmasked colour, so
    a caption written on a white panel or banner leaves it blank, as in the template."""
    if mask is None or not mask.any():
        return small
    size = (small.shape[1], small.shape[0])
    hole = cv2.resize(mask, size, interpolation=cv2.INTER_AREA) > 0
    values = small.astype(np.float32)
    values[hole] = np.inf  # sorted last, so the median of the first `kept` is the unmasked one
    kept = (~hole).sum(axis=1)
    ordered = np.sort(values, axis=1)
    middle = np.minimum(kept // 2, small.shape[1] - 1)
    row_colour = ordered[np.arange(small.shape[0]), middle]  # (H, 3)
    row_colour[kept == 0] = 255.0  # a fully masked row: call it white
    out = small.copy()
    rows = np.nonzero(hole)[0]
    out[hole] = row_colour[rows].astype(np.uint8)
    return out


def _describe(
    coarse: np.ndarray, mask: np.ndarray | None, boxes: list[tuple[int, int, int, int]],
    nfeatures: int, descriptors: np.ndarray | None = None, work_size: int = WORK_SIZE,
) -> Features:  # fmt: skip
    # Two trim hypotheses: borders and banners, and borders only (a caption written on a white
    # panel of the template can make the panel look like part of the picture, or not).
    if descriptors is None:
        descriptors = _trim_descriptors(coarse, mask, boxes)
    # Keypoints from the borders-only trim: a banner trim can eat into a line drawing on
    # white, and verification does not need the banner gone (its letters are only outliers).
    top, bottom, left, right = boxes[1]
    picture = resize_longest(coarse[top:bottom, left:right], work_size)
    size = (picture.shape[1], picture.shape[0])
    grey = cv2.cvtColor(picture, cv2.COLOR_RGB2GRAY)
    orb_mask = None
    if mask is not None:
        orb_mask = cv2.resize(mask[top:bottom, left:right], size, interpolation=cv2.INTER_NEAREST)
    points, orb = local_features(grey, nfeatures, orb_mask)
    if work_size != WORK_SIZE:  # keypoints in working px, where the RANSAC tolerance holds
        points = points * np.float32(WORK_SIZE / work_size)
        size = (round(size[0] * WORK_SIZE / work_size), round(size[1] * WORK_SIZE / work_size))
    return Features(descriptors, points, orb, size)


def _trim_descriptors(
    coarse: np.ndarray, mask: np.ndarray | None, boxes: list[tuple[int, int, int, int]]
) -> np.ndarray:
    return np.stack(
        [
            global_descriptor(
                coarse[top:bottom, left:right],
                None if mask is None else mask[top:bottom, left:right],
            )
            for top, bottom, left, right in boxes
        ]
    )


def verify(query: Features, template_points: np.ndarray, template_orb: np.ndarray) -> Verification:
    """RANSAC similarity transform from template keypoints to query keypoints."""
    if len(query.orb) < 4 or len(template_orb) < 4:
        return Verification(0, 1.0, 0.0)
    from glitchzap.templates._hamming_numba import two_nearest

    distances, nearest = two_nearest(
        _words(template_orb), np.ascontiguousarray(_words(query.orb).T)
    )
    good = distances[:, 0] < RATIO * distances[:, 1]  # Lowe's ratio test
    if np.count_nonzero(good) < 4:
        return Verification(0, 1.0, 0.0)
    src = template_points[good]
    dst = query.points[nearest[good, 0]]
    # RANSAC draws from OpenCV's per-thread generator: seeded here, a verification gives the
    # same answer whichever worker thread runs it and whatever ran before it.
    cv2.setRNGSeed(RANSAC_SEED)
    matrix, inlier_flags = cv2.estimateAffinePartial2D(
        src,
        dst,
        method=cv2.RANSAC,
        ransacReprojThreshold=RANSAC_PX,
        maxIters=500,
        confidence=0.99,
    )
    if matrix is None or inlier_flags is None:
        return Verification(0, 1.0, 0.0)
    scale = float(np.hypot(matrix[0, 0], matrix[1, 0]))
    rotation = float(np.degrees(np.arctan2(matrix[1, 0], matrix[0, 0])))
    plausible = 1 / MAX_SCALE_CHANGE <= scale <= MAX_SCALE_CHANGE
    if not plausible or abs(rotation) > MAX_ROTATION_DEGREES:
        return Verification(0, scale, rotation)
    inliers = _distinct_inliers(dst[inlier_flags.ravel() > 0])
    return Verification(inliers, scale, rotation)


def _words(orb: np.ndarray) -> np.ndarray:
    """uint64 (N, 4) view of uint8 (N, 32) ORB descriptors."""
    return np.ascontiguousarray(orb).view(np.uint64)


def _distinct_inliers(points: np.ndarray) -> int:
    """Inliers counted once per 4 px cell: a repeated texture at one spot does not pile up."""
    if len(points) == 0:
        return 0
    cells = np.floor(points / 4.0).astype(np.int32)
    return len(np.unique(cells, axis=0))


def descriptor_keys(orb: np.ndarray) -> np.ndarray:
    """uint16 (N, len(VOTE_CHUNKS)) keys: chosen 16-bit chunks of each 256-bit descriptor."""
    return np.ascontiguousarray(np.ascontiguousarray(orb).view(np.uint16)[:, list(VOTE_CHUNKS)])


class VoteIndex:
    """Which templates share exact 16-bit descriptor chunks with a query (multi-index hashing).

    Two ORB descriptors of the same corner differ in a few dozen of their 256 bits, so one of
    their 16-bit chunks is often identical; unrelated descriptors collide on a chunk at random
    (about 1 in 65,536). Counting collisions per template ranks the library without trimming,
    so it finds the templates the global descriptor misses when a border or banner was not
    recognised. Sorted numpy arrays and searchsorted: a few milliseconds for 20,000 templates.
    """

    def __init__(self, keys: list[np.ndarray]) -> None:
        self.size = len(keys)
        owners = np.concatenate(
            [np.full(len(k), row, np.int32) for row, k in enumerate(keys)]
            or [np.zeros(0, np.int32)]
        )
        stacked = np.concatenate(keys or [np.zeros((0, len(VOTE_CHUNKS)), np.uint16)])
        self.tables = []
        for column in range(stacked.shape[1]):
            order = np.argsort(stacked[:, column], kind="stable")
            self.tables.append((stacked[order, column], owners[order]))

    def votes(self, query_keys: np.ndarray) -> np.ndarray:
        """float64 (templates,) weighted collision counts for a query's keys."""
        counts = np.zeros(self.size, np.float64)
        for column, (keys, owners) in enumerate(self.tables):
            wanted = np.unique(query_keys[:, column])
            lo = np.searchsorted(keys, wanted, "left")
            hi = np.searchsorted(keys, wanted, "right")
            lengths = hi - lo
            total = int(lengths.sum())
            if not total:
                continue
            # Indices lo[i] .. hi[i]-1 for every i, without a Python loop.
            starts = np.repeat(lo - np.cumsum(lengths) + lengths, lengths)
            positions = starts + np.arange(total)
            # A key most templates share says little: each query key spreads one vote over its
            # bucket (a rare exact chunk is strong evidence, a common one is noise).
            weights = np.repeat(1.0 / np.maximum(lengths, 1) ** VOTE_WEIGHT_POWER, lengths)
            counts += np.bincount(owners[positions], weights, minlength=self.size)
        return counts
