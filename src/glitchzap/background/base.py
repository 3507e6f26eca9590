"""One loaded model: the ONNX Runtime session and the low-resolution mask it predicts.

rembg's session classes (or ours in the same shape, imgly.py) know each model's normalisation
and output post-processing; we build them from our own file, providers and `SessionOptions`,
and feed them an image already resized to the model's input size so that their PIL resizes
cost nothing on a 12 MP photo.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from glitchzap.background.models import ModelSpec
from glitchzap.errors import ModelNotAvailable

log = logging.getLogger(__name__)

Device = Literal["auto", "cpu", "cuda"]
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"

# onnxruntime refuses a file that is not a model with these (protobuf parse, bad graph).
ORT_LOAD_ERRORS: tuple[type[BaseException], ...] = (RuntimeError, ValueError, OSError)


def cuda_usable(device: Device) -> bool:
    """Whether `device` asks for CUDA (auto or cuda) and onnxruntime has its provider."""
    import onnxruntime as ort

    return device != "cpu" and CUDA in ort.get_available_providers()


def model_input_image(image: np.ndarray, size: int) -> np.ndarray:
    """`image`'s RGB channels resized to the model's size x size input (area averaging)."""
    return cv2.resize(
        np.ascontiguousarray(image[..., :3]), (size, size), interpolation=cv2.INTER_AREA
    )


def choose_providers(device: Device) -> list[str]:
    """The provider list for `device`; `cuda` fails loudly when CUDA is not usable here."""
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device == "cpu":
        return [CPU]
    if cuda_usable(device):
        return [CUDA, CPU]
    if device == "cuda":
        raise ModelNotAvailable(
            "models.device is cuda but onnxruntime has no CUDAExecutionProvider "
            f"(available: {', '.join(available)}); install onnxruntime-gpu or set device to cpu"
        )
    log.info("CUDA provider not available; background removal runs on the CPU")
    return [CPU]


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, as in a container or taskset)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


def session_options() -> Any:
    """ORT options for our models: full graph optimisation, a thread per usable core.

    Usable cores come from the affinity mask, so a container or `taskset` limit is respected
    (onnxruntime's default counts the host's cores). bench/background.py measures these
    against onnxruntime's defaults and the arena's speed/memory trade-off.
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = usable_cores()
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = True  # models.cpu_mem_arena can turn it off
    # A memory pattern preallocates a second, run-sized block on the 2nd run: +200 MB RSS for
    # u2netp with no measurable speed gain (bench/background.py), so it stays off.
    options.enable_mem_pattern = False
    options.log_severity_level = 3
    # ONNX Runtime's workers busy-wait after a run by default, holding every core while the
    # refinement, compositing and encoding that follow want them: measured at 1 MP, spinning
    # off leaves the model's time unchanged and makes the next ~10 ms of work ~2x faster.
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return options


def _rembg_class(spec: ModelSpec, path: Path) -> type:
    """rembg's session class for `spec`, told to read `path` and never to download."""
    module_name, class_name = spec.session_class.split(":")
    if not module_name.startswith("glitchzap."):  # rembg's own, by its module's short name
        module_name = f"rembg.sessions.{module_name}"
    base = getattr(importlib.import_module(module_name), class_name)

    def download_models(cls: type, *args: Any, **kwargs: Any) -> str:
        return str(path)

    return type(f"Local{class_name}", (base,), {"download_models": classmethod(download_models)})


class ModelSession:
    """A loaded model: `predict(image)` gives its float mask at the model's input size."""

    def __init__(
        self,
        spec: ModelSpec,
        path: Path,
        device: Device = "auto",
        cpu_mem_arena: bool = True,
        threads: int = 0,
        precision: str = "fp32",  # "int8": `path` is the int8 variant; "bf16": OpenVINO bf16
        backend: str = "onnxruntime",  # or "openvino" (openvino.py)
    ) -> None:
        self.spec = spec
        self.path = path
        self.device = device
        self.precision = precision
        self.backend = backend
        try:
            if backend == "openvino":
                self._rembg = self._openvino(spec, path, threads, precision)
            else:
                self._rembg = _rembg_class(spec, path)(
                    spec.name,
                    self._options(cpu_mem_arena, threads),
                    providers=choose_providers(device),
                )
        except ORT_LOAD_ERRORS as exc:
            first_line = (
                str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            raise ModelNotAvailable(
                f"onnxruntime cannot load {path} ({first_line}); "
                f"run `glitchzap models fetch {spec.name} --force`"
            ) from exc
        self.providers: list[str] = list(self._rembg.inner_session.get_providers())
        if device == "cuda" and CUDA not in self.providers:
            raise ModelNotAvailable(
                "models.device is cuda but onnxruntime fell back to the CPU (CUDA/cuDNN "
                "libraries missing?); set models.device to cpu or auto"
            )
        self.runs = 0
        self._runs_lock = threading.Lock()

    @staticmethod
    def _openvino(spec: ModelSpec, path: Path, threads: int, precision: str) -> Any:
        """rembg's session class for `spec` running on OpenVINO instead of ONNX Runtime."""
        from glitchzap.background.openvino import OpenVinoSession

        cls: Any = _rembg_class(spec, path)
        session = object.__new__(cls)  # rembg's __init__ would build an ORT session first
        session.model_name = spec.name
        session.inner_session = OpenVinoSession(
            path, threads or usable_cores(), "bf16" if precision == "bf16" else "f32"
        )
        return session

    @staticmethod
    def _options(cpu_mem_arena: bool, threads: int) -> Any:
        # Built with no arguments and adjusted after, so a caller that swaps in its own
        # `session_options()` keeps working.
        options = session_options()
        options.enable_cpu_mem_arena = cpu_mem_arena
        if threads:
            options.intra_op_num_threads = threads
        return options

    @property
    def provider(self) -> str:
        """The execution provider actually running the model (CUDA or CPU)."""
        return self.providers[0]

    def predict(self, image: np.ndarray, flip: bool = False) -> np.ndarray:
        """The model's mask for an RGB(A) uint8 image: float32 in [0, 1], input_size square.

        `flip`: the model sees the image mirrored left-right and its mask is mirrored back
        (a test-time augmentation: the two masks' mean is steadier than either)."""
        from PIL import Image

        small = model_input_image(image, self.spec.input_size)
        if flip:
            small = np.ascontiguousarray(small[:, ::-1])
        masks = self._rembg.predict(Image.fromarray(small))
        with self._runs_lock:
            self.runs += 1
        mask = np.asarray(masks[0], dtype=np.float32) / 255.0
        return np.ascontiguousarray(mask[:, ::-1]) if flip else mask

    def close(self) -> None:
        """Drop the ONNX Runtime session so its memory can be freed."""
        self._rembg = None
