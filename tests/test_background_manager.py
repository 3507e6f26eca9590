"""The model manager: a bounded set of sessions resident, unload, idle unload, devices,
threads."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from conftest import copy_installed_model
from glitchzap.background import models
from glitchzap.background.manager import ModelManager
from glitchzap.errors import ModelNotAvailable

pytestmark = pytest.mark.slow


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch) -> Path:
    """u2netp plus a second model name (an alias of the same file) in a tmp models dir."""
    copy_installed_model(tmp_path)
    copy_installed_model(tmp_path, as_name="u2netp-alias")
    alias = replace(models.MODELS["u2netp"], name="u2netp-alias")
    monkeypatch.setitem(models.MODELS, "u2netp-alias", alias)
    return tmp_path


def test_loading_past_max_resident_unloads_the_least_recent(models_dir, monkeypatch):
    third = replace(models.MODELS["u2netp"], name="u2netp-third")
    monkeypatch.setitem(models.MODELS, "u2netp-third", third)
    copy_installed_model(models_dir, as_name="u2netp-third")
    manager = ModelManager(models_dir, device="cpu")  # two resident: a mode's members
    first = manager.session("u2netp")
    second = manager.session("u2netp-alias")
    assert manager.resident_sessions() == 2 and first._rembg is not None
    assert manager.session("u2netp") is first  # used again: now the most recent
    manager.session("u2netp-third")
    assert manager.resident_sessions() == 2 and second._rembg is None  # the least recent went
    assert manager.status()["resident"] == ["u2netp", "u2netp-third"]
    assert manager.loads == 3


def test_loading_a_second_model_leaves_one_session(models_dir):
    manager = ModelManager(models_dir, device="cpu", max_resident=1)
    image = data.astronaut()
    first = manager.session("u2netp")
    manager.predict("u2netp", image)
    second = manager.session("u2netp-alias")
    assert second is not first
    assert manager.resident_sessions() == 1 and manager.loaded_model == "u2netp-alias"
    assert first._rembg is None  # the previous ONNX session was dropped
    assert manager.session("u2netp-alias") is second  # no reload for the resident model
    assert manager.loads == 2


def test_unload_and_reload(models_dir):
    manager = ModelManager(models_dir, device="cpu")
    manager.predict("u2netp", data.chelsea())
    manager.unload()
    assert manager.resident_sessions() == 0 and manager.status()["model"] is None
    manager.predict("u2netp", data.chelsea())
    assert manager.loads == 2 and manager.model_runs == 2


def test_idle_unload(models_dir):
    manager = ModelManager(models_dir, device="cpu", idle_unload_seconds=0.2)
    manager.predict("u2netp", data.chelsea())
    deadline = time.monotonic() + 10
    while manager.resident_sessions() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert manager.resident_sessions() == 0


def test_warmup_runs_the_model_at_load(models_dir):
    manager = ModelManager(models_dir, device="cpu", warmup=True)
    session = manager.session("u2netp")
    assert session.runs == 2 and manager.model_runs == 0


def test_cuda_fails_loudly_without_the_provider(models_dir):
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this machine has the CUDA provider")
    with pytest.raises(ModelNotAvailable, match="CUDAExecutionProvider"):
        ModelManager(models_dir, device="cuda").session("u2netp")
    auto = ModelManager(models_dir, device="auto")
    assert auto.session("u2netp").provider == "CPUExecutionProvider"


def test_threads_share_one_session(models_dir):
    manager = ModelManager(models_dir, device="cpu", max_resident=1)
    image = data.astronaut()
    masks: list[np.ndarray] = []
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            masks.append(manager.predict(name, image))
        except BaseException as exc:  # collected and re-raised in the test thread
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(("u2netp", "u2netp-alias")[i % 2],)) for i in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert manager.resident_sessions() == 1 and manager.model_runs == 6
    assert all(np.array_equal(mask, masks[0]) for mask in masks)


def test_arena_off_gives_the_same_mask(models_dir):
    image = data.chelsea()
    with_arena = ModelManager(models_dir, device="cpu").predict("u2netp", image)
    lean = ModelManager(models_dir, device="cpu", cpu_mem_arena=False)
    assert lean.status()["cpu_mem_arena"] is False
    assert np.abs(lean.predict("u2netp", image) - with_arena).max() <= 1 / 255 + 1e-6
