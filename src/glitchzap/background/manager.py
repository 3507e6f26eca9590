"""The model manager: at most `max_resident` model sessions resident, shared by every caller.

A quality mode may run two models on each photo (modes.py), so two stay resident by default;
loading one more unloads the least recently used first (and runs the garbage collector, so a
server swapping models does not hold more sessions' memory than that). `precision` picks the
arithmetic: `fp32` the published float32 weights (the constructor's default); `bf16` the same
weights computed in bfloat16 by OpenVINO where the CPU has bfloat16, float32 elsewhere, saying
so; `int8` the model's int8 variant (quantize.py); `auto` (the settings' default) per model, the
fastest arithmetic judged safe on held-out photos (bench/precision_heldout.py): bf16 for models
whose spec says so (isnet-imgly), float32 for the others (u2netp's int8 and bf16 masks both
drift from float32's on some photos). `backend` (auto, onnxruntime, openvino) picks the runtime:
auto is OpenVINO for bf16, ONNX Runtime otherwise.
A lock serialises loads, runs and unloads; an optional timer unloads the session after
`idle_unload_seconds` without use. A model missing from `models_dir` is fetched on first use
unless `auto_fetch` is off (files.ensure_model_file).
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Literal

import numpy as np

from glitchzap.background.base import Device, ModelSession, cuda_usable
from glitchzap.background.files import ensure_model_file
from glitchzap.background.models import get_spec
from glitchzap.background.quantize import ensure_int8
from glitchzap.errors import InvalidParameters

Precision = Literal["auto", "fp32", "bf16", "int8"]
Resolved = Literal["fp32", "bf16", "int8"]
BackendSetting = Literal["auto", "onnxruntime", "openvino"]
MAX_RESIDENT = 2  # the most models one quality mode runs (modes.py)

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
        backend: BackendSetting = "auto",
        max_resident: int = MAX_RESIDENT,
    ) -> None:
        self.models_dir = Path(models_dir)
        self.auto_fetch = auto_fetch  # fetch a missing or corrupt model file on first use
        self.precision = precision
        self.backend = backend
        self.max_resident = max(1, max_resident)
        self.device = device
        self.idle_unload_seconds = idle_unload_seconds
        self.warmup = warmup
        self.cpu_mem_arena = cpu_mem_arena
        self.threads = threads
        self.loads = 0
        self.model_runs = 0  # every model inference since the manager was built
        self._sessions: OrderedDict[str, ModelSession] = OrderedDict()  # least recent first
        self._lock = threading.RLock()
        self._last_used = 0.0
        self._timer: threading.Timer | None = None

    @property
    def _session(self) -> ModelSession | None:
        """The most recently used session."""
        return next(reversed(self._sessions.values()), None)

    @property
    def loaded_model(self) -> str | None:
        return self._session.spec.name if self._session else None

    def resident_sessions(self) -> int:
        """How many model sessions this manager holds (0..max_resident)."""
        return len(self._sessions)

    def precision_for(self, name: str) -> Resolved:
        """The arithmetic `name` runs with here (part of the mask cache key); loads nothing."""
        spec = get_spec(name)
        if self.precision == "int8":
            if spec.int8_keep_fp32 is None:
                raise InvalidParameters(
                    f"{name} has no int8 variant; set models.precision to fp32 or auto"
                )
            return "int8"
        # bf16 everywhere when asked; auto only for models judged safe in it (models.py). The
        # cheap checks first: asking whether the CPU has bfloat16 loads OpenVINO (~60 MB).
        if self.precision == "fp32" or (self.precision == "auto" and not spec.bf16_judged_safe):
            return "fp32"
        return "bf16" if self._bf16_usable() else "fp32"

    def _bf16_usable(self) -> bool:
        """bf16 needs OpenVINO on a bfloat16 CPU, and no CUDA or forced ONNX Runtime."""
        from glitchzap.background import openvino

        if self.backend == "onnxruntime" or cuda_usable(self.device):
            return False
        return openvino.bf16_capable()

    def backend_for(self, name: str) -> Literal["onnxruntime", "openvino"]:
        """The runtime `name` runs on here: OpenVINO for bf16 or when asked for (float32
        weights only: an int8 variant and CUDA run on ONNX Runtime)."""
        precision = self.precision_for(name)
        if precision == "bf16":
            return "openvino"
        if self.backend == "openvino" and precision == "fp32" and not cuda_usable(self.device):
            from glitchzap.background import openvino

            if openvino.available():
                return "openvino"
            log.warning("models.backend is openvino but the package is missing; using onnxruntime")
        return "onnxruntime"

    def _model_file(self, name: str) -> tuple[Path, Resolved]:
        spec = get_spec(name)
        path = ensure_model_file(name, self.models_dir, auto_fetch=self.auto_fetch)
        resolved = self.precision_for(name)
        if self.precision == "bf16" and resolved == "fp32":
            log.warning("%s: no bfloat16 OpenVINO on this machine; running float32", name)
        if resolved != "int8":
            return path, resolved
        return ensure_int8(spec, path, self.models_dir), "int8"

    def session(self, name: str) -> ModelSession:
        """The resident session for `name`, loading it (and unloading any other) if needed."""
        with self._lock:
            if (resident := self._sessions.get(name)) is not None:
                self._sessions.move_to_end(name)
                return resident
            spec = get_spec(name)
            path, precision = self._model_file(name)
            while len(self._sessions) >= self.max_resident:
                self._unload_one_locked(next(iter(self._sessions)))
            started = time.perf_counter()
            session = ModelSession(
                spec,
                path,
                self.device,
                self.cpu_mem_arena,
                self.threads,
                precision,
                self.backend_for(name),
            )
            if self.warmup:
                # Two runs: whatever ONNX Runtime grows lazily is grown before a request.
                blank = np.zeros((spec.input_size, spec.input_size, 3), np.uint8)
                session.predict(blank)
                session.predict(blank)
            self._sessions[name] = session
            self.loads += 1
            log.info(
                "loaded model %s (%s) on %s in %.2fs",
                name,
                precision,
                session.provider,
                time.perf_counter() - started,
            )
            return session

    def predict(self, name: str, image: np.ndarray, flip: bool = False) -> np.ndarray:
        """The low-resolution mask of `image` by model `name` (see ModelSession.predict)."""
        with self._lock:
            mask = self.session(name).predict(image, flip)
            self.model_runs += 1
            self._touch()
            return mask

    def unload(self) -> None:
        """Drop the resident sessions and free their memory."""
        with self._lock:
            self._unload_locked()

    def _unload_locked(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for name in list(self._sessions):
            self._unload_one_locked(name)

    def _unload_one_locked(self, name: str) -> None:
        self._sessions.pop(name).close()
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
            elif self._sessions:
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
            "backend": session.backend if session else None,
            "backend_setting": self.backend,
            "resident": list(self._sessions),
            "device": self.device,
            "models_dir": str(self.models_dir),
            "loads": self.loads,
            "model_runs": self.model_runs,
            "idle_unload_seconds": self.idle_unload_seconds,
            "cpu_mem_arena": self.cpu_mem_arena,
        }
