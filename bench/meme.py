"""Meme text: OCR, text removal and captions, beside the seed's way measured in the same run.

The seed's way: RapidOCR with its default configuration (shortest side to 736, the angle
classifier on, the full image), the detected boxes filled as the mask, `cv2.inpaint` NS with
radius 3. Its published table: first-time image 3-6 s, cached OCR 1-3 s.

Images: 12 memegen templates (../shared/memegen-templates) scaled to 800 px on the longest side
and captioned by our own renderer. PSNR is measured inside the caption boxes against the clean
template. Run: .venv/bin/python bench/meme.py   (part of `make bench`)

OCR quality (`--ocr-quality` runs only this part): character recall and precision on captioned
memes with known text (tests/meme_ocr_cases.py: plain, small bottom line, busy background, thin
outline, lower-case banner, JPEG q70 at 60 %), tuning and held-out halves, beside the previous
reading in the same run.

False erasures (`--erase-rule` runs only this part): `erase: auto` on 390 text-free photos
(../shared/gt-davis345 and scikit-image's photos, each as is, as JPEG q90 and at 75 %) and on
captioned pictures with a small shop sign drawn in their middle (tests/meme_variants.add_sign),
beside the previous rule (erase every region once one scores above the threshold) in the same
run. Each set is split by the parity of its position in a sorted list: the even half tuned
`meme/caption_regions.py`'s thresholds, the odd half is held out; both are printed.

Erase quality (`--erase-quality` runs only this part): captions drawn on clean pictures (12 of
scikit-image's photos, every 10th ../shared/gt-davis345 photo, every 3rd memegen template, all
at 800 px), read by OCR and masked as `erase_text` does (caption_regions, strokes); every
method then fills the same masks. PSNR, SSIM and the gradient error (mean |Sobel| difference,
grey levels per px) inside the caption boxes, beside Navier-Stokes on the same masks. Split as
above: the even half tuned `meme/inpaint.py`'s THIN_PLATE_WEIGHT and `meme/edge_fill.py`'s
EDGE_* constants, the odd half is held out. `auto`'s size limit is set by time, not quality.
One more row puts `auto` beside the seed's way of erasing (Navier-Stokes radius 3 on the whole
OCR boxes, same regions). Then the first-time meme (OCR + erase + captions) with `auto` beside
`pyramid` (the previous default), each in a fresh runtime.

memegen URLs (`--memegen-urls` runs only this part): GET /images/fry/<line>/<line>.png on a
real uvicorn server (bench/api.py's, one worker, fry imported into a throw-away library), p50
over sequential keep-alive requests. Cold: every URL has distinct text, so no cache hit; cached:
one URL repeated, which measures the server's meme cache. Each beside its anchor measured in the
same run over the same server: POST /api/meme drawing the same captions in fry's own text boxes
(`boxes`, `erase: never`) on fry's picture uploaded at the URL's output size, cold (distinct
captions) and cached (one body repeated).
"""

from __future__ import annotations

import difflib
import io
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from _report import header, median_ms, row
from glitchzap.io import load_image
from glitchzap.meme.caption_regions import caption_regions
from glitchzap.meme.captions import box_pixels, layout_boxes, render_captions
from glitchzap.meme.compose import erase_text, make_meme_result, read_image_text
from glitchzap.meme.fonts import FontCache, resolve_font
from glitchzap.meme.inpaint import INPAINT_METHODS, inpaint, text_mask
from glitchzap.meme.ocr import MODEL_FILES, model_dir
from glitchzap.runtime import configure, current, restart
from meme_cases import CAPTIONED
from meme_variants import CAPTIONS, add_captions, add_sign

MEMEGEN = Path(__file__).resolve().parents[2] / "shared" / "memegen-templates"
SEED_FIRST_MS = (3000.0, 6000.0)  # the seed's published first-time image
SEED_CACHED_MS = (1000.0, 3000.0)  # the seed's published meme with OCR cached
NEW_CAPTIONS = ["fresh caption on top", "and another at the bottom"]
DAVIS = MEMEGEN.parent / "gt-davis345" / "images"
SKIMAGE_PHOTOS = (
    "astronaut", "brick", "camera", "cat", "chelsea", "coffee", "coins", "grass", "gravel",
    "hubble_deep_field", "immunohistochemistry", "moon", "retina", "rocket",
)  # fmt: skip
SIGN_SEED = 18


