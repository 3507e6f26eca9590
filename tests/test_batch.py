"""Batch runs on real photos: outputs identical to single-image runs, failures listed, resume.

The model-backed tests use a folder of 50 real photos (scikit-image crops, ~256 px, PNG/JPEG/
WebP, nested folders, one RGBA) plus 3 broken files, and a recipe that removes the background
and adds effects to the subject. References are computed one image at a time in this process
with a memory-only cache, so the batch's workers (with their own empty disk cache) cannot
simply read them back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from conftest import REAL_MODELS_DIR, save_failure
from glitchzap.batch import read_report, run_batch
from glitchzap.errors import InvalidParameters, ModelNotAvailable
from glitchzap.io import encode_image, load_image, save_image
from glitchzap.recipes import Recipe, parse_recipe
from glitchzap.rendering import render_effects as render
from glitchzap.runtime import configure, current, restart

RECIPE: dict[str, Any] = {
    "effects": {
        "noise": {"amount": 0.1},
        "blur": 1.0,
        "shake": {"offset": 3, "copies": 2},
        "motion": {"length": 6, "angle": 30},
    },
    "target": "foreground",
    "seed": 7,
    "background": {"remove": True, "color": [30, 60, 90, 255]},
}
EFFECTS_ONLY: dict[str, Any] = {"effects": {"noise": 0.2, "blur": 1.5}, "seed": 3}
BROKEN = ("broken/truncated.jpg", "broken/noise.png", "readme.jpg")
FORMATS = ("png", "jpg", "webp")

CLI_CODE = "from glitchzap.cli import main\nmain()"  # `glitchzap` from this interpreter


def photos(count: int, longest: int = 256) -> list[np.ndarray]:
    """`count` different real photos: crops of scikit-image's samples, ~`longest` px."""
    from skimage import data

    sources = [data.astronaut(), data.chelsea(), data.coffee(), data.rocket(), data.cat()]
    sources.append(data.immunohistochemistry())
    images = []
    for i in range(count):
        source = sources[i % len(sources)]
        h, w = source.shape[:2]
        top, left = (i * 7) % (h // 5), (i * 11) % (w // 5)
        crop = source[top : top + h * 4 // 5, left : left + w * 4 // 5]
        scale = longest / max(crop.shape[:2])
        size = (round(crop.shape[1] * scale), round(crop.shape[0] * scale))
        image = cv2.resize(np.ascontiguousarray(crop), size, interpolation=cv2.INTER_AREA)
        images.append(np.ascontiguousarray(image[:, ::-1] if i % 2 else image))
    return images


def write_photo_set(root: Path, count: int) -> list[str]:
    """Write `count` photos in nested folders (the last one RGBA); their relative paths."""
    rels = []
    for i, image in enumerate(photos(count)):
        fmt = FORMATS[i % 3]
        rel = f"set{i % 3}/{'deep/' if i % 4 == 0 else ''}img{i:02d}.{fmt}"
        if i == count - 1:
            image = np.dstack([image, np.full(image.shape[:2], 200, np.uint8)])
            rel = f"set0/img{i:02d}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        save_image(image, root / rel, quality=92)
        rels.append(rel)
    return rels


def write_broken(root: Path) -> None:
    (root / "broken").mkdir(parents=True, exist_ok=True)
    jpeg = encode_image(photos(1)[0], "jpeg")
    (root / BROKEN[0]).write_bytes(jpeg[: len(jpeg) // 2])
    (root / BROKEN[1]).write_bytes(np.random.default_rng(0).bytes(5000))
    (root / BROKEN[2]).write_text("This is a text file, not a JPEG.\n")


def single_image_run(path: Path, recipe: Recipe) -> np.ndarray:
    """The recipe on one image through the public functions, as a user would call them."""
    image = load_image(path)
    mask = None
    if recipe.background.remove or recipe.needs_mask:
        from glitchzap.background import foreground_mask, remove_background

        mask = foreground_mask(image, runtime=current())
        if recipe.background.remove:
            image = remove_background(image, background=recipe.background.color, runtime=current())
    return render(
        image, recipe, quality="full", mask=mask if recipe.needs_mask else None, runtime=current()
    )


def output_for(out: Path, rel: str, *, flat: bool = False) -> Path:
    """Where the batch writes `rel`: mirrored, or by name alone for inputs given as files."""
    return out / (Path(rel).with_suffix(".png").name if flat else Path(rel).with_suffix(".png"))


def assert_outputs_match(
    out: Path, references: dict[str, np.ndarray], rels: list[str], *, flat: bool = False
) -> None:
    for rel in rels:
        actual = load_image(output_for(out, rel, flat=flat))
        expected = references[rel]
        if not np.array_equal(actual, expected):
            save_failure(f"batch-{Path(rel).stem}", actual, expected)
            pytest.fail(f"{rel}: batch output differs from the single-image run")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str], dict]:
    """50 photos + 3 broken files, and each photo's single-image result (memory cache only)."""

    root = tmp_path_factory.mktemp("batch-in")
    rels = write_photo_set(root, 50)
    write_broken(root)
    configure(
        data_dir=root.parent / "reference-data",
        models={"dir": REAL_MODELS_DIR},
        cache={"backend": "memory"},
    )
    restart()
    restart()
    recipe = parse_recipe(RECIPE)
    references = {rel: single_image_run(root / rel, recipe) for rel in rels}
    restart()
    restart()
    return root, rels, references


def run_cli(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    """`glitchzap batch ARGS` in a subprocess sharing this test's data and models dirs."""
    settings = current().settings
    env = {
        **os.environ,
        "GLITCHZAP_DATA_DIR": str(settings.data_dir),
        "GLITCHZAP_MODELS__DIR": str(settings.models_dir),
    }
    return subprocess.Popen(
        [sys.executable, "-c", CLI_CODE, "batch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        **kwargs,
    )


@pytest.mark.slow
def test_fifty_photos_match_single_image_runs_and_failures_are_listed(
    dataset: tuple[Path, list[str], dict], tmp_path: Path
) -> None:
    root, rels, references = dataset
    seen = []
    summary = run_batch(
        RECIPE,
        [root],
        tmp_path / "out",
        workers=2,
        report=tmp_path / "report.jsonl",
        progress=lambda record, summary: seen.append((record.status, summary.planned)),
    )
    assert (summary.planned, summary.done, summary.failed, summary.skipped) == (53, 50, 3, 0)
    assert_outputs_match(tmp_path / "out", references, rels)
    failed = {Path(r.input).relative_to(root).as_posix(): r.reason for r in summary.failures}
    assert set(failed) == set(BROKEN)
    assert "damaged or truncated" in failed["broken/truncated.jpg"]
    assert "not an image" in failed["readme.jpg"]
    assert all(failed.values())
    assert len(seen) == 53 and {planned for _, planned in seen} == {53}
    records, totals = read_report(tmp_path / "report.jsonl")
    assert sorted(r.status for r in records).count("done") == 50
    assert {r.input for r in records if r.status == "failed"} == {str(root / b) for b in BROKEN}
    assert totals is not None and totals["done"] == 50 and totals["failed"] == 3
    assert not list((tmp_path / "out").rglob(".*.tmp"))


@pytest.mark.slow
def test_killed_run_resumes_without_duplicate_work_or_partial_files(
    dataset: tuple[Path, list[str], dict], tmp_path: Path
) -> None:
    root, rels, references = dataset
    subset = rels[:24]
    listing = tmp_path / "inputs.txt"
    listing.write_text("".join(f"{root / rel}\n" for rel in subset))
    recipe_file = tmp_path / "recipe.json"
    recipe_file.write_text(parse_recipe(RECIPE).model_dump_json())
    out = tmp_path / "out"
    names = {Path(rel).with_suffix(".png").name: rel for rel in subset}

    first = run_cli(str(recipe_file), str(listing), "-o", str(out), "-w", "2",
                    start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and len(list(out.glob("*.png"))) < 4:
        assert first.poll() is None, first.communicate()
        time.sleep(0.05)
    os.killpg(first.pid, signal.SIGKILL)  # the whole group: the CLI and its workers
    first.communicate()
    finished = {path.name for path in out.glob("*.png")}
    assert 4 <= len(finished) < len(subset), "kill the run while it is still working"
    finished_rels = [names[name] for name in finished]
    assert_outputs_match(out, references, finished_rels, flat=True)  # none partial
    # A half-written file, as a kill during a write leaves behind, must not survive the resume.
    pending = sorted(set(names) - finished)[0]
    (out / f".{pending}.0123456789ab.tmp").write_bytes(b"\x89PNG half")

    second = run_cli(str(recipe_file), str(listing), "-o", str(out), "-w", "2", "--resume")
    stdout, stderr = second.communicate(timeout=300)
    assert second.returncode == 0, stderr
    records, totals = read_report(out / "batch-report.jsonl")
    done = {Path(r.output).name for r in records if r.status == "done"}
    skipped = {Path(r.output).name for r in records if r.status == "skipped"}
    assert skipped == finished
    assert done == set(names) - finished  # nothing done twice, nothing left out
    assert totals is not None and totals["failed"] == 0
    assert_outputs_match(out, references, subset, flat=True)
    assert not list(out.glob(".*")), "temporary files left behind"
    assert f"skipped {len(finished)}" in stdout


@pytest.mark.slow
def test_ray_engine_gives_the_same_outputs(
    dataset: tuple[Path, list[str], dict], tmp_path: Path
) -> None:
    ray = pytest.importorskip("ray", reason="the Ray engine needs the glitchzap[ray] extra")
    root, rels, references = dataset
    subset = rels[24:34]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        summary = run_batch(
            RECIPE,
            [root / rel for rel in subset] + [root / BROKEN[1]],
            tmp_path / "out",
            engine="ray",
            workers=2,
        )
    finally:
        ray.shutdown()
    assert (summary.done, summary.failed, summary.engine, summary.workers) == (10, 1, "ray", 2)
    assert summary.failures[0].input == str(root / BROKEN[1])
    assert_outputs_match(tmp_path / "out", references, subset, flat=True)


@pytest.fixture
def small_set(tmp_path: Path) -> tuple[Path, list[str]]:
    root = tmp_path / "in"
    rels = []
    for i, image in enumerate(photos(4, longest=96)):
        rel = f"{'sub/' if i % 2 else ''}p{i}.png"
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        save_image(image, root / rel)
        rels.append(rel)
    return root, rels


def test_effects_only_batch_matches_render_and_resume_skips(
    small_set: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root, rels = small_set
    recipe = parse_recipe(EFFECTS_ONLY)
    summary = run_batch(recipe, [root], tmp_path / "out", workers=2)
    assert (summary.done, summary.failed, summary.workers) == (4, 0, 2)
    for rel in rels:
        expected = render(load_image(root / rel), recipe, quality="full", runtime=current())
        assert np.array_equal(load_image(output_for(tmp_path / "out", rel)), expected)
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*.png")}
    again = run_batch(recipe, [root], tmp_path / "out", workers=2, resume=True)
    assert (again.done, again.skipped) == (0, 4)
    assert stamps == {p: p.stat().st_mtime_ns for p in (tmp_path / "out").rglob("*.png")}


def test_output_format_comes_from_the_recipe(
    small_set: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root, rels = small_set
    recipe = {**EFFECTS_ONLY, "output": {"format": "webp", "quality": 80}}
    summary = run_batch(recipe, [root / rels[0]], tmp_path / "out", workers=1)
    assert summary.done == 1
    assert (tmp_path / "out/p0.webp").read_bytes()[8:12] == b"WEBP"


def test_bad_arguments_are_refused_before_any_work(
    small_set: tuple[Path, list[str]], tmp_path: Path
) -> None:
    root, _ = small_set
    with pytest.raises(InvalidParameters, match="engine"):
        run_batch(EFFECTS_ONLY, [root], tmp_path / "out", engine="spark")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameters, match="workers"):
        run_batch(EFFECTS_ONLY, [root], tmp_path / "out", workers=0)
    with pytest.raises(InvalidParameters, match="Invalid recipe"):
        run_batch({"effects": {"sparkle": 1}}, [root], tmp_path / "out")
    models = {"dir": tmp_path / "no-models", "auto_fetch": False}  # air-gapped: no fetch
    configure(data_dir=tmp_path / "data", models=models)
    with pytest.raises(ModelNotAvailable, match="glitchzap models fetch u2netp"):
        run_batch(RECIPE, [root], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_errors_are_one_line_and_exit_2(tmp_path: Path) -> None:
    proc = run_cli(str(tmp_path / "missing.yaml"), str(tmp_path), "-o", str(tmp_path / "out"))
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert stderr.strip().splitlines() == [
        f"error: Cannot read recipe {tmp_path / 'missing.yaml'}: No such file or directory"
    ]


def test_local_pools_are_replaced_after_their_share_of_images(
    small_set: tuple[Path, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glitchzap.batch import local

    pools = []

    class CountingPool(local.ProcessPoolExecutor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pools.append(self)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(local, "ProcessPoolExecutor", CountingPool)
    root, rels = small_set
    recipe = parse_recipe(EFFECTS_ONLY)
    jobs = [(str(root / rel), str(tmp_path / f"{i}.png")) for i, rel in enumerate(rels)]
    records: list = []
    settings_data = current().settings.model_dump()
    local.run_local(jobs, recipe, settings_data, records.append, workers=2, max_tasks_per_child=1)
    assert len(pools) == 2  # 4 images, 2 workers, 1 image per worker per pool
    assert [r.status for r in records] == ["done"] * 4
    for i, rel in enumerate(rels):
        expected = render(load_image(root / rel), recipe, quality="full", runtime=current())
        assert np.array_equal(load_image(tmp_path / f"{i}.png"), expected)


def test_a_worker_is_one_core_unless_a_small_default_pool_has_spare_ones():
    from glitchzap.batch import local

    assert local.threads_per_worker(1, 1, 8) == 1  # --workers 1: one core, the rest left free
    assert local.threads_per_worker(4, 4, 8) == 1
    assert local.threads_per_worker(None, 8, 8) == 1  # default: one worker per core
    assert local.threads_per_worker(None, 2, 8) == 4  # 2 images on 8 cores: 4 threads each
    assert local.threads_per_worker(None, 3, 2) == 1
