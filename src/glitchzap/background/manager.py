"""The model manager: exactly one model session resident, shared by every caller.

Loading another model unloads the previous one first (and runs the garbage collector, so a
server swapping models does not hold two sessions' memory). `precision` picks the model's
float32 file (`fp32`, the default) or its int8 variant (quantize.py): `auto` runs int8 on the CPU
where the model has an int8 recipe and falls back to float32, saying so, when the variant cannot
be derived.
A lock serialises loads, runs and unloads; an optional timer unloads the session after
`idle_unload_seconds` without use. A model missing from `models_dir` is fetched on first use
unless `auto_fetch` is off (files.ensure_model_file).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np

from glitchzap.background.base import Device, ModelSession, cuda_usable
from glitchzap.background.files import ensure_model_file
from glitchzap.background.models import get_spec
from glitchzap.background.quantize import ensure_int8
from glitchzap.errors import InvalidParameters, ModelNotAvailable

Precision = Literal["auto", "fp32", "int8"]

log = logging.getLogger(__name__)


class ModelManager:
    def __init__(
        self,
        models_dir: Path,
        *,
        device: Device = "auto",
        idle_unload_seconds: float | None = None,
        warmup: bool = False,
        cpu_mem_arena: bool = True,
        threads: int = 0,
        precision: Precision = "fp32",
        auto_fetch: bool = True,
    ) -> None:
        self.models_dir = Path(models_dir)
        self.auto_fetch = auto_fetch  # fetch a missing or corrupt model file on first use
        self.precision = precision
        self._fp32_fallback: set[str] = set()  # models whose int8 variant could not be made
        self.device = device
        self.idle_unload_seconds = idle_unload_seconds
        self.warmup = warmup
        self.cpu_mem_arena = cpu_mem_arena
        self.threads = threads
        self.loads = 0
        self.model_runs = 0  # every model inference since the manager was built
        self._session: ModelSession | None = None
        self._lock = threading.RLock()
        self._last_used = 0.0
        self._timer: threading.Timer | None = None

    @property
    def loaded_model(self) -> str | None:
        return self._session.spec.name if self._session else None

    def resident_sessions(self) -> int:
        """How many model sessions this manager holds (0 or 1)."""
        return 0 if self._session is None else 1

    def precision_for(self, name: str) -> Literal["fp32", "int8"]:
        """The weights `name` runs with here (part of the mask cache key); loads nothing."""
        spec = get_spec(name)
        if self.precision == "int8":
            if spec.int8_keep_fp32 is None:
                raise InvalidParameters(
                    f"{name} has no int8 variant; set models.precision to fp32 or auto"
                )
            return "int8"
        if self.precision == "fp32" or spec.int8_keep_fp32 is None:
            return "fp32"
        if name in self._fp32_fallback or cuda_usable(self.device):
            return "fp32"  # auto: float32 on the GPU, where int8 QDQ gains nothing
        return "int8"

    def _model_file(self, name: str) -> tuple[Path, Literal["fp32", "int8"]]:
        spec = get_spec(name)
        path = ensure_model_file(name, self.models_dir, auto_fetch=self.auto_fetch)
        if self.precision_for(name) == "fp32":
            return path, "fp32"
        try:
            return ensure_int8(spec, path, self.models_dir), "int8"
        except ModelNotAvailable as exc:
            if self.precision == "int8":
                raise
            log.warning("%s; running %s in float32", exc, name)
            self._fp32_fallback.add(name)
            return path, "fp32"

    def session(self, name: str) -> ModelSession:
        """The resident session for `name`, loading it (and unloading any other) if needed."""
        with self._lock:
            if self._session is not None and self._session.spec.name == name:
                return self._session
            spec = get_spec(name)
            path, precision = self._model_file(name)
            self._unload_locked()
            started = time.perf_counter()
            session = ModelSession(
                spec, path, self.device, self.cpu_mem_arena, self.threads, precision
            )
            if self.warmup:
                # Two runs: whatever ONNX Runtime grows lazily is grown before a request.
                blank = np.zeros((spec.input_size, spec.input_size, 3), np.uint8)
                session.predict(blank)
                session.predict(blank)
            self._session = session
            self.loads += 1
            log.info(
                "loaded model %s (%s) on %s in %.2fs",
                name,
                precision,
                session.provider,
                time.perf_counter() - started,
            )
            return session

    def predict(self, name: str, image: np.ndarray) -> np.ndarray:
        """The low-resolution mask of `image` by model `name` (see ModelSession.predict)."""
        with self._lock:
            mask = self.session(name).predict(image)
            self.model_runs += 1
            self._touch()
            return mask

    def unload(self) -> None:
        """Drop the resident session and free its memory."""
        with self._lock:
            self._unload_locked()

    def _unload_locked(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._session is None:
            return
        name = self._session.spec.name
        self._session.close()
        self._session = None
        gc.collect()
        log.info("unloaded model %s", name)

    def _touch(self) -> None:
        self._last_used = time.monotonic()
        if self.idle_unload_seconds is None or self._timer is not None:
            return
        self._timer = threading.Timer(self.idle_unload_seconds, self._unload_if_idle)
        self._timer.daemon = True
        self._timer.start()

    def _unload_if_idle(self) -> None:
        with self._lock:
            self._timer = None
            assert self.idle_unload_seconds is not None
            idle = time.monotonic() - self._last_used
            if idle >= self.idle_unload_seconds:
                self._unload_locked()
            elif self._session is not None:
                # Used since the timer was armed: wait out the rest of the idle period.
                self._timer = threading.Timer(self.idle_unload_seconds - idle, self._unload_if_idle)
                self._timer.daemon = True
                self._timer.start()

    def status(self) -> dict[str, Any]:
        """What doctor and /api/performance report: the model, the provider in use, counters."""
        session = self._session
        return {
            "model": session.spec.name if session else None,
            "provider": session.provider if session else None,
            "providers": list(session.providers) if session else [],
            "precision": session.precision if session else None,
            "precision_setting": self.precision,
            "device": self.device,
            "models_dir": str(self.models_dir),
            "loads": self.loads,
            "model_runs": self.model_runs,
            "idle_unload_seconds": self.idle_unload_seconds,
            "cpu_mem_arena": self.cpu_mem_arena,
        }