def fresh_runtime() -> Any:
    """A runtime on an empty data dir (no cached OCR or erase), drawing with the fonts
    `make fonts` fetched (memegen's), as a user's server would."""
    from glitchzap.settings import load_settings

    fonts = load_settings().fonts_dir
    return configure(
        data_dir=Path(tempfile.mkdtemp(prefix="glitchzap-bench-")), fonts={"dir": fonts}
    )


def ocr_quality_main() -> None:
    """OCR character recall/precision on captioned memes (tests/meme_ocr_cases.py), per half
    and variant, beside the previous reading (no edge bands, no plain-letter prior), same run."""
    from glitchzap.meme.ocr import read_text
    from glitchzap.settings import OcrSettings
    from meme_ocr_cases import char_counts, in_captions, ocr_cases

    fresh_runtime()
    restart()
    readers = {
        "ours": OcrSettings(),
        "before": OcrSettings(edge_band=0, prefer_plain_letters=False),
    }
    counts: dict[tuple[str, str, bool], list[int]] = {}
    times: dict[str, list[float]] = {"ours": [], "before": []}
    cases = list(ocr_cases())
    for case in cases:
        for label, options in readers.items():
            ms, regions = timed(lambda o=options, im=case.image: read_text(im, o))
            times[label].append(ms)
            inside = [r for r in regions if in_captions(r.box, case.rects)]
            inside.sort(key=lambda r: (sum(p[1] for p in r.box), sum(p[0] for p in r.box)))
            got = char_counts(" ".join(case.lines), " ".join(r.text for r in inside))
            for variant in ("all", case.variant):
                total = counts.setdefault((label, variant, case.held_out), [0, 0, 0])
                total[:] = [a + b for a, b in zip(total, got, strict=True)]
    header(f"OCR on {len(cases)} captioned memes (skimage, DAVIS, memegen pictures)")
    for held_out, part in ((True, "held-out"), (False, "tuning")):
        for variant in ("all", *dict.fromkeys(c.variant for c in cases)):
            m, e, g = counts[("ours", variant, held_out)]
            bm, be, bg = counts[("before", variant, held_out)]
            scores = (("recall", m / e, bm / be, 0.98), ("precision", m / g, bm / bg, 0.95))
            for name, ours, before, goal in scores:
                gated = variant == "all"
                row(
                    f"OCR char {name}, {variant}, {part}",
                    ours,
                    before,
                    "previous reading",
                    unit="",
                    target=f">= {goal}" if gated else "",
                    ok=ours >= goal if gated else None,
                )
    for label in ("median", "p90"):
        ours, before = (
            float(np.percentile(times[k], 50 if label == "median" else 90)) for k in readers
        )
        row(f"OCR time per meme (1 thread), {label}", ours, before, "previous reading")


def template(name: str) -> np.ndarray:
    image = load_image(next((MEMEGEN / name).glob("default.*")))[..., :3]
    scale = 800 / max(image.shape[:2])
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))


def render(image: np.ndarray, captions: tuple[str, ...] | list[str]) -> np.ndarray:
    # fonts_dir=None: the system meme face the OCR/erase rules were tuned on, not memegen's.
    return render_captions(
        image,
        list(captions),
        layout_boxes("default"),
        font=resolve_font(fonts_dir=None),
        fonts=FontCache(32),
    )


def caption_area(shape: tuple[int, ...], captions: tuple[str, ...]) -> np.ndarray:
    area = np.zeros(shape[:2], bool)
    for box, text in zip(layout_boxes("default"), captions, strict=False):
        if text:
            x, y, w, h = box_pixels(box, shape[1], shape[0])
            area[y : y + h, x : x + w] = True
    return area


