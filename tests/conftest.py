"""Shared fixtures: isolated settings per test, small seeded images, real sample photos."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from glitchzap import runtime as runtime_module
from glitchzap.runtime import Runtime, configure
from glitchzap.settings import Settings, load_settings
from meme_cases import MemeSample, build_meme_sample

pytest.register_assert_rewrite("api_fixtures")

# Models are fetched once (make install) into the real models dir; tests read them from there
# while everything else they write goes to a temporary data dir.
REAL_MODELS_DIR = load_settings().models_dir
REAL_FONTS_DIR = load_settings().fonts_dir  # memegen's fonts, fetched by `make fonts`
FAILURES_DIR = Path(__file__).parent / "failures"


def copy_installed_model(target_dir: Path, as_name: str = "u2netp") -> Path:
    """Copy the installed u2netp into `target_dir` as `as_name`: the float32 file and, when
    make install derived them, its int8 variant and stamp (so no test pays to derive them)."""
    if not (REAL_MODELS_DIR / "u2netp.onnx").is_file():
        pytest.skip(f"u2netp.onnx not in {REAL_MODELS_DIR}: run `glitchzap models fetch u2netp`")
    target_dir.mkdir(parents=True, exist_ok=True)
    for suffix in (".onnx", ".int8.onnx", ".int8.json"):
        if (source := REAL_MODELS_DIR / f"u2netp{suffix}").is_file():
            shutil.copy(source, target_dir / f"{as_name}{suffix}")
    return target_dir / f"{as_name}.onnx"


@pytest.fixture
def copied_models(tmp_path: Path) -> Iterator[Path]:
    """A tmp models dir holding a copy of the fetched u2netp; settings and caches point at it."""
    target = tmp_path / "models"
    copy_installed_model(target)
    configure(None, data_dir=tmp_path, models={"dir": target}, cache={"backend": "memory"})
    runtime_module.restart()
    runtime_module.restart()
    yield target
    runtime_module.restart()
    runtime_module.restart()
    configure(None)


@pytest.fixture(autouse=True)
def settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """A fresh process runtime (temporary data dir and caches) for each test; its settings."""
    for key in list(__import__("os").environ):
        if key.startswith("GLITCHZAP_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    current = configure(
        data_dir=tmp_path / "data", models={"dir": REAL_MODELS_DIR}, fonts={"dir": REAL_FONTS_DIR}
    )
    yield current.settings
    runtime_module.reset()


@pytest.fixture
def runtime(settings: Settings) -> Runtime:
    """The test's runtime: what the core functions take."""
    return runtime_module.current()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def small_rgb(rng: np.random.Generator) -> np.ndarray:
    """A 64 x 96 RGB image with smooth gradients and some texture."""
    yy, xx = np.mgrid[0:64, 0:96]
    base = np.stack([xx * 2.5, yy * 3.5, (xx + yy) * 1.5], axis=-1)
    texture = rng.integers(0, 40, size=(64, 96, 3))
    return np.clip(base + texture, 0, 255).astype(np.uint8)


@pytest.fixture
def small_rgba(small_rgb: np.ndarray) -> np.ndarray:
    alpha = np.full(small_rgb.shape[:2], 255, np.uint8)
    alpha[:, :20] = 0
    alpha[:, 20:30] = 128
    return np.dstack([small_rgb, alpha])


@pytest.fixture(scope="session")
def astronaut() -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut())


@pytest.fixture(scope="session")
def meme_sample(tmp_path_factory: pytest.TempPathFactory) -> MemeSample:
    """The meme templates the quality tests use (built once): generated ones in every
    checkout, plus ../shared/memegen-templates when present (see tests/meme_cases.py)."""
    return build_meme_sample(tmp_path_factory.mktemp("meme-sample"))


def save_failure(name: str, actual: np.ndarray, expected: np.ndarray | None = None) -> None:
    """Write actual/expected PNGs to tests/failures/ (git-ignored) for a failing comparison."""
    from glitchzap.io import save_image

    FAILURES_DIR.mkdir(exist_ok=True)
    save_image(actual, FAILURES_DIR / f"{name}-actual.png")
    if expected is not None:
        save_image(expected, FAILURES_DIR / f"{name}-expected.png")
