"""Optional CLIP backend: image and text embeddings from a local ONNX export.

Off unless `templates.clip_model_path` names a folder holding `image.onnx` (input: float
N x 3 x S x S, CLIP-normalised; output: N x D), `text.onnx` (input: int64 N x 77 token ids;
output: N x D) and `tokenizer.json` (a Hugging Face `tokenizers` file). Nothing is ever
downloaded. onnxruntime is imported here only, so the CLI stays fast.

What the library does with it (`embeddings.py` keeps the templates' image embeddings):
`search` blends the text->image cosine with the full-text relevance (`search.py`), and `match`
shortlists the templates whose image embeddings are closest to the query's as one more set of
candidates for ORB/dense verification (`matcher.py`); CLIP never decides a match by itself.
`model_digest` names the model (its three files and the input size), so the stored embeddings
of one model are never used with another.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from glitchzap.cache.keys import image_digest
from glitchzap.errors import ModelNotAvailable
from glitchzap.settings import TemplatesSettings

MEAN = np.array([0.48145466, 0.4578275, 0.40821073], np.float32)  # CLIP's normalisation
STD = np.array([0.26862954, 0.26130258, 0.27577711], np.float32)
CONTEXT_LENGTH = 77
FILES = ("image.onnx", "text.onnx", "tokenizer.json")


class ClipBackend:
    """Two ONNX Runtime sessions and an LRU of image embeddings keyed by pixel digest."""

    def __init__(self, folder: Path, options: TemplatesSettings) -> None:
        missing = [name for name in FILES if not (folder / name).is_file()]
        if missing:
            raise ModelNotAvailable(
                f"CLIP model folder {folder} lacks {', '.join(missing)}: export a CLIP model "
                "to ONNX there, or unset templates.clip_model_path"
            )
        import onnxruntime as ort

        providers = ["CPUExecutionProvider"]
        if options.enable_gpu and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        try:
            self.image_session = ort.InferenceSession(
                str(folder / "image.onnx"), providers=providers
            )
            self.text_session = ort.InferenceSession(str(folder / "text.onnx"), providers=providers)
        except Exception as exc:  # onnxruntime raises its own untyped errors on bad files
            raise ModelNotAvailable(f"Cannot load the CLIP model in {folder}: {exc}") from exc
        self.tokenizer = _load_tokenizer(folder / "tokenizer.json")
        self.size = options.max_image_size
        self.half = options.enable_half_precision and _takes_half(self.image_session)
        self.cache_size = options.cache_size
        try:
            self.model_digest = model_digest(folder, self.size, self.half)
        except OSError as exc:
            raise ModelNotAvailable(f"Cannot read the CLIP model in {folder}: {exc}") from exc
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def preprocess(self, image: np.ndarray) -> np.ndarray:
        """1 x 3 x S x S float32: shorter side to S, centre crop, CLIP normalisation."""
        rgb = image[:, :, :3] if image.ndim == 3 else np.repeat(image[:, :, None], 3, axis=2)
        height, width = rgb.shape[:2]
        scale = self.size / min(height, width)
        resized = cv2.resize(
            rgb, (max(self.size, round(width * scale)), max(self.size, round(height * scale))),
            interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC,
        )  # fmt: skip
        top = (resized.shape[0] - self.size) // 2
        left = (resized.shape[1] - self.size) // 2
        crop = resized[top : top + self.size, left : left + self.size].astype(np.float32) / 255
        return ((crop - MEAN) / STD).transpose(2, 0, 1)[None]

    def embed_image(self, image: np.ndarray) -> np.ndarray:
        """L2-normalised float32 (D,) embedding, cached by the pixels' digest."""
        key = image_digest(image)
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None:
                self._cache.move_to_end(key)
                return cached
        batch = self.preprocess(image)
        name = self.image_session.get_inputs()[0].name
        output = self.image_session.run(
            None, {name: batch.astype(np.float16 if self.half else np.float32)}
        )
        vector = _normalise(np.asarray(output[0], np.float32)[0])
        with self._lock:
            self._cache[key] = vector
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return vector

    def embed_text(self, text: str) -> np.ndarray:
        """L2-normalised float32 (D,) embedding of a search phrase."""
        ids = np.zeros((1, CONTEXT_LENGTH), np.int64)
        tokens = self.tokenizer.encode(text).ids[:CONTEXT_LENGTH]
        ids[0, : len(tokens)] = tokens
        name = self.text_session.get_inputs()[0].name
        return _normalise(np.asarray(self.text_session.run(None, {name: ids})[0], np.float32)[0])


def model_digest(folder: Path, size: int, half: bool) -> str:
    """A short hash of the model files and the input they are fed (stored image embeddings are
    only reused under the same digest)."""
    hasher = hashlib.blake2b(f"{size}:{int(half)}".encode(), digest_size=16)
    for name in FILES:
        with (folder / name).open("rb") as stream:
            while chunk := stream.read(1 << 20):
                hasher.update(chunk)
    return hasher.hexdigest()


def _normalise(vector: np.ndarray) -> np.ndarray:
    return (vector / (np.linalg.norm(vector) + 1e-8)).astype(np.float32)


def _takes_half(session: Any) -> bool:
    return "float16" in str(session.get_inputs()[0].type)


def _load_tokenizer(path: Path) -> Any:
    try:
        from tokenizers import Tokenizer
    except ImportError as exc:
        raise ModelNotAvailable("The CLIP backend needs the `tokenizers` package") from exc
    return Tokenizer.from_file(str(path))


_backends: dict[Path, ClipBackend] = {}
_backends_lock = threading.Lock()


def get_clip(options: TemplatesSettings) -> ClipBackend | None:
    """The CLIP backend for `templates.clip_model_path`, or None when none is configured."""
    if options.clip_model_path is None:
        return None
    folder = options.clip_model_path.expanduser().resolve()
    with _backends_lock:
        backend = _backends.get(folder)
        if backend is None:
            backend = _backends[folder] = ClipBackend(folder, options)
        return backend
