"""OAuth grants at rest: sealed with the state key, renewed in place, never in clear.

The key is ``SOCIALDESK_SECRET_KEY`` (one or more Fernet keys, comma-separated: the first
seals, every one opens, so a key can be rotated), else the key file named by
``SOCIALDESK_KEY_FILE``, else ``~/.config/socialdesk/secret.key``, made on first use with
mode 0600. Keep the key apart from the state: a copy of the database alone opens nothing.
"""
from __future__ import annotations

import contextlib
import json
import os
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from adapters.base import FatalError
from adapters.credentials import Grant
from sync.store.schema import _insert_ignore, credentials

KEY_ENV = "SOCIALDESK_SECRET_KEY"
KEY_FILE_ENV = "SOCIALDESK_KEY_FILE"
# How often a process waiting for another's renewal looks whether it has ended (seconds).
RENEWAL_POLL = 0.05


def default_key_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "socialdesk" / "secret.key"


def make_key_file(path: Path) -> None:
    """A new key at ``path``, unless another process made one first: then that one stays.

    Replicas started at once on a fresh host all find no key file: each writes a key of its
    own to a file of its own, then links it to ``path``, which only the first link makes, and
    whole (a process never reads a file another is still writing, nor opens a key it made
    with another's data). Made with 0600 from the start: never readable by others, even
    briefly."""
    from cryptography.fernet import Fernet

    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key() + b"\n"
    draft = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    try:
        _write_new(draft, key)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass   # another process made the key first: it is the one every process uses
        except OSError:
            # A file system without hard links: the key is written in place, the first one kept.
            with contextlib.suppress(FileExistsError):
                _write_new(path, key)
    finally:
        draft.unlink(missing_ok=True)


def _write_new(path: Path, data: bytes) -> None:
    """``data`` in a file made for it (FileExistsError if there is one), mode 0600, on disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


class Sealer:
    """Seals and opens JSON values with the state key (Fernet: AES-128-CBC and HMAC-SHA256)."""

    def __init__(self, keys: list[bytes], source: str) -> None:
        # Loaded when a grant is first sealed or opened: a daemon on API tokens never needs it.
        from cryptography.fernet import Fernet, MultiFernet

        try:
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        except (ValueError, TypeError):
            raise FatalError(f"{source} is not a Fernet key (32 url-safe base64 bytes; "
                             f"make one with 'socialdesk connect --new-key')") from None
        self.source = source

    def __repr__(self) -> str:
        return f"Sealer({self.source})"

    @classmethod
    def from_environment(cls) -> "Sealer":
        keys = os.environ.get(KEY_ENV, "").strip()
        if keys:
            return cls([k.strip().encode() for k in keys.split(",") if k.strip()], KEY_ENV)
        path = Path(os.environ.get(KEY_FILE_ENV) or default_key_file())
        if not path.exists():
            make_key_file(path)
        lines = [line.strip() for line in path.read_bytes().splitlines() if line.strip()]
        if not lines:
            raise FatalError(f"key file {path} is empty")
        return cls(lines, f"key file {path}")

    def seal(self, value: dict[str, Any]) -> str:
        return self._fernet.encrypt(json.dumps(value, sort_keys=True).encode()).decode()

    def open(self, sealed: str, what: str) -> dict[str, Any]:
        from cryptography.fernet import InvalidToken

        try:
            return dict(json.loads(self._fernet.decrypt(sealed.encode())))
        except InvalidToken:
            raise FatalError(f"the stored credentials of {what!r} do not open with the {self.source}: "
                             f"set {KEY_ENV} to the key they were sealed with, or run "
                             f"'socialdesk connect {what}' again") from None


class Credentials:
    """Part of ``Store``: grants by endpoint name; ``engine`` and ``clock`` are the store's."""

    engine: Engine
    clock: Callable[[], float]
    _sealer: Sealer | None = None
    _sealer_lock = threading.Lock()

    @property
    def sealer(self) -> Sealer:
        with self._sealer_lock:
            if self._sealer is None:
                self._sealer = Sealer.from_environment()
            return self._sealer

    def use_sealer(self, sealer: Sealer) -> None:
        self._sealer = sealer

    def vault(self, name: str) -> "VaultSlot":
        return VaultSlot(self, name)

    def put_grant(self, name: str, grant: Grant) -> int:
        """Store a grant from a new consent: it replaces whatever was there; the new version."""
        sealed = self.sealer.seal(grant.to_dict())
        now = self.clock()
        with self.engine.begin() as conn:
            done = conn.execute(sa.update(credentials).where(credentials.c.name == name).values(
                sealed=sealed, version=credentials.c.version + 1, refused=None, renewing_until=None,
                renewing_owner=None, updated_at=now).returning(credentials.c.version)).scalar()
            if done is None:
                _insert_ignore(conn, credentials, ("name",), name=name, sealed=sealed, version=1, updated_at=now)
                done = 1
        return int(done)

    def load_grant(self, name: str) -> tuple[Grant | None, int, str | None]:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(credentials.c.sealed, credentials.c.version, credentials.c.refused)
                               .where(credentials.c.name == name)).first()
        if row is None:
            return None, 0, None
        return Grant.from_dict(self.sealer.open(row.sealed, name)), int(row.version), row.refused

    def grant_status(self) -> dict[str, dict[str, Any]]:
        """Per endpoint: when its grant was stored, whether it was refused, when access
        expires — never a token."""
        out: dict[str, dict[str, Any]] = {}
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(credentials).order_by(credentials.c.name)).all()
        for row in rows:
            try:
                grant = Grant.from_dict(self.sealer.open(row.sealed, row.name))
                expires = grant.expires_at
            except FatalError:
                expires = None
            out[row.name] = {"updated_at": row.updated_at, "refused": row.refused, "access_expires_at": expires,
                             "version": row.version}
        return out


