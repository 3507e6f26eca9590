"""The int8 variant: derived once from the float32 file, stamped, close to float32's masks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from conftest import REAL_MODELS_DIR, copy_installed_model
from glitchzap.background import ModelManager, foreground_mask, models
from glitchzap.background.quantize import ensure_int8, int8_path, is_current
from glitchzap.errors import InvalidParameters, ModelNotAvailable
from glitchzap.runtime import current

pytestmark = pytest.mark.slow

U2NETP = models.MODELS["u2netp"]


@pytest.fixture
def installed() -> Path:
    if not (REAL_MODELS_DIR / "u2netp.onnx").is_file():
        pytest.skip(f"u2netp.onnx not in {REAL_MODELS_DIR}: run `glitchzap models fetch u2netp`")
    return REAL_MODELS_DIR


def masks(image: np.ndarray, models_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    int8 = ModelManager(models_dir, device="cpu", precision="int8")
    fp32 = ModelManager(models_dir, device="cpu", precision="fp32")
    return (
        foreground_mask(image, manager=int8, use_cache=False, runtime=current()),
        foreground_mask(image, manager=fp32, use_cache=False, runtime=current()),
    )


def test_make_install_derived_the_variant(installed: Path):
    assert is_current(U2NETP, installed)


@pytest.mark.parametrize("name", ["astronaut", "chelsea", "coffee"])
def test_int8_masks_stay_close_to_float32(name: str, installed: Path):
    int8, fp32 = masks(np.ascontiguousarray(getattr(data, name)()), installed)
    assert not np.array_equal(int8, fp32)  # really a different model
    assert float(np.abs(int8 - fp32).mean()) < 0.02
    both, either = ((int8 > 0.5) & (fp32 > 0.5)).sum(), ((int8 > 0.5) | (fp32 > 0.5)).sum()
    assert both / either > 0.97


def test_int8_runs_the_int8_variant_and_auto_never_does(tmp_path: Path):
    copy_installed_model(tmp_path)
    # auto takes only arithmetics judged safe on held-out photos: never u2netp's int8.
    assert ModelManager(tmp_path, device="cpu", precision="auto").precision_for("u2netp") == "fp32"
    manager = ModelManager(tmp_path, device="cpu", precision="int8")
    assert manager.precision_for("u2netp") == "int8"
    session = manager.session("u2netp")
    assert session.precision == "int8" and session.path == int8_path(U2NETP, tmp_path)
    assert manager.status()["precision"] == "int8"
    fp32 = ModelManager(tmp_path, device="cpu", precision="fp32")
    assert fp32.session("u2netp").path == tmp_path / "u2netp.onnx"


def test_derived_once_then_again_when_stale_or_damaged(tmp_path: Path):
    source = copy_installed_model(tmp_path)
    for leftover in (int8_path(U2NETP, tmp_path), tmp_path / "u2netp.int8.json"):
        leftover.unlink(missing_ok=True)
    target = ensure_int8(U2NETP, source, tmp_path)
    assert is_current(U2NETP, tmp_path)
    stamp = json.loads((tmp_path / "u2netp.int8.json").read_text())
    assert stamp["source_checksum"] == U2NETP.checksum
    mtime = target.stat().st_mtime_ns
    assert ensure_int8(U2NETP, source, tmp_path) == target
    assert target.stat().st_mtime_ns == mtime  # current: not derived again

    target.write_bytes(target.read_bytes()[:1000])  # damaged
    assert not is_current(U2NETP, tmp_path)
    ensure_int8(U2NETP, source, tmp_path)
    assert is_current(U2NETP, tmp_path) and target.stat().st_size > 1_000_000

    stamp["recipe"] = "older"
    (tmp_path / "u2netp.int8.json").write_text(json.dumps(stamp))
    assert not is_current(U2NETP, tmp_path)
    ensure_int8(U2NETP, source, tmp_path)
    assert is_current(U2NETP, tmp_path)


def test_int8_that_cannot_be_made_is_refused_with_the_fix(tmp_path: Path):
    copy_installed_model(tmp_path)
    for leftover in (int8_path(U2NETP, tmp_path), tmp_path / "u2netp.int8.json"):
        leftover.unlink()
    int8_path(U2NETP, tmp_path).mkdir()  # the variant's path is taken: it cannot be written
    with pytest.raises(ModelNotAvailable, match="precision to fp32"):
        ModelManager(tmp_path, device="cpu", precision="int8").session("u2netp")
    fp32 = ModelManager(tmp_path, device="cpu", precision="fp32")
    image = np.ascontiguousarray(data.astronaut())
    assert foreground_mask(image, manager=fp32, use_cache=False, runtime=current()).any()


def test_int8_for_a_model_without_a_recipe_is_refused(tmp_path: Path):
    manager = ModelManager(tmp_path, precision="int8")
    with pytest.raises(InvalidParameters, match="u2net has no int8 variant"):
        manager.precision_for("u2net")
    assert ModelManager(tmp_path, precision="auto").precision_for("u2net") == "fp32"


def test_precision_is_part_of_the_mask_cache_key(tmp_path: Path):
    copy_installed_model(tmp_path)
    image = np.ascontiguousarray(data.chelsea())
    int8 = ModelManager(tmp_path, device="cpu", precision="int8")
    fp32 = ModelManager(tmp_path, device="cpu", precision="fp32")
    first = foreground_mask(image, manager=int8, runtime=current())
    second = foreground_mask(image, manager=fp32, runtime=current())  # not int8's cached mask
    assert fp32.model_runs == 1 and not np.array_equal(first, second)
    foreground_mask(image, manager=int8, runtime=current())
    assert int8.model_runs == 1  # its own mask came from the cache
