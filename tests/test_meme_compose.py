"""The meme flow on real images: erase only when there is text, captions read back by OCR.

Read-back metric: character F1 between the captions and the OCR of the result, upper-cased
and without whitespace (matched characters = difflib matching blocks, as in test_ocr.py).
"""

from __future__ import annotations

import difflib

import cv2
import numpy as np
import pytest

from glitchzap.errors import InvalidParameters
from glitchzap.meme.captions import box_pixels, layout_boxes
from glitchzap.meme.compose import erase_text, make_meme, make_meme_result, read_image_text
from glitchzap.meme.ocr import engine_stats
from glitchzap.runtime import current
from glitchzap.settings import Settings
from glitchzap.types import TextRegion
from meme_cases import MemeSample, case_ids, make_case_variant
from meme_variants import add_captions, add_sign

SHORT = ["one does not simply", "walk into mordor"]
LONG = [
    "when you finally fix the bug that has been haunting the whole team for three weeks",
    "and the next morning the nightly build fails because somebody renamed the test folder",
]


def char_f1(expected: str, found: str) -> float:
    expected, found = "".join(expected.upper().split()), "".join(found.upper().split())
    matcher = difflib.SequenceMatcher(None, expected, found, autojunk=False)
    matched = sum(block.size for block in matcher.get_matching_blocks())
    if not matched:
        return 0.0
    recall, precision = matched / len(expected), matched / len(found)
    return 2 * recall * precision / (recall + precision)


def read_back(image: np.ndarray, settings: Settings) -> str:
    regions = read_image_text(image, use_cache=False, runtime=current()).regions
    ordered = sorted(regions, key=lambda r: (sum(p[1] for p in r.box), sum(p[0] for p in r.box)))
    return " ".join(r.text for r in ordered)


@pytest.mark.slow
def test_a_photo_without_text_is_returned_unchanged(settings: Settings) -> None:
    from skimage import data

    photo = np.ascontiguousarray(data.chelsea())
    result = erase_text(photo, mode="auto", runtime=current())
    assert result.regions_erased == [] and np.array_equal(result.image, photo)
    assert np.array_equal(make_meme(photo, [], erase="auto", runtime=current()), photo)


def small_photo(name: str, longest: int = 400) -> np.ndarray:
    from skimage import data

    photo = np.ascontiguousarray(getattr(data, name)()[..., :3])
    factor = longest / max(photo.shape[:2])
    return cv2.resize(photo, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)


@pytest.mark.slow
def test_coffee_read_as_a_giant_glyph_is_returned_byte_identical(settings: Settings) -> None:
    # At 75 % (or as JPEG) OCR reads the cup and saucer as an "8" covering the picture; the
    # studio used to smear them. `auto` must keep every byte, whatever OCR reads.
    photo = small_photo("coffee", 450)
    result = erase_text(photo, mode="auto", runtime=current())
    assert result.regions_erased == [] and result.image is photo
    height, width = photo.shape[:2]
    glyph = TextRegion(((0, 0), (width * 0.9, 0), (width * 0.9, height), (0, height)), "8", 0.99)
    forced = erase_text(photo, mode="auto", regions=[glyph], runtime=current())
    assert forced.regions_erased == [] and np.array_equal(forced.image, photo)
    assert np.array_equal(make_meme(photo, [], erase="auto", runtime=current()), photo)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["astronaut", "chelsea"])
def test_a_shop_sign_is_kept_while_the_captions_are_erased(name: str, settings: Settings) -> None:
    signed, (x, y, w, h) = add_sign(small_photo(name), np.random.default_rng(1))
    captions = ("when the build passes", "on the first try")
    meme = add_captions(signed, captions)
    result = erase_text(meme, mode="auto", runtime=current())
    assert np.array_equal(result.image[y : y + h, x : x + w], meme[y : y + h, x : x + w])
    erased = " ".join(r.text for r in result.regions_erased)
    assert char_f1(" ".join(captions), erased) >= 0.9, erased
    for box in layout_boxes("default"):
        _, by, _, bh = box_pixels(box, meme.shape[1], meme.shape[0])
        assert not np.array_equal(result.image[by : by + bh], meme[by : by + bh])
    # `always` still erases every region OCR found, the sign included.
    always = erase_text(meme, mode="always", runtime=current())
    assert not np.array_equal(always.image[y : y + h, x : x + w], meme[y : y + h, x : x + w])


@pytest.mark.slow
def test_a_plain_meme_still_has_its_captions_erased(settings: Settings) -> None:
    captions = ("one does not simply", "walk into mordor")
    meme = add_captions(small_photo("rocket"), captions)
    result = erase_text(meme, mode="auto", runtime=current())
    erased = " ".join(r.text for r in result.regions_erased)
    assert char_f1(" ".join(captions), erased) >= 0.9, erased
    assert char_f1(" ".join(captions), read_back(result.image, settings)) < 0.3


@pytest.mark.slow
@pytest.mark.parametrize("captions", [SHORT, LONG], ids=["short", "long"])
@pytest.mark.parametrize(
    "name", case_ids(("gen-coffee", "gen-cartoon", "gen-night-cat"), ("mordor", "kermit", "ants"))
)
def test_captions_read_back_and_stay_inside(
    meme_sample: MemeSample, settings: Settings, name: str, captions: list[str]
) -> None:
    clean = meme_sample.picture(name, 800)
    meme = make_meme(clean, captions, erase="never", runtime=current())
    assert char_f1(" ".join(captions), read_back(meme, settings)) >= 0.97
    changed = np.any(meme != clean, axis=2)
    inside = np.zeros_like(changed)
    for box in layout_boxes("default"):
        x, y, w, h = box_pixels(box, clean.shape[1], clean.shape[0])
        inside[y : y + h, x : x + w] = True
    assert changed.any() and not changed[~inside].any()