def psnr(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    mse = float(((a.astype(np.float64) - b.astype(np.float64))[where] ** 2).mean())
    return 10 * np.log10(255**2 / max(mse, 1e-9))


def seed_engine(**params: Any) -> Any:
    from rapidocr import RapidOCR

    paths = {f"{task}.model_path": str(model_dir() / f) for task, f in MODEL_FILES.items()}
    return RapidOCR(params={**paths, "Global.log_level": "error", **params})


def seed_erase(engine: Any, image: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """The seed's way: default RapidOCR on the full image, boxes filled, NS radius 3."""
    output = engine(np.ascontiguousarray(image[..., ::-1]))
    mask = np.zeros(image.shape[:2], np.uint8)
    if output.boxes is not None:
        for box in output.boxes:
            cv2.fillPoly(mask, [np.round(box).astype(np.int32)], 255)
    texts = list(output.txts or ())
    return cv2.inpaint(image, mask, 3, cv2.INPAINT_NS), texts


def char_scores(expected: list[str], found: list[str]) -> tuple[float, float]:
    exp = "".join(" ".join(expected).upper().split())
    got = "".join(" ".join(found).upper().split())
    matcher = difflib.SequenceMatcher(None, exp, got, autojunk=False)
    matched = sum(b.size for b in matcher.get_matching_blocks())
    return matched / max(len(exp), 1), matched / max(len(got), 1)


def word_accuracy(expected: list[str], found: dict[str, list[str]]) -> float:
    """Share of expected words read exactly (spacing included), upper-cased."""
    right = total = 0
    for text, lines in zip(expected, found.values(), strict=True):
        words = text.upper().split()
        read = " ".join(lines).upper().split()
        total += len(words)
        right += sum(min(words.count(w), read.count(w)) for w in set(words))
    return right / total


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    value = fn()
    return (time.perf_counter() - start) * 1000, value


def main() -> None:
    if not MEMEGEN.is_dir():
        print(f"skipped: memegen templates not found at {MEMEGEN}")
        return
    settings = fresh_runtime().settings
    restart()
    cleans = {name: template(name) for name in CAPTIONED}
    memes = {name: render(cleans[name], caps) for name, caps in CAPTIONED.items()}
    header("meme text: 12 memegen templates at 800 px")

    cold_ms, _ = timed(lambda: read_image_text(memes["ackbar"], use_cache=False, runtime=current()))
    seed = seed_engine()
    seed_cold_ms, _ = timed(lambda: seed_erase(seed, memes["ackbar"]))
    row("engine cold start + first OCR (once per process)", cold_ms, seed_cold_ms, "seed way")

    first, cached, seed_first, seed_texts, our_texts = [], [], [], {}, {}
    for name, image in memes.items():
        ms, result = timed(
            lambda image=image: make_meme_result(image, NEW_CAPTIONS, runtime=current())
        )
        first.append(ms)
        our_texts[name] = [r.text for r in (result.ocr.regions if result.ocr else [])]
        ms, _ = timed(lambda image=image: make_meme_result(image, NEW_CAPTIONS, runtime=current()))
        cached.append(ms)
        ms, (erased, texts) = timed(lambda image=image: seed_erase(seed, image))
        render_ms, _ = timed(lambda erased=erased: render(erased, NEW_CAPTIONS))
        seed_first.append(ms + render_ms)
        seed_texts[name] = texts
    seed_ms = statistics.median(seed_first)
    ours_first = statistics.median(first)
    ours_cached = statistics.median(cached)
    row(
        "first-time meme (OCR + erase + captions), median",
        ours_first,
        seed_ms,
        "seed way",
        target="<= 600 ms",
        ok=ours_first <= 600,
    )
    row(
        "  same, beside the seed's published table",
        ours_first,
        SEED_FIRST_MS[0],
        "seed table 3-6 s, published (not measured)",
    )
    row(
        "meme again: OCR and erase both cached, captions drawn, median",
        ours_cached,
        seed_ms,
        "seed way (no cache)",
        target="<= 80 ms",
        ok=ours_cached <= 80,
    )
    row(
        "  same, beside the seed's published table",
        ours_cached,
        SEED_CACHED_MS[0],
        "seed table 1-3 s, published (not measured)",
    )
    # Fairness check: the seed's way with onnxruntime limited to one thread, as ours runs.
    seed_one = seed_engine(**{"EngineConfig.onnxruntime.intra_op_num_threads": 1})
    seed_erase(seed_one, memes["ackbar"])
    one_thread = []
    for image in memes.values():
        ms, (erased, _) = timed(lambda image=image: seed_erase(seed_one, image))
        render_ms, _ = timed(lambda erased=erased: render(erased, NEW_CAPTIONS))
        one_thread.append(ms + render_ms)
    row(
        "first-time meme, beside the seed way on 1 thread",
        ours_first,
        statistics.median(one_thread),
        "seed way, 1 thread",
    )
    sample = cleans["mordor"]
    caption_ms = median_ms(lambda: render(sample, NEW_CAPTIONS), repeat=30, warmup=3)
    row(
        "caption rendering alone (2 captions, 800 px)",
        caption_ms,
        None,
        "-",
        target="<= 15 ms",
        ok=caption_ms <= 15,
    )

    expected = [" ".join(c) for c in CAPTIONED.values()]
    ours_r, ours_p = char_scores(expected, [" ".join(t) for t in our_texts.values()])
    seed_r, seed_p = char_scores(expected, [" ".join(t) for t in seed_texts.values()])
    ours_w, seed_w = word_accuracy(expected, our_texts), word_accuracy(expected, seed_texts)
    print(f"{'OCR words read with the right spacing':<52} {ours_w:.3f}  vs seed way {seed_w:.3f}")
    print(
        f"{'OCR character recall / precision':<52} {ours_r:.3f} / {ours_p:.3f}  "
        f"vs seed way {seed_r:.3f} / {seed_p:.3f}"
    )

    print("\nerase quality: PSNR (dB) inside the caption boxes vs the clean template, mean of 12")
    scores: dict[str, list[float]] = {
        "captioned (nothing erased)": [],
        "seed way: boxes + ns r3": [],
    }
    for name, image in memes.items():
        area = caption_area(image.shape, CAPTIONED[name])
        clean = cleans[name]
        scores["captioned (nothing erased)"].append(psnr(image, clean, area))
        scores["seed way: boxes + ns r3"].append(psnr(seed_erase(seed, image)[0], clean, area))
        regions = read_image_text(image, runtime=current()).regions
        for mode in ("boxes", "strokes"):
            mask = text_mask(image, regions, mode)  # type: ignore[arg-type]
            for method in INPAINT_METHODS:
                erased = inpaint(image, mask, method, settings.ocr.inpaint_radius)
                scores.setdefault(f"ours: {mode} + {method}", []).append(psnr(erased, clean, area))
    seed_db = statistics.mean(scores["seed way: boxes + ns r3"])
    best = max(
        (k for k in scores if k.startswith("ours")), key=lambda k: statistics.mean(scores[k])
    )
    for label, values in scores.items():
        mean = statistics.mean(values)
        mark = "  <- best" if label == best else ""
        print(f"  {label:<40} {mean:6.2f} dB  ({mean - seed_db:+.2f} dB vs seed way){mark}")
    gain = statistics.mean(scores[best]) - seed_db
    print(
        f"  best method beats the seed way by {gain:+.2f} dB (target >= +2 dB): "
        f"{'OK' if gain >= 2 else 'MISSED'}"
    )
    default = f"ours: {settings.ocr.mask_mode} + {settings.ocr.inpaint_method}"
    print(f"  configured default is {default!r}")


def skimage_photos() -> list[tuple[str, np.ndarray]]:
    """scikit-image's photos as RGB, each as is, as JPEG q90 and at 75 % (the studio's path:
    coffee read as a giant "8" only after JPEG or scaling)."""
    from skimage import data

    from glitchzap.io import encode_image

    out = []
    for name in SKIMAGE_PHOTOS:
        image = getattr(data, name)()
        image = np.stack([image] * 3, axis=-1) if image.ndim == 2 else image[..., :3]
        image = np.ascontiguousarray(image, dtype=np.uint8)
        jpeg = load_image(encode_image(image, "jpeg", quality=90))[..., :3]
        small = cv2.resize(image, None, fx=0.75, fy=0.75, interpolation=cv2.INTER_AREA)
        out += [(f"{name}", image), (f"{name}.q90", jpeg), (f"{name}.75", small)]
    return out


def text_free_photos() -> list[tuple[str, np.ndarray]]:
    davis = [(p.stem, load_image(p)[..., :3]) for p in sorted(DAVIS.glob("*.jpg"))]
    return sorted(davis + skimage_photos(), key=lambda item: item[0])


def previous_auto(regions: list[Any], threshold: float) -> list[Any]:
    """The previous `auto` rule: every region, once any scores at least the threshold."""
    return list(regions) if any(r.score >= threshold for r in regions) else []


def erased_with(image: np.ndarray, regions: list[Any]) -> np.ndarray:
    if not regions:
        return image
    return erase_text(image, mode="always", regions=regions, runtime=current()).image


def false_erasure_rows(threshold: float) -> None:
    photos = text_free_photos()
    header(f"erase: auto on {len(photos)} text-free photos (DAVIS + scikit-image)")
    changed: dict[tuple[int, str], int] = {}
    for index, (_, image) in enumerate(photos):
        image = np.ascontiguousarray(image)
        regions = read_image_text(image, runtime=current()).regions
        after = erase_text(image, mode="auto", runtime=current()).image
        before = erased_with(image, previous_auto(regions, threshold))
        part = "tuning" if index % 2 == 0 else "held-out"
        for key, value in (
            ("photos", 1),
            ("with a region", int(bool(regions))),
            ("changed", int(not np.array_equal(after, image))),
            ("changed before", int(not np.array_equal(before, image))),
        ):
            changed[(index % 2, key)] = changed.get((index % 2, key), 0) + value
    for half, part in ((1, "held-out"), (0, "tuning")):
        count = changed.get((half, "photos"), 0)
        found = changed.get((half, "with a region"), 0)
        ours = changed.get((half, "changed"), 0)
        row(
            f"text-free photos changed, {part} half ({count}; OCR found text on {found})",
            ours,
            changed.get((half, "changed before"), 0),
            "previous auto rule",
            unit="photos",
            target="0",
            ok=ours == 0,
        )


def sign_cases() -> list[tuple[str, np.ndarray, tuple[str, ...]]]:
    """(name, picture, captions): the 12 memegen templates with their captions, scikit-image's
    colour photos and every 12th DAVIS photo with captions from meme_variants.CAPTIONS."""
    from skimage import data

    cases = [(name, template(name), caps) for name, caps in CAPTIONED.items()]
    for name in ("astronaut", "cat", "chelsea", "coffee", "rocket"):
        picture = np.ascontiguousarray(getattr(data, name)()[..., :3])
        cases.append((name, picture, CAPTIONS[len(cases) % len(CAPTIONS)]))
    for path in sorted(DAVIS.glob("*.jpg"))[::12]:
        picture = np.ascontiguousarray(load_image(path)[..., :3])
        cases.append((path.stem, picture, CAPTIONS[len(cases) % len(CAPTIONS)]))
    return cases


def summed_char_scores(expected: list[str], found: list[str]) -> tuple[float, float]:
    """(recall, precision) of characters over all cases, each case matched on its own (one
    string for all would let an extra line in one case misalign the matching of the next)."""
    matched = wanted = got = 0
    for exp, text in zip(expected, found, strict=True):
        exp, text = "".join(exp.upper().split()), "".join(text.upper().split())
        blocks = difflib.SequenceMatcher(None, exp, text, autojunk=False).get_matching_blocks()
        matched += sum(b.size for b in blocks)
        wanted, got = wanted + len(exp), got + len(text)
    return matched / max(wanted, 1), matched / max(got, 1)


def scene_text_rows(threshold: float) -> None:
    cases = sign_cases()
    rng = np.random.default_rng(SIGN_SEED)
    header(f"erase: auto on {len(cases)} captioned pictures with a shop sign in the middle")
    tallies: dict[tuple[int, str], list[Any]] = {}
    for index, (_, picture, captions) in enumerate(cases):
        signed, (x, y, w, h) = add_sign(picture, rng)
        for label, image in (("plain", add_captions(picture, captions)),
                             ("signed", add_captions(signed, captions))):  # fmt: skip
            regions = read_image_text(image, runtime=current()).regions
            ours = caption_regions(image, regions, threshold)
            before = previous_auto(regions, threshold)
            expected = " ".join(captions)
            for rule, chosen in (("ours", ours), ("before", before)):
                texts = " ".join(r.text for r in chosen)
                tallies.setdefault((index % 2, f"{label} {rule} expected"), []).append(expected)
                tallies.setdefault((index % 2, f"{label} {rule} found"), []).append(texts)
                if label == "signed":
                    out = erased_with(image, chosen)
                    kept = np.array_equal(out[y : y + h, x : x + w], image[y : y + h, x : x + w])
                    tallies.setdefault((index % 2, f"sign {rule}"), []).append(kept)
    for half, part in ((1, "held-out"), (0, "tuning")):
        for label in ("plain", "signed"):
            scores = {
                rule: summed_char_scores(
                    tallies[(half, f"{label} {rule} expected")],
                    tallies[(half, f"{label} {rule} found")],
                )
                for rule in ("ours", "before")
            }
            recall, precision = scores["ours"]
            row(
                f"caption char recall erased, {label}, {part}",
                recall,
                scores["before"][0],
                "previous auto rule",
                unit="",
                target="not below previous",
                ok=recall >= scores["before"][0] - 1e-9,
            )
            row(
                f"caption char precision erased, {label}, {part}",
                precision,
                scores["before"][1],
                "previous auto rule",
                unit="",
            )
        kept = tallies[(half, "sign ours")]
        row(
            f"signs left untouched, {part} ({len(kept)} signs)",
            sum(kept) / len(kept),
            sum(tallies[(half, "sign before")]) / len(kept),
            "previous auto rule",
            unit="",
            target="1.00",
            ok=all(kept),
        )


def erase_rule_main() -> None:
    if not MEMEGEN.is_dir() or not DAVIS.is_dir():
        print(f"skipped: {MEMEGEN} or {DAVIS} not found")
        return
    settings = fresh_runtime().settings
    restart()
    threshold = settings.image_processing.skip_text_removal_threshold
    false_erasure_rows(threshold)
    scene_text_rows(threshold)


ERASE_METHODS = ("ns", "telea", "pyramid", "harmonic", "spline", "edges", "auto")


def scaled(image: np.ndarray, longest: int = 800) -> np.ndarray:
    scale = longest / max(image.shape[:2])
    size = (round(image.shape[1] * scale), round(image.shape[0] * scale))
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))


