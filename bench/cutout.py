"""Cut-out quality on human-annotated ground truth (DAVIS frames): every quality mode (fast,
balanced, best) beside rembg's u2netp and the isnet-imgly file run raw through rembg.

Run: .venv/bin/python bench/cutout.py [--limit N]   (part of `make bench`)
Data: ../shared/gt-davis345 (images/davis_NNN.jpg + masks/davis_NNN.png), read in place.
Needs u2netp (`make models`) and isnet-imgly (`glitchzap models fetch isnet-imgly`, 88 MB).

The frames come in runs of consecutive numbers from one video, so the split is by contiguous
blocks of BLOCK frames: block = frame // BLOCK, even blocks tune, odd blocks judge. Both halves
are reported, the judging half first; anything tuned on these figures is tuned on the tuning
rows only.

Per method and half: mean and median IoU of the >0.5 regions, MAE of the soft mask (0..1),
boundary F-measure (boundaries of the >0.5 masks, a boundary pixel matched when the other
mask's boundary lies within 0.5 % of the image diagonal, the distance-transform form of the
DAVIS contour measure), the share of frames with IoU < 0.8, and the median warm ms per frame
(the model call and its mask only; decoding the JPEG is not timed). All methods stay loaded
and take turns on each frame, so a change in the machine's load hits every method alike; each
is warmed on the first frame (twice, untimed) first.
`--limit N` keeps every Nth frame (quick runs); the default is the full set.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from _report import header, row
from glitchzap.background.modes import QUALITIES, get_mode
from glitchzap.runtime import configure, current

if TYPE_CHECKING:
    from glitchzap.background import ModelManager

DATA = Path(__file__).resolve().parents[2] / "shared" / "gt-davis345"
BLOCK = 15  # frames per block: runs of one video are longer than this, so blocks stay apart
BOUNDARY_TOLERANCE = 0.005  # of the image diagonal
BAD_IOU = 0.8
ANCHOR = "rembg u2netp"  # IoU, MAE and F are shown in % (of 1)

Method = Callable[[np.ndarray], np.ndarray]  # RGB uint8 -> soft mask float32 in [0, 1]


@dataclass(frozen=True)
class Frame:
    number: int
    image: Path
    mask: Path

    @property
    def half(self) -> str:
        return "tuning" if (self.number // BLOCK) % 2 == 0 else "judging"


def frames(data: Path, limit: int) -> list[Frame]:
    """Every `limit`-th annotated frame, in frame order."""
    found = []
    for image in sorted((data / "images").glob("davis_*.jpg")):
        number = int(image.stem.split("_")[1])
        found.append(Frame(number, image, data / "masks" / f"{image.stem}.png"))
    return found[::limit]


def load(frame: Frame) -> tuple[np.ndarray, np.ndarray]:
    """(RGB uint8, ground truth bool) for one frame."""
    bgr = cv2.imread(str(frame.image), cv2.IMREAD_COLOR)
    truth = cv2.imread(str(frame.mask), cv2.IMREAD_GRAYSCALE)
    if bgr is None or truth is None:
        raise SystemExit(f"cannot read {frame.image} or {frame.mask}")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), truth > 127


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def boundary(mask: np.ndarray) -> np.ndarray:
    """The mask's one-pixel inner boundary (pixels with a 4-neighbour outside the mask)."""
    u8 = mask.astype(np.uint8)
    eroded = cv2.erode(u8, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT, borderValue=0)
    return (u8 - eroded).astype(bool)


def boundary_f(predicted: np.ndarray, truth: np.ndarray) -> float:
    """F-measure of the two boundaries, matched within BOUNDARY_TOLERANCE of the diagonal."""
    tolerance = BOUNDARY_TOLERANCE * float(np.hypot(*truth.shape))
    pred_edge, true_edge = boundary(predicted), boundary(truth)
    if not pred_edge.any() and not true_edge.any():
        return 1.0
    if not pred_edge.any() or not true_edge.any():
        return 0.0

    def distance_to(edge: np.ndarray) -> np.ndarray:
        return cv2.distanceTransform((~edge).astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)

    precision = float(np.mean(distance_to(true_edge)[pred_edge] <= tolerance))
    recall = float(np.mean(distance_to(pred_edge)[true_edge] <= tolerance))
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


@dataclass
class Scores:
    ious: list[float]
    maes: list[float]
    fs: list[float]
    ms: list[float]

    def figures(self) -> dict[str, float]:
        return {
            "mean IoU": statistics.fmean(self.ious) * 100,
            "median IoU": statistics.median(self.ious) * 100,
            "MAE": statistics.fmean(self.maes) * 100,
            "boundary F": statistics.fmean(self.fs) * 100,
            f"share IoU < {BAD_IOU}": float(np.mean(np.array(self.ious) < BAD_IOU)) * 100,
            "ms/frame, median warm": statistics.median(self.ms),
        }


