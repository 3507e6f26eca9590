"""The OpenVINO backend and the bf16 arithmetic: isnet-imgly's bf16 masks within a stated
tolerance of float32 (what lets `models.precision: auto` use it), u2netp kept in float32 by
auto, clean fallbacks where bf16 cannot run, and the arithmetic in the mask cache key."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data

from conftest import REAL_MODELS_DIR, copy_installed_model
from glitchzap.background import foreground_mask, openvino
from glitchzap.background.manager import ModelManager
from glitchzap.errors import ModelNotAvailable
from glitchzap.runtime import configure

pytestmark = pytest.mark.slow

BF16_TOLERANCE = 0.02  # mean |bf16 - fp32| of the soft mask (bench/precision_heldout.py's bar)
PHOTOS = {"astronaut": data.astronaut, "chelsea": data.chelsea, "coffee": data.coffee}

needs_bf16 = pytest.mark.skipif(
    not openvino.bf16_capable(), reason="this CPU has no bfloat16 (OpenVINO runs float32 here)"
)


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    copy_installed_model(tmp_path)
    return tmp_path


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float(((a > 0.5) & (b > 0.5)).sum() / max(1, ((a > 0.5) | (b > 0.5)).sum()))


@needs_bf16
@pytest.mark.parametrize("photo", list(PHOTOS))
def test_isnet_bf16_masks_stay_within_tolerance_of_float32(photo, tmp_path):
    if not (REAL_MODELS_DIR / "isnet-imgly.onnx").is_file():
        pytest.skip("isnet-imgly missing: run `glitchzap models fetch isnet-imgly` (needs npm)")
    image = np.ascontiguousarray(PHOTOS[photo]())
    auto = ModelManager(REAL_MODELS_DIR, device="cpu", precision="auto")
    fp32 = ModelManager(REAL_MODELS_DIR, device="cpu", precision="fp32")
    assert auto.precision_for("isnet-imgly") == "bf16"
    assert auto.backend_for("isnet-imgly") == "openvino"
    runtime = _runtime(tmp_path)
    a = foreground_mask(image, runtime=runtime, model="isnet-imgly", manager=auto, use_cache=False)
    b = foreground_mask(image, runtime=runtime, model="isnet-imgly", manager=fp32, use_cache=False)
    auto.unload()
    fp32.unload()
    assert float(np.abs(a - b).mean()) <= BF16_TOLERANCE
    assert _iou(a, b) >= 0.97


def test_auto_keeps_u2netp_in_float32_and_bf16_is_opt_in(models_dir):
    auto = ModelManager(models_dir, device="cpu", precision="auto")
    assert auto.precision_for("u2netp") == "fp32" and auto.backend_for("u2netp") == "onnxruntime"
    forced = ModelManager(models_dir, device="cpu", precision="bf16")
    expected = "bf16" if openvino.bf16_capable() else "fp32"
    assert forced.precision_for("u2netp") == expected
    session = forced.session("u2netp")
    if expected == "bf16":
        assert session.provider == "OpenVINO CPU (bf16)" and session.backend == "openvino"
        assert forced.status()["precision"] == "bf16"
    mask = forced.predict("u2netp", np.ascontiguousarray(data.astronaut()))
    assert mask.shape == (320, 320) and 0.2 < float((mask > 0.5).mean()) < 0.8


def test_openvino_float32_gives_onnxruntimes_mask(models_dir):
    if not openvino.available():
        pytest.skip("openvino is not installed")
    image = np.ascontiguousarray(data.astronaut())
    ov = ModelManager(models_dir, device="cpu", precision="fp32", backend="openvino")
    ort = ModelManager(models_dir, device="cpu", precision="fp32", backend="onnxruntime")
    assert ov.backend_for("u2netp") == "openvino" and ov.precision_for("u2netp") == "fp32"
    low_ov, low_ort = ov.predict("u2netp", image), ort.predict("u2netp", image)
    # The same float32 arithmetic in another runtime: the uint8 mask within a level or two.
    assert np.abs(low_ov - low_ort).max() <= 2 / 255 + 1e-6


def test_bf16_falls_back_to_float32_where_it_cannot_run(models_dir):
    forced = ModelManager(models_dir, device="cpu", precision="bf16", backend="onnxruntime")
    assert forced.precision_for("u2netp") == "fp32"
    assert forced.backend_for("u2netp") == "onnxruntime"
    assert forced.session("u2netp").provider == "CPUExecutionProvider"


def test_bf16_falls_back_without_a_bfloat16_cpu(models_dir, monkeypatch):
    monkeypatch.setattr(openvino, "bf16_capable", lambda: False)
    manager = ModelManager(models_dir, device="cpu", precision="bf16")
    assert manager.precision_for("u2netp") == "fp32"
    assert manager.session("u2netp").backend == "onnxruntime"


@needs_bf16
def test_the_arithmetic_is_part_of_the_mask_cache_key(models_dir, tmp_path):
    runtime = _runtime(models_dir)
    image = np.ascontiguousarray(data.coffee()[::2, ::2])
    bf16 = ModelManager(models_dir, device="cpu", precision="bf16")  # bf16 on u2netp: opt-in
    fp32 = ModelManager(models_dir, device="cpu", precision="fp32")
    foreground_mask(image, runtime=runtime, manager=bf16)
    foreground_mask(image, runtime=runtime, manager=fp32)
    assert bf16.model_runs == 1 and fp32.model_runs == 1  # fp32 did not reuse bf16's mask
    foreground_mask(image, runtime=runtime, manager=bf16)
    assert bf16.model_runs == 1


def test_a_damaged_file_is_refused_with_the_command_that_fixes_it(tmp_path):
    if not openvino.available():
        pytest.skip("openvino is not installed")
    (tmp_path / "u2netp.onnx").write_bytes(b"not a model")
    manager = ModelManager(
        tmp_path, device="cpu", precision="fp32", backend="openvino", auto_fetch=False
    )
    with pytest.raises(ModelNotAvailable, match="models fetch u2netp"):
        manager.session("u2netp")


def _runtime(root: Path):
    return configure(
        None, data_dir=root / "data", models={"dir": REAL_MODELS_DIR}, cache={"backend": "memory"}
    )
