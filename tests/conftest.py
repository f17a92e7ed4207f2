from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

import pytest

if TYPE_CHECKING:
    from sandbox.server import Sandbox
    from sync.store import Store

sys.path.insert(0, str(Path(__file__).parent))

import harness  # noqa: E402

# CI sets it (.ci/run starts PostgreSQL first): a test marked ``postgres`` that skips, whatever
# its skip says (no server reachable, most often), fails instead, so PostgreSQL's tests are
# never quietly left out.
REQUIRE_PG = "SOCIALDESK_REQUIRE_PG"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if (report.skipped and not hasattr(report, "wasxfail") and os.environ.get(REQUIRE_PG) == "1"
            and item.get_closest_marker("postgres") is not None):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"{REQUIRE_PG}=1 and this PostgreSQL test was skipped: {reason}"


@pytest.fixture(scope="session")
def sandbox() -> Iterator["Sandbox"]:
    """One sandbox (all services, real HTTPS) for the whole test session."""
    from sandbox.server import Sandbox

    sb = Sandbox(settings=harness.INSTANT).start()
    try:
        yield sb
    finally:
        sb.stop()


@pytest.fixture(scope="session")
def sandbox_info(sandbox: "Sandbox") -> dict:
    return sandbox.info()


@pytest.fixture(scope="session", autouse=True)
def state_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The tests seal OAuth grants with a key of their own, never the user's
    (~/.config/socialdesk/secret.key); subprocesses inherit it."""
    import os

    saved = {name: os.environ.get(name) for name in ("SOCIALDESK_KEY_FILE", "SOCIALDESK_SECRET_KEY")}
    os.environ.pop("SOCIALDESK_SECRET_KEY", None)
    os.environ["SOCIALDESK_KEY_FILE"] = str(tmp_path_factory.mktemp("state-key") / "secret.key")
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture
def store(tmp_path: Path) -> Iterator["Store"]:
    """A migrated SQLite state of the test's own (a module may define its own)."""
    from sync.store import Store

    s = Store(f"sqlite:///{tmp_path / 'state.sqlite'}")
    s.migrate()
    yield s
    s.close()