def clean_pictures() -> list[tuple[str, np.ndarray]]:
    """(source:name, picture at 800 px): the erase-quality set, in a fixed order."""
    from skimage import data

    pictures = []
    for name in SKIMAGE_PHOTOS[:12]:
        image = getattr(data, name)()
        image = np.stack([image] * 3, axis=-1) if image.ndim == 2 else image[..., :3]
        pictures.append((f"skimage:{name}", scaled(np.ascontiguousarray(image, np.uint8))))
    for path in sorted(DAVIS.glob("*.jpg"))[::10]:
        pictures.append((f"davis:{path.stem}", scaled(load_image(path)[..., :3])))
    names = sorted(p.name for p in MEMEGEN.iterdir() if p.is_dir() and any(p.glob("default.*")))
    pictures += [(f"memegen:{name}", template(name)) for name in names[::3]]
    return pictures


def held_out(names: list[str]) -> list[int]:
    """1 for the odd position of each name within its source (sorted), 0 for the even."""
    parts = [0] * len(names)
    for source in {n.split(":")[0] for n in names}:
        mine = sorted((n, i) for i, n in enumerate(names) if n.startswith(source + ":"))
        for position, (_, index) in enumerate(mine):
            parts[index] = position % 2
    return parts


def gradient_error(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    def sobel(image: np.ndarray) -> np.ndarray:
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float32)
        return np.dstack([cv2.Sobel(grey, cv2.CV_32F, 1, 0), cv2.Sobel(grey, cv2.CV_32F, 0, 1)])

    return float(np.abs(sobel(a) - sobel(b))[where].mean())


