"""Shared bench helpers: timing, RSS, and one table row per figure beside its anchor."""

from __future__ import annotations

import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Bench scripts reuse the test suite's data and fixtures (tests/meme_cases.py, web_fixtures.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

ROWS: list[dict[str, Any]] = []


def server_env(data_dir: str) -> dict[str, str]:
    """The environment of a server a bench starts on a throw-away data dir: that dir, and the
    fonts `make fonts` fetched (memegen's, not a system fallback)."""
    from glitchzap.settings import load_settings

    fonts = str(load_settings().fonts_dir)
    return {"GLITCHZAP_FONTS__DIR": fonts, **os.environ, "GLITCHZAP_DATA_DIR": data_dir}


def machine() -> str:
    return f"{platform.machine()} {os.cpu_count()} cores, Python {platform.python_version()}"


def median_ms(fn: Callable[[], Any], *, repeat: int = 15, warmup: int = 2) -> float:
    """Median wall time of `fn` in milliseconds."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def rss_mb() -> float:
    import psutil

    return psutil.Process().memory_info().rss / 2**20


def row(
    figure: str,
    ours: float,
    anchor: float | None,
    anchor_name: str,
    unit: str = "ms",
    target: str = "",
    ok: bool | None = None,
) -> None:
    """Print and record one figure; ratio = anchor / ours for times (how many times faster)."""
    ours, anchor = float(ours), None if anchor is None else float(anchor)
    ratio = anchor / ours if anchor and ours else None
    ROWS.append(
        {
            "figure": figure,
            "ours": ours,
            "anchor": anchor,
            "anchor_name": anchor_name,
            "unit": unit,
            "ratio": ratio,
            "target": target,
            "ok": None if ok is None else bool(ok),  # numpy bools are not JSON
        }
    )
    anchor_text = (
        f"{anchor:9.2f} {unit} ({anchor_name})"
        if anchor is not None
        else f"{'-':>12} ({anchor_name})"
    )
    ratio_text = f"x{ratio:6.2f}" if ratio else "   -   "
    verdict = "" if ok is None else ("  OK" if ok else "  MISSED")
    print(f"{figure:<52} {ours:9.2f} {unit}  vs {anchor_text:<44} {ratio_text}  {target}{verdict}")


def header(title: str) -> None:
    print(f"\n== {title} ({machine()}) ==")
    print(f"{'figure':<52} {'ours':>12}      {'anchor':<44} {'ratio':>7}  target")


def save_rows(path: str | os.PathLike[str], script: str = "") -> None:
    """Write the rows recorded so far, with the machine and date, as JSON (for BENCHMARKS.md)."""
    import json
    from datetime import UTC, datetime
    from pathlib import Path

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "script": script,
        "machine": machine(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average": os.getloadavg()[0] if hasattr(os, "getloadavg") else None,
        "rows": ROWS,
    }
    target.write_text(json.dumps(data, indent=1), encoding="utf-8")
