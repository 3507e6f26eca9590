"""Finding text in images with RapidOCR (PP-OCR models shipped in its wheel), with a cache.

One engine per set of options per process, built on first use from the model files inside
the installed `rapidocr` package: explicit model paths are passed, so RapidOCR never tries
to download anything. Calls are serialised per engine with a lock (RapidOCR keeps per-call
state on the engine object). Results are cached as JSON under a key made of the decoded
pixels' digest and every option that changes the result.
"""

from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from glitchzap.cache import Cache
from glitchzap.cache.codec import decode_json, encode_json
from glitchzap.cache.keys import image_digest, make_key
from glitchzap.errors import InvalidParameters, ModelNotAvailable
from glitchzap.settings import OcrSettings
from glitchzap.types import TextRegion, to_point

MODEL_FILES = {
    "Det": "PP-OCRv6_det_small.onnx",
    "Rec": "PP-OCRv6_rec_small.onnx",
    "Cls": "ch_ppocr_mobile_v2.0_cls_mobile.onnx",
}
# Options that change what the engine returns; anything else (threads) does not enter the key.
_RESULT_OPTIONS = (
    "confidence_threshold",
    "det_limit_type",
    "det_limit_side_len",
    "det_box_thresh",
    "det_unclip_ratio",
    "use_cls",
    "restore_spaces",
)
CACHE_VERSION = 3
SPACE_BOOST = 30.0  # see SpaceBiasedDecoder


@dataclass(frozen=True)
class OcrResult:
    """Regions found, how long it took (ms) and whether they came from the cache."""

    regions: list[TextRegion]
    elapsed_ms: float
    cached: bool


class EngineStats:
    """How many times an engine actually ran (cache hits do not count)."""

    def __init__(self) -> None:
        self.runs = 0
        self._lock = threading.Lock()

    def count(self) -> None:
        with self._lock:
            self.runs += 1


engine_stats = EngineStats()


def model_dir() -> Path:
    """The directory of the PP-OCR models inside the installed rapidocr package."""
    import rapidocr

    return Path(rapidocr.__file__).resolve().parent / "models"


def _engine_params(options: OcrSettings) -> dict[str, Any]:
    models = model_dir()
    missing = [name for name in MODEL_FILES.values() if not (models / name).is_file()]
    if missing:
        raise ModelNotAvailable(
            f"RapidOCR models missing in {models}: {', '.join(missing)}; "
            "reinstall with `pip install --force-reinstall rapidocr`"
        )
    params: dict[str, Any] = {
        f"{task}.model_path": str(models / f) for task, f in MODEL_FILES.items()
    }
    params.update(
        {
            "Global.log_level": "error",  # "no text found" is a normal answer, not a warning
            "Global.use_cls": options.use_cls,
            # Our own threshold filters later; RapidOCR's would drop regions we want to count.
            "Global.text_score": 0.0,
            "Det.limit_type": options.det_limit_type,
            "Det.limit_side_len": options.det_limit_side_len,
            "Det.box_thresh": options.det_box_thresh,
            "Det.unclip_ratio": options.det_unclip_ratio,
            # One line per batch: a batch is padded to its widest line, and on one CPU thread
            # batching gains nothing, so short lines ran at the long one's cost (15-30% slower).
            "Rec.rec_batch_num": 1,
        }
    )
    if options.threads:
        params["EngineConfig.onnxruntime.intra_op_num_threads"] = options.threads
    return params


