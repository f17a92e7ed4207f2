"""What every command shares: the mapping read with a short error, the store, logging, Ctrl-C."""
from __future__ import annotations

import contextlib
import signal
import sys
import threading
from typing import Any, Iterator, NoReturn

EXIT_CONFIG = 2
EXIT_STATE = 3   # the state store cannot be used (damaged, locked, unreachable, no driver, none yet)


def stop_event() -> threading.Event:
    """An event set on Ctrl-C or SIGTERM, so commands stop cleanly."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def configure_logging(verbose: bool, fmt: str = "text") -> None:
    """Log to stderr as ``sync.logs`` says (text for people, json for collectors)."""
    from sync.logs import configure

    configure(verbose=verbose, fmt=fmt)


def load_mapping(path: str, allow_missing_env: bool = False) -> Any:
    """The mapping at ``path``; a short error and exit 2 when it is missing or wrong."""
    from sync.config import ConfigError, load_config

    try:
        return load_config(path, allow_missing_env=allow_missing_env)
    except FileNotFoundError:
        print(f"socialdesk: no such mapping file: {path}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)
    except ConfigError as err:
        print(f"socialdesk: {err}", file=sys.stderr)
        raise SystemExit(EXIT_CONFIG)


def state_url(config: Any) -> str:
    """The store's URL, revealed only to open the store; exit 3 when its environment variable is unset."""
    from adapters.base import Secret
    from sync.config import EnvRef

    url = config.state_url
    if isinstance(url, EnvRef):
        fail_state(f"the state URL comes from the environment variable {url.name}, which is not set ({url.where})")
    return url.reveal() if isinstance(url, Secret) else str(url)


def open_store(config: Any, *, must_exist: bool = False, write: bool = True) -> Any:
    """The mapping's store, migrated to the current schema; one or two lines naming it and
    what to do, and exit 3, when it is damaged, locked, unreachable or lacks its driver.

    ``must_exist``: commands that only read say no state is there yet rather than make one.
    ``write``: whether the command writes (its lock is then checked before it starts)."""
    from sync.store import StoreError, open_state

    try:
        return open_state(state_url(config), must_exist=must_exist, write=write)
    except StoreError as err:
        fail_state(str(err))


@contextlib.contextmanager
def using_store(config: Any, *, must_exist: bool = False, write: bool = True) -> Iterator[Any]:
    """``open_store``, closed at the end; a store failure while the command works is said
    the same short way (exit 3) instead of a traceback."""
    import sqlalchemy as sa

    from sync.store import StoreError
    from sync.store.opening import explained

    store = open_store(config, must_exist=must_exist, write=write)
    try:
        yield store
    except StoreError as err:
        fail_state(str(err))
    except sa.exc.DatabaseError as err:
        # Only the store's own failures (locked, damaged, gone); a constraint or SQL error is a bug.
        if type(err) not in (sa.exc.OperationalError, sa.exc.DatabaseError):
            raise
        fail_state(str(explained(err, store.url)))
    finally:
        store.close()


def fail_state(message: str) -> NoReturn:
    """Say why the state store cannot be used, and exit 3."""
    print(f"socialdesk: {message}", file=sys.stderr)
    raise SystemExit(EXIT_STATE)
