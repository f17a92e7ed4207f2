"""Fixtures the engine tests share: a daemon clock the test moves, the sandbox reset for X
and Zendesk, a store on that clock. A module that needs another shape defines its own."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import pytest

import harness
from harness import Clock
from sync.store import Store


@pytest.fixture
def info(sb: Any) -> dict[str, Any]:
    return harness.reset(sb.info(), "x", "zendesk")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(tmp_path: Path, clock: Clock) -> Iterator[Store]:
    s = Store(f"sqlite:///{tmp_path / 'state.sqlite'}", clock=clock)
    s.migrate()
    yield s
    s.close()
