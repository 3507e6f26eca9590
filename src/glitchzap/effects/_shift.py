"""Adding an integer-shifted copy of an array into another, with edge replication."""

from __future__ import annotations

import numpy as np


def _spans(n: int, d: int) -> tuple[slice, slice, slice, int]:
    """(dst main, src main, dst edge, src edge index) for a shift of `d` along an axis of n."""
    d = max(-n, min(n, d))
    if d >= 0:
        return slice(0, n - d), slice(d, n), slice(n - d, n), n - 1
    return slice(-d, n), slice(0, n + d), slice(0, -d), 0


def shift_add(acc: np.ndarray, src: np.ndarray, dx: int, dy: int) -> None:
    """acc[y, x] += src[clamp(y + dy), clamp(x + dx)] for every pixel, in place."""
    h, w = src.shape[:2]
    rows_dst, rows_src, rows_edge, row_edge = _spans(h, dy)
    cols_dst, cols_src, cols_edge, col_edge = _spans(w, dx)
    parts = [
        (rows_dst, cols_dst, rows_src, cols_src),
        (rows_dst, cols_edge, rows_src, slice(col_edge, col_edge + 1)),
        (rows_edge, cols_dst, slice(row_edge, row_edge + 1), cols_src),
        (rows_edge, cols_edge, slice(row_edge, row_edge + 1), slice(col_edge, col_edge + 1)),
    ]
    for dst_rows, dst_cols, src_rows, src_cols in parts:
        target = acc[dst_rows, dst_cols]
        if target.size:
            np.add(target, src[src_rows, src_cols], out=target)


def round_to_uint8(values: np.ndarray) -> np.ndarray:
    """float32 values rounded and saturated to uint8 exactly as the engine's final step does."""
    import cv2

    shape = values.shape
    flat = np.ascontiguousarray(values).reshape(shape[0], -1, shape[-1] if values.ndim == 3 else 1)
    return cv2.add(flat, np.zeros(4, np.float64), dtype=cv2.CV_8U).reshape(shape)