class SpaceBiasedDecoder:
    """RapidOCR's CTC decoder with a prior in favour of the space class.

    The recogniser often sees a word gap yet ranks "blank" above "space" there, gluing words
    ("ITSATRAP"). Where blank wins but space scores at least 1/`boost` of it, the frame is
    decoded as a space (with blank's probability, so scores stay in 0..1). On 12 captioned
    templates, boosts from 10 to 300 restored every space with no false split; 1000 split words.
    """

    def __init__(self, inner: Any, boost: float = SPACE_BOOST) -> None:
        self.inner = inner
        self.boost = boost
        self.space = inner.dict[" "]

    def __call__(self, preds: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        probs = np.array(preds, dtype=np.float32, copy=True)
        blank, space = probs[..., 0], probs[..., self.space]
        wins = (probs.argmax(axis=2) == 0) & (space * self.boost >= blank)
        probs[..., self.space] = np.where(wins, np.nextafter(blank, np.float32(2)), space)
        return self.inner(probs, *args, **kwargs)


class _Engine:
    """A RapidOCR instance with the lock that serialises calls to it."""

    def __init__(self, options: OcrSettings) -> None:
        from rapidocr import RapidOCR

        self.engine = RapidOCR(params=_engine_params(options))
        self.lock = threading.Lock()
        if options.restore_spaces:
            recogniser = self.engine._load_rec_model()
            recogniser.postprocess_op = SpaceBiasedDecoder(recogniser.postprocess_op)

    def __call__(self, bgr: np.ndarray) -> Any:
        with self.lock:
            engine_stats.count()
            return self.engine(bgr)


@functools.cache
def _get_engine(options_json: str) -> _Engine:
    return _Engine(OcrSettings.model_validate_json(options_json))


def get_engine(options: OcrSettings) -> _Engine:
    """The process-wide engine for these options, built on first use."""
    # The confidence threshold is applied after the engine runs; it must not build a new one.
    engine_options = options.model_dump(
        include=(set(_RESULT_OPTIONS) - {"confidence_threshold"}) | {"threads"}
    )
    return _get_engine(OcrSettings(**engine_options).model_dump_json())


def _to_bgr(image: np.ndarray) -> np.ndarray:
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        raise InvalidParameters(f"Expected an H x W x 3|4 uint8 image, got {image.shape}")
    code = cv2.COLOR_RGBA2BGR if image.shape[2] == 4 else cv2.COLOR_RGB2BGR
    return cv2.cvtColor(image, code)


def _downscale(image: np.ndarray, max_dimension: int) -> tuple[np.ndarray, float]:
    """The image with its longest side at most `max_dimension`, and the factor applied."""
    longest = max(image.shape[:2])
    if longest <= max_dimension:
        return image, 1.0
    scale = max_dimension / longest
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA), scale


def read_text(
    image: np.ndarray, options: OcrSettings, *, max_dimension: int = 1024
) -> list[TextRegion]:
    """Text lines in `image` scoring at least `options.confidence_threshold`, uncached."""
    small, scale = _downscale(_to_bgr(image), max_dimension)
    output = get_engine(options)(small)
    if output.boxes is None or output.txts is None or not len(output.txts):
        return []
    regions = []
    for box, text, score in zip(output.boxes, output.txts, output.scores, strict=True):
        if score < options.confidence_threshold:
            continue
        corners = np.asarray(box, dtype=np.float64) / scale
        p0, p1, p2, p3 = (to_point(p) for p in corners)
        regions.append(TextRegion((p0, p1, p2, p3), text.strip(), round(float(score), 4)))
    return regions


def ocr_cache_key(image: np.ndarray, options: OcrSettings, max_dimension: int) -> str:
    params = {
        **options.model_dump(include=set(_RESULT_OPTIONS)),
        "max_dimension": max_dimension,
        "version": CACHE_VERSION,
    }
    return make_key("ocr", image_digest(image), params)


def _decode_regions(data: bytes) -> list[TextRegion] | None:
    """Regions from a cache entry, or None when the entry is not what we stored."""
    value = decode_json(data)
    if not isinstance(value, dict) or not isinstance(value.get("regions"), list):
        return None
    try:
        return [TextRegion.from_dict(item) for item in value["regions"]]
    except (KeyError, TypeError, ValueError):
        return None


def find_text(
    image: np.ndarray,
    options: OcrSettings,
    *,
    max_dimension: int = 1024,
    cache: Cache | None = None,
) -> OcrResult:
    """Text lines in `image`, from `cache` when this image was read with these options before."""
    start = time.perf_counter()
    key = ocr_cache_key(image, options, max_dimension) if cache is not None else ""
    if cache is not None:
        data = cache.get(key)
        regions = _decode_regions(data) if data is not None else None
        if regions is not None:
            return OcrResult(regions, _ms_since(start), cached=True)
    regions = read_text(image, options, max_dimension=max_dimension)
    if cache is not None:
        cache.set(key, encode_json({"regions": [r.to_dict() for r in regions]}))
    return OcrResult(regions, _ms_since(start), cached=False)


def _ms_since(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 2)
