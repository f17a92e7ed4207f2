"""Opening the state store for a command, or saying in a line or two why it cannot be.

An SQLite file is probed first with the standard library, waiting ``lock_wait`` seconds at
most for a lock (the store itself waits longer once open: a running daemon's writes are
short, a lock held for seconds is another process's doing). A missing file is made only by
commands that write; the others say no state is there yet.
"""
from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.engine import make_url

from sync.store.errors import (
    StoreCorrupt, StoreError, StoreMissing, StoreTooNew, StoreUnreachable, explain, shown,
)
from sync.store.locks import lock_holder
from sync.store.schema import SCHEMA_VERSION

LOCK_WAIT = 3.0  # seconds a command waits for another process's lock on an SQLite state


def sqlite_file(url: str) -> str | None:
    """The file an SQLite URL names; None for other databases and in-memory SQLite."""
    try:
        parsed = make_url(url)
    except (sa.exc.ArgumentError, ValueError):
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return None if parsed.database.startswith("file:") else parsed.database


def open_state(url: str, *, must_exist: bool = False, write: bool = True, lock_wait: float = LOCK_WAIT,
               clock: Callable[[], float] = time.time) -> Any:
    """The store at ``url``, migrated; StoreError when it is missing (``must_exist``),
    damaged, locked, unreachable, without its driver, or newer than this socialdesk."""
    from sync.store import Store

    database = sqlite_file(url)
    if database is not None:
        probe_sqlite(url, database, must_exist=must_exist, write=write, lock_wait=lock_wait)
    try:
        store = Store(url, clock=clock)
    except (ImportError, sa.exc.SQLAlchemyError) as err:
        raise explain(err, url) from None
    try:
        version = store.migrate()
    except (ImportError, sa.exc.SQLAlchemyError) as err:
        store.close()
        raise explained(err, url) from None
    if version > SCHEMA_VERSION:
        store.close()
        raise too_new(url, version)
    return store


def check_state(url: str, *, lock_wait: float = LOCK_WAIT) -> str:
    """One line on the store for ``socialdesk check``: reachable, intact, its schema version,
    writable. Never makes the state; StoreError when it cannot be used."""
    from sync.store import Store

    database = sqlite_file(url)
    if database is not None:
        if not Path(database).exists():
            creatable(Path(database))
            return f"{shown(url)}: not made yet ('socialdesk run' makes it; its folder is writable)"
        probe_sqlite(url, database, must_exist=True, write=True, lock_wait=lock_wait, integrity=True)
    try:
        store = Store(url)
    except (ImportError, sa.exc.SQLAlchemyError) as err:
        raise explain(err, url) from None
    try:
        version = store.schema_version()
        if database is None:
            postgres_writable(store, version)
    except sa.exc.SQLAlchemyError as err:
        raise explained(err, url) from None
    finally:
        store.close()
    if version > SCHEMA_VERSION:
        raise too_new(url, version)
    pending = SCHEMA_VERSION - version
    state = "current" if not pending else f"{pending} migration(s) applied at the next start"
    return f"{shown(url)}: schema version {version} ({state}), writable"


def probe_sqlite(url: str, database: str, *, must_exist: bool, write: bool, lock_wait: float,
                 integrity: bool = False) -> None:
    """Read (and with ``write``, lock for writing, then let go) the SQLite file, waiting
    ``lock_wait`` at most; ``integrity`` also runs SQLite's quick check of every page."""
    path = Path(database)
    if not path.exists():
        if must_exist:
            raise StoreMissing(f"no state at {path} yet (has 'socialdesk run' been started with this mapping?)")
        creatable(path)
        return
    if path.is_dir():
        raise StoreUnreachable(f"{shown(url)} is a folder, not a database: point 'state:' at a file")
    mode = "rw" if write else "ro"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode={mode}", uri=True, timeout=lock_wait,
                               isolation_level=None)
    except sqlite3.Error as err:
        raise explained(err, url, lock_wait) from None
    try:
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        if integrity:
            found = [row[0] for row in conn.execute("PRAGMA quick_check(3)")]
            if found != ["ok"]:
                raise StoreCorrupt(f"{shown(url)} is damaged (SQLite's check: {'; '.join(found)[:200]}).\n"
                                   "  Restore it from a backup; moving it aside starts afresh, without its "
                                   "cursors and links.")
        if write:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
    except sqlite3.Error as err:
        raise explained(err, url, lock_wait) from None
    finally:
        conn.close()


def creatable(path: Path) -> None:
    """StoreUnreachable unless an SQLite file can be made at ``path``."""
    folder = path.absolute().parent
    if not folder.is_dir():
        raise StoreUnreachable(f"cannot make the state file {path}: its folder {folder} does not exist")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise StoreUnreachable(f"cannot make the state file {path}: this user may not write in {folder}")


def postgres_writable(store: Any, version: int) -> None:
    """StoreUnreachable when the PostgreSQL state is read-only for us (a standby, missing grants)."""
    what = shown(store.url)
    with store.engine.connect() as conn:
        if conn.exec_driver_sql("SHOW transaction_read_only").scalar() == "on":
            raise StoreUnreachable(f"{what} is read-only (a standby, or default_transaction_read_only): "
                                   "point the state URL at the primary")
        if version == 0:
            allowed = conn.exec_driver_sql("SELECT has_schema_privilege(current_schema(), 'CREATE')").scalar()
            need = "CREATE on its schema (the first start makes the tables)"
        else:
            allowed = conn.exec_driver_sql("SELECT has_table_privilege('inbox', 'INSERT, UPDATE, DELETE')").scalar()
            need = "INSERT, UPDATE and DELETE on its tables"
    if not allowed:
        raise StoreUnreachable(f"{what}: the state URL's user lacks {need}: grant it")


def too_new(url: str, version: int) -> StoreTooNew:
    return StoreTooNew(f"{shown(url)} was made by a newer socialdesk (schema version {version}; this one knows "
                       f"up to {SCHEMA_VERSION}): upgrade socialdesk")


def explained(err: BaseException, url: str, lock_wait: float | None = None) -> StoreError:
    """``explain``, naming the process that holds a locked SQLite file when the system says."""
    database = sqlite_file(url)
    locked = database is not None and "locked" in str(getattr(err, "orig", err)).lower()
    return explain(err, url, lock_wait, lock_holder(str(Path(database).resolve())) if locked and database else None)