def ssim(a: np.ndarray, b: np.ndarray, where: np.ndarray) -> float:
    from skimage.metrics import structural_similarity

    _, local = structural_similarity(a, b, channel_axis=2, full=True, data_range=255)
    return float(local.mean(axis=2)[where].mean())


def erase_scores() -> tuple[list[int], dict[str, dict[str, list[float]]]]:
    """(held-out flag per picture, {method: {measure: one value per picture}})."""
    settings = current().settings
    pictures = clean_pictures()
    threshold = settings.image_processing.skip_text_removal_threshold
    scores: dict[str, dict[str, list[float]]] = {m: {} for m in ERASE_METHODS}
    for index, (_, clean) in enumerate(pictures):
        captions = CAPTIONS[index % len(CAPTIONS)]
        image = add_captions(clean, captions)
        regions = caption_regions(
            image, read_image_text(image, runtime=current()).regions, threshold
        )
        mask = text_mask(image, regions, settings.ocr.mask_mode)
        area = caption_area(image.shape, captions)
        boxes = text_mask(image, regions, "boxes")
        scores.setdefault("ns on boxes", {}).setdefault("psnr", []).append(
            psnr(inpaint(image, boxes, "ns", 3), clean, area)
        )
        for method in ERASE_METHODS:
            ms, erased = timed(
                lambda m=method, i=image, k=mask: inpaint(i, k, m, settings.ocr.inpaint_radius)
            )
            for measure, value in (
                ("psnr", psnr(erased, clean, area)),
                ("ssim", ssim(erased, clean, area)),
                ("gradient", gradient_error(erased, clean, area)),
                ("ms", ms),
            ):
                scores[method].setdefault(measure, []).append(value)
    return held_out([name for name, _ in pictures]), scores


