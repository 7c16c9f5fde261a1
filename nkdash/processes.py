"""Processes on this host: whether one exists, and when it started (to tell it from a later
process given the same pid). Runs, task owners and page-started workers record both."""

from __future__ import annotations

import os
import socket

HOST = socket.gethostname()


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (one of another user counts; a zombie too)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def start_time(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (Linux ``/proc``); None if it is
    gone, a zombie (exited, not reaped), or where ``/proc`` is not there."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None
    if len(fields) < 20 or fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])