class VaultSlot:
    """One endpoint's grant in the store: ``adapters.oauth.TokenVault``."""

    def __init__(self, store: Credentials, name: str) -> None:
        self.store, self.name = store, name
        self.owner = uuid.uuid4().hex

    def __repr__(self) -> str:
        return f"VaultSlot({self.name!r})"

    def load(self) -> tuple[Grant | None, int, str | None]:
        return self.store.load_grant(self.name)

    def save(self, grant: Grant, version: int) -> bool:
        sealed = self.store.sealer.seal(grant.to_dict())
        values = dict(sealed=sealed, version=version + 1, refused=None, renewing_until=None, renewing_owner=None,
                      updated_at=self.store.clock())
        with self.store.engine.begin() as conn:
            if version == 0:
                return _insert_ignore(conn, credentials, ("name",), name=self.name, **values)
            done = conn.execute(sa.update(credentials).where(
                credentials.c.name == self.name, credentials.c.version == version).values(**values))
            return done.rowcount == 1

    def claim(self, seconds: float) -> bool:
        now = self.store.clock()
        c = credentials.c
        with self.store.engine.begin() as conn:
            done = conn.execute(sa.update(credentials).where(
                c.name == self.name,
                sa.or_(c.renewing_until.is_(None), c.renewing_until < now, c.renewing_owner == self.owner))
                .values(renewing_until=now + seconds, renewing_owner=self.owner))
            if done.rowcount == 1:
                return True
            # No grant stored at all: nothing to renew, nobody to race.
            return conn.execute(sa.select(c.name).where(c.name == self.name)).first() is None

    def await_renewal(self, seconds: float) -> bool:
        """Wait up to ``seconds`` (wall time: another process's token request) while another
        process holds the renewal; True once it has ended."""
        deadline = time.monotonic() + seconds
        while True:
            if not self._claimed_elsewhere():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(RENEWAL_POLL)

    def _claimed_elsewhere(self) -> bool:
        c = credentials.c
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(c.renewing_until, c.renewing_owner).where(c.name == self.name)).first()
        return (row is not None and row.renewing_until is not None and row.renewing_owner != self.owner
                and row.renewing_until >= self.store.clock())

    def release(self) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(sa.update(credentials).where(
                credentials.c.name == self.name, credentials.c.renewing_owner == self.owner)
                .values(renewing_until=None, renewing_owner=None))

    def refuse(self, reason: str, version: int) -> None:
        with self.store.engine.begin() as conn:
            conn.execute(sa.update(credentials).where(
                credentials.c.name == self.name, credentials.c.version == version).values(refused=reason[:500]))
