"""Background removal speed and memory, beside rembg used the common way and the seed.

The default cut-out is the fast mode (u2netp) in the default arithmetic (bf16 through OpenVINO
where the CPU has bfloat16, else float32 on ONNX Runtime); every timed call is preceded by one
untimed warm-up call (dropped).

Run: .venv/bin/python bench/background.py [--removals 200]   (part of `make bench`)
Needs the u2netp model: `glitchzap models fetch u2netp` (make install does it).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
from skimage import data

from _report import header, row, rss_mb
from glitchzap.runtime import configure, current

SEED_SECONDS = (4.0, 12.0)  # the seed's published time per removal


def photo(width: int, height: int) -> np.ndarray:
    """scikit-image's astronaut resized to width x height (a real portrait at that size)."""
    return cv2.resize(data.astronaut(), (width, height), interpolation=cv2.INTER_CUBIC)


_edits = iter(range(1, 1 << 30))


def fresh(image: np.ndarray) -> np.ndarray:
    """`image` with one pixel changed, never twice the same: the mask cache misses."""
    n = next(_edits)
    image[0, 0, :] = (n % 256, n // 256 % 256, n // 65536 % 256)
    return image


def median_ms(fn: Callable[[int], Any], repeat: int) -> float:
    """Median ms of `repeat` calls (after the warm-up call each caller makes first)."""
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def bench_session_options(model_path: str) -> None:
    """Raw ONNX Runtime inference: our SessionOptions (arena on / off) vs onnxruntime's defaults."""
    import onnxruntime as ort

    from glitchzap.background.base import session_options

    x = np.random.default_rng(0).random((1, 3, 320, 320), dtype=np.float32)
    lean = session_options()
    lean.enable_cpu_mem_arena = False
    variants = {
        "ours": session_options(),
        "ours, cpu_mem_arena off": lean,
        "default": ort.SessionOptions(),
    }
    sessions = {}
    for label, options in variants.items():
        sessions[label] = ort.InferenceSession(
            model_path, options, providers=["CPUExecutionProvider"]
        )
        sessions[label].run(None, {"input.1": x})
    times: dict[str, list[float]] = {label: [] for label in sessions}
    for _ in range(7):  # interleaved, so load drift hits every variant alike
        for label, session in sessions.items():
            start = time.perf_counter()
            session.run(None, {"input.1": x})
            times[label].append((time.perf_counter() - start) * 1000)
    ms = {label: statistics.median(values) for label, values in times.items()}
    row(
        "u2netp inference 320x320, our SessionOptions",
        ms["ours"],
        ms["default"],
        "ORT default SessionOptions",
    )
    row(
        "u2netp inference 320x320, arena off",
        ms["ours, cpu_mem_arena off"],
        ms["ours"],
        "arena on (our default)",
    )


def bench_speed(image_1mp: np.ndarray, image_12mp: np.ndarray) -> None:
    """The default mode (fast: u2netp, in the default arithmetic) beside a warm rembg session
    of the same model, at 1 MP and 12 MP; then the other arithmetics and modes at 1 MP."""
    from rembg import new_session, remove

    from glitchzap.background import ModelManager, remove_background

    runtime = current()
    precision = runtime.models.precision_for("u2netp")
    runtime.models.session("u2netp")
    remove_background(fresh(image_1mp), runtime=runtime)  # first call: lazy imports, arena growth
    ours_1 = median_ms(lambda _i: remove_background(fresh(image_1mp), runtime=runtime), 9)
    warm = new_session("u2netp")
    remove(image_1mp, session=warm)
    rembg_warm = median_ms(lambda _i: remove(image_1mp, session=warm), 7)
    rembg_new = median_ms(lambda _i: remove(image_1mp, session=new_session("u2netp")), 3)
    default = f"1 MP removal, warm, default mode (fast, u2netp {precision})"
    row(default, ours_1, rembg_new, "rembg.remove, new session per call")
    row(default, ours_1, rembg_warm, "rembg.remove, warm session", target="target >= x2",
        ok=rembg_warm >= 2 * ours_1)  # fmt: skip
    row(default, ours_1, SEED_SECONDS[0] * 1000, "seed, best published (4 s; not measured)")
    for label, manager in (
        ("float32 on ONNX Runtime (models.precision fp32)", ModelManager(
            runtime.settings.models_dir, precision="fp32", backend="onnxruntime")),
        ("int8 variant (models.precision int8; not the default)", ModelManager(
            runtime.settings.models_dir, precision="int8")),
    ):  # fmt: skip
        remove_background(fresh(image_1mp), manager=manager, runtime=runtime)
        ms = median_ms(
            lambda _i, m=manager: remove_background(fresh(image_1mp), manager=m, runtime=runtime),
            7,
        )
        manager.unload()
        row(f"1 MP removal, warm, {label}", ms, rembg_warm, "rembg.remove, warm session")
    ours_12 = median_ms(lambda _i: remove_background(fresh(image_12mp), runtime=runtime), 5)
    rembg_12 = median_ms(lambda _i: remove(image_12mp, session=warm), 3)
    default_12 = default.replace("1 MP", "12 MP")
    row(default_12, ours_12, rembg_12, "rembg.remove, warm session", target="target >= x2",
        ok=rembg_12 >= 2 * ours_12)  # fmt: skip
    row(default_12, ours_12, SEED_SECONDS[1] * 1000, "seed, worst published (12 s; not measured)")
    cached = median_ms(
        lambda _i: remove_background(image_12mp, background=(0, 0, 0), runtime=runtime), 3
    )
    row("12 MP re-render, mask cached (0 model runs)", cached, ours_12, "12 MP removal, warm")
    from glitchzap.background.files import require_model_file

    require_model_file("isnet-imgly", runtime.settings.models_dir)
    for quality in ("balanced", "best"):
        remove_background(fresh(image_1mp), quality=quality, runtime=runtime)
        ms = median_ms(
            lambda _i, q=quality: remove_background(fresh(image_1mp), quality=q, runtime=runtime),
            3,
        )
        row(f"1 MP removal, warm, {quality} mode", ms, ours_1, "the default mode (fast)")


def bench_int8_agreement() -> None:
    """How far the int8 variant's mask is from float32's on real photos (not timed)."""
    from glitchzap.background import ModelManager, foreground_mask

    models_dir = current().settings.models_dir
    int8, fp32 = (
        ModelManager(models_dir, precision="int8"),
        ModelManager(models_dir, precision="fp32"),
    )
    for name in ("astronaut", "chelsea", "coffee"):
        image = np.ascontiguousarray(getattr(data, name)())
        a = foreground_mask(image, manager=int8, use_cache=False, runtime=current())
        b = foreground_mask(image, manager=fp32, use_cache=False, runtime=current())
        both, either = ((a > 0.5) & (b > 0.5)).sum(), ((a > 0.5) | (b > 0.5)).sum()
        row(
            f"int8 vs fp32 mask, {name} (calibration photo): mean |diff|",
            float(np.abs(a - b).mean()) * 100,
            None,
            f"IoU of the >0.5 regions {both / max(either, 1):.3f}",
            unit="%",
        )
    int8.unload()
    fp32.unload()


def bench_memory(image: np.ndarray, removals: int) -> None:
    from glitchzap.background import remove_background

    remove_background(fresh(image), runtime=current())
    first = rss_mb()
    remove_background(fresh(image), runtime=current())
    second = rss_mb()
    for _ in range(2, removals):
        remove_background(fresh(image), runtime=current())
    after = rss_mb()
    row(
        f"RSS growth, first -> {removals}th removal (1 MP)",
        after - first,
        None,
        f"RSS {first:.0f} MB after the first, {after:.0f} MB after the last",
        unit="MB",
        target="target <= 50 MB",
        ok=after - first <= 50,
    )
    row(
        f"RSS growth, second -> {removals}th removal",
        after - second,
        None,
        f"steady state; ORT arena grew {second - first:.0f} MB on run 2",
        unit="MB",
    )


def bench_cuda(image: np.ndarray) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" not in ort.get_available_providers():
        print("CUDA: onnxruntime has no CUDAExecutionProvider here; not measured")
        return
    from glitchzap.background import ModelManager, remove_background

    cpu = ModelManager(current().settings.models_dir, device="cpu")
    cuda = ModelManager(current().settings.models_dir, device="cuda")
    ms = {}
    for label, manager in (("cuda", cuda), ("cpu", cpu)):
        remove_background(fresh(image), manager=manager, runtime=current())
        ms[label] = median_ms(
            lambda _i, m=manager: remove_background(fresh(image), manager=m, runtime=current()), 7
        )
        manager.unload()
    row("1 MP removal, CUDA provider", ms["cuda"], ms["cpu"], "CPU provider, same run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--removals", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        models_dir = current().settings.models_dir
        os.environ["U2NET_HOME"] = str(models_dir)  # rembg's anchor reads the same file
        configure(None, data_dir=data_dir, models={"dir": models_dir}, cache={"backend": "memory"})
        from glitchzap.background.files import require_model_file

        model_path = str(require_model_file("u2netp", models_dir))
        header("background removal, u2netp")
        image_1mp, image_12mp = photo(1000, 1000), photo(4000, 3000)
        bench_memory(image_1mp, args.removals)  # first, so no 12 MP run has grown the heap
        bench_session_options(model_path)
        bench_speed(image_1mp, image_12mp)
        bench_int8_agreement()
        bench_cuda(image_1mp)
        print(f"(load average during the run: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