def erase_quality_rows(parts: list[int], scores: dict[str, dict[str, list[float]]]) -> None:
    for half, part in ((1, "held-out"), (0, "tuning")):
        pick = [i for i, p in enumerate(parts) if p == half]

        def mean(method: str, measure: str, pick: list[int] = pick) -> float:
            return statistics.mean(scores[method][measure][i] for i in pick)

        header(f"erase quality inside the caption boxes, {part} half ({len(pick)} pictures)")
        ns_db = mean("ns", "psnr")
        for method in ERASE_METHODS[1:]:
            gain = mean(method, "psnr") - ns_db
            row(f"erase PSNR, {method} ({gain:+.2f} dB), {part}", mean(method, "psnr"), ns_db,
                "ns, same masks", unit="dB", target=">= ns + 2 dB", ok=gain >= 2)  # fmt: skip
        boxes_db = mean("ns on boxes", "psnr")
        gain = mean("auto", "psnr") - boxes_db
        row(f"erase PSNR, auto ({gain:+.2f} dB) vs ns on box masks, {part}",
            mean("auto", "psnr"), boxes_db, "ns r3 on the OCR boxes", unit="dB",
            target=">= +2 dB", ok=gain >= 2)  # fmt: skip
        for method in ERASE_METHODS[1:]:
            row(f"erase SSIM, {method}, {part}", mean(method, "ssim"), mean("ns", "ssim"),
                "ns, same masks", unit="")  # fmt: skip
        for method in ERASE_METHODS[1:]:
            row(f"erase gradient error, {method}, {part}", mean(method, "gradient"),
                mean("ns", "gradient"), "ns, same masks", unit="grey")  # fmt: skip
        for method in ERASE_METHODS[1:]:
            times = [scores[method]["ms"][i] for i in pick]
            ns_times = [scores["ns"]["ms"][i] for i in pick]
            row(f"erase time at 800 px, {method}, median, {part}", statistics.median(times),
                statistics.median(ns_times), "ns, same masks")  # fmt: skip


