"""A model's int8 variant, derived on this machine from its checksum-verified float32 file.

ONNX Runtime's static quantization (QDQ, per-channel int8 weights, uint8 activations) applied
to the Conv layers only, calibrated on scikit-image's bundled photos, with the layers the
model's recipe keeps in float32 (`ModelSpec.int8_keep_fp32`). On a CPU with AVX-512 VNNI or
AVX2 the int8 convolutions run about 1.5x faster than float32; the mask moves by well under
1% on average (tests/test_background_quantize.py and bench/background.py measure both).

The variant lives beside the model as `<name>.int8.onnx` with a `<name>.int8.json` stamp
(source checksum, recipe, the variant's own md5); a stale stamp or a damaged variant means
derive again. Derivation runs once,
under a file lock so that batch workers starting together derive it once between them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from glitchzap.background.base import model_input_image
from glitchzap.background.files import file_checksum, file_lock
from glitchzap.background.models import ModelSpec
from glitchzap.errors import ModelNotAvailable

log = logging.getLogger(__name__)

# Public-domain photos bundled inside the scikit-image wheel (no download): portraits, an
# animal, objects, a document, a medical image.
CALIBRATION_IMAGES = ("astronaut", "chelsea", "coffee", "rocket", "camera", "page", "retina")
# The U²-Net family's input normalisation (rembg's sessions): ImageNet mean and std.
_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
_STD = np.array([0.229, 0.224, 0.225], np.float32)
_OPSET = 13  # per-channel DequantizeLinear needs opset 13; u2netp ships opset 11
_RECIPE_VERSION = 1


def int8_path(spec: ModelSpec, models_dir: Path) -> Path:
    return Path(models_dir) / f"{spec.name}.int8.onnx"


def _stamp_path(target: Path) -> Path:
    return target.with_suffix(".json")


def _stamp(spec: ModelSpec) -> dict[str, Any]:
    recipe = json.dumps(
        [_RECIPE_VERSION, _OPSET, CALIBRATION_IMAGES, list(spec.int8_keep_fp32 or ())]
    )
    return {
        "source_checksum": spec.checksum,
        "recipe": hashlib.blake2b(recipe.encode(), digest_size=8).hexdigest(),
    }


def is_current(spec: ModelSpec, models_dir: Path) -> bool:
    """Whether `<name>.int8.onnx` is intact and was derived from this model by this recipe."""
    target = int8_path(spec, models_dir)
    try:
        stamp = json.loads(_stamp_path(target).read_text())
        intact = stamp.get("md5") == file_checksum(target)
    except (OSError, ValueError, AttributeError):
        return False
    return intact and all(stamp.get(k) == v for k, v in _stamp(spec).items())


def _normalise(image: np.ndarray, size: int) -> np.ndarray:
    """`image` as the model's input tensor, exactly as ModelSession.predict + rembg feed it."""
    if image.ndim == 2:
        image = np.stack([image] * 3, axis=-1)
    small = model_input_image(image.astype(np.uint8), size).astype(np.float32)
    small /= max(float(small.max()), 1e-6)
    return ((small - _MEAN) / _STD).transpose(2, 0, 1)[None].astype(np.float32)


def calibration_inputs(size: int) -> list[np.ndarray]:
    from skimage import data

    return [_normalise(getattr(data, name)(), size) for name in CALIBRATION_IMAGES]


def derive_int8(spec: ModelSpec, source: Path, target: Path) -> None:
    """Quantize `source` (the float32 model) into `target` by `spec`'s recipe (atomic write)."""
    import onnx
    from onnx import version_converter
    from onnxruntime.quantization import (
        CalibrationDataReader,
        QuantFormat,
        QuantType,
        quantize_static,
    )

    model = onnx.load(str(source))
    input_name = model.graph.input[0].name

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._feeds = iter(calibration_inputs(spec.input_size))

        def get_next(self) -> dict[str, np.ndarray] | None:
            tensor = next(self._feeds, None)
            return None if tensor is None else {input_name: tensor}

    with (
        tempfile.TemporaryDirectory(dir=target.parent, prefix=".int8-") as workdir,
        _quiet_root_logger(),  # the quantizer logs "consider pre-processing" to the root logger
    ):
        converted = Path(workdir) / "opset.onnx"
        onnx.save(version_converter.convert_version(model, _OPSET), str(converted))
        staged = Path(workdir) / "int8.onnx"
        quantize_static(
            str(converted),
            str(staged),
            Reader(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            op_types_to_quantize=["Conv"],
            nodes_to_exclude=list(spec.int8_keep_fp32 or ()),
        )
        os.replace(staged, target)


def _errors_only(record: logging.LogRecord) -> bool:
    return record.levelno >= logging.ERROR


@contextlib.contextmanager
def _quiet_root_logger() -> Iterator[None]:
    # A filter on the root logger sees only what is logged to it directly (the quantizer's
    # `logging.warning`), not what named loggers propagate, so nothing else goes quiet.
    root = logging.getLogger()
    root.addFilter(_errors_only)
    try:
        yield
    finally:
        root.removeFilter(_errors_only)


def ensure_int8(spec: ModelSpec, source: Path, models_dir: Path) -> Path:
    """The int8 variant of `spec` (derived from `source` now if missing or stale).

    Raises ModelNotAvailable when the model has no int8 recipe or the variant cannot be
    written or derived (a read-only models dir, a quantizer error); callers on `auto` fall
    back to float32.
    """
    if spec.int8_keep_fp32 is None:
        raise ModelNotAvailable(
            f"{spec.name} has no int8 variant; set models.precision to fp32 or auto"
        )
    target = int8_path(spec, models_dir)
    if is_current(spec, models_dir):
        return target
    try:
        with file_lock(target.with_suffix(".lock")):
            if is_current(spec, models_dir):  # another process derived it while we waited
                return target
            log.warning("deriving the int8 variant of %s once (takes ~10 s)", spec.name)
            started = time.perf_counter()
            derive_int8(spec, source, target)
            stamp = _stamp_path(target)
            staged = stamp.with_suffix(".json.tmp")
            record = {**_stamp(spec), "md5": file_checksum(target)}
            staged.write_text(json.dumps(record, indent=2) + "\n")
            os.replace(staged, stamp)
            log.info("int8 %s derived in %.1fs", spec.name, time.perf_counter() - started)
    except Exception as exc:  # onnx / the quantizer raise many types; all mean "no variant"
        raise ModelNotAvailable(
            f"cannot derive the int8 variant of {spec.name} in {models_dir} ({exc}); "
            "make the models dir writable or set models.precision to fp32"
        ) from exc
    return target
