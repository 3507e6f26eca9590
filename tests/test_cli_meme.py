"""`glitchzap ocr | erase-text | meme | fonts` as a user runs them (a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from glitchzap.io import load_animation, load_image, save_image
from glitchzap.runtime import current
from meme_animations import captioned_on, gif_file, panning, region_changes
from meme_animations import photo as skimage_photo

CODE = "from glitchzap import cli; cli.main()"  # `glitchzap` from this interpreter


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    settings = current().settings
    env = {
        **os.environ,
        "GLITCHZAP_DATA_DIR": str(settings.data_dir),
        "GLITCHZAP_FONTS__DIR": str(settings.fonts_dir),
    }
    return subprocess.run(
        [sys.executable, "-c", CODE, *args], capture_output=True, text=True, timeout=300, env=env
    )


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    from skimage import data

    return save_image(np.ascontiguousarray(data.chelsea()), tmp_path / "cat.png")


def test_method_choices_match_the_registry() -> None:
    from glitchzap.cli.meme import METHOD_CHOICES
    from glitchzap.meme.inpaint import INPAINT_METHODS

    assert set(METHOD_CHOICES) == set(INPAINT_METHODS)


@pytest.mark.slow
def test_meme_then_ocr_json_then_erase(photo: Path, tmp_path: Path) -> None:
    meme = tmp_path / "meme.jpg"
    made = run_cli(
        "meme", str(photo), "-o", str(meme), "--text", "hello there", "--text", "general kenobi"
    )
    assert made.returncode == 0, made.stderr
    assert load_image(meme).shape == load_image(photo).shape

    read = run_cli("ocr", str(meme), str(photo), "--json")
    assert read.returncode == 0, read.stderr
    lines = [json.loads(line) for line in read.stdout.splitlines()]
    assert [line["input"] for line in lines] == [str(meme), str(photo)]
    assert set(lines[0]) == {"input", "regions", "elapsed_ms", "cached"}
    words = " ".join(r["text"] for r in lines[0]["regions"]).replace(" ", "")
    assert "HELLOTHERE" in words and "GENERALKENOBI" in words
    assert all(len(r["box"]) == 4 and 0 <= r["score"] <= 1 for r in lines[0]["regions"])
    assert lines[1]["regions"] == []
    again = json.loads(run_cli("ocr", str(meme), "--json").stdout)
    assert again["cached"] is True and again["regions"] == lines[0]["regions"]

    out_dir = tmp_path / "erased"
    erased = run_cli(
        "erase-text", str(meme), str(photo), "--out-dir", str(out_dir), "--method", "telea"
    )
    assert erased.returncode == 0, erased.stderr
    assert np.array_equal(load_image(out_dir / "cat.png"), load_image(photo))  # no text: untouched
    assert (out_dir / "meme.jpg").is_file()


def test_fonts_lists_what_resolves() -> None:
    result = run_cli("fonts", "--json")
    assert result.returncode == 0, result.stderr
    fonts = json.loads(result.stdout)
    assert fonts[-1]["origin"] == "builtin" and sum(f["default"] for f in fonts) == 1
    memegen = [f for f in fonts if f["origin"] == "memegen"]
    assert [f["name"] for f in memegen][:2] == ["titilliumweb", "notosans"] and len(memegen) == 8
    assert memegen[0]["alias"] == "thick" and memegen[0]["package"].startswith("@fontsource/")
    assert [f["origin"] for f in fonts].count("emoji") == 1
    if memegen[0]["present"]:  # fetched by `make fonts`: memegen's default is the default
        assert memegen[0]["default"]


def test_fonts_table_lists_memegens_fonts() -> None:
    result = run_cli("fonts")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[1:3] == ["titilliumweb", "thick"]
    assert any(line.split()[0] == "emoji" for line in lines)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["erase-text", "{photo}", "-o", "x.png", "--method", "magic"], "Unknown --method"),
        (["erase-text", "{photo}"], "exactly one of"),
        (["meme", "{photo}", "-o", "x.png", "--erase", "maybe"], "Unknown --erase"),
        (
            ["meme", "{photo}", "-o", "x.png", "--layout", "sideways", "--erase", "never"],
            "Unknown layout",
        ),
        (
            ["meme", "{photo}", "-o", "x.png", "--font", "Nope Sans", "--erase", "never"],
            "Unknown font",
        ),
        (["meme", "missing.png", "-o", "x.png"], "No such file"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(photo: Path, args: list[str], message: str) -> None:
    result = run_cli(*[a.replace("{photo}", str(photo)) for a in args])
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_meme_of_an_animated_input_is_animated(tmp_path: Path) -> None:
    source = panning(skimage_photo("chelsea", 240), 6)
    animated = gif_file(source, tmp_path / "pan.gif")
    captions = ["--text", "top", "--text", "bottom", "--erase", "never"]
    for suffix in (".gif", ".webp", ".png"):
        out = tmp_path / f"meme{suffix}"
        made = run_cli("meme", str(animated), "-o", str(out), *captions)
        assert made.returncode == 0, made.stderr
        assert "6 frames" in made.stdout
        meme = load_animation(out)
        assert (len(meme), meme.durations) == (6, source.durations), suffix
        # The caption inks every frame (Titillium Web Black, memegen's default font: ~7.5 of
        # this band's 0-255 mean; Liberation Sans Bold inked ~12).
        assert min(region_changes(meme.frames, source.frames, slice(0, 40))) > 5
    refused = run_cli("meme", str(animated), "-o", str(tmp_path / "meme.jpg"), *captions)
    assert refused.returncode == 2 and not (tmp_path / "meme.jpg").exists()
    assert refused.stderr.count("\n") == 1 and "JPEG cannot hold an animation" in refused.stderr


@pytest.mark.slow
def test_erase_text_of_an_animated_input(tmp_path: Path) -> None:
    from glitchzap.animation import Animation
    from glitchzap.meme.compose import make_meme

    clean = panning(skimage_photo("chelsea", 320), 6)
    burnt = [
        make_meme(frame, ["burnt caption"], layout="top", erase="never", runtime=current())
        if i < 3
        else frame
        for i, frame in enumerate(clean.frames)
    ]
    source = gif_file(Animation(burnt, clean.durations), tmp_path / "burnt.gif")
    erased = run_cli("erase-text", str(source), "-o", str(tmp_path / "clean.webp"))
    assert erased.returncode == 0, erased.stderr
    assert "1 region(s) erased on 3 of 6 frames" in erased.stdout
    frames = load_animation(tmp_path / "clean.webp")
    assert (len(frames), frames.durations) == (6, clean.durations)


def test_ocr_reports_unreadable_inputs_and_goes_on(photo: Path, tmp_path: Path) -> None:
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"nope")
    result = run_cli("ocr", str(junk), "--json")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: {junk}")


@pytest.mark.slow
def test_ocr_of_an_animation_names_the_frames(tmp_path: Path) -> None:
    from glitchzap.meme.frames import sample_indices

    clean = panning(skimage_photo("chelsea", 320), 10)
    burnt = captioned_on(clean, range(5), "burnt caption", current())
    source = gif_file(burnt, tmp_path / "burnt.gif")
    read = run_cli("ocr", str(source), "--json")
    assert read.returncode == 0, read.stderr
    found = json.loads(read.stdout)
    sampled = sample_indices(10)
    assert (found["frame_count"], found["sampled_frames"]) == (10, sampled)
    (region,) = found["regions"]
    assert region["text"].replace(" ", "").upper() == "BURNTCAPTION"
    assert region["frames"] == [i for i in sampled if i < 5]
    shown = run_cli("ocr", str(source))
    assert shown.returncode == 0, shown.stderr
    assert f"1 region(s) on 10 frames (read {', '.join(map(str, sampled))})" in shown.stdout
    read_on = ", ".join(str(i) for i in region["frames"])
    assert f"{region['text']}  (frames {read_on})" in shown.stdout