def first_meme_ms(method: str) -> float:
    """Median first-time meme (OCR + erase + captions) of the 12 captioned templates with
    `method`, in a fresh runtime whose OCR engine is already loaded."""
    fresh_runtime()
    restart()
    read_image_text(render(template("fry"), ["warm", "up"]), use_cache=False, runtime=current())
    times = []
    for name, captions in CAPTIONED.items():
        image = render(template(name), captions)
        ms, _ = timed(lambda image=image: make_meme_result(
            image, NEW_CAPTIONS, method=method, runtime=current()))  # fmt: skip
        times.append(ms)
    return statistics.median(times)


def erase_quality_main() -> None:
    if not MEMEGEN.is_dir() or not DAVIS.is_dir():
        print(f"skipped: {MEMEGEN} or {DAVIS} not found")
        return
    fresh_runtime()
    restart()
    erase_quality_rows(*erase_scores())
    header("first-time meme with the automatic inpainting method")
    pyramid_ms, auto_ms = first_meme_ms("pyramid"), first_meme_ms("auto")
    row("first-time meme (OCR + erase + captions), auto", auto_ms, pyramid_ms, "pyramid",
        target="<= 600 ms", ok=auto_ms <= 600)  # fmt: skip


# --- memegen URLs over HTTP ----------------------------------------------------------------

URL_TEMPLATE = "fry"
URL_COLD_N = 40  # distinct URLs (and distinct /api/meme bodies)
URL_CACHED_N = 200  # repeats of one URL (and of one /api/meme body)


def p50_ms(send: Callable[[int], Any], n: int, warmup: int = 3) -> float:
    """Median milliseconds of `send(i)` for i in range(n), after `warmup` untimed calls."""
    for i in range(warmup):
        send(-1 - i)
    times = []
    for i in range(n):
        start = time.perf_counter()
        send(i)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def import_url_template(data_dir: Path) -> list[dict[str, Any]]:
    """Import fry into <data_dir>/templates (the server's default library); its text boxes."""
    import shutil

    import yaml

    from glitchzap.templates import TemplateLibrary

    source = data_dir / "memegen"
    shutil.copytree(MEMEGEN / URL_TEMPLATE, source / URL_TEMPLATE)
    library = TemplateLibrary(data_dir / "templates")
    report = library.import_memegen(source)
    library.store.close()
    assert report.added, report.to_dict()
    config = yaml.safe_load((source / URL_TEMPLATE / "config.yml").read_text(encoding="utf-8"))
    keys = ("anchor_x", "anchor_y", "scale_x", "scale_y", "angle", "align")
    return [{k: box[k] for k in keys if k in box} for box in config["text"]]


