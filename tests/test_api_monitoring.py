"""The operation recorder: counts, percentiles, the rotated JSONL log, Prometheus, profiles."""

from __future__ import annotations

import json
import pstats
from pathlib import Path

import pytest

from glitchzap.api.monitoring import LOG_NAME, JsonlLog, Monitor
from glitchzap.errors import InvalidParameters
from glitchzap.settings import MonitoringSettings


def make_monitor(tmp_path: Path, **overrides: object) -> Monitor:
    return Monitor(MonitoringSettings(**overrides), tmp_path)  # type: ignore[arg-type]


def test_counts_successes_and_failures_by_type(tmp_path: Path) -> None:
    monitor = make_monitor(tmp_path)
    for seconds in (0.010, 0.020, 0.030, 0.040, 0.100):
        monitor.record("render", seconds)
    with pytest.raises(InvalidParameters), monitor.track("render"):
        raise InvalidParameters("bad blur")
    with pytest.raises(KeyError), monitor.track("render"):
        raise KeyError("x")
    stats = monitor.operations()["render"]
    assert stats["count"] == 7
    assert stats["successes"] == 5
    assert stats["failures"] == {"invalid_parameters": 1, "KeyError": 1}
    assert stats["max_ms"] == pytest.approx(100.0)
    assert 10.0 <= stats["p50_ms"] <= 40.0
    assert stats["p50_ms"] <= stats["p95_ms"] <= stats["max_ms"]


def test_track_measures_the_block(tmp_path: Path) -> None:
    import time

    monitor = make_monitor(tmp_path)
    with monitor.track("sleep"):
        time.sleep(0.02)
    assert monitor.operations()["sleep"]["max_ms"] >= 19.0


def test_log_lines_are_json(tmp_path: Path) -> None:
    monitor = make_monitor(tmp_path, log_memory_usage=True)
    monitor.record("upload", 0.005, bytes=123)
    monitor.record("upload", 0.007, "unreadable_image")
    lines = (tmp_path / LOG_NAME).read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["ok"] for r in records] == [True, False]
    assert records[0]["bytes"] == 123
    assert records[1]["error"] == "unreadable_image"
    assert records[0]["rss_bytes"] > 0


def test_log_timing_off_writes_nothing(tmp_path: Path) -> None:
    monitor = make_monitor(tmp_path, log_timing=False)
    monitor.record("upload", 0.005)
    assert not (tmp_path / LOG_NAME).exists()
    assert monitor.operations()["upload"]["count"] == 1


def test_log_rotates_by_size_and_keeps_the_backups(tmp_path: Path) -> None:
    log = JsonlLog(tmp_path / "perf.jsonl", max_bytes=1024, backups=2)
    for i in range(200):
        log.write({"i": i, "padding": "x" * 40})
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["perf.jsonl", "perf.jsonl.1", "perf.jsonl.2"]
    for path in tmp_path.iterdir():
        assert path.stat().st_size <= 1024
    newest = [json.loads(x)["i"] for x in (tmp_path / "perf.jsonl").read_text().splitlines()]
    older = [json.loads(x)["i"] for x in (tmp_path / "perf.jsonl.1").read_text().splitlines()]
    assert newest[-1] == 199
    assert older[-1] + 1 == newest[0]  # nothing lost between the file and its first backup


def test_log_with_no_backups_truncates(tmp_path: Path) -> None:
    log = JsonlLog(tmp_path / "perf.jsonl", max_bytes=1024, backups=0)
    for i in range(100):
        log.write({"i": i, "padding": "x" * 40})
    assert [p.name for p in tmp_path.iterdir()] == ["perf.jsonl"]
    assert (tmp_path / "perf.jsonl").stat().st_size <= 1024


def test_unwritable_log_does_not_fail_the_operation(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    monitor = Monitor(MonitoringSettings(), blocker)
    monitor.record("render", 0.01)  # the log directory cannot be created: logged, not raised
    assert monitor.operations()["render"]["successes"] == 1


def test_snapshot_has_memory_and_cpu(tmp_path: Path) -> None:
    monitor = make_monitor(tmp_path, memory_sample_interval_seconds=0.001)
    import time

    for _ in range(4):
        monitor.memory.maybe_sample()
        time.sleep(0.002)
    snapshot = monitor.snapshot()
    assert snapshot["process"]["rss_bytes"] > 10_000_000
    assert isinstance(snapshot["process"]["rss_trend_bytes_per_minute"], float)
    assert snapshot["system"]["memory_total_bytes"] >= snapshot["system"]["memory_available_bytes"]


def test_prometheus_text(tmp_path: Path) -> None:
    monitor = make_monitor(tmp_path)
    monitor.record("render", 0.02)
    monitor.record("render", 0.03, "timeout")
    text = monitor.metrics_text().decode()
    assert 'glitchzap_operations_total{operation="render",outcome="success"} 1.0' in text
    assert 'glitchzap_operations_total{operation="render",outcome="timeout"} 1.0' in text
    assert 'glitchzap_operation_duration_seconds_count{operation="render"} 2.0' in text
    assert "glitchzap_process_rss_bytes" in text


def test_profiling_writes_a_loadable_profile(tmp_path: Path) -> None:
    monitor = make_monitor(tmp_path, enable_profiling=True)
    with monitor.profile("render/astronaut") as path:
        sum(i * i for i in range(10_000))
    assert path is not None and path.parent == tmp_path / "profiles"
    assert pstats.Stats(str(path)).total_calls > 0


def test_profiling_off_writes_nothing(tmp_path: Path) -> None:
    monitor = make_monitor(tmp_path)
    with monitor.profile("render") as path:
        pass
    assert path is None
    assert not (tmp_path / "profiles").exists()
