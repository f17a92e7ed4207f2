"""A throwaway PostgreSQL database for a bench run.

Made on the server the tests use (``SOCIALDESK_TEST_PG``, default the local server at
127.0.0.1:5432 as ``postgres`` with trust auth) and dropped when the run ends, whatever
the replicas on it were doing (``WITH (FORCE)``).
"""
from __future__ import annotations

import os
import uuid
from contextlib import contextmanager
from typing import Iterator

import sqlalchemy as sa

DEFAULT_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


class NoPostgres(RuntimeError):
    """The PostgreSQL server cannot be reached or refuses to make a database."""


def admin_url() -> str:
    return os.environ.get("SOCIALDESK_TEST_PG", DEFAULT_ADMIN_URL)


def shown(url: str) -> str:
    """``url`` fit to print: the password masked."""
    return sa.engine.make_url(url).render_as_string(hide_password=True)


@contextmanager
def scratch_database(prefix: str = "socialdesk_bench") -> Iterator[str]:
    """The URL of a new, empty database; dropped on the way out."""
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    url = admin_url()
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 5})
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.SQLAlchemyError as err:
        admin.dispose()
        reason = str(getattr(err, "orig", None) or err).strip().splitlines()[0]
        raise NoPostgres(f"cannot make a database on {shown(url)}: {reason}") from None
    try:
        yield sa.engine.make_url(url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
