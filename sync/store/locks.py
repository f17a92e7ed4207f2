"""Who holds an SQLite file's write lock, where the system says (Linux's /proc/locks).

SQLite takes POSIX record locks: a writer in WAL mode holds a write lock on the ``-shm``
file, in rollback mode on the database file itself. /proc/locks lists each lock with the
process and the file's device and inode, so the holder can be named in the message.
"""
from __future__ import annotations

import os
from pathlib import Path

PROC_LOCKS = Path("/proc/locks")


def lock_holder(database: str) -> str | None:
    """'another socialdesk (pid N)' or 'process N (its command)' holding a write lock on
    ``database`` or its shared-memory file; None when that cannot be told."""
    files = {_file_id(path) for path in (database, f"{database}-shm")} - {None}
    if not files:
        return None
    try:
        lines = PROC_LOCKS.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if "->" in fields or len(fields) < 6:
            continue   # a waiter, not a holder
        mode, pid, file = fields[3], fields[4], fields[5]
        # pid 0: a holder in another pid namespace (container), whom this one cannot name
        if mode == "WRITE" and pid.isdigit() and int(pid) not in (0, os.getpid()) and _parse_id(file) in files:
            return describe_process(int(pid))
    return None


def describe_process(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return f"process {pid}"
    words = [w.decode(errors="replace") for w in raw.split(b"\0") if w]
    if not words:
        return f"process {pid}"
    # The console script (``socialdesk run``) or ``python -m cli run``.
    if any(Path(w).name == "socialdesk" for w in words[:2]) or words[1:3] == ["-m", "cli"]:
        return f"another socialdesk (pid {pid})"
    return f"process {pid} ({Path(words[0]).name})"


def _file_id(path: str) -> tuple[int, int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return os.major(st.st_dev), os.minor(st.st_dev), st.st_ino


def _parse_id(text: str) -> tuple[int, int, int] | None:
    parts = text.split(":")
    try:
        return int(parts[0], 16), int(parts[1], 16), int(parts[2])
    except (IndexError, ValueError):
        return None