def measure(methods: dict[str, Method], chosen: list[Frame]) -> dict[str, dict[str, Scores]]:
    """Each method's scores per half over `chosen`, the methods taking turns on each frame."""
    first = load(chosen[0])[0]
    for method in methods.values():
        method(first)
        method(first)
    scores = {
        name: {half: Scores([], [], [], []) for half in ("judging", "tuning")} for name in methods
    }
    started = time.perf_counter()
    for done, frame in enumerate(chosen, 1):
        image, truth = load(frame)
        for name, method in methods.items():
            start = time.perf_counter()
            soft = method(image)
            elapsed = (time.perf_counter() - start) * 1000
            if soft.shape != truth.shape:
                raise SystemExit(f"{frame.image.name}: mask {soft.shape} vs image {truth.shape}")
            s = scores[name][frame.half]
            s.ious.append(iou(soft > 0.5, truth))
            s.maes.append(float(np.abs(soft - truth).mean()))
            s.fs.append(boundary_f(soft > 0.5, truth))
            s.ms.append(elapsed)
        if done % 25 == 0:
            print(
                f"  {done}/{len(chosen)} frames, {time.perf_counter() - started:.0f} s", flush=True
            )
    return scores


def glitchzap_method(quality: str, manager: ModelManager | None = None) -> Method:
    from glitchzap.background import foreground_mask

    def run(image: np.ndarray) -> np.ndarray:
        return foreground_mask(
            image, runtime=current(), quality=quality, use_cache=False, manager=manager
        )

    return run


def rembg_method(session: object) -> Method:
    from rembg import remove

    def run(image: np.ndarray) -> np.ndarray:
        mask = remove(image, session=session, only_mask=True)
        return np.asarray(mask, dtype=np.float32) / 255

    return run


def rembg_isnet_session(path: Path) -> object:
    """rembg's own ISNet session (DisSession, isnet-general-use's code) on the isnet-imgly file."""
    import onnxruntime as ort
    from rembg.sessions.dis_general_use import DisSession

    def download_models(cls: type, *args: object, **kwargs: object) -> str:
        return str(path)

    local = type(
        "LocalDisSession", (DisSession,), {"download_models": classmethod(download_models)}
    )
    return local("isnet-general-use", ort.SessionOptions())


RAW_ISNET = "rembg DisSession, isnet-imgly file"  # the best single model, run raw


def build_methods(models_dir: Path) -> dict[str, Method]:
    """The anchor first; then each of our quality modes through the runtime's manager (the
    arithmetic a user gets: bf16 through OpenVINO where the CPU has it), and the isnet-imgly
    file through rembg's own ISNet session."""
    from rembg import new_session

    from glitchzap.background.files import require_model_file

    settings = current().settings.models
    isnet = require_model_file("isnet-imgly", models_dir)
    manager = current().models
    methods = {ANCHOR: rembg_method(new_session("u2netp"))}
    for quality in QUALITIES:
        default = " (the default)" if quality == settings.quality else ""
        members = " + ".join(
            f"{name} {manager.precision_for(name)}"
            for name in dict.fromkeys(get_mode(quality).models(settings.default))
        )
        methods[f"ours {quality}{default} ({members})"] = glitchzap_method(quality)
    methods[RAW_ISNET] = rembg_method(rembg_isnet_session(isnet))
    return methods


def target(name: str, figure: str, ours: float, anchor: float) -> tuple[str, bool | None]:
    """The issue's target for this figure of this method, and whether it is met."""
    if name.startswith("ours best"):
        if figure == "mean IoU":
            return "target >= 81 %", ours >= 81
        if figure == "MAE":
            return "target <= 2.4 %", ours <= 2.4
        if figure.startswith("ms"):
            return "target <= 2000 ms", ours <= 2000
    if "(the default)" in name:
        if figure == "mean IoU":
            return "target >= anchor + 2 points", ours >= anchor + 2
        if figure.startswith("ms"):
            return "target >= x2 faster", anchor >= 2 * ours
    return "", None


def report(results: dict[str, dict[str, Scores]], counts: dict[str, int]) -> None:
    for half in ("judging", "tuning"):
        if not counts[half]:
            print(f"(no {half} frames at this --limit: it and BLOCK pick the same blocks)")
            continue
        anchor = results[ANCHOR][half].figures()
        raw = results[RAW_ISNET][half].figures()
        for figure in anchor:
            unit = "ms" if figure.startswith("ms") else "%"
            for name, scores in results.items():
                if name == ANCHOR:
                    continue
                ours = scores[half].figures()[figure]
                goal, ok = target(name, figure, ours, anchor[figure])
                row(
                    f"{half} {figure}: {name}",
                    ours,
                    anchor[figure],
                    f"{ANCHOR}, warm session",
                    unit=unit,
                    target=goal,
                    ok=ok,
                )
                if name.startswith("ours best") and figure in ("mean IoU", "MAE"):
                    row(
                        f"{half} {figure}: {name}",
                        ours,
                        raw[figure],
                        f"{RAW_ISNET} (the best single model, raw)",
                        unit=unit,
                    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--limit", type=int, default=1, help="keep every Nth frame (default all)")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    chosen = frames(args.data, max(1, args.limit))
    if not chosen:
        raise SystemExit(f"no frames in {args.data}/images")
    counts = {half: sum(f.half == half for f in chosen) for half in ("judging", "tuning")}
    with tempfile.TemporaryDirectory() as data_dir:
        models_dir = current().settings.models_dir
        os.environ["U2NET_HOME"] = str(models_dir)  # rembg's anchor reads the same u2netp file
        configure(None, data_dir=data_dir, models={"dir": models_dir}, cache={"backend": "memory"})
        results = measure(build_methods(models_dir), chosen)
        header(
            f"cut-out on gt-davis345: every {args.limit} frame(s), blocks of {BLOCK}, "
            f"{counts['judging']} judging + {counts['tuning']} tuning frames"
        )
        report(results, counts)
        print(f"(load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
