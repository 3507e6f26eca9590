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
import unicodedata
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
    "prefer_plain_letters",
    "edge_band",
)
# Options applied around the engine, which must not build a new one.
_CALL_OPTIONS = {"confidence_threshold", "edge_band"}
CACHE_VERSION = 4
SPACE_BOOST = 30.0  # see SpaceBiasedDecoder
PLAIN_BOOST = 2.5  # see SpaceBiasedDecoder: a plain letter within 1/2.5 of its accented twin wins
# Small caption lines (a long bottom line, a banner's second line) sit near the top and bottom
# edges; the detector, run at det_limit_side_len on the whole picture, shrinks them below what
# it finds. The bands `edge_band` high at each edge are detected again at up to EDGE_DET_SIDE
# px, and the lines found there that no line read already covers are recognised.
EDGE_DET_SIDE = 1024
# Only lines the whole-picture pass could have missed are taken from the bands: at most this
# tall (px) at that pass's scale. A taller "line" there was seen and rejected (on memegen's
# blank ants picture, a texture read as "XS" at 61 px).
EDGE_MAX_LINE_PX = 24


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


def _accent_twins(characters: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(accented, plain) class indices: each accented Latin letter of the recogniser's
    dictionary and the plain letter it is drawn on (É -> E, ñ -> n)."""
    index = {ch: i for i, ch in enumerate(characters)}
    pairs = []
    for ch, i in index.items():
        base = unicodedata.normalize("NFD", ch)[:1]
        if len(ch) == 1 and base != ch and base.isascii() and base.isalpha() and base in index:
            pairs.append((i, index[base]))
    accented, plain = zip(*pairs, strict=True) if pairs else ((), ())
    return np.asarray(accented, dtype=np.intp), np.asarray(plain, dtype=np.intp)


class SpaceBiasedDecoder:
    """RapidOCR's CTC decoder with two priors: for the space class, and for plain letters
    over their accented twins.

    Space: the recogniser often sees a word gap yet ranks "blank" above "space" there, gluing
    words ("ITSATRAP"). Where blank wins but space scores at least 1/`boost` of it, the frame
    is decoded as a space (with blank's probability, so scores stay in 0..1). On 12 captioned
    templates, boosts from 10 to 300 restored every space with no false split; 1000 split words.

    Accents: on plain upper-case meme lettering, JPEG ringing above a letter reads as an accent
    now and then ("ONE DOES ÑOT", "WÊ ARE"). Where an accented letter wins but its plain twin
    scores at least 1/`plain_boost` of it, the plain letter is decoded; a clearly drawn accent
    (CAFÉ, SEÑOR) scores its twin far lower and stays. 2.5 is the largest boost that changed no
    reading of 20 accented captions (French, Spanish, German words, plain and JPEG q70 at 60 %);
    3 turned PIÑATA into PINATA, 4 also NOËL into NOEL. 0 turns it off.
    """

    def __init__(
        self, inner: Any, boost: float = SPACE_BOOST, plain_boost: float = PLAIN_BOOST
    ) -> None:
        self.inner = inner
        self.boost = boost
        self.plain_boost = plain_boost
        self.space = inner.dict[" "]
        self.accented, self.plain = _accent_twins(list(inner.character))

    def __call__(self, preds: np.ndarray, *args: Any, **kwargs: Any) -> Any:
        probs = np.array(preds, dtype=np.float32, copy=True)
        if self.plain_boost and self.accented.size:
            self._prefer_plain(probs)
        blank, space = probs[..., 0], probs[..., self.space]
        wins = (probs.argmax(axis=2) == 0) & (space * self.boost >= blank)
        probs[..., self.space] = np.where(wins, np.nextafter(blank, np.float32(2)), space)
        return self.inner(probs, *args, **kwargs)

    def _prefer_plain(self, probs: np.ndarray) -> None:
        """Swap an accented winner's probability with its plain twin's where the twin is close."""
        best = probs.argmax(axis=2)
        lookup = np.full(probs.shape[2], -1, dtype=np.intp)
        lookup[self.accented] = self.plain
        twin = lookup[best]
        frames = np.nonzero(twin >= 0)
        if not frames[0].size:
            return
        won = probs[frames[0], frames[1], best[frames]]
        plain = probs[frames[0], frames[1], twin[frames]]
        close = plain * self.plain_boost >= won
        b, t = frames[0][close], frames[1][close]
        probs[b, t, twin[frames][close]] = won[close]
        probs[b, t, best[frames][close]] = plain[close]


class _Engine:
    """A RapidOCR instance with the lock that serialises calls to it."""

    def __init__(self, options: OcrSettings) -> None:
        from rapidocr import RapidOCR

        self.engine = RapidOCR(params=_engine_params(options))
        self.lock = threading.Lock()
        if options.restore_spaces or options.prefer_plain_letters:
            recogniser = self.engine._load_rec_model()
            recogniser.postprocess_op = SpaceBiasedDecoder(
                recogniser.postprocess_op,
                boost=SPACE_BOOST if options.restore_spaces else 0.0,
                plain_boost=PLAIN_BOOST if options.prefer_plain_letters else 0.0,
            )

    def __call__(self, bgr: np.ndarray) -> Any:
        with self.lock:
            engine_stats.count()
            # Passed every call: RapidOCR keeps these flags on the engine once given.
            return self.engine(bgr, use_det=True, use_cls=None, use_rec=True)

    def detect(self, bgr: np.ndarray, limit_side_len: int) -> list[np.ndarray]:
        """Text line boxes (4 x 2, px of `bgr`) found with the longest side at most
        `limit_side_len` (never enlarged)."""
        from rapidocr.ch_ppocr_det.utils import DetPreProcess

        with self.lock:
            detector = self.engine._load_det_model()
            side = min(limit_side_len, max(bgr.shape[:2]))
            prepared = DetPreProcess(side, "max", detector.mean, detector.std)(bgr)
            if prepared is None:
                return []
            boxes, _ = detector.postprocess_op(detector.session(prepared), bgr.shape[:2])
        return [np.asarray(box, dtype=np.float32) for box in boxes]

    def recognise(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        """(text, score) of each cropped line."""
        from rapidocr.ch_ppocr_rec import TextRecInput

        with self.lock:
            output = self.engine._load_rec_model()(TextRecInput(img=crops))
        return list(zip(output.txts or (), output.scores or (), strict=True))


@functools.cache
def _get_engine(options_json: str) -> _Engine:
    return _Engine(OcrSettings.model_validate_json(options_json))


def get_engine(options: OcrSettings) -> _Engine:
    """The process-wide engine for these options, built on first use."""
    # The confidence threshold is applied after the engine runs; it must not build a new one.
    engine_options = options.model_dump(
        include=(set(_RESULT_OPTIONS) - _CALL_OPTIONS) | {"threads"}
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
    engine = get_engine(options)
    output = engine(small)
    lines: list[tuple[np.ndarray, str, float]] = []
    if output.boxes is not None and output.txts is not None and len(output.txts):
        lines = list(zip(output.boxes, output.txts, output.scores, strict=True))
    if options.edge_band:
        known = [box for box, _, _ in lines]
        det_scale = min(1.0, options.det_limit_side_len / max(small.shape[:2]))
        lines += _read_edges(engine, small, known, options.edge_band, EDGE_MAX_LINE_PX / det_scale)
    regions = []
    for box, text, score in lines:
        if score < options.confidence_threshold or not text.strip():
            continue
        corners = np.asarray(box, dtype=np.float64) / scale
        p0, p1, p2, p3 = (to_point(p) for p in corners)
        regions.append(TextRegion((p0, p1, p2, p3), text.strip(), round(float(score), 4)))
    return regions


def _read_edges(
    engine: _Engine, bgr: np.ndarray, known: list[np.ndarray], band: float, max_height: float
) -> list[tuple[np.ndarray, str, float]]:
    """Lines in the top and bottom bands (`band` of the height each) that the whole-picture
    pass missed: detected at up to EDGE_DET_SIDE px, at most `max_height` px tall, not cut by
    the band's inner edge, recognised; boxes in `bgr`'s px."""
    from rapidocr.utils.process_img import get_rotate_crop_image

    height = bgr.shape[0]
    tall = max(1, round(height * band))
    boxes: list[np.ndarray] = []
    for top in sorted({0, max(0, height - tall)}):
        strip = np.ascontiguousarray(bgr[top : top + tall])
        inner_edge = top + tall if top == 0 else top
        for box in engine.detect(strip, EDGE_DET_SIDE):
            box = box + np.array([0, top], dtype=np.float32)
            low, high = float(box[:, 1].min()), float(box[:, 1].max())
            cut = low <= inner_edge + 1 and high >= inner_edge - 1 and 0 < inner_edge < height
            if cut or high - low > max_height:
                continue
            if not any(_overlaps(box, other) for other in known + boxes):
                boxes.append(box)
    if not boxes:
        return []
    crops = [get_rotate_crop_image(bgr, box.copy()) for box in boxes]
    return [
        (box, text, score)
        for box, (text, score) in zip(boxes, engine.recognise(crops), strict=True)
    ]


def _overlaps(box: np.ndarray, other: np.ndarray) -> bool:
    """Whether the centre of either box's bounding rectangle lies inside the other's."""
    (ax0, ay0), (ax1, ay1) = box.min(axis=0), box.max(axis=0)
    (bx0, by0), (bx1, by1) = np.min(other, axis=0), np.max(other, axis=0)
    acx, acy, bcx, bcy = (ax0 + ax1) / 2, (ay0 + ay1) / 2, (bx0 + bx1) / 2, (by0 + by1) / 2
    return bool(
        (bx0 <= acx <= bx1 and by0 <= acy <= by1) or (ax0 <= bcx <= ax1 and ay0 <= bcy <= ay1)
    )


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
