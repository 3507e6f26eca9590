"""Deadlines: long work checks one between its steps and stops once it has passed.

A request's render, cut-out, OCR or erase runs on a worker thread; when its deadline passes,
the next `check()` raises `OperationTimeout`, so the work ends within one step (an effect pass,
a motion-blur piece, a shake copy, a band) instead of running on after the answer was sent.
"""

from __future__ import annotations

import time

from glitchzap.errors import OperationTimeout


class Deadline:
    """A moment in monotonic time; `None` seconds never expires."""

    __slots__ = ("at", "seconds")

    def __init__(self, seconds: float | None = None) -> None:
        self.seconds = seconds
        self.at = None if seconds is None else time.monotonic() + seconds

    @property
    def expired(self) -> bool:
        return self.at is not None and time.monotonic() > self.at

    def remaining(self) -> float | None:
        """Seconds left (never below 0), or None without a deadline."""
        return None if self.at is None else max(0.0, self.at - time.monotonic())

    def check(self) -> None:
        """Raise `OperationTimeout` once the deadline has passed."""
        if self.expired:
            raise OperationTimeout(f"The operation took over {self.seconds:g} s and was stopped")


NO_DEADLINE = Deadline(None)