def upload_at_size(client: Any, size: tuple[int, int]) -> str:
    """fry's picture resized to `size` (as memegen resizes it) uploaded; its image_id."""
    from PIL import Image

    picture = next((MEMEGEN / URL_TEMPLATE).glob("default.*"))
    buffer = io.BytesIO()
    Image.open(picture).convert("RGB").resize(size, Image.Resampling.LANCZOS).save(buffer, "PNG")
    files = {"file": ("fry.png", buffer.getvalue(), "image/png")}
    return str(client.post("/api/images", files=files).raise_for_status().json()["image_id"])


def memegen_url_main() -> None:
    """memegen URL renders over HTTP, cold and cached, beside POST /api/meme on the same server."""
    import httpx

    from api import free_port, start_server, wait_ready

    if not (MEMEGEN / URL_TEMPLATE).is_dir():
        print(f"skipped: {MEMEGEN / URL_TEMPLATE} not found")
        return
    with tempfile.TemporaryDirectory(prefix="glitchzap-bench-") as data_dir:
        boxes = import_url_template(Path(data_dir))
        port = free_port()
        process = start_server(port, data_dir)
        try:
            wait_ready(f"http://127.0.0.1:{port}", process)
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
                figures = url_figures(client, boxes)
        finally:
            process.terminate()
            process.wait(timeout=30)
    size, url_cold, url_cached, meme_cold, meme_cached = figures
    header(f"memegen URL /images/{URL_TEMPLATE}/<top>/<bottom>.png over HTTP ({size[0]}x{size[1]})")
    row("memegen URL render p50, cold (distinct text, no cache hit)", url_cold, meme_cold,
        "POST /api/meme, same picture, cold")  # fmt: skip
    row("memegen URL p50, cached (one URL repeated: the meme cache)", url_cached, meme_cached,
        "POST /api/meme, one body repeated", target="<= 5 ms", ok=url_cached <= 5)  # fmt: skip


def url_figures(
    client: Any, boxes: list[dict[str, Any]]
) -> tuple[tuple[int, int], float, float, float, float]:
    """(output size, URL cold p50, URL cached p50, /api/meme cold p50, /api/meme cached p50)."""
    from PIL import Image

    from glitchzap.api.memegen import encode_lines

    def url(i: int) -> str:  # memegen's canonical spelling (no 301 to follow)
        lines = [f"not sure if {i}", f"or just benchmark {i}"]
        return f"/images/{URL_TEMPLATE}/{encode_lines(lines)}.png"

    first = client.get(url(10**6)).raise_for_status()
    size = Image.open(io.BytesIO(first.content)).size
    image_id = upload_at_size(client, size)

    def meme(i: int) -> None:
        body = {"image_id": image_id, "captions": [f"not sure if {i}", f"or just benchmark {i}"]}
        body |= {"erase": "never", "boxes": boxes[:2], "format": "png"}
        client.post("/api/meme", json=body).raise_for_status()

    def get(i: int) -> None:
        client.get(url(i)).raise_for_status()

    url_cold = p50_ms(get, URL_COLD_N)
    meme_cold = p50_ms(meme, URL_COLD_N)
    url_cached = p50_ms(lambda _: get(7), URL_CACHED_N)
    meme_cached = p50_ms(lambda _: meme(7), URL_CACHED_N)
    return size, url_cold, url_cached, meme_cold, meme_cached


if __name__ == "__main__":
    if "--ocr-quality" in sys.argv:
        sys.exit(ocr_quality_main())
    if "--erase-quality" in sys.argv:
        sys.exit(erase_quality_main())
    if "--erase-rule" in sys.argv:
        sys.exit(erase_rule_main())
    if "--memegen-urls" in sys.argv:
        sys.exit(memegen_url_main())
    main()
    memegen_url_main()
    erase_rule_main()
    ocr_quality_main()
    sys.exit(erase_quality_main())
