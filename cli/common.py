"""What every command shares: the mapping read with a short error, the store, logging, Ctrl-C."""
from __future__ import annotations

import signal
import sys
import threading
from typing import Any

EXIT_CONFIG = 2


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
    """The store's URL, revealed only to open the store."""
    from adapters.base import Secret

    url = config.state_url
    return url.reveal() if isinstance(url, Secret) else str(url)


def open_store(config: Any) -> Any:
    """The mapping's store, migrated to the current schema."""
    from sync.store import Store

    store = Store(state_url(config))
    store.migrate()
    return store
