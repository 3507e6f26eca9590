"""What a batch did: one record per input, a JSONL report and the summary at the end.

The report is written line by line as results arrive (flushed each time), so a killed run
still leaves an accurate account of everything it finished. The last line is the summary.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

from glitchzap.errors import InvalidParameters

Status = Literal["done", "skipped", "failed"]


@dataclass(frozen=True)
class BatchRecord:
    """The outcome of one input: `reason` says why it failed (None otherwise)."""

    input: str
    output: str
    status: Status
    reason: str | None = None
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BatchSummary:
    """Counts for the whole batch, the failures with their reasons, and the rate."""

    planned: int = 0  # inputs found, known before the first image is processed
    total: int = 0  # records so far
    done: int = 0
    skipped: int = 0
    failed: int = 0
    seconds: float = 0.0
    engine: str = "local"
    workers: int = 1
    failures: list[BatchRecord] = field(default_factory=list)
    report: str | None = None

    @property
    def images_per_second(self) -> float:
        return self.done / self.seconds if self.seconds > 0 else 0.0

    def add(self, record: BatchRecord) -> None:
        self.total += 1
        if record.status == "done":
            self.done += 1
        elif record.status == "skipped":
            self.skipped += 1
        else:
            self.failed += 1
            self.failures.append(record)

    def to_json(self) -> dict[str, Any]:
        return {
            "planned": self.planned,
            "total": self.total,
            "done": self.done,
            "skipped": self.skipped,
            "failed": self.failed,
            "seconds": round(self.seconds, 3),
            "images_per_second": round(self.images_per_second, 3),
            "engine": self.engine,
            "workers": self.workers,
        }


class ReportWriter:
    """Appends one JSON line per record to `path` (truncated at the start of each run)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._file: IO[str] | None = None
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._file = path.open("w", encoding="utf-8")
            except OSError as exc:
                raise InvalidParameters(
                    f"Cannot write the report {path}: {exc.strerror or exc}"
                ) from exc

    def write(self, record: BatchRecord) -> None:
        self._line(record.to_json())

    def finish(self, summary: BatchSummary) -> None:
        self._line({"summary": summary.to_json()})
        self.close()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _line(self, data: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps(data, ensure_ascii=False) + "\n")
            self._file.flush()


def read_report(path: Path) -> tuple[list[BatchRecord], dict[str, Any] | None]:
    """The records of a JSONL report and its summary (None when the run was killed)."""
    records: list[BatchRecord] = []
    summary = None
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        data = json.loads(line)
        if "summary" in data:
            summary = data["summary"]
        else:
            records.append(BatchRecord(**data))
    return records, summary
