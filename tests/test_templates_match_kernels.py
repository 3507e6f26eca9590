"""The fast paths of template matching give what the slow ones gave: the numba two-nearest
Hamming kernel ORB verification uses (the same neighbours and distances as a brute-force
reference and as OpenCV's BFMatcher, ties to the lower index), and the dense check comparing
all candidates in one call."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import data

from glitchzap.templates._hamming_numba import two_nearest
from glitchzap.templates.match import local_features


def words(orb: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(orb).view(np.uint64)


def reference(rows: np.ndarray, against: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Brute force on bits: (N x 2 distances, N x 2 indices), stable order on ties."""
    bits_rows = np.unpackbits(rows, axis=1).astype(np.int32)
    bits_against = np.unpackbits(against, axis=1).astype(np.int32)
    distance = (bits_rows[:, None, :] != bits_against[None, :, :]).sum(axis=2)
    order = np.argsort(distance, axis=1, kind="stable")[:, :2]
    return np.take_along_axis(distance, order, axis=1), order


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_brute_force_including_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    against = rng.integers(0, 256, (300, 32), dtype=np.uint8)
    against[7] = against[3]  # exact duplicates: the lower index must win the tie
    rows = np.concatenate([rng.integers(0, 256, (200, 32), dtype=np.uint8), against[[3, 50]]])
    rows[0] = against[10]
    rows[0, 5] ^= 4  # one bit from a known neighbour
    distances, indices = two_nearest(words(rows), np.ascontiguousarray(words(against).T))
    expected_d, expected_i = reference(rows, against)
    np.testing.assert_array_equal(distances, expected_d)
    np.testing.assert_array_equal(indices, expected_i)
    assert tuple(indices[-2]) == (3, 7) and tuple(distances[-2]) == (0, 0)
    assert distances[0, 0] == 1 and indices[0, 0] == 10


def test_agrees_with_opencv_on_real_orb_descriptors() -> None:
    grey = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2GRAY)
    _, query = local_features(grey, 900)
    _, template = local_features(cv2.resize(grey, (400, 400)), 500)
    distances, indices = two_nearest(words(template), np.ascontiguousarray(words(query).T))
    pairs = cv2.BFMatcher(cv2.NORM_HAMMING).knnMatch(template, query, k=2)
    np.testing.assert_array_equal(distances, [[p[0].distance, p[1].distance] for p in pairs])
    # Same nearest neighbour wherever the nearest distance is not tied.
    unique = distances[:, 0] < distances[:, 1]
    assert unique.mean() > 0.5
    np.testing.assert_array_equal(
        indices[unique, 0], [p[0].trainIdx for p in pairs if p[0].distance < p[1].distance]
    )


def test_dense_correlations_side_by_side_equal_one_at_a_time() -> None:
    """The dense check compares all candidates in one matchTemplate call per query thumbnail;
    each template's best correlation and orientation are those of comparing it alone."""
    from glitchzap.templates import match as m

    pictures = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket()]
    thumbnails = [m.dense_thumbnail(p) for p in pictures]
    query = m.describe_query(np.ascontiguousarray(data.chelsea()[20:250, 30:400, :][:, ::-1]))
    together = m.dense_correlations(thumbnails, query.dense())
    for thumbnail, (correlation, mirrored) in zip(thumbnails, together, strict=True):
        alone = m.dense_correlations([thumbnail], query.dense())[0]
        assert correlation == pytest.approx(alone[0], abs=1e-5) and mirrored == alone[1]
    assert max(together)[0] == together[1][0] and together[1][1]  # the cat, found mirrored
