"""The generated meme sample (tests/meme_cases.py): what every checkout's quality tests read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from glitchzap.templates import TemplateLibrary
from meme_cases import (
    GENERATED,
    LOW_TEXTURE,
    TEMPLATE_PHOTOS,
    VARIANTS,
    MemeSample,
    build_meme_sample,
    make_case_variant,
    write_generated_templates,
)


def test_the_sample_holds_every_generated_template(meme_sample: MemeSample) -> None:
    assert meme_sample.ids("generated") == list(GENERATED)
    assert set(LOW_TEXTURE) < set(GENERATED)
    for name in GENERATED:
        picture = meme_sample.picture(name)
        assert picture.dtype == np.uint8 and picture.shape[2] == 3
        assert 300 <= max(picture.shape[:2]) <= 500
        assert any(meme_sample.captions[name])


def test_low_texture_pictures_give_orb_few_keypoints(meme_sample: MemeSample) -> None:
    """What they stand for: pictures where ORB (the matcher's first stage) finds little."""
    import cv2

    orb = cv2.ORB_create(1000)

    def keypoints(name: str) -> int:
        return len(orb.detect(cv2.cvtColor(meme_sample.picture(name), cv2.COLOR_RGB2GRAY), None))

    photos = [n for n in GENERATED if n.removeprefix("gen-") in TEMPLATE_PHOTOS]
    assert len(photos) == 5
    assert max(keypoints(n) for n in LOW_TEXTURE) < min(keypoints(n) for n in photos) / 4


def test_generated_folders_import_as_memegen_templates(tmp_path: Path) -> None:
    library = TemplateLibrary(tmp_path / "library")
    report = library.import_memegen(write_generated_templates(tmp_path / "memegen"))
    assert sorted(report.added) == sorted(GENERATED) and not report.errors
    coffee = library.get("gen-coffee")
    assert coffee.name == "Do You Want Coffee?" and list(coffee.example) == list(
        GENERATED["gen-coffee"].captions
    )
    again = library.import_memegen(tmp_path / "memegen")
    assert sorted(again.unchanged) == sorted(GENERATED)  # the same bytes every build
    library.store.close()


def test_a_shared_folder_adds_cases_and_never_replaces_them(tmp_path: Path) -> None:
    shared = write_generated_templates(tmp_path / "shared")
    (shared / "gen-coffee").rename(shared / "ants")  # a shared template we caption
    alone = build_meme_sample(tmp_path / "a", shared=tmp_path / "absent")
    both = build_meme_sample(tmp_path / "b", shared=shared)
    assert alone.ids() == list(GENERATED) and len(alone.folders) == 1
    assert both.ids("generated") == list(GENERATED) and both.ids("shared") == ["ants"]
    assert both.folders[1] == shared


@pytest.mark.parametrize("kind", VARIANTS)
def test_variants_are_deterministic_memes(meme_sample: MemeSample, kind: str) -> None:
    clean = meme_sample.picture("gen-night-cat")
    captions = meme_sample.captions["gen-night-cat"]
    meme = make_case_variant(clean, captions, kind)
    assert np.array_equal(meme, make_case_variant(clean, captions, kind))
    height, width = clean.shape[:2]
    expected = {
        "plain": (height, width),
        "small": (round(height * 0.6), round(width * 0.6)),
        "crop": (height - 2 * round(height * 0.08), width - 2 * round(width * 0.08)),
        "banner": (height + height // 4, width),
        "mirror": (height, width),
    }
    assert meme.shape[:2] == expected[kind]
    if kind == "banner":
        band = meme[: height // 4]
        assert (band == 255).all(axis=2).mean() > 0.7 and (band < 80).all(axis=2).any()
        assert np.array_equal(meme[height // 4 :], clean)
    if kind == "mirror":
        assert np.array_equal(meme[:, ::-1], make_case_variant(clean, captions, "plain"))
