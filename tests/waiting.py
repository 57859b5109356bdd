"""Waiting for the worker in real time: the one wait-until loop that tests and benchmarks share."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class TimedOut(AssertionError):
    """A condition did not come true in time (an AssertionError, so a test fails with it)."""


def wait_until(
    what: str,
    condition: Callable[[], T],
    *,
    timeout_s: float = 20.0,
    every_s: float = 0.1,
    timed_out: Callable[[str], Exception] = TimedOut,
) -> T:
    """Check `condition` every `every_s` seconds until it returns something true, and return
    that; after `timeout_s`, raise `timed_out("timed out waiting for <what>")`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise timed_out(f"timed out waiting for {what}")
        time.sleep(every_s)
