"""Crash points: named step boundaries the kill-and-restart tests stop the real daemon at."""
from __future__ import annotations

import os
import signal


def checkpoint(name: str) -> None:
    """A step boundary. ``SOCIALDESK_CRASH_AT=name:N`` SIGKILLs the process at its Nth pass.

    The kill-and-restart test uses it to stop the real daemon exactly between two steps.
    """
    spec = os.environ.get("SOCIALDESK_CRASH_AT")
    if not spec:
        return
    target, _, nth = spec.partition(":")
    if target != name:
        return
    counter = _crash_counts[name] = _crash_counts.get(name, 0) + 1
    if counter >= int(nth or 1):
        os.kill(os.getpid(), signal.SIGKILL)


_crash_counts: dict[str, int] = {}
