"""How socialdesk logs: to stderr, as text for people or one JSON object per line for log
collectors; the HTTP and scheduler libraries only when something is wrong."""
from __future__ import annotations

import logging
import sys

NOISY = ("werkzeug", "apscheduler", "urllib3", "zenpy", "waitress")


def configure(verbose: bool = False, fmt: str = "text") -> None:
    """Set up the root logger once for the process."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in NOISY:
        logging.getLogger(noisy).setLevel(logging.WARNING)
