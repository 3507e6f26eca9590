"""A bounded soak: bench/soak.py against a real uvicorn server on loopback, small counts.

The full figure (10,000 mixed requests at 20 clients) is `make soak`; here 800 requests at
10 clients and a 10 s hostile phase, bounded by a 5-minute timeout. Every request has one
expected status (the hostile ones their exact 4xx), so any 5xx, any unexpected answer, a dead
server or RSS growth over 50 MB fails the test. Nothing leaves loopback: the hostile URLs
are refused before dialling.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).resolve().parents[1] / "bench" / "soak.py"
REQUESTS = int(os.environ.get("GLITCHZAP_SOAK_REQUESTS", "800"))


def test_mixed_and_hostile_load(tmp_path: Path) -> None:
    """No 5xx, no surprise, flat memory under mixed load; under hostile load good clients are
    answered, health never stops for 2 s and the server stays within 1 GB of its idle RSS."""
    out = tmp_path / "soak.json"
    result = subprocess.run(
        [sys.executable, str(SOAK), "--requests", str(REQUESTS), "--clients", "10",
         "--anchor-requests", "50", "--hostile-seconds", "10", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )  # fmt: skip
    assert out.is_file(), result.stdout[-3000:] + result.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert figures["requests"] == REQUESTS
    assert figures["server_errors_5xx"] == 0, figures
    assert figures["unexpected"] == 0, figures["unexpected_kinds"]
    assert figures["answered_4xx"] > REQUESTS // 3  # the hostile half was really sent
    assert figures["server_alive"] is True
    assert figures["rss_growth_mb"] <= 50, figures
    # The hostile phase: slow origins, slowloris clients, deadline-busting and 50 MP renders.
    attacks = figures["hostile_attacks"]
    assert attacks.get("50mp-full: 413", 0) > 0 and attacks.get("deadline-buster: 504", 0) > 0
    assert attacks.get("slow-origin: 400", 0) > 0, attacks  # cut at the URL deadline
    assert figures["hostile_unexpected"] == {}, figures["hostile_unexpected"]
    assert figures["hostile_good_requests"] > 0 and figures["hostile_good_errors"] == 0
    assert figures["hostile_health_gap_s"] <= 2.0, figures
    assert figures["hostile_rss_peak_above_idle_mb"] <= 1024, figures
    assert result.returncode == 0, result.stdout[-3000:]
