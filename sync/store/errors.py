"""Why the state store cannot be used, in a line or two an operator can act on.

Every message names the SQLite file or the database URL (password masked) and says what
to do. ``explain`` turns what SQLAlchemy, sqlite3, psycopg or the import system raised
while opening or using the store into one of these errors.
"""
from __future__ import annotations

import re
import sqlite3

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

POSTGRES_EXTRA = "pip install 'socialdesk[postgres]'"


class StoreError(Exception):
    """The state store cannot be used; the message says which one and what to do."""


class StoreMissing(StoreError):
    """A command that only reads the state found none where the mapping says it is."""


class StoreCorrupt(StoreError):
    """The SQLite file is not a database any more (garbage, truncated, malformed)."""


class StoreLocked(StoreError):
    """Another process holds a write lock on the SQLite file for longer than we wait."""


class StoreUnreachable(StoreError):
    """The database cannot be opened: server down, sign-in refused, folder missing, no rights."""


class StoreDriverMissing(StoreError):
    """The database URL needs a driver that is not installed."""


class StoreTooNew(StoreError):
    """The state was made by a newer socialdesk (its schema is ahead of this one's)."""


def shown(url: str | URL) -> str:
    """What to call the store in a message: an SQLite file's path, else the URL without its password."""
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except (sa.exc.ArgumentError, ValueError):
        return "the state URL (not a database URL)"
    if parsed.get_backend_name() == "sqlite":
        return f"the state file {parsed.database}" if parsed.database not in (None, "", ":memory:") \
            else "the in-memory state"
    return f"the state database {parsed.render_as_string(hide_password=True)}"


def explain(err: BaseException, url: str, lock_wait: float | None = None, holder: str | None = None) -> StoreError:
    """The StoreError that says what ``err``, raised opening or using the store at ``url``, means."""
    if isinstance(err, StoreError):
        return err
    what = shown(url)
    if isinstance(err, ImportError):
        return missing_driver(url, err.name or "the driver")
    orig = getattr(err, "orig", err)
    text = _scrub(str(orig), url)
    if isinstance(orig, sqlite3.Error):
        return _sqlite(orig, text, what, lock_wait, holder)
    if type(orig).__module__.split(".")[0] in ("psycopg", "psycopg2"):
        return _postgres(text, what)
    return StoreUnreachable(f"{what} cannot be used: {_first_line(text)}")


def missing_driver(url: str, module: str) -> StoreDriverMissing:
    what = shown(url)
    if module.split(".")[0] == "psycopg":
        return StoreDriverMissing(f"{what} needs the PostgreSQL driver psycopg, which is not installed:\n"
                                  f"  {POSTGRES_EXTRA}")
    return StoreDriverMissing(f"{what} needs the Python module {module}, which is not installed: write the URL "
                              f"as postgresql+psycopg://HOST/DB and {POSTGRES_EXTRA}")


def _sqlite(orig: sqlite3.Error, text: str, what: str, lock_wait: float | None, holder: str | None) -> StoreError:
    low = text.lower()
    if "locked" in low or "busy" in low:
        who = f"{holder} holds a write lock on it" if holder else "another process holds a write lock on it"
        waited = f" (waited {lock_wait:g}s)" if lock_wait else ""
        return StoreLocked(f"{what} is locked: {who}{waited}.\n"
                           "  Let it finish or stop it (one daemon per SQLite file), then try again.")
    if "not a database" in low or "malformed" in low or "corrupt" in low:
        return StoreCorrupt(f"{what} is damaged ({_first_line(text)}).\n"
                            "  Restore it from a backup; moving it aside starts afresh, without its cursors and links.")
    if "readonly" in low or "read-only" in low:
        return StoreUnreachable(f"{what} is read-only for this user: give it (and its folder) write permission")
    if "unable to open" in low:
        return StoreUnreachable(f"cannot open {what}: check that its folder exists and this user may write there")
    return StoreUnreachable(f"{what} cannot be used: {_first_line(text)}")


def _postgres(text: str, what: str) -> StoreError:
    detail = _libpq_reason(text)
    low = detail.lower()
    if "connection refused" in low:
        return StoreUnreachable(f"cannot reach {what}: connection refused.\n"
                                "  Start PostgreSQL there, or correct the host and port of the state URL.")
    if "password" in low or "authentication" in low or re.search(r'role ".*" does not exist', low):
        return StoreUnreachable(f"{what} refused the sign-in ({detail}).\n"
                                "  Check the user in the state URL and its password (PGPASSWORD or the URL's "
                                "environment variable).")
    if re.search(r'database ".*" does not exist', low):
        return StoreUnreachable(f"{what}: {detail}.\n  Create it (createdb), or correct the database name in the "
                                "state URL.")
    if "resolve host" in low or "translate host" in low or "timeout" in low or "timed out" in low:
        return StoreUnreachable(f"cannot reach {what}: {detail}.\n  Check the host in the state URL and the network.")
    return StoreUnreachable(f"{what} cannot be used: {detail}")


def _libpq_reason(text: str) -> str:
    """The part of a libpq connection message that says why (after its 'failed:' prefixes)."""
    first = _first_line(text)
    reason = first.rsplit("failed: ", 1)[-1]
    return re.sub(r"^(FATAL|ERROR):\s+", "", reason).strip()


def _first_line(text: str) -> str:
    return (text.strip().splitlines() or [""])[0].strip()


def _scrub(text: str, url: str) -> str:
    """``text`` without the URL's password, should a driver ever echo it."""
    try:
        password = make_url(url).password
    except (sa.exc.ArgumentError, ValueError):
        return text
    return text.replace(str(password), "***") if password else text
