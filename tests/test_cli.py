"""The CLI as a user runs it: a real subprocess, exit codes and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from glitchzap.io import load_image, save_image
from glitchzap.runtime import current


def run_cli(*args: str, cwd: Path | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    """Run `glitchzap ARGS` in a subprocess that shares this test's data and models dirs."""
    settings = current().settings
    environ = {
        **os.environ,
        "GLITCHZAP_DATA_DIR": str(settings.data_dir),
        "GLITCHZAP_MODELS__DIR": str(settings.models_dir),
        **env,
    }
    code = "from glitchzap.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
        env=environ,
    )


@pytest.fixture
def photo(tmp_path: Path, astronaut: np.ndarray) -> Path:
    return save_image(astronaut, tmp_path / "astro.png")


def test_glitch_writes_the_same_image_as_the_library(photo: Path, tmp_path: Path) -> None:
    from glitchzap.pipeline import apply_effects

    out = tmp_path / "out.png"
    result = run_cli(
        "glitch",
        str(photo),
        "-o",
        str(out),
        "--blur",
        "3",
        "--noise",
        "0.2",
        "--motion",
        "9",
        "--motion-angle",
        "45",
        "--seed",
        "11",
    )
    assert result.returncode == 0, result.stderr
    expected = apply_effects(
        load_image(photo),
        {"blur": 3, "noise": {"amount": 0.2}, "motion": {"length": 9, "angle": 45}},
        seed=11,
    )
    assert np.array_equal(load_image(out), expected)


def test_glitch_with_a_recipe_and_quality(photo: Path, tmp_path: Path) -> None:
    recipe = tmp_path / "r.yaml"
    recipe.write_text("effects:\n  shake: {offset: 4, copies: 2}\nseed: 3\n")
    out = tmp_path / "preview.jpg"
    result = run_cli("glitch", str(photo), "-o", str(out), "--recipe", str(recipe), "-q", "fast")
    assert result.returncode == 0, result.stderr
    assert load_image(out).shape == (300, 300, 3)
    # The recipe's effect, as the library renders it: the fast preview (300 px) shaken with
    # the recipe's seed, offsets in full-size pixels (x 300/512), then JPEG at quality 90.
    from glitchzap.io import encode_image
    from glitchzap.pipeline import apply_effects, resize_for_preview

    small = resize_for_preview(load_image(photo), "fast")
    shaken = apply_effects(small, {"shake": {"offset": 4, "copies": 2}}, seed=3, scale=300 / 512)
    assert np.abs(shaken.astype(int) - small).mean() > 1  # the shake shows
    np.testing.assert_array_equal(load_image(out), load_image(encode_image(shaken, "jpeg")))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["glitch", "missing.png", "-o", "x.png", "--blur", "2"], "No such file"),
        (["glitch", "{photo}", "-o", "x.png", "--blur", "-1"], "blur.radius"),
        (["glitch", "{photo}", "-o", "x.bmp", "--blur", "1"], "format"),
        (["glitch", "{photo}", "-o", "x.png", "-q", "ultra"], "ultra"),
        (["glitch", "{photo}", "-o", "x.png", "--motion-angle", "9"], "--motion"),
        (["glitch", "{junk}", "-o", "x.png", "--blur", "1"], "not an image"),
        (["--config", "{badconfig}", "effects"], "cache.backend"),
    ],
)
def test_bad_input_exits_2_with_one_line(
    args: list[str], message: str, photo: Path, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"definitely not a png")
    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("cache:\n  backend: floppy\n")
    filled = [a.format(photo=photo, junk=junk, badconfig=bad_config) for a in args]
    result = run_cli(*filled, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and message in lines[0]
    assert "Traceback" not in result.stderr


def test_effects_lists_every_effect_as_json() -> None:
    result = run_cli("effects", "--json")
    assert result.returncode == 0
    from glitchzap.effects import EFFECTS

    listed = list(json.loads(result.stdout))
    assert listed == list(EFFECTS)
    assert listed[:4] == ["noise", "blur", "shake", "motion"]  # the seed's order comes first


def test_config_show_reflects_file_and_environment(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("limits:\n  max_pixels: 1234\n")
    result = run_cli("config", "show", "--json", cwd=tmp_path, GLITCHZAP_CACHE__BACKEND="memory")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["limits"]["max_pixels"] == 1234
    assert shown["cache"]["backend"] == "memory"


def test_doctor_reports_versions_and_dirs() -> None:
    result = run_cli("doctor")
    assert result.returncode == 0
    assert "data dir" in result.stdout and "numpy" in result.stdout


@pytest.mark.slow
def test_glitch_target_background_keeps_the_subject(photo: Path, tmp_path: Path) -> None:
    from glitchzap.background import foreground_mask

    out = tmp_path / "bg.png"
    result = run_cli("glitch", str(photo), "-o", str(out), "--target", "background", "--blur", "12")
    assert result.returncode == 0, result.stderr
    image, rendered = load_image(photo), load_image(out)
    mask = foreground_mask(image, runtime=current())
    subject, background = mask == 1.0, mask < 0.01
    assert subject.sum() > 10_000 and background.sum() > 10_000
    assert np.array_equal(rendered[subject], image[subject])
    changed = np.abs(rendered[background].astype(int) - image[background]).mean()
    assert changed > 3


def test_every_effect_parameter_has_a_generated_flag() -> None:
    """The glitch command's effect flags come from the registry: one per parameter."""
    from glitchzap.cli.glitch import effect_flags
    from glitchzap.effects import EFFECTS

    help_text = run_cli("glitch", "--help", COLUMNS="200").stdout
    flags = effect_flags()
    expected = sum(len(effect.params.model_fields) for effect in EFFECTS.values())
    assert len(flags) == expected
    for flag in flags:
        assert flag.flag in help_text, flag
    assert {f.flag for f in flags if f.primary} == {
        f"--{name.replace('_', '-')}" for name in EFFECTS
    }


def test_generated_flags_set_the_recipe(photo: Path, tmp_path: Path, astronaut: np.ndarray) -> None:
    """`--shake 6 --shake-copies 2 --noise-mono --noise 0.2` is the recipe with those values."""
    from glitchzap.pipeline import apply_effects

    out = tmp_path / "flags.png"
    args = ["--shake", "6", "--shake-copies", "2", "--noise", "0.2", "--noise-mono"]
    result = run_cli("glitch", str(photo), "-o", str(out), "--seed", "5", *args)
    assert result.returncode == 0, result.stderr
    effects = {"noise": {"amount": 0.2, "monochrome": True}, "shake": {"offset": 6, "copies": 2}}
    expected = apply_effects(astronaut, effects, seed=5)
    np.testing.assert_array_equal(load_image(out), expected)
