from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    from sandbox.server import Sandbox

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="session")
def sandbox() -> Iterator["Sandbox"]:
    """One sandbox (all services, real HTTPS) for the whole test session."""
    from sandbox.server import Sandbox

    sb = Sandbox().start()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture(scope="session")
def sandbox_info(sandbox: "Sandbox") -> dict:
    return sandbox.info()
