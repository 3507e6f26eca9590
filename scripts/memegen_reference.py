"""Measure memegen's own expected renders into tests/data/memegen_reference.json.

For every still picture memegen checks in under app/tests/images whose template is in the
shared sample (../shared/memegen-templates), record the lines (decoded from the file's slug),
the output size and the caption bounding box of each text box, measured by
tests/memegen_boxes.py exactly as tests/test_memegen_visual.py measures glitchzap's renders.
Only numbers are written: memegen's images stay in memegen's repository.

    python scripts/memegen_reference.py [--repo MEMEGEN_REPO] [--templates DIR] [--out FILE]

`--repo` (or $MEMEGEN_REPO) is memegen's repository: a checkout or a bare git dir (HEAD).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "src")]

import memegen_boxes as mb  # noqa: E402
from glitchzap.api.memegen import decode_slug  # noqa: E402

DEFAULT_TEMPLATES = ROOT.parent / "shared" / "memegen-templates"
DEFAULT_OUT = ROOT / "tests" / "data" / "memegen_reference.json"
STILL = (".png", ".jpg")

# Options memegen's app/tests/test_utils_images.py renders these files with (the file name
# carries only a hash of them). None: not a default-background picture, so not measurable.
OPTIONS: dict[str, dict | None] = {
    "pigeon/_/multiple_words_here": {"height": 300},  # test_text_wrap_on_small_images
    "toohigh/_/the_number_of_sample_memes_is_too_damn_high!": {"height": 200},
    "fry/_/enjoy_enjoy_enjoy_enjoy_enjoy_enjoy_enjoy": {  # test_text_not_cut_off_with_impact...
        "font": "impact",
        "watermark": "Memegen.link",
    },
    "fine/101_°F/this_is_fine": None,  # test_custom_style: a downloaded background
}


def list_expected(repo: Path) -> list[str]:
    """Paths (relative to the repository) of memegen's expected images."""
    folder = repo / mb.IMAGES_PATH
    if folder.is_dir():
        return sorted(str(p.relative_to(repo)) for p in folder.rglob("*") if p.is_file())
    listing = subprocess.run(
        ["git", "-C", str(repo), "ls-tree", "-r", "-z", "--name-only", "HEAD", mb.IMAGES_PATH],
        check=True,
        capture_output=True,
        text=True,
    )
    return sorted(filter(None, listing.stdout.split("\0")))


def commit_of(repo: Path) -> str | None:
    found = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True
    )
    return found.stdout.strip() if found.returncode == 0 else None


def parse_expected(path: str) -> tuple[str, str, str] | None:
    """(template id, slug, extension) of an expected image path, or None for other files."""
    relative = path.removeprefix(mb.IMAGES_PATH + "/")
    match = re.fullmatch(r"([^/]+)/(.+)\.[0-9a-f]{40}(\.\w+)", relative)
    if not match or match[3] not in STILL:
        return None
    return match[1], match[2], match[3]


def case_name(template_id: str, slug: str) -> str:
    words = re.sub(r"[^a-z0-9]+", "-", slug.lower()).strip("-")
    return f"{template_id}-{words[:40].strip('-') or 'blank'}"


def measure(repo: Path, path: str, folder: Path, options: dict) -> dict:
    """One reference case: memegen's picture at `path` measured against its template."""
    image = mb.decode_png(mb.read_memegen_file(repo, path))
    size = (image.shape[1], image.shape[0])
    background = mb.template_background(mb.template_picture(folder), size)
    watermark = bool(options.get("watermark"))
    boxes, stray = mb.measure_captions(
        image, background, folder / "config.yml", watermark=watermark
    )
    # stray: changed pixels outside the boxes, 0 when the resized template is memegen's own
    return {"size": list(size), "boxes": [list(b) if b else None for b in boxes], "stray": stray}


def build_reference(repo: Path, templates: Path) -> dict:
    cases = []
    for path in list_expected(repo):
        parsed = parse_expected(path)
        if parsed is None or not (templates / parsed[0] / "config.yml").is_file():
            continue
        template_id, slug, _ = parsed
        options = OPTIONS.get(f"{template_id}/{slug}", {})
        if options is None:
            continue
        lines = decode_slug(slug)
        case = {"name": case_name(template_id, slug), "template": template_id, "lines": lines}
        case |= {"options": options, **measure(repo, path, templates / template_id, options)}
        cases.append(case | {"source": path})
    return {
        "memegen_commit": commit_of(repo),
        "measured_by": "tests/memegen_boxes.py",
        "threshold": mb.THRESHOLD,
        "min_area": mb.MIN_AREA,
        "margin": mb.MARGIN,
        "cases": cases,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repo", type=Path, default=os.environ.get("MEMEGEN_REPO") or mb.DEFAULT_MIRROR
    )
    parser.add_argument("--templates", type=Path, default=DEFAULT_TEMPLATES)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    reference = build_reference(args.repo, args.templates)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(reference, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    for case in reference["cases"]:
        print(f"{case['name']:48} {case['size']} {case['boxes']} stray={case['stray']}")
    print(f"{len(reference['cases'])} cases -> {args.out}")


if __name__ == "__main__":
    main()
