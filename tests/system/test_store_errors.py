"""A state store that cannot be used, met by the real ``socialdesk`` command line (a process):
damaged, truncated, locked by another process, unreachable, refusing the sign-in, without
its driver, newer than this socialdesk, or not there yet. Each time a short message naming
the file or URL (never a password) and what to do, no traceback, a non-zero exit, at once."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

import throwaway_pg
from sync.store import SCHEMA_VERSION, Store, cursors, schema_migrations
from throwaway_pg import PG_ADMIN_URL

ROOT = Path(__file__).resolve().parents[2]
EXIT_STATE = 3
PASSWORD = "s3cret-Pw-77"

# Endpoints at a closed port: every command here meets the state before any vendor.
MAPPING = """\
version: 1
state: {state}
helpdesks:
  acme:
    kind: zendesk
    url: https://127.0.0.1:9
    client_id: socialdesk
    client_secret: {{env: SD_TEST_SECRET}}
networks:
  acme_x:
    kind: x
    base_url: https://127.0.0.1:9
    auth: bearer
    token: {{env: SD_TEST_SECRET}}
routes:
  - name: acme-x
    network: acme_x
    helpdesk: acme
"""

COMMANDS = {
    "run": ["run", "--once"],
    "status": ["status"],
    "failed": ["failed", "list"],
    "report": ["report"],
    "setup": ["setup", "--public-url", "https://socialdesk.acme.example"],
    "connect": ["connect", "acme"],
}

# The same command line, in a Python where importing psycopg fails as it does when the
# 'postgres' extra was not installed (None in sys.modules makes ``import psycopg`` raise
# ModuleNotFoundError). The test environment has psycopg, so this is how its absence is met.
WITHOUT_PSYCOPG = ("import sys; sys.modules['psycopg'] = None; "
                   "from cli.main import main; raise SystemExit(main(sys.argv[1:]))")

# A second process holding the state's write lock until its stdin closes: ``write`` is a
# transaction with a row written (other processes may still read, as in WAL they do);
# ``exclusive`` also keeps readers out (locking_mode=EXCLUSIVE).
HOLDER = """\
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
if sys.argv[2] == "exclusive":
    conn.execute("PRAGMA locking_mode=EXCLUSIVE")
