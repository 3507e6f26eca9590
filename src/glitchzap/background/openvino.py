"""OpenVINO as an optional inference backend (`models.backend`), behind ONNX Runtime's interface.

rembg's session classes (and imgly.py's) call `inner_session.run(names, feeds)` and
`get_inputs()/get_outputs()`; `OpenVinoSession` answers those from an OpenVINO compiled model,
so the same normalisation and post-processing code runs on either backend.

Why: on a CPU with bfloat16 arithmetic (AVX-512 BF16 or AMX), OpenVINO runs the float32 model
in bfloat16 (its default there) about 1.7-2x faster than ONNX Runtime's float32; on a CPU without
it, OpenVINO runs float32 at ONNX Runtime's speed, so `auto` only picks it where it pays.
bfloat16 keeps float32's range with an 8-bit mantissa: the masks stay within the tolerance that
bench/precision_heldout.py judges on photos nobody tuned on (see the README).
"""

from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

Precision = Literal["bf16", "f32"]


@dataclass(frozen=True)
class _Port:
    """What rembg reads of an ONNX Runtime NodeArg: its name (and shape, for tools)."""

    name: str
    shape: list[Any]


@functools.cache
def available() -> bool:
    """Whether the `openvino` package imports here."""
    try:
        import openvino  # noqa: F401
    except ImportError:
        return False
    return True


@functools.cache
def bf16_capable() -> bool:
    """Whether OpenVINO's CPU plugin can compute in bfloat16 on this CPU."""
    if not available():
        return False
    import openvino as ov

    try:
        capabilities = ov.Core().get_property("CPU", "OPTIMIZATION_CAPABILITIES")
    except RuntimeError:  # pragma: no cover - no CPU plugin
        return False
    return "BF16" in capabilities


class OpenVinoSession:
    """An OpenVINO compiled model with the part of `ort.InferenceSession`'s API rembg uses."""

    def __init__(self, path: Path, threads: int, precision: Precision) -> None:
        import openvino as ov

        core = ov.Core()
        config = {
            "PERFORMANCE_HINT": "LATENCY",
            "INFERENCE_NUM_THREADS": threads,
            "INFERENCE_PRECISION_HINT": precision,
        }
        self._compiled = core.compile_model(str(path), "CPU", config)
        self.precision = precision
        self._inputs = [
            _Port(port.any_name, list(port.get_partial_shape().to_shape()))
            for port in self._compiled.inputs
        ]
        self._outputs = [_Port(port.any_name, []) for port in self._compiled.outputs]
        self._request = self._compiled.create_infer_request()
        self._lock = threading.Lock()  # one infer request: one run at a time

    def get_inputs(self) -> list[_Port]:
        return self._inputs

    def get_outputs(self) -> list[_Port]:
        return self._outputs

    def get_providers(self) -> list[str]:
        return [f"OpenVINO CPU ({self.precision})"]

    def run(self, output_names: list[str] | None, feeds: dict[str, np.ndarray]) -> list[Any]:
        wanted = (
            range(len(self._outputs))
            if output_names is None
            else [next(i for i, o in enumerate(self._outputs) if o.name == n) for n in output_names]
        )
        with self._lock:
            results = self._request.infer({name: np.asarray(v) for name, v in feeds.items()})
            # Copies: the request's output buffers are reused by the next run.
            return [np.array(results[self._compiled.outputs[i]]) for i in wanted]
