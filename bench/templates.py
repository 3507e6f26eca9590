"""Template matching: accuracy per kind against a perceptual-hash baseline, query latency at
100 / 2,000 / 20,000 templates, import time, and the auto-template meme end to end.

Needs ../../shared/memegen-templates (the memegen sample); prints each figure beside its
anchor (imagehash phash, nearest by Hamming distance, measured in the same run) or target.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import imagehash
import numpy as np
from PIL import Image

from glitchzap.cache.codec import encode_array
from glitchzap.meme.captions import render_captions
from glitchzap.meme.fonts import FontCache, resolve_font
from glitchzap.templates import TemplateLibrary, text_boxes
from glitchzap.templates import match as m
from glitchzap.templates.store import dumps
from meme_variants import KINDS, make_variant

MEMEGEN = Path(__file__).resolve().parents[2] / "shared" / "memegen-templates"
QUERY_SIZE = 800
LATENCY_QUERIES = 40


def phash(image: np.ndarray) -> imagehash.ImageHash:
    return imagehash.phash(Image.fromarray(np.ascontiguousarray(image[:, :, :3])))


def accuracy(library: TemplateLibrary, pictures: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per kind: top-1 accuracy of our matcher and of phash; returns the queries made."""
    hashes = {tid: phash(p) for tid, p in pictures.items()}
    ids = list(hashes)
    hash_bits = np.stack([hashes[t].hash.ravel() for t in ids])
    queries: dict[str, np.ndarray] = {}
    print(f"{'kind':<9} {'glitchzap':>10} {'phash':>8}   (top-1 on {len(ids)} memegen templates)")
    for kind in KINDS:
        rng = np.random.default_rng(KINDS.index(kind))
        ours = base = 0
        for template in library.list_templates():
            query = make_variant(pictures[template.id], kind, rng, text_boxes(template))
            queries.setdefault(template.id, query)
            found = library.match(query, 1)
            ours += bool(found and found[0].id == template.id and found[0].matched)
            distances = (hash_bits != phash(query).hash.ravel()).sum(axis=1)
            base += ids[int(np.argmin(distances))] == template.id
        n = len(library)
        print(f"{kind:<9} {ours / n:>10.3f} {base / n:>8.3f}")
    return queries


def add_distractors(
    library: TemplateLibrary, total: int, pool: list[m.Features], rng: np.random.Generator
) -> None:
    """Pad the index with `total - len(library)` distractors: features of real non-template
    pictures, jittered (descriptor noise, flipped bits) so no two are identical."""
    rows_t, rows_f = [], []
    for i in range(total - len(library)):
        base = pool[i % len(pool)]
        desc = base.descriptors + rng.normal(0, 0.05, base.descriptors.shape).astype(np.float32)
        desc /= np.linalg.norm(desc, axis=1, keepdims=True)
        flips = rng.random(base.orb.shape) < 0.04
        orb = (base.orb ^ (flips * rng.integers(1, 256, base.orb.shape)).astype(np.uint8)).astype(
            np.uint8
        )
        tid = f"distractor-{len(library) + i:05d}"
        rows_t.append((tid, tid, "[]", "[]", dumps([]), None, "user", "none.png", 1, 1, "", 0.0))
        rows_f.append((tid, 1, encode_array(desc.astype(np.float32)),
                       encode_array(m.descriptor_keys(orb[: m.INDEX_FEATURES])),
                       encode_array(base.points), encode_array(orb)))  # fmt: skip
    with library.store.transaction() as db:
        db.executemany("INSERT INTO templates VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", rows_t)
        db.executemany("INSERT INTO features VALUES (?,?,?,?,?,?)", rows_f)


def distractor_pool(count: int = 300) -> list[m.Features]:
    from skimage import data, img_as_ubyte

    rng = np.random.default_rng(3)
    photos = [img_as_ubyte(np.asarray(getattr(data, n)())) for n in
              ("astronaut", "camera", "chelsea", "coffee", "coins", "horse", "rocket", "moon",
               "immunohistochemistry", "hubble_deep_field", "page", "clock", "brick",
               "grass")]  # fmt: skip
    pool = []
    for i in range(count):
        photo = photos[i % len(photos)]
        photo = np.repeat(photo[:, :, None], 3, 2) if photo.ndim == 2 else photo[:, :, :3]
        h, w = photo.shape[:2]
        top, left = int(rng.integers(0, h // 2)), int(rng.integers(0, w // 2))
        pool.append(
            m.describe(np.ascontiguousarray(photo[top : top + h // 2, left : left + w // 2]))
        )
    return pool


def non_templates(count: int) -> list[np.ndarray]:
    """Pictures of no template: jittered crops of scikit-image photos."""
    from skimage import data

    rng = np.random.default_rng(11)
    out = []
    for i in range(count):
        photo = (data.coffee(), data.rocket(), data.astronaut(), data.chelsea())[i % 4]
        h, w = photo.shape[:2]
        top, left = int(rng.integers(0, h // 3)), int(rng.integers(0, w // 3))
        out.append(np.ascontiguousarray(photo[top : top + h // 2, left : left + w // 2]))
    return out


def latency(library: TemplateLibrary, queries: list[np.ndarray]) -> float:
    library.match(queries[0], 1)  # load the index
    times = []
    for query in queries:
        start = time.perf_counter()
        library.match(query, 1)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> int:
    if not MEMEGEN.is_dir():
        print(f"skipped: {MEMEGEN} is absent (the memegen template sample)")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        library = TemplateLibrary(Path(tmp) / "templates")
        start = time.perf_counter()
        report = library.import_memegen(MEMEGEN)
        per_template = (time.perf_counter() - start) * 1000 / max(1, len(report.added))
        print(
            f"import: {per_template:.1f} ms per template "
            f"({len(report.added)} templates; target <= 50)"
        )
        pictures = {
            t.id: m.resize_longest(library.image(t.id)[:, :, :3], QUERY_SIZE)
            for t in library.list_templates()
        }
        queries = accuracy(library, pictures)
        sample = list(queries.values())[:LATENCY_QUERIES]

        meme_times = []
        font, fonts = resolve_font(), FontCache(32)
        for query in sample[:20]:
            start = time.perf_counter()
            best = library.best_match(query)
            if best is not None:
                image, boxes = library.template_for_meme(best.id)
                captions = ["new top text", "new bottom text"][: len(boxes)]
                render_captions(image[:, :, :3], captions, boxes,
                                font=font, fonts=fonts)  # fmt: skip
            meme_times.append((time.perf_counter() - start) * 1000)
        print(f"auto-template meme (match + clean template + captions): "
              f"{statistics.median(meme_times):.0f} ms median (target <= 150)")  # fmt: skip

        pool = distractor_pool()
        negatives = non_templates(20)
        rng = np.random.default_rng(5)
        targets = {100: None, 2000: 30, 20000: 100}
        for size, target in targets.items():
            if size > len(library):
                add_distractors(library, size, pool, rng)
            ms = latency(library, sample)
            anchor = f"target <= {target}" if target else "memegen sample, no distractors"
            print(f"query latency at {len(library):>6} templates: {ms:6.1f} ms median ({anchor})")
            misses = latency(library, negatives)
            print(
                f"  no-match query (not a template) at {len(library):>6}: {misses:6.1f} ms median"
            )
        library.store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
