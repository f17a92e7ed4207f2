"""A throwaway PostgreSQL database per test, on the server at SOCIALDESK_TEST_PG (by default
the one at 127.0.0.1:5432); the test is skipped, saying why, only when no server answers."""
from __future__ import annotations

import os
import uuid
from typing import Iterator

import pytest
import sqlalchemy as sa

PG_ADMIN_URL = os.environ.get("SOCIALDESK_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def unreachable() -> str | None:
    """Why no PostgreSQL server can be used, or None when one answers."""
    try:
        engine = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3})
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return None
    except Exception as err:  # any failure to reach the server means: skip, saying why
        return f"no PostgreSQL server reachable at {PG_ADMIN_URL}: {type(err).__name__}"


def database() -> Iterator[str]:
    """The URL of a new, empty database, dropped afterwards (wrap it as a fixture)."""
    reason = unreachable()
    if reason:
        pytest.skip(reason)
    name = f"socialdesk_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
