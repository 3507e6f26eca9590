"""The templates' CLIP image embeddings: stored in the index, held in memory, filled lazily.

`Store.write` stores a template's embedding when the store has a CLIP backend. A template
lacking one under the configured model (written before CLIP was configured, under another
model, or with a picture replaced by a process without CLIP) gets it here on first use, and
it is stored for next time. Stored rows are keyed by template id and `ClipBackend.model_digest`
and used only while the template's picture is the one they were computed from.
"""

from __future__ import annotations

import threading

import numpy as np

from glitchzap.cache.codec import decode_array
from glitchzap.errors import GlitchzapError
from glitchzap.io import load_image
from glitchzap.settings import LimitsSettings
from glitchzap.templates.clip import ClipBackend
from glitchzap.templates.store import Store


class ClipIndex:
    """Every template's CLIP image embedding (rebuilt when the store's generation changes)."""

    def __init__(self, store: Store, backend: ClipBackend, limits: LimitsSettings) -> None:
        self.store = store
        self.backend = backend
        self.limits = limits
        self._cached: tuple[int, list[str], np.ndarray] | None = None
        self._lock = threading.Lock()

    def vectors(self) -> tuple[list[str], np.ndarray]:
        """(template ids sorted, float32 N x D unit embeddings), computing missing ones."""
        generation = self.store.generation()
        with self._lock:
            if self._cached is not None and self._cached[0] == generation:
                return self._cached[1], self._cached[2]
            ids, vectors = self._load()
            matrix = (np.stack(vectors) if vectors
                      else np.zeros((0, 0), np.float32))  # fmt: skip
            self._cached = (generation, ids, matrix)
            return ids, matrix

    def nearest(self, image: np.ndarray, count: int) -> list[str]:
        """Ids of the `count` templates whose embeddings are closest to `image`'s, closest
        first."""
        ids, matrix = self.vectors()
        count = min(count, len(ids))
        if count <= 0:
            return []
        similarity = matrix @ self.backend.embed_image(image)
        order = np.argsort(-similarity, kind="stable")[:count]
        return [ids[i] for i in order]

    def text_similarity(self, text: str) -> tuple[list[str], np.ndarray]:
        """(template ids, cosine in [-1, 1] of each template's picture to `text`)."""
        ids, matrix = self.vectors()
        if not ids:
            return [], np.zeros(0, np.float32)
        return ids, matrix @ self.backend.embed_text(text)

    def _load(self) -> tuple[list[str], list[np.ndarray]]:
        """The stored embeddings, and those missing computed from the pictures and stored;
        a template whose picture no longer loads is left out (it cannot match either)."""
        model = self.backend.model_digest
        ids: list[str] = []
        vectors: list[np.ndarray] = []
        computed: list[tuple[str, str, np.ndarray]] = []
        for row in self.store.clip_rows(model):
            vector = decode_array(row["vector"]) if row["vector"] is not None else None
            if vector is None or vector.ndim != 1 or (vectors and vector.shape != vectors[0].shape):
                vector = self._compute(row["id"], row["image_file"])
                if vector is None:
                    continue
                computed.append((row["id"], row["digest"], vector))
            ids.append(row["id"])
            vectors.append(vector.astype(np.float32, copy=False))
        if computed:
            self.store.put_clip(model, computed)
        return ids, vectors

    def _compute(self, template_id: str, image_file: str) -> np.ndarray | None:
        try:
            pixels = load_image(self.store.folder(template_id) / image_file, limits=self.limits)
        except (GlitchzapError, OSError):
            return None
        return self.backend.embed_image(pixels)