conn.execute("BEGIN IMMEDIATE")
conn.execute("INSERT INTO cursors (route, stream, value, updated_at) VALUES ('held', 'mentions', 'x', 0)")
print("holding", flush=True)
sys.stdin.read()
"""


def socialdesk(*args: str, cwd: Path, env: dict[str, str] | None = None, python: str | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess:
    command = [sys.executable, "-c", python, *args] if python else [sys.executable, "-m", "cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=cwd,
                          env={**os.environ, "SD_TEST_SECRET": "not-used-Hq4", "PYTHONPATH": str(ROOT),
                               **(env or {})})


def mapping(folder: Path, state: str = "sqlite:///state.sqlite") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "mapping.yaml"
    path.write_text(MAPPING.format(state=state))
    return path


def assert_short_refusal(done: subprocess.CompletedProcess, *needles: str) -> None:
    """At most two lines on stderr, each needle in them, no traceback, nothing on stdout, exit 3."""
    lines = done.stderr.strip().splitlines()
    assert done.returncode == EXIT_STATE, (done.returncode, done.stdout, done.stderr)
    assert "Traceback" not in done.stdout + done.stderr
    assert 1 <= len(lines) <= 2, done.stderr
    for needle in needles:
        assert needle in done.stderr, (needle, done.stderr)


@pytest.fixture
def made(tmp_path: Path) -> Path:
    """A mapping whose state is made (current schema); its folder is not the current one."""
    path = mapping(tmp_path / "conf")
    store = Store(f"sqlite:///{path.parent / 'state.sqlite'}")
    store.migrate()
    store.close()
    return path


# --------------------------------------------------------------------------- damaged


@pytest.mark.parametrize("command", COMMANDS)
def test_a_file_of_garbage_is_named_as_damaged_by_every_command(command: str, tmp_path: Path) -> None:
    config = mapping(tmp_path / "conf")
    state = config.parent / "state.sqlite"
    state.write_bytes(os.urandom(8192))
    done = socialdesk(*COMMANDS[command], "--config", str(config), cwd=tmp_path)
    assert_short_refusal(done, str(state), "damaged", "backup")
    assert state.stat().st_size == 8192, "the damaged file is left as it was, for its owner to restore"


def test_a_truncated_state_is_named_as_damaged(made: Path, tmp_path: Path) -> None:
    state = made.parent / "state.sqlite"
    with sa.create_engine(f"sqlite:///{state}").begin() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    os.truncate(state, state.stat().st_size // 2)
    done = socialdesk("status", "--config", str(made), cwd=tmp_path)
    assert_short_refusal(done, str(state), "damaged (database disk image is malformed)")


def test_check_fails_on_a_damaged_state_and_says_so(tmp_path: Path) -> None:
    config = mapping(tmp_path / "conf")
    (config.parent / "state.sqlite").write_bytes(b"not a database" * 100)
    done = socialdesk("check", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
    lines = done.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if "state: FAILED" in line)
    assert "state.sqlite is damaged (file is not a database)" in lines[at]
    assert lines[at + 1].startswith("    Restore it from a backup"), "the message is two lines"


def test_a_state_from_a_newer_socialdesk_is_refused(made: Path, tmp_path: Path) -> None:
    with sa.create_engine(f"sqlite:///{made.parent / 'state.sqlite'}").begin() as conn:
        conn.execute(schema_migrations.insert().values(version=SCHEMA_VERSION + 5, applied_at=0.0))
    done = socialdesk("status", "--config", str(made), cwd=tmp_path)
    assert_short_refusal(done, "made by a newer socialdesk", f"schema version {SCHEMA_VERSION + 5}",
                         "upgrade socialdesk")


# --------------------------------------------------------------------------- locked


@pytest.fixture
def holder(made: Path, request: pytest.FixtureRequest) -> Iterator[subprocess.Popen]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(made.parent / "state.sqlite"), request.param],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "holding"
        yield proc
    finally:
        proc.kill()
        proc.wait(timeout=10)


@pytest.mark.parametrize("holder", ["write"], indirect=True)
@pytest.mark.parametrize("command", ["run", "setup", "connect"])
def test_a_state_another_process_writes_in_is_named_with_its_holder_within_seconds(
        command: str, holder: subprocess.Popen, made: Path, tmp_path: Path) -> None:
    started = time.monotonic()
    done = socialdesk(*COMMANDS[command], "--config", str(made), cwd=tmp_path)
    took = time.monotonic() - started
    assert_short_refusal(done, str(made.parent / "state.sqlite"), "is locked", f"process {holder.pid} (python",
                         "waited 3s", "try again")
    assert took < 12, f"took {took:.1f}s: a locked state must not hang"


@pytest.mark.parametrize("holder", ["write"], indirect=True)
def test_reading_commands_still_read_while_another_process_writes(holder: subprocess.Popen, made: Path,
                                                                   tmp_path: Path) -> None:
    done = socialdesk("status", "--config", str(made), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "route acme-x: never run" in done.stdout


@pytest.mark.parametrize("holder", ["exclusive"], indirect=True)
def test_a_state_locked_against_readers_too_is_named_within_seconds(holder: subprocess.Popen, made: Path,
                                                                    tmp_path: Path) -> None:
    started = time.monotonic()
    done = socialdesk("status", "--config", str(made), cwd=tmp_path)
    assert_short_refusal(done, "is locked", f"process {holder.pid}")
    assert time.monotonic() - started < 12


# --------------------------------------------------------------------------- PostgreSQL


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("command", ["status", "run", "check"])
def test_an_unreachable_postgresql_is_named_without_its_password(command: str, tmp_path: Path) -> None:
    port = _closed_port()
    config = mapping(tmp_path / "conf", "{env: SOCIALDESK_STATE_URL}")
    url = f"postgresql+psycopg://socialdesk:{PASSWORD}@127.0.0.1:{port}/socialdesk"
    started = time.monotonic()
    done = socialdesk(*(COMMANDS.get(command) or [command]), "--config", str(config), cwd=tmp_path,
                      env={"SOCIALDESK_STATE_URL": url})
    assert time.monotonic() - started < 20
    assert PASSWORD not in done.stdout + done.stderr
    shown = f"postgresql+psycopg://socialdesk:***@127.0.0.1:{port}/socialdesk"
    if command == "check":
        assert done.returncode == 1 and "Traceback" not in done.stdout + done.stderr
        assert f"state: FAILED: cannot reach the state database {shown}: connection refused" in done.stdout
        return
    assert_short_refusal(done, f"cannot reach the state database {shown}: connection refused",
                         "Start PostgreSQL there")


@pytest.mark.postgres
def test_a_postgresql_refusing_the_sign_in_is_named(tmp_path: Path) -> None:
    reason = throwaway_pg.unreachable()
    if reason:
        pytest.skip(reason)
    nobody = sa.engine.make_url(PG_ADMIN_URL).set(username="socialdesk_nobody", password=PASSWORD,
                                                  drivername="postgresql+psycopg")
    config = mapping(tmp_path / "conf", "{env: SOCIALDESK_STATE_URL}")
    done = socialdesk("status", "--config", str(config), cwd=tmp_path,
                      env={"SOCIALDESK_STATE_URL": nobody.render_as_string(hide_password=False)})
    assert_short_refusal(done, "refused the sign-in", "socialdesk_nobody", "Check the user in the state URL")
    assert PASSWORD not in done.stdout + done.stderr


@pytest.mark.postgres
def test_check_says_a_postgresql_state_is_current_and_writable(tmp_path: Path) -> None:
    reason = throwaway_pg.unreachable()
    if reason:
        pytest.skip(reason)
    name = f"socialdesk_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        config = mapping(tmp_path / "conf", "{env: SOCIALDESK_STATE_URL}")
        done = socialdesk("check", "--config", str(config), cwd=tmp_path, env={"SOCIALDESK_STATE_URL": url})
        assert f"/{name}: schema version {SCHEMA_VERSION} (current), writable" in done.stdout, done.stdout
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.mark.parametrize("command", ["status", "run"])
def test_a_postgresql_url_without_psycopg_installed_says_how_to_install_it(command: str, tmp_path: Path) -> None:
    config = mapping(tmp_path / "conf", "{env: SOCIALDESK_STATE_URL}")
    done = socialdesk(*COMMANDS[command], "--config", str(config), cwd=tmp_path, python=WITHOUT_PSYCOPG,
                      env={"SOCIALDESK_STATE_URL": f"postgresql://socialdesk:{PASSWORD}@db.internal/socialdesk"})
    assert_short_refusal(done, "needs the PostgreSQL driver psycopg, which is not installed",
                         "pip install 'socialdesk[postgres]'", "postgresql://socialdesk:***@db.internal/socialdesk")
    assert PASSWORD not in done.stderr


# --------------------------------------------------------------------------- where the state is


def test_a_relative_state_is_the_one_beside_the_mapping_wherever_the_command_runs(made: Path, tmp_path: Path) -> None:
    with sa.create_engine(f"sqlite:///{made.parent / 'state.sqlite'}").begin() as conn:
        conn.execute(cursors.insert().values(route="acme-x", stream="mentions", value="cursor-beside-the-mapping",
                                             updated_at=0.0))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = socialdesk("status", "--config", str(made), cwd=elsewhere)
    assert done.returncode == 0, done.stderr
    assert "cursor-beside-the-mapping" in done.stdout
    assert list(elsewhere.iterdir()) == [], "nothing is made in the current folder"


def test_a_state_in_a_folder_that_does_not_exist_is_named(tmp_path: Path) -> None:
    config = mapping(tmp_path / "conf", "sqlite:///no/such/folder/state.sqlite")
    done = socialdesk("run", "--once", "--config", str(config), cwd=tmp_path)
    assert_short_refusal(done, f"its folder {config.parent / 'no/such/folder'} does not exist")


@pytest.mark.parametrize("command", ["status", "failed", "report"])
def test_reading_commands_say_there_is_no_state_yet_rather_than_make_one(command: str, tmp_path: Path) -> None:
    config = mapping(tmp_path / "conf")
    done = socialdesk(*COMMANDS[command], "--config", str(config), cwd=tmp_path)
    assert_short_refusal(done, f"no state at {config.parent / 'state.sqlite'} yet "
                               "(has 'socialdesk run' been started with this mapping?)")
    assert not (config.parent / "state.sqlite").exists()