@pytest.mark.slow
@pytest.mark.parametrize("name", case_ids(("gen-chelsea", "gen-gradient"), ("fry",)))
def test_new_captions_replace_the_old_ones(
    meme_sample: MemeSample, settings: Settings, name: str
) -> None:
    captions = meme_sample.captions[name]
    old = make_meme(meme_sample.picture(name, 800), list(captions), runtime=current())
    result = make_meme_result(old, ["", "new caption"], erase="auto", runtime=current())
    assert result.regions_erased
    text = read_back(result.image, settings).upper()
    assert "NEWCAPTION" in text.replace(" ", "")
    old_words = {w for w in " ".join(captions).upper().split() if len(w) >= 4}
    assert not old_words & set(text.split()), text


@pytest.mark.slow
def test_large_inputs_are_read_small_and_composed_full_size(
    meme_sample: MemeSample, settings: Settings
) -> None:
    base = make_meme(
        meme_sample.picture("gen-camera", 800),
        ["but that's none", "of my business"],
        erase="never",
        runtime=current(),
    )
    big = cv2.resize(base, (base.shape[1] * 3, base.shape[0] * 3), interpolation=cv2.INTER_CUBIC)
    result = make_meme_result(big, ["tea time"], erase="always", runtime=current())
    assert result.image.shape == big.shape and result.regions_erased
    assert "TEATIME" in read_back(result.image, settings).replace(" ", "").upper()


def test_erase_never_skips_ocr(small_rgb: np.ndarray, settings: Settings) -> None:
    runs = engine_stats.runs
    result = erase_text(small_rgb, mode="never", runtime=current())
    assert result.image is small_rgb and engine_stats.runs == runs


def test_bad_requests_raise(small_rgb: np.ndarray, settings: Settings) -> None:
    with pytest.raises(InvalidParameters, match="erase mode"):
        erase_text(small_rgb, mode="sometimes", runtime=current())  # type: ignore[arg-type]
    with pytest.raises(InvalidParameters, match="captions but only"):
        make_meme(small_rgb, ["a", "b", "c"], erase="never", runtime=current())
    with pytest.raises(InvalidParameters, match="limit"):
        make_meme(
            small_rgb,
            ["x" * (settings.limits.max_text_length + 1)],
            erase="never",
            runtime=current(),
        )
    with pytest.raises(InvalidParameters, match="Unknown font"):
        make_meme(
            small_rgb,
            ["x"],
            erase="never",
            font="No Such Font",
            runtime=current(),
        )


@pytest.mark.slow
def test_a_second_erase_of_the_same_picture_comes_from_the_cache(
    meme_sample: MemeSample, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    import glitchzap.meme.compose as meme_module

    clean = meme_sample.picture("gen-rocket", 800)
    image = make_meme(clean, SHORT, erase="never", runtime=current())
    first = erase_text(image, runtime=current())
    assert first.regions_erased

    def no_inpainting(*args: object, **kwargs: object) -> None:
        raise AssertionError("inpainted again")

    monkeypatch.setattr(meme_module, "_inpaint_scaled", no_inpainting)
    second = erase_text(image, runtime=current())
    assert np.array_equal(second.image, first.image)
    assert second.regions_erased == first.regions_erased


def test_a_stored_patch_that_does_not_fit_is_a_miss(small_rgb: np.ndarray) -> None:
    from glitchzap.meme.compose import _apply_patch, _encode_patch

    hole = np.zeros(small_rgb.shape[:2], bool)
    hole[5:9, 10:20] = True
    erased = small_rgb.copy()
    erased[hole] = 7
    data = _encode_patch(erased, hole)
    restored = _apply_patch(small_rgb, data)
    assert restored is not None and np.array_equal(restored, erased)
    assert _apply_patch(small_rgb[:32], data) is None
    assert _apply_patch(small_rgb, b"garbage") is None


# Not the sample's photos: the runtime's library also holds the starter set, made of the same
# scikit-image photos, so a query of one would rightly match either.
@pytest.mark.slow
@pytest.mark.parametrize("name", case_ids(("gen-cartoon", "gen-night-cat"), ("fine",)))
def test_auto_template_renders_on_the_clean_template(meme_sample: MemeSample, name: str) -> None:
    from glitchzap.meme.compose import make_meme, make_meme_result

    library = current().templates
    for folder in meme_sample.folders:
        library.import_memegen(folder)
    clean, boxes = library.template_for_meme(name)
    # A real-looking meme of the template: our captions, then JPEG q70 at 60 %.
    query = make_case_variant(clean, ["THIS IS", "FINE"], "small")

    result = make_meme_result(query, ["new top", "new bottom"], template="auto", runtime=current())
    assert result.template_id == name
    expected = make_meme(
        clean, ["new top", "new bottom"], boxes=boxes, erase="never", runtime=current()
    )
    assert np.array_equal(result.image, expected)
    assert result.image.shape == clean.shape  # the clean full-size template, not the query


@pytest.mark.slow
def test_auto_template_falls_back_to_erasing_when_nothing_matches() -> None:
    from skimage import data

    from glitchzap.meme.compose import make_meme_result

    # A photo that is no template (the starter set holds scikit-image photos, so not one of those).
    photo = np.ascontiguousarray(data.immunohistochemistry())
    result = make_meme_result(photo, ["hello"], template="auto", runtime=current())
    assert result.template_id is None
    assert result.image.shape == photo.shape
